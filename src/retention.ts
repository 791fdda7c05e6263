/**
 * Retention, run by the cron sweep: per project, what is older than its `retention_days` goes, in pages.
 *
 * - ended executions (COMPLETED, EXITED, FAILED, CANCELLED) by `completed_at` (the row holds the step log),
 *   with any waits row left behind; the enrollments row stays (it is the re-entry rule's memory: a contact of a
 *   workflow without allowReentry must never enter again, and `runs` keeps counting);
 * - webhook deliveries DELIVERED or FAILED, by `created_at`: the row goes (its bulk is the message and
 *   the attempts, and a replay needs the message: a row without it would be a replay button that fails);
 * - emails, by `created_at`: `body`, `data` and `headers` become NULL, the row stays (stats and segments
 *   count it);
 * - events, by `created_at`, once dispatched.
 * - on the shard engine, pages (src/shard/pages.ts) made before the cutoff whose executions and deliveries
 *   have all ended and which no write has changed since: their per-step counters are added to `step_counts` and, for a workflow that does not
 *   allow re-entry, an enrollments row is made for each contact (what the page and its events remembered),
 *   in the same transaction. An event stays while a page of the executions it started does.
 *
 * The per-step counters (`step_counts`, a row a step a day) stay: GET /workflows/:id/stats reads 30 days.
 *
 * Nothing a RUNNING or WAITING execution points to goes: not its row or step log, not its trigger event,
 * not an event its WAIT_FOR_EVENT may still read (one of its name, for its contact, at or after the wait
 * began: `waits.created_at`, the wait's `since`), not its deliveries, not its emails' content. Undispatched
 * events (work not done), PENDING deliveries and QUEUED or SENDING emails stay whatever their age.
 *
 * Bounded work: every statement touches at most `page` rows, and a run spends at most `page` rows of each
 * kind in all (executions, deliveries, emails, events) over at most `projects` projects, taken
 * in id order from where the last run stopped (`sweep_cursors`); what is left, the next runs do. Every
 * statement is a range of an index (test/retention.test.ts holds their query plans free of table scans).
 */
import { REGISTRY_BINDING } from "./db/databases";
import { idsBefore } from "./domain/ids";
import type { Env } from "./env";
import { errorFields, type Logger } from "./log";
import { FOLD_PAGE_COUNTS, pageIdAt } from "./shard/pages";

export const DEFAULT_RETENTION_DAYS = 30;
export const MIN_RETENTION_DAYS = 1;
export const MAX_RETENTION_DAYS = 365;
/** Rows per statement, and per kind per run. */
export const RETENTION_PAGE = 500;
/** Projects visited per run (each one D1 batch). */
export const RETENTION_PROJECTS_PER_RUN = 50;
const DAY_MS = 24 * 60 * 60 * 1000;
const CURSOR = "retention";

export interface RetentionResult {
  projects: number;
  executions: number;
  pages: number;
  deliveries: number;
  emails: number;
  events: number;
}

type Kind = Exclude<keyof RetentionResult, "projects">;

const ACTIVE = "('RUNNING', 'WAITING')";
const ENDED = "('COMPLETED', 'EXITED', 'FAILED', 'CANCELLED')";

/** The page of a project's ended executions past retention, oldest first (index executions_ended). */
const endedPage = `SELECT x.id FROM executions x
  WHERE x.project_id = ?1 AND x.completed_at IS NOT NULL AND x.completed_at < ?2 AND x.status IN ${ENDED}
  ORDER BY x.completed_at LIMIT ?3`;

/**
 * The page of a project's pages made before the cutoff (`?4`, the page id of that time: ids are
 * time-ordered) with nothing active and no write since it, oldest first (a range of index pages_project).
 */
const endedPages = `SELECT p.id FROM pages p INDEXED BY pages_project
  WHERE p.project_id = ?1 AND p.id < ?4 AND p.active = 0 AND p.updated_at < ?2 ORDER BY p.id LIMIT ?3`;

