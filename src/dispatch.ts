/**
 * Dispatch of stored events (DESIGN.md "One path for every event"): for each event, start every enabled
 * workflow it triggers (the re-entry rule decides, in one statement) and hand it to this contact's
 * executions waiting for it. The event row is written before this runs and marked dispatched after,
 * so the cron sweep can finish what a crash cut short; doing it twice starts nothing twice, because an
 * execution's id is derived from (workflow, event) and its Durable Object starts once.
 */
import { REGISTRY_BINDING } from "./db/databases";
import { derivedId } from "./domain/ids";
import { parseJsonObject } from "./domain/shapes";
import type { StepType } from "./domain/workflow/config";
import type { WorkflowSnapshot } from "./domain/workflow/snapshot";
import type { ExecutionInit, StoredEventRef } from "./engine/state";
import type { Env } from "./env";
import { errorFields, type Logger } from "./log";
import { engineOf, shardOf, shardStub } from "./shard/routing";

export interface EventRow {
  id: string;
  project_id: string;
  contact_id: string;
  name: string;
  data: string;
  created_at: number;
}

interface WorkflowRow {
  id: string;
  name: string;
  event_name: string;
  allow_reentry: number;
}

/**
 * For request paths: the events are already stored (the answer is durable), so a dispatch that fails
 * is logged and left to the cron sweep instead of failing the request, which a client would retry and
 * so store the event twice.
 */
export async function dispatchOrDefer(
  env: Env,
  log: Logger,
  projectId: string,
  eventIds: string[],
): Promise<void> {
  try {
    await dispatchStored(env, log, projectId, eventIds);
  } catch (err) {
    log.error("dispatch failed; the sweep will finish it", { eventIds, ...errorFields(err) });
  }
}

/** `dispatchEvent` for request paths: a failure is logged and left to the sweep, like `dispatchOrDefer`. */
export async function dispatchEventOrDefer(env: Env, log: Logger, ev: EventRow): Promise<void> {
  try {
    await dispatchEvent(env, log, ev);
  } catch (err) {
    log.error("dispatch failed; the sweep will finish it", { eventIds: [ev.id], ...errorFields(err) });
  }
}

/**
 * Dispatches the stored events `eventIds` of project `projectId` not dispatched yet, in the order they
 * were stored (their ids are time-ordered).
 */
export async function dispatchStored(
  env: Env,
  log: Logger,
  projectId: string,
  eventIds: string[],
): Promise<void> {
  if (eventIds.length === 0) return;
  if ((await engineOf(env, projectId)) === "shard") return dispatchToShards(env, projectId, eventIds);
  const { results } = await env.DB.prepare(
    `SELECT id, project_id, contact_id, name, data, created_at FROM events
     WHERE project_id = ?1 AND id IN (SELECT value FROM json_each(?2)) AND dispatched_at IS NULL ORDER BY id`,
  )
    .bind(projectId, JSON.stringify(eventIds))
    .all<EventRow>();
  for (const event of results) await dispatchEvent(env, log, event);
}

interface StepRow {
  id: string;
  workflow_id: string;
  type: StepType;
  name: string;
  config: string;
}

interface TransitionRow {
  workflow_id: string;
  from_step_id: string;
  to_step_id: string;
  branch: string | null;
}

/** Bytes of step config up to which the dispatch read returns the steps inline (escaped, at most twice that). */
export const STEPS_INLINE_MAX = 400_000;

/** The rows that decide an event's dispatch: the workflows it triggers (steps, transitions), and waits. */
export interface DispatchRows {
  workflows: WorkflowRow[];
  /** Null when the configs were too large to read inline: `dispatchLoaded` reads them itself. */
  steps: StepRow[] | null;
  transitions: TransitionRow[];
  /** Ids of this contact's executions waiting for the event. */
  waiting: string[];
  /** Disabled workflows the event would trigger: started never, named in the log line. */
  disabled: { id: string; name: string }[];
}

/**
 * The read that decides a stored event's dispatch, as one statement: the triggered workflows, their steps
 * and transitions, and the waiting executions as JSON arrays (one statement instead of four: each statement
 * of a batch has a cost of its own). `parseDispatchRead` reads it.
 */
export function dispatchRead(
  db: D1Database,
  ev: { projectId: string; name: string; contactId: string },
): D1PreparedStatement {
  return db.prepare(DISPATCH_READ).bind(ev.projectId, ev.name, ev.contactId);
}

