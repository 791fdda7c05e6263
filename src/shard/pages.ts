/**
 * The shard engine's pages (docs/engine.md): what a page holds, the ids that name an execution's page and
 * place, the statements a shard's commit writes them with, and the reads the API answers from them.
 */

import { mergeJsonSql } from "../db/contact-sql";
import { ADD_TO_STEP_COUNTS } from "../db/step-counts";
import type { ExecutionState } from "../engine/state";
import type { WebhookMessage } from "../queues/messages";
import type { Attempt } from "../queues/webhooks";

/**
 * Executions to a page: a D1 row written costs the same for one or for all of them, but a page is written
 * whole at each commit that moves one of them (16 against 64: 20% less runtime CPU per TRIGGER → WEBHOOK
 * execution under load, for 0.14 D1 rows more per execution: bench/notes.md).
 */
export const PAGE_SIZE = 16;

/** A webhook a WEBHOOK step asked for: posted by the shard after the commit that stores it. */
export interface Hook {
  /** `deliveryIdOf`: names the execution (so the delivery is one row to read) and the step's visit. */
  id: string;
  stepId: string;
  message: WebhookMessage;
  status: "PENDING" | "DELIVERED" | "FAILED";
  attempts: Attempt[];
  /** When the next attempt is due (null: now, or never once finished). */
  due: number | null;
  /** The URL last posted to (rendered); the step's until the first attempt. */
  url: string;
  /** Replays so far: each starts a new generation of attempts. */
  generation: number;
  createdAt: number;
  updatedAt: number;
}

/** A delivery id on the shard engine: `whd_<page>_<place>_<12 hex of the step's derived delivery id>`. */
export const deliveryIdOf = (executionId: string, derived: string) =>
  `whd_${executionId.slice(4)}_${derived.slice(4, 16)}`;

export function parseDeliveryId(id: string): { executionId: string } | null {
  const m = /^whd_([0-9a-z]{21}_\d{1,2})_[0-9a-f]{12}$/.exec(id);
  return m?.[1] ? { executionId: `xpg_${m[1]}` } : null;
}

/**
 * An execution as a page stores it: the state without what the page holds once (project, workflow, snapshot)
 * and without the objects engine's mirror and alarm fields.
 */
export type StoredExecution = Omit<
  ExecutionState,
  "snapshot" | "projectId" | "workflowId" | "database" | "dirtyLog" | "dirty" | "alarm" | "alarmSet"
> & {
  hooks?: Hook[];
};