/** The statements, by kind; each binds (project id, cutoff, limit). Exported for their query plans. */
export const RETENTION_SQL = {
  /** The counters of the pages about to go, added to step_counts (the merge of FOLD_PAGE_COUNTS). */
  pageCounts: FOLD_PAGE_COUNTS(endedPages),
  /** A no-re-entry workflow's contacts of those pages, remembered for good. */
  pageRuns: `INSERT INTO enrollments (workflow_id, contact_id, active_execution_id, last_execution_id, runs, updated_at)
    SELECT p.workflow_id, e.value ->> 'contactId', NULL, e.value ->> 'executionId', 1, ?2
    FROM (${endedPages}) AS g CROSS JOIN pages p ON p.id = g.id, json_each(p.body) AS e
    WHERE p.snapshot ->> '$.allowReentry' = 0 AND e.value ->> 'contactId' != '' AND true
    ON CONFLICT (workflow_id, contact_id) DO NOTHING`,
  pages: `DELETE FROM pages WHERE id IN (${endedPages})`,
  /** A waits row an ended execution left behind (by primary key). */
  waits: `DELETE FROM waits WHERE execution_id IN (${endedPage})`,
  executions: `DELETE FROM executions WHERE id IN (${endedPage})`,
  /** Index deliveries_project_created; an active execution's own deliveries stay (primary key probe). */
  deliveries: `DELETE FROM webhook_deliveries WHERE id IN (
    SELECT d.id FROM webhook_deliveries d
    WHERE d.project_id = ?1 AND d.created_at < ?2 AND d.status IN ('DELIVERED', 'FAILED')
      AND NOT EXISTS (SELECT 1 FROM executions x WHERE x.id = d.execution_id AND x.status IN ${ACTIVE})
    ORDER BY d.created_at LIMIT ?3)`,
  /** Index emails_retained (partial: emails with content), which an emptied email leaves. */
  emails: `UPDATE emails SET body = NULL, data = NULL, headers = NULL WHERE id IN (
    SELECT m.id FROM emails m
    WHERE m.project_id = ?1 AND m.created_at < ?2
      AND (body IS NOT NULL OR data IS NOT NULL OR headers IS NOT NULL)
      AND m.status NOT IN ('QUEUED', 'SENDING')
      AND (m.workflow_execution_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM executions x WHERE x.id = m.workflow_execution_id AND x.status IN ${ACTIVE}))
    ORDER BY m.created_at LIMIT ?3)`,
  /**
   * A range of the events' key (project_id, id), oldest first, up to the cutoff's id (ids are
   * time-ordered); a wait's possible events by waits_lookup, an active execution's trigger by
   * executions_contact.
   */
  events: `DELETE FROM events WHERE project_id = ?1 AND id IN (
    SELECT e.id FROM events e
    WHERE e.project_id = ?1 AND e.id < ?4 AND e.created_at < ?2 AND e.dispatched_at IS NOT NULL
      AND (e.executions IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(e.executions) AS x
        CROSS JOIN pages p ON p.id = substr(x.value ->> 0, 5, 21)))
      AND NOT EXISTS (SELECT 1 FROM waits w WHERE w.project_id = e.project_id AND w.contact_id = e.contact_id
        AND w.event_name = e.name AND w.created_at <= e.created_at)
      AND NOT EXISTS (SELECT 1 FROM executions x WHERE x.contact_id = e.contact_id AND x.status IN ${ACTIVE}
        AND x.trigger_event_id = e.id)
    ORDER BY e.id LIMIT ?3)`,
  /** The projects after the cursor, then (wrapping round) those up to it (primary key ranges). */
  projectsAfter: `SELECT id, retention_days FROM projects
    WHERE id > coalesce((SELECT cursor FROM sweep_cursors WHERE name = '${CURSOR}'), '') AND database = ?2
    ORDER BY id LIMIT ?1`,
  projectsUpTo: `SELECT id, retention_days FROM projects
    WHERE id <= coalesce((SELECT cursor FROM sweep_cursors WHERE name = '${CURSOR}'), '') AND database = ?2
    ORDER BY id LIMIT ?1`,
} as const;

export interface RetentionOptions {
  /** Rows per statement and per kind per run. */
  page?: number;
  /** Projects visited per run. */
  projects?: number;
}