const WF_FILTER = "w.project_id = ?1 AND w.event_name = ?2 AND w.enabled = 1";
// Step configs can be large (a webhook body), and D1 refuses any value over about 2 MB: past
// STEPS_INLINE_MAX bytes of config the steps column is NULL, and `dispatchLoaded` reads them row by row.
const DISPATCH_READ = `SELECT
  (SELECT json_group_array(json_object('id', w.id, 'name', w.name, 'event_name', w.event_name,
     'allow_reentry', w.allow_reentry)) FROM workflows w WHERE ${WF_FILTER}) AS workflows,
  (SELECT CASE WHEN total(length(s.config)) <= ${STEPS_INLINE_MAX}
     THEN json_group_array(json_object('id', s.id, 'workflow_id', s.workflow_id, 'type', s.type,
       'name', s.name, 'config', s.config)) END
   FROM workflow_steps s JOIN workflows w ON w.id = s.workflow_id WHERE ${WF_FILTER}) AS steps,
  (SELECT json_group_array(json_object('workflow_id', t.workflow_id, 'from_step_id', t.from_step_id,
     'to_step_id', t.to_step_id, 'branch', t.branch))
   FROM workflow_transitions t JOIN workflows w ON w.id = t.workflow_id WHERE ${WF_FILTER}) AS transitions,
  (SELECT json_group_array(execution_id) FROM waits
   WHERE project_id = ?1 AND contact_id = ?3 AND event_name = ?2) AS waiting,
  (SELECT json_group_array(json_object('id', w.id, 'name', w.name)) FROM workflows w
   WHERE w.project_id = ?1 AND w.event_name = ?2 AND w.enabled = 0) AS disabled`;

export function parseDispatchRead(result: D1Result | undefined): DispatchRows {
  const row = result?.results[0] as Record<string, string | null> | undefined;
  if (!row) throw new Error("dispatch read returned no row");
  const list = <T>(v: string | null | undefined) => JSON.parse(v ?? "[]") as T[];
  return {
    workflows: list<WorkflowRow>(row.workflows),
    steps: row.steps === null ? null : list<StepRow>(row.steps),
    transitions: list<TransitionRow>(row.transitions),
    waiting: list<string>(row.waiting),
    disabled: list<{ id: string; name: string }>(row.disabled),
  };
}

/**
 * On the shard engine, stored events are dispatched by their contacts' shards (durable-objects/shard.ts), in the
 * order they were stored; an event whose contact is gone goes to any shard, which marks it dispatched.
 */
async function dispatchToShards(env: Env, projectId: string, eventIds: string[]): Promise<void> {
  const { results } = await env.DB.prepare(
    `SELECT e.id, c.email FROM events e LEFT JOIN contacts c ON c.project_id = e.project_id AND c.id = e.contact_id
     WHERE e.project_id = ?1 AND e.id IN (SELECT value FROM json_each(?2)) AND e.dispatched_at IS NULL ORDER BY e.id`,
  )
    .bind(projectId, JSON.stringify(eventIds))
    .all<{ id: string; email: string | null }>();
  const byShard = new Map<string, string[]>();
  for (const r of results) {
    const name = await shardOf(env, projectId, r.email ?? "");
    byShard.set(name, [...(byShard.get(name) ?? []), r.id]);
  }
  const database = env.DATABASE ?? REGISTRY_BINDING;
  await Promise.all(
    [...byShard].map(([name, ids]) => shardStub(env, name).dispatch(projectId, database, name, ids)),
  );
}

/** Reads what decides a stored event's dispatch (one statement), then dispatches it. */
async function dispatchEvent(env: Env, log: Logger, ev: EventRow): Promise<void> {
  if ((await engineOf(env, ev.project_id)) === "shard") return dispatchToShards(env, ev.project_id, [ev.id]);
  const read = await dispatchRead(env.DB, {
    projectId: ev.project_id,
    name: ev.name,
    contactId: ev.contact_id,
  }).all();
  await dispatchLoaded(env, log, ev, parseDispatchRead(read));
}