/** A page id: time-ordered (a workflow's newest page first is its newest executions first), then random. */
export function newPageId(now: number): string {
  const rand = crypto.getRandomValues(new Uint8Array(6));
  return `${pageIdAt(now)}${Array.from(rand, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** The smallest page id of a page made at `at` or later: every page made before it sorts below. */
export const pageIdAt = (at: number) => at.toString(36).padStart(9, "0");

/** An execution's id names its page and its place there: `xpg_<page>_<place>`. */
export const executionIdOf = (pageId: string, place: number) => `xpg_${pageId}_${place}`;

export function parseExecutionId(id: string): { pageId: string; place: number } | null {
  const m = /^xpg_([0-9a-z]{9}[0-9a-f]{12})_(\d{1,2})$/.exec(id);
  if (!m?.[1] || !m[2]) return null;
  const place = Number(m[2]);
  return place < PAGE_SIZE ? { pageId: m[1], place } : null;
}

/** Pages a `writePages` statement carries at most: 3 + 6 each of D1's 100 bound parameters. */
export const PAGES_PER_WRITE = 16;

const writePagesSql = new Map<number, string>();

/**
 * `n` of the pages a commit carries, in one statement: inserted whole, or their state and counts rewritten;
 * a page retention deleted is not made again. Binds (project, owner, now), then per page its id, workflow,
 * active count, snapshot (a new page's, else ''), body and counters, each a parameter of its own: a body
 * reaches SQLite as the text it is, with no JSON around it to escape in the Worker and parse in SQLite.
 */
export function writePages(n: number): string {
  let sql = writePagesSql.get(n);
  if (sql) return sql;
  const rows = Array.from({ length: n }, (_, i) => {
    const at = 4 + i * 6;
    return `(?${at}, ?${at + 1}, ?${at + 2}, ?${at + 3}, ?${at + 4}, ?${at + 5})`;
  });
  sql = `INSERT INTO pages (id, project_id, workflow_id, owner, active, snapshot, body, counts, updated_at)
  SELECT v.column1, ?1, v.column2, ?2, v.column3, v.column4, v.column5, v.column6, ?3
  FROM (VALUES ${rows.join(", ")}) AS v
  WHERE v.column4 != '' OR EXISTS (SELECT 1 FROM pages WHERE id = v.column1)
  ON CONFLICT (id) DO UPDATE SET active = excluded.active, body = excluded.body, counts = excluded.counts,
    updated_at = excluded.updated_at`;
  writePagesSql.set(n, sql);
  return sql;
}

/**
 * Per-step counters of a workflow (`?1`) from day `?2` on, wherever they are kept: `step_counts` (the
 * Execution DOs' mirrors; pages retention deleted) and the pages' own. Rows: step (or `$start`,
 * `$end:<status>`), day, passed, completed, failed.
 */
export const STEP_COUNTS_OF = (workflowFilter: string) => `
  SELECT c.key AS k, s.day AS day, c.value ->> 0 AS p, c.value ->> 1 AS c, c.value ->> 2 AS f
    FROM step_counts s, json_each(s.counts) AS c WHERE ${workflowFilter.replaceAll("$w", "s.workflow_id")} AND s.day >= ?2
  UNION ALL
  SELECT c.key, CAST(d.key AS INTEGER), c.value ->> 0, c.value ->> 1, c.value ->> 2
    FROM pages p, json_each(p.counts) AS d, json_each(d.value) AS c
    WHERE p.project_id = ?3 AND ${workflowFilter.replaceAll("$w", "p.workflow_id")} AND CAST(d.key AS INTEGER) >= ?2`;

/** The counters of the pages `pageIds` (a subquery) added to `step_counts`: what retention runs before deleting them. */
export const FOLD_PAGE_COUNTS = (pageIds: string) => `INSERT INTO step_counts (workflow_id, day, counts)
  SELECT p.workflow_id, CAST(d.key AS INTEGER), d.value
  FROM (${pageIds}) AS g CROSS JOIN pages p ON p.id = g.id, json_each(p.counts) AS d WHERE true
  ${ADD_TO_STEP_COUNTS}`;

/**
 * Runs started with no event (`?2`: [workflow, contact, run key or execution id]): a workflow without
 * re-entry remembers the contact for good, and a schedule's run its key (what a repeated page finds).
 */
export const RECORD_RUNS = `INSERT INTO enrollments (workflow_id, contact_id, active_execution_id, last_execution_id, runs, updated_at)
  SELECT j.value ->> 0, j.value ->> 1, NULL, j.value ->> 2, 1, ?1 FROM json_each(?2) AS j WHERE true
  ON CONFLICT (workflow_id, contact_id) DO UPDATE SET last_execution_id = excluded.last_execution_id,
    runs = enrollments.runs + 1, updated_at = excluded.updated_at`;

/** Waits rows (what stores an event undispatched when an execution waits for it): `?2` [execution, contact, name, since]. */
export const WRITE_WAITS = `INSERT INTO waits (execution_id, project_id, contact_id, event_name, created_at)
  SELECT j.value ->> 0, ?1, j.value ->> 1, j.value ->> 2, j.value ->> 3 FROM json_each(?2) AS j WHERE true
  ON CONFLICT (execution_id) DO UPDATE SET event_name = excluded.event_name, created_at = excluded.created_at`;
export const DELETE_WAITS = "DELETE FROM waits WHERE execution_id IN (SELECT value FROM json_each(?1))";

/** Stored events this commit dispatched (`?3`: [event id, executions JSON or null]). An event's executions are [id, workflow] pairs. */
export const MARK_DISPATCHED = `UPDATE events SET dispatched_at = ?1,
    executions = (SELECT j.value ->> 1 FROM json_each(?3) AS j WHERE j.value ->> 0 = events.id)
  WHERE project_id = ?2 AND id IN (SELECT value ->> 0 FROM json_each(?3)) AND dispatched_at IS NULL`;

const NAMES = `w.event_name IN (SELECT value FROM json_each(?2)
  UNION SELECT e.name FROM json_each(?3) AS m CROSS JOIN events e ON e.project_id = ?1 AND e.id = m.value)`;
const NO_REENTRY = `SELECT w.id FROM workflows w
  WHERE w.project_id = ?1 AND w.enabled = 1 AND w.allow_reentry = 0 AND ${NAMES}`;
const GROUP_CONTACTS = `SELECT c.id FROM json_each(?4) AS m CROSS JOIN contacts c ON c.project_id = ?1 AND c.email = m.value
  UNION SELECT e.contact_id FROM json_each(?3) AS m CROSS JOIN events e ON e.project_id = ?1 AND e.id = m.value`;

/**
 * What a commit's events decide, in one statement (`?2` the tracked events' names, `?3` the stored events'
 * ids, `?4` the tracked contacts' emails, `?5` the [workflow, contact] pairs of starts by hand): the enabled workflows they start, with steps and transitions;
 * the contacts as they are; the stored events not yet dispatched, in order, with their contacts; and which
 * of these contacts have run a workflow that does not allow re-entry (the executions their events started).
 */
export const GROUP_READ = `SELECT
  (SELECT workflows_version FROM projects WHERE id = ?1) AS version,
  (SELECT json_group_array(json_object('id', w.id, 'name', w.name, 'event_name', w.event_name,
     'allow_reentry', w.allow_reentry)) FROM workflows w
   WHERE w.project_id = ?1 AND w.enabled = 1 AND ${NAMES}) AS workflows,
  (SELECT json_group_array(json_object('id', s.id, 'workflow_id', s.workflow_id, 'type', s.type,
     'name', s.name, 'config', s.config))
   FROM workflow_steps s JOIN workflows w ON w.id = s.workflow_id
   WHERE w.project_id = ?1 AND w.enabled = 1 AND ${NAMES}) AS steps,
  (SELECT json_group_array(json_object('workflow_id', t.workflow_id, 'from_step_id', t.from_step_id,
     'to_step_id', t.to_step_id, 'branch', t.branch))
   FROM workflow_transitions t JOIN workflows w ON w.id = t.workflow_id
   WHERE w.project_id = ?1 AND w.enabled = 1 AND ${NAMES}) AS transitions,
  (SELECT json_group_array(json_array(c.id, c.email, c.subscribed, json(c.data)))
   FROM json_each(?4) AS m CROSS JOIN contacts c ON c.project_id = ?1 AND c.email = m.value) AS contacts,
  (SELECT json_group_array(json_array(id, contact_id, name, json(data), created_at, email, subscribed, json(cdata)))
   FROM (SELECT e.id, e.contact_id, e.name, e.data, e.created_at, c.email, c.subscribed, c.data AS cdata
     FROM json_each(?3) AS m CROSS JOIN events e ON e.project_id = ?1 AND e.id = m.value
       LEFT JOIN contacts c ON c.project_id = e.project_id AND c.id = e.contact_id
     WHERE e.dispatched_at IS NULL
     ORDER BY e.id)) AS stored,
  (SELECT json_group_array(k) FROM (
     SELECT (x.value ->> 1) || '|' || e.contact_id AS k
     FROM (${GROUP_CONTACTS}) AS g
       CROSS JOIN events AS e INDEXED BY events_contact_created ON e.project_id = ?1 AND e.contact_id = g.id
       CROSS JOIN json_each(e.executions) AS x
     WHERE EXISTS (SELECT 1 FROM (${NO_REENTRY}))
       AND e.executions IS NOT NULL AND x.value ->> 1 IN (${NO_REENTRY})
     UNION
     -- Runs whose pages retention has deleted are remembered as enrollments rows.
     SELECT n.workflow_id || '|' || n.contact_id
     FROM (${NO_REENTRY}) AS w CROSS JOIN (${GROUP_CONTACTS}) AS g
       CROSS JOIN enrollments n ON n.workflow_id = w.id AND n.contact_id = g.id
     UNION
     -- Starts by hand (\`?5\`: [workflow, contact] each): any earlier run of the pair.
     SELECT (j.value ->> 0) || '|' || (j.value ->> 1) FROM json_each(?5) AS j
     WHERE EXISTS (SELECT 1 FROM enrollments n WHERE n.workflow_id = j.value ->> 0 AND n.contact_id = j.value ->> 1)
       OR EXISTS (SELECT 1 FROM events e INDEXED BY events_contact_created, json_each(e.executions) AS x
         WHERE e.project_id = ?1 AND e.contact_id = j.value ->> 1 AND e.executions IS NOT NULL
           AND x.value ->> 1 = j.value ->> 0))) AS ran,
  (SELECT json_group_array(n.last_execution_id) FROM json_each(?5) AS j
     CROSS JOIN enrollments n ON n.workflow_id = j.value ->> 0 AND n.contact_id = j.value ->> 1
   WHERE j.value ->> 2 != '' AND n.last_execution_id = j.value ->> 2) AS started_runs`;

/**
 * The tracked contacts, upserted in one statement (`?2`: [id, email, data, key column, key hash] each): a
 * row whose key no longer names the project (rotated since it was read) has no project id, and fails the
 * transaction, as the request path's own upsert does (src/db/contact-sql.ts); the shard then commits the
 * group's tracks one by one.
 */
export const UPSERT_CONTACTS = `INSERT INTO contacts (id, project_id, email, subscribed, data, created_at, updated_at)
  SELECT j.value ->> 0,
    CASE j.value ->> 3 WHEN 'public_key_hash'
      THEN (SELECT id FROM projects WHERE id = ?1 AND public_key_hash = j.value ->> 4)
      ELSE (SELECT id FROM projects WHERE id = ?1 AND secret_key_hash = j.value ->> 4) END,
    j.value ->> 1, 1, j.value ->> 2, ?3, ?3
  FROM json_each(?2) AS j WHERE true
  ON CONFLICT (project_id, email) DO UPDATE SET
    data = ${mergeJsonSql("contacts.data", "excluded.data")}, updated_at = excluded.updated_at
  RETURNING id, email`;

/**
 * The tracked events, stored dispatched with the executions they started (`?3`: [id, email, name, data,
 * executions or null, the contact id those executions were started for, or null] each). The contact id is
 * held against the one the upsert left, and `?4` (the workflows' version the shard decided by) against the
 * project's: a contact made by another writer, or a workflow changed, since the shard read them fails the
 * transaction (NOT NULL), and the shard reads again.
 */
export const INSERT_EVENTS = `INSERT INTO events (id, project_id, contact_id, name, data, created_at, dispatched_at, executions)
  SELECT j.value ->> 0, ?1,
    CASE WHEN (SELECT workflows_version FROM projects WHERE id = ?1) = ?4 THEN
      (SELECT id FROM contacts WHERE project_id = ?1 AND email = j.value ->> 1 AND (j.value ->> 5 IS NULL OR id = j.value ->> 5))
    END,
    j.value ->> 2, j.value ->> 3, ?2, ?2, j.value ->> 4
  FROM json_each(?3) AS j
  RETURNING EXISTS (SELECT 1 FROM segments WHERE project_id = ?1) AS has_segments`;

/**
 * The read of a group of tracks alone whose workflows the shard knows (`?2` unused, `?4` the emails, `?6`
 * the ids of those workflows that do not allow re-entry): the version, the contacts as they are, and which
 * of them ran one of those workflows. A fraction of GROUP_READ's work (no workflow is read).
 */
export const TRACKS_READ = `SELECT
  (SELECT workflows_version FROM projects WHERE id = ?1) AS version,
  (SELECT json_group_array(json_array(c.id, c.email, c.subscribed, json(c.data)))
   FROM json_each(?4) AS m CROSS JOIN contacts c ON c.project_id = ?1 AND c.email = m.value) AS contacts,
  (SELECT json_group_array(k) FROM (
     SELECT (x.value ->> 1) || '|' || e.contact_id AS k
     FROM json_each(?4) AS m CROSS JOIN contacts c ON c.project_id = ?1 AND c.email = m.value
       CROSS JOIN events AS e INDEXED BY events_contact_created ON e.project_id = ?1 AND e.contact_id = c.id
       CROSS JOIN json_each(e.executions) AS x
     WHERE ?6 != '[]' AND e.executions IS NOT NULL AND x.value ->> 1 IN (SELECT value FROM json_each(?6))
     UNION
     SELECT n.workflow_id || '|' || n.contact_id
     FROM json_each(?6) AS w CROSS JOIN json_each(?4) AS m
       CROSS JOIN contacts c ON c.project_id = ?1 AND c.email = m.value
       CROSS JOIN enrollments n ON n.workflow_id = w.value AND n.contact_id = c.id)) AS ran`;

/** Reads of the API, from the pages of a project on the shard engine. */
export const EXECUTION_READ = `SELECT id, project_id, workflow_id, owner, body ->> ?2 AS body FROM pages WHERE id = ?1`;

/** A workflow's executions, newest first, from the page of `?3`'s place `?4` on (exclusive); `?5` a status. */
export const EXECUTIONS_LIST = `SELECT p.id AS page, CAST(e.key AS INTEGER) AS place, e.value AS body
  FROM pages p, json_each(p.body) AS e
  WHERE p.project_id = ?1 AND p.workflow_id = ?2 AND (p.id < ?3 OR (p.id = ?3 AND e.key < ?4))
    AND (?5 IS NULL OR e.value ->> 'status' = ?5) AND (?6 = 0 OR p.active > 0)
  ORDER BY p.id DESC, e.key DESC LIMIT ?7`;