/** One page of retention: never throws (a failure is logged, and the next run tries again). */
export async function retention(
  env: Env,
  log: Logger,
  now = Date.now(),
  opts: RetentionOptions = {},
): Promise<RetentionResult> {
  const done: RetentionResult = {
    projects: 0,
    executions: 0,
    pages: 0,
    deliveries: 0,
    emails: 0,
    events: 0,
  };
  try {
    await run(env, now, opts.page ?? RETENTION_PAGE, opts.projects ?? RETENTION_PROJECTS_PER_RUN, done);
  } catch (err) {
    log.error("retention failed", errorFields(err));
  }
  if (done.executions + done.pages + done.deliveries + done.emails + done.events > 0) {
    log.info("retention", { ...done });
  }
  return done;
}

async function run(env: Env, now: number, page: number, perRun: number, done: RetentionResult) {
  const db = env.DB;
  const [cursorRow, after, upTo] = await db.batch<{ cursor?: string; id: string; retention_days: number }>([
    db.prepare(`SELECT cursor FROM sweep_cursors WHERE name = '${CURSOR}'`),
    db.prepare(RETENTION_SQL.projectsAfter).bind(perRun, env.DATABASE ?? REGISTRY_BINDING),
    db.prepare(RETENTION_SQL.projectsUpTo).bind(perRun, env.DATABASE ?? REGISTRY_BINDING),
  ]);
  const cursor = cursorRow?.results[0]?.cursor ?? null;
  const projects = [...(after?.results ?? []), ...(upTo?.results ?? [])].slice(0, perRun);
  const left: Record<Kind, number> = {
    executions: page,
    pages: page,
    deliveries: page,
    emails: page,
    events: page,
  };
  let last: string | null = null;
  for (const p of projects) {
    if (Object.values(left).every((n) => n <= 0)) break;
    const cutoff = now - p.retention_days * DAY_MS;
    // Each statement with the kind its changed rows count against (null: the waits row, counted nowhere).
    const work: [Kind | null, D1PreparedStatement][] = [];
    const add = (kind: Kind | null, sql: string, ...limits: (number | string)[]) =>
      work.push([kind, db.prepare(sql).bind(p.id, cutoff, ...limits)]);
    if (left.executions > 0) {
      // The waits rows first: the same page of executions goes in the same batch (one transaction).
      add(null, RETENTION_SQL.waits, left.executions);
      add("executions", RETENTION_SQL.executions, left.executions);
    }
    if (left.pages > 0) {
      // Counted and remembered, then deleted: the same page of pages in one transaction.
      const before = pageIdAt(cutoff);
      add(null, RETENTION_SQL.pageCounts, left.pages, before);
      add(null, RETENTION_SQL.pageRuns, left.pages, before);
      add("pages", RETENTION_SQL.pages, left.pages, before);
    }
    if (left.deliveries > 0) add("deliveries", RETENTION_SQL.deliveries, left.deliveries);
    if (left.emails > 0) add("emails", RETENTION_SQL.emails, left.emails);
    if (left.events > 0) add("events", RETENTION_SQL.events, left.events, idsBefore("evt", cutoff));
    const results = await db.batch(work.map(([, statement]) => statement));
    results.forEach((r, i) => {
      const kind = work[i]?.[0];
      if (!kind) return;
      left[kind] -= r.meta.changes;
      done[kind] += r.meta.changes;
    });
    done.projects++;
    last = p.id;
  }
  // The next run starts after the last project visited (a backlog left there waits its turn).
  if (last !== null && last !== cursor) {
    // An update by primary key; the row is made by the first run only.
    const moved = await db
      .prepare(`UPDATE sweep_cursors SET cursor = ?1, updated_at = ?2 WHERE name = '${CURSOR}'`)
      .bind(last, now)
      .run();
    if (moved.meta.changes === 0) {
      await db
        .prepare(
          `INSERT OR IGNORE INTO sweep_cursors (name, cursor, updated_at) VALUES ('${CURSOR}', ?1, ?2)`,
        )
        .bind(last, now)
        .run();
    }
  }
}