/** Dispatches a stored event whose dispatch rows `dispatchEvent` has read. */
async function dispatchLoaded(env: Env, log: Logger, ev: EventRow, rows: DispatchRows): Promise<void> {
  const db = env.DB;
  const { workflows, transitions: transitionRows, waiting: waitIds } = rows;
  const stepRows = rows.steps ?? (await readSteps(db, workflows));
  const eventRef: StoredEventRef = {
    id: ev.id,
    name: ev.name,
    data: parseJsonObject(ev.data),
    createdAt: ev.created_at,
  };

  const inits: ExecutionInit[] = [];
  for (const wf of workflows) {
    const snapshot = buildSnapshot(wf, stepRows, transitionRows);
    if (!snapshot) continue;
    inits.push({
      executionId: await derivedId("exec", wf.id, ev.id),
      projectId: ev.project_id,
      workflowId: wf.id,
      contactId: ev.contact_id,
      triggerEventId: ev.id,
      snapshot,
      event: eventRef.data,
      startedAt: ev.created_at,
      database: env.DATABASE,
    });
  }
  // No executions row yet: the execution's first mirror inserts it (a crash before that leaves the event
  // undispatched, and the sweep's dispatch claims the same execution again and starts it).
  const { owned, refused } = await claimExecutionsWithRefusals(env, inits, Date.now(), { recordRow: false });
  // Nothing is a silent no-op: a workflow this event triggers but did not start says which and why.
  const notStarted = [
    ...rows.disabled.map((w) => ({ workflowId: w.id, name: w.name, reason: "disabled" })),
    ...refused.map((r) => ({ workflowId: r.init.workflowId, name: r.init.snapshot.name, reason: r.reason })),
  ];
  if (notStarted.length > 0) {
    log.info("workflows not started", {
      eventId: ev.id,
      event: ev.name,
      contactId: ev.contact_id,
      notStarted,
    });
  }
  // With one execution to start and nothing else to do, that execution's first mirror marks the event
  // dispatched (after its start, as below): one D1 round trip less for the commonest dispatch.
  const markedByExecution = owned.length === 1 && waitIds.length === 0;

  await Promise.all([
    ...owned.map((init) =>
      startExecution(env, markedByExecution ? { ...init, marksEventDispatched: true } : init),
    ),
    ...waitIds.map((id) => env.EXECUTIONS.get(env.EXECUTIONS.idFromName(id)).deliverEvent(eventRef)),
  ]);
  if (owned.length > 0 || waitIds.length > 0) {
    log.info("event dispatched", {
      eventId: ev.id,
      event: ev.name,
      contactId: ev.contact_id,
      started: owned.map((i) => ({ executionId: i.executionId, workflowId: i.workflowId })),
      delivered: waitIds,
    });
  }
  if (!markedByExecution) {
    await db
      .prepare("UPDATE events SET dispatched_at = ?1 WHERE project_id = ?2 AND id = ?3")
      .bind(Date.now(), ev.project_id, ev.id)
      .run();
  }
}

/** The steps of `workflows`, row by row (for configs too large for the dispatch read's JSON column). */
async function readSteps(db: D1Database, workflows: WorkflowRow[]): Promise<StepRow[]> {
  if (workflows.length === 0) return [];
  const { results } = await db
    .prepare(
      `SELECT id, workflow_id, type, name, config FROM workflow_steps
       WHERE workflow_id IN (SELECT value FROM json_each(?1))`,
    )
    .bind(JSON.stringify(workflows.map((w) => w.id)))
    .all<StepRow>();
  return results;
}

/** One workflow's snapshot, read from its rows (a start by hand, a schedule's run); null without a TRIGGER. */
export async function loadSnapshot(
  env: Env,
  wf: { id: string; name: string; eventName: string; allowReentry: boolean },
): Promise<WorkflowSnapshot | null> {
  const [steps, transitions] = await env.DB.batch([
    env.DB.prepare(
      "SELECT id, workflow_id, type, name, config FROM workflow_steps WHERE workflow_id = ?1",
    ).bind(wf.id),
    env.DB.prepare(
      "SELECT workflow_id, from_step_id, to_step_id, branch FROM workflow_transitions WHERE workflow_id = ?1",
    ).bind(wf.id),
  ]);
  return buildSnapshot(
    { id: wf.id, name: wf.name, event_name: wf.eventName, allow_reentry: wf.allowReentry ? 1 : 0 },
    (steps?.results ?? []) as StepRow[],
    (transitions?.results ?? []) as TransitionRow[],
  );
}

export function buildSnapshot(
  wf: WorkflowRow,
  steps: StepRow[],
  transitions: TransitionRow[],
): WorkflowSnapshot | null {
  const own = steps.filter((s) => s.workflow_id === wf.id);
  const trigger = own.find((s) => s.type === "TRIGGER");
  if (!trigger) return null;
  return {
    id: wf.id,
    name: wf.name,
    eventName: wf.event_name,
    allowReentry: Boolean(wf.allow_reentry),
    triggerStepId: trigger.id,
    steps: Object.fromEntries(
      own.map((s) => [s.id, { id: s.id, type: s.type, name: s.name, config: JSON.parse(s.config) }]),
    ),
    transitions: transitions
      .filter((t) => t.workflow_id === wf.id)
      .map((t) => ({ fromStepId: t.from_step_id, toStepId: t.to_step_id, branch: t.branch })),
  };
}

