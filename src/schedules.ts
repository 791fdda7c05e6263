/**
 * Schedule triggers (API.md "Schedules"). An enabled schedule's workflow row holds when it runs next
 * (`next_run_at`, in the workflows_due index). Each minute the cron hands every due schedule to the
 * segments queue, then moves its time on; the queue's consumer starts its runs a page of segment members
 * at a time (or the one run with no contact). A run's id is derived from (workflow, due time, contact),
 * so a cron that fires twice, a page that is retried or two passes that overlap start nothing twice, and
 * a crash between the hand-over and the move on only hands the same run over again.
 */
import { REGISTRY_BINDING, registry } from "./db/databases";
import { claimExecutionsWithRefusals, loadSnapshot, startExecution } from "./dispatch";
import { derivedId } from "./domain/ids";
import { DEFAULT_TIME_ZONE, nextRunAfter, type ScheduleSpec, type StoredSchedule } from "./domain/schedule";
import { parseJsonObject } from "./domain/shapes";
import type { WorkflowSnapshot } from "./domain/workflow/snapshot";
import { type ExecutionInit, NO_CONTACT } from "./engine/state";
import type { Env } from "./env";
import { fieldError } from "./http/errors";
import type { Logger } from "./log";
import type { ContactView } from "./queues/messages";
import { isProjectSegment } from "./segments";
import { engineOf, shardOf, shardStub } from "./shard/routing";

/** Due schedules handed over per cron pass and database (the rest wait for the next minute). */
export const DUE_BATCH = 50;
/** Segment members started per queue message (a claim batch of three statements each, and a start each). */
export const SCHEDULE_PAGE = 50;

export interface ScheduleRunMessage {
  kind: "schedule-run";
  /** The D1 binding of the workflow's project. */
  db: string;
  workflowId: string;
  /** The due time this run is for (ms): part of every execution id of the run. */
  dueAt: number;
  /** The last segment member started: the next page starts after it. */
  after: string;
}

export async function projectTimeZone(env: Env, projectId: string): Promise<string> {
  const row = await registry(env)
    .prepare("SELECT time_zone FROM projects WHERE id = ?1")
    .bind(projectId)
    .first<{ time_zone: string }>();
  return row?.time_zone ?? DEFAULT_TIME_ZONE;
}

export const parseSchedule = (column: string | null): StoredSchedule | null =>
  column ? (JSON.parse(column) as StoredSchedule) : null;

/** The TRIGGER step's config: the workflow's event, or its schedule. */
export const triggerConfigOf = (w: { eventName: string; schedule: string | null }) => {
  const schedule = parseSchedule(w.schedule);
  return schedule ? { schedule } : { eventName: w.eventName };
};

/** When a schedule runs next from `now`: null while its workflow is disabled. */
export function nextRunOf(
  schedule: StoredSchedule | null,
  enabled: boolean,
  timeZone: string,
  now: number,
): number | null {
  if (!schedule || !enabled) return null;
  return nextRunAfter(schedule.cron, timeZone, now);
}

/** 422 unless `spec`'s segment is the project's. */
export async function checkScheduleSegment(env: Env, projectId: string, spec: ScheduleSpec): Promise<void> {
  if (spec.segmentId && !(await isProjectSegment(env, projectId, spec.segmentId)))
    throw fieldError("schedule.segmentId", "No segment with this id in the project", "unknown_segment");
}

/** After the project's time zone changed: each enabled schedule's next time, in the new zone. */
export async function rescheduleProject(env: Env, projectId: string, timeZone: string, now: number) {
  const { results } = await env.DB.prepare(
    "SELECT id, schedule FROM workflows WHERE project_id = ?1 AND next_run_at IS NOT NULL",
  )
    .bind(projectId)
    .all<{ id: string; schedule: string }>();
  if (results.length === 0) return;
  await env.DB.batch(
    results.map((w) =>
      env.DB.prepare("UPDATE workflows SET next_run_at = ?2 WHERE id = ?1 AND next_run_at IS NOT NULL").bind(
        w.id,
        nextRunOf(parseSchedule(w.schedule), true, timeZone, now),
      ),
    ),
  );
}

/**
 * The cron's part, for one database: hands each due schedule's run to the queue, then moves its next time
 * on from now (runs missed while the cron was not running are not made up: the schedule runs once for the
 * earliest, then at its next time). Returns how many were handed over.
 */
export async function fireDueSchedules(env: Env, log: Logger, now: number): Promise<number> {
  const { results: due } = await env.DB.prepare(
    `SELECT id, project_id, schedule, next_run_at FROM workflows
     WHERE next_run_at IS NOT NULL AND next_run_at <= ?1 ORDER BY next_run_at LIMIT ?2`,
  )
    .bind(now, DUE_BATCH)
    .all<{ id: string; project_id: string; schedule: string; next_run_at: number }>();
  if (due.length === 0) return 0;
  const { results: zones } = await registry(env)
    .prepare("SELECT id, time_zone FROM projects WHERE id IN (SELECT value FROM json_each(?1))")
    .bind(JSON.stringify([...new Set(due.map((w) => w.project_id))]))
    .all<{ id: string; time_zone: string }>();
  const zoneOf = new Map(zones.map((z) => [z.id, z.time_zone]));
  await env.SEGMENTS_QUEUE.sendBatch(
    due.map((w) => ({
      body: {
        kind: "schedule-run",
        db: env.DATABASE ?? REGISTRY_BINDING,
        workflowId: w.id,
        dueAt: w.next_run_at,
        after: "",
      } satisfies ScheduleRunMessage,
      contentType: "json" as const,
    })),
  );
  // Only if no one moved it meanwhile (an edit, a disable, an overlapping pass).
  await env.DB.batch(
    due.map((w) =>
      env.DB.prepare("UPDATE workflows SET next_run_at = ?3 WHERE id = ?1 AND next_run_at = ?2").bind(
        w.id,
        w.next_run_at,
        nextRunOf(parseSchedule(w.schedule), true, zoneOf.get(w.project_id) ?? DEFAULT_TIME_ZONE, now),
      ),
    ),
  );
  log.info("schedules due", { runs: due.map((w) => ({ workflowId: w.id, dueAt: w.next_run_at })) });
  return due.length;
}

/**
 * One page of a schedule's run: the next segment members (or, without a segment, the one run with no
 * contact), each started under the re-entry rule; queues the next page until the segment is done.
 */
export async function scheduleRunPage(env: Env, log: Logger, m: ScheduleRunMessage): Promise<void> {
  const wf = await env.DB.prepare(
    "SELECT id, project_id, name, event_name, allow_reentry, enabled, schedule FROM workflows WHERE id = ?1",
  )
    .bind(m.workflowId)
    .first<{
      id: string;
      project_id: string;
      name: string;
      event_name: string;
      allow_reentry: number;
      enabled: number;
      schedule: string | null;
    }>();
  const schedule = parseSchedule(wf?.schedule ?? null);
  if (!wf || !schedule || !wf.enabled) return; // deleted, no longer a schedule, or disabled since
  const snapshot = await loadSnapshot(env, {
    id: wf.id,
    name: wf.name,
    eventName: wf.event_name,
    // With no contact, each due time is a run of its own, unless the last one is still going.
    allowReentry: schedule.segmentId === null || Boolean(wf.allow_reentry),
  });
  if (!snapshot) return;
  let contactIds: string[];
  if (schedule.segmentId === null) {
    contactIds = [NO_CONTACT];
  } else {
    const { results } = await env.DB.prepare(
      `SELECT contact_id FROM segment_members WHERE segment_id = ?1 AND contact_id > ?2
       ORDER BY contact_id LIMIT ?3`,
    )
      .bind(schedule.segmentId, m.after, SCHEDULE_PAGE)
      .all<{ contact_id: string }>();
    contactIds = results.map((r) => r.contact_id);
  }
  const event = { scheduledAt: new Date(m.dueAt).toISOString() };
  if ((await engineOf(env, wf.project_id)) === "shard") {
    await startInShards(env, log, wf.project_id, snapshot, contactIds, event, m.dueAt);
  } else {
    await startObjects(env, log, wf, snapshot, contactIds, event, m.dueAt);
  }
  const last = contactIds[contactIds.length - 1];
  if (schedule.segmentId !== null && last && contactIds.length === SCHEDULE_PAGE) {
    await env.SEGMENTS_QUEUE.send({ ...m, after: last } satisfies ScheduleRunMessage, {
      contentType: "json",
    });
  }
}