/**
 * The re-entry rule in one statement per workflow: the enrollment row of (workflow, contact) is claimed
 * only when no run is active and (re-entry is allowed, or no run has ever been). With `recordRow` (a start
 * by hand, which no event's dispatch would repeat), the executions row is written in the same transaction,
 * only for the winner, so that the sweep fails one whose object never started; a dispatch leaves it to the
 * execution's first mirror (five D1 rows fewer). Returns the executions this call may start:
 * those whose enrollment names them as active (a retried dispatch finds its own claim again).
 * An execution whose row already exists is never claimed again: once it has ended, its object has
 * deleted its state, and a start would run it from the beginning (a retried dispatch of its event, after
 * a later run of the same workflow and contact, would otherwise find the enrollment free).
 */
export async function claimExecutions(
  env: Env,
  inits: ExecutionInit[],
  now: number,
): Promise<ExecutionInit[]> {
  return (await claimExecutionsWithRefusals(env, inits, now)).owned;
}

/** Why the re-entry rule refused a start. */
export type RefusalReason = "active run" | "re-entry not allowed" | "already started";

/** `claimExecutions`, with the starts the re-entry rule refused and why. */
export async function claimExecutionsWithRefusals(
  env: Env,
  inits: ExecutionInit[],
  now: number,
  opts: { recordRow: boolean } = { recordRow: true },
): Promise<{ owned: ExecutionInit[]; refused: { init: ExecutionInit; reason: RefusalReason }[] }> {
  if (inits.length === 0) return { owned: [], refused: [] };
  const db = env.DB;
  const statements: D1PreparedStatement[] = [];
  for (const i of inits) {
    const allowReentry = i.snapshot.allowReentry ? 1 : 0;
    statements.push(
      db
        .prepare(
          `INSERT INTO enrollments (workflow_id, contact_id, active_execution_id, last_execution_id, runs, updated_at)
           SELECT ?1, ?2, ?3, ?3, 1, ?4 WHERE NOT EXISTS (SELECT 1 FROM executions WHERE id = ?3)
           ON CONFLICT (workflow_id, contact_id) DO UPDATE SET
             active_execution_id = excluded.active_execution_id, last_execution_id = excluded.last_execution_id,
             runs = enrollments.runs + 1, updated_at = excluded.updated_at
           WHERE enrollments.active_execution_id IS NULL AND ?5 = 1
             AND enrollments.last_execution_id != excluded.last_execution_id`,
        )
        .bind(i.workflowId, i.contactId, i.executionId, now, allowReentry),
    );
    if (opts.recordRow) {
      statements.push(
        db
          .prepare(
            `INSERT INTO executions (id, project_id, workflow_id, contact_id, trigger_event_id, status, current_step_id,
             context, started_at, updated_at)
           SELECT ?1, ?2, ?3, ?4, ?5, 'RUNNING', ?6, ?7, ?8, ?9
           WHERE EXISTS (SELECT 1 FROM enrollments WHERE workflow_id = ?3 AND contact_id = ?4 AND active_execution_id = ?1)
           ON CONFLICT (id) DO NOTHING`,
          )
          .bind(
            i.executionId,
            i.projectId,
            i.workflowId,
            i.contactId,
            i.triggerEventId,
            i.snapshot.triggerStepId,
            JSON.stringify({ event: i.event }),
            i.startedAt,
            now,
          ),
      );
    }
    statements.push(
      db
        .prepare(
          `SELECT active_execution_id, EXISTS (SELECT 1 FROM executions WHERE id = ?3) AS started
           FROM enrollments WHERE workflow_id = ?1 AND contact_id = ?2`,
        )
        .bind(i.workflowId, i.contactId, i.executionId),
    );
  }
  const results = await db.batch(statements);
  const owned: ExecutionInit[] = [];
  const refused: { init: ExecutionInit; reason: RefusalReason }[] = [];
  inits.forEach((i, n) => {
    const stride = opts.recordRow ? 3 : 2;
    const row = results[n * stride + stride - 1]?.results[0] as
      | { active_execution_id: string | null; started: number }
      | undefined;
    // An enrollment this call did not change was claimed by an earlier one: its start is a repeat.
    if (row?.active_execution_id === i.executionId)
      owned.push(results[n * stride]?.meta.changes ? i : { ...i, retried: true });
    else
      refused.push({
        init: i,
        reason: row?.started
          ? "already started"
          : row?.active_execution_id
            ? "active run"
            : "re-entry not allowed",
      });
  });
  return { owned, refused };
}

/** Starts (or, on a retry, resumes) one execution's Durable Object. */
export async function startExecution(env: Env, init: ExecutionInit) {
  const stub = env.EXECUTIONS.get(env.EXECUTIONS.idFromName(init.executionId));
  return stub.start(init);
}