/**
 * On the shard engine: each run started by its contact's shard (a run with no contact by the shard of the
 * empty email), its key derived from (workflow, due time, contact) so that a page delivered twice starts
 * each run once.
 */
async function startInShards(
  env: Env,
  log: Logger,
  projectId: string,
  snapshot: WorkflowSnapshot,
  contactIds: string[],
  event: Record<string, unknown>,
  dueAt: number,
): Promise<void> {
  const { results } = await env.DB.prepare(
    `SELECT c.id, c.email, c.subscribed, c.data FROM json_each(?2) AS m
     CROSS JOIN contacts c ON c.project_id = ?1 AND c.id = m.value`,
  )
    .bind(projectId, JSON.stringify(contactIds))
    .all<{ id: string; email: string; subscribed: number; data: string }>();
  const found = new Map(results.map((r) => [r.id, r]));
  const answers = await Promise.all(
    contactIds.map(async (contactId) => {
      const row = found.get(contactId);
      if (contactId !== NO_CONTACT && !row) return null; // deleted since the page was read
      const contact: ContactView = row
        ? {
            id: row.id,
            email: row.email,
            subscribed: Boolean(row.subscribed),
            data: parseJsonObject(row.data),
          }
        : { id: NO_CONTACT, email: "", subscribed: false, data: {} };
      const shard = await shardOf(env, projectId, contact.email);
      return shardStub(env, shard).start({
        shard,
        projectId,
        database: env.DATABASE ?? REGISTRY_BINDING,
        snapshot,
        contact,
        data: event,
        startedAt: dueAt,
        runKey: await derivedId("exec", snapshot.id, "schedule", dueAt, contactId),
      });
    }),
  );
  const refused = answers.filter((a) => a && "refused" in a) as { refused: string }[];
  log.info("schedule run page", {
    workflowId: snapshot.id,
    dueAt,
    started: answers.filter((a) => a && "executionId" in a).length,
    notStarted: refused.length,
    ...(refused.length > 0 ? { reasons: [...new Set(refused.map((r) => r.refused))] } : {}),
  });
}

async function startObjects(
  env: Env,
  log: Logger,
  wf: { id: string; project_id: string },
  snapshot: WorkflowSnapshot,
  contactIds: string[],
  event: Record<string, unknown>,
  dueAt: number,
): Promise<void> {
  const m = { dueAt };
  const inits: ExecutionInit[] = await Promise.all(
    contactIds.map(async (contactId) => ({
      executionId: await derivedId("exec", wf.id, "schedule", m.dueAt, contactId),
      projectId: wf.project_id,
      workflowId: wf.id,
      contactId,
      triggerEventId: null,
      snapshot,
      event,
      startedAt: m.dueAt,
      database: env.DATABASE,
    })),
  );
  const { owned, refused } = await claimExecutionsWithRefusals(env, inits, Date.now());
  await Promise.all(owned.map((init) => startExecution(env, init)));
  log.info("schedule run page", {
    workflowId: wf.id,
    dueAt: m.dueAt,
    started: owned.length,
    notStarted: refused.length,
    ...(refused.length > 0 ? { reasons: [...new Set(refused.map((r) => r.reason))] } : {}),
  });
}
