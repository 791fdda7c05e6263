/** The cron sweep: finishes what a crash left half done, and forgets what has expired. */

import { rollupEvents } from "./analytics";
import { fireDueCampaigns } from "./campaigns";
import { resumeStalledJobs } from "./contacts/bulk";
import { everyDatabase, registry } from "./db/databases";
import { dispatchStored } from "./dispatch";
import type { Env } from "./env";
import { IDEMPOTENCY_TTL_MS } from "./http/idempotency";
import { errorFields, type Logger } from "./log";
import { retention } from "./retention";
import { fireDueSchedules } from "./schedules";
import { fireDueRecomputes } from "./segments";

/**
 * Events younger than this may still be in their request's own dispatch (which runs after the answer,
 * in `waitUntil`): leave them to it. Should the two overlap, nothing happens twice: dispatch is idempotent.
 */
export const DISPATCH_GRACE_MS = 30_000;
/** A WAITING execution this far past its due time has lost its alarm. */
export const ALARM_GRACE_MS = 60_000;
/** A RUNNING execution whose mirror has not moved for this long has stalled. */
export const RUNNING_GRACE_MS = 5 * 60_000;
/** A QUEUED email untouched this long was never handed to the queue (or its message was lost). */
export const EMAIL_REQUEUE_MS = 30 * 60_000;
const BATCH = 100;

export interface SweepResult {
  redispatched: number;
  kicked: number;
  requeuedEmails: number;
  /** Schedules whose due run was handed to the queue. */
  schedules: number;
  /** Segments whose recompute (membership moved by time) was handed to the queue. */
  recomputes: number;
}

/** Every database of projects, one after the other; then what the registry alone holds. */
export async function sweep(env: Env, log: Logger, now = Date.now()): Promise<SweepResult> {
  const total: SweepResult = { redispatched: 0, kicked: 0, requeuedEmails: 0, schedules: 0, recomputes: 0 };
  for (const dbEnv of everyDatabase(env)) {
    const done = await sweepDatabase(dbEnv, log.child({ database: dbEnv.DATABASE }), now);
    total.redispatched += done.redispatched;
    total.kicked += done.kicked;
    total.requeuedEmails += done.requeuedEmails;
    total.schedules += done.schedules;
    total.recomputes += done.recomputes;
  }
  // Expired dashboard sessions and sign-in links (both by an index on expires_at).
  const reg = registry(env);
  await reg.batch([
    reg.prepare("DELETE FROM sessions WHERE expires_at < ?1").bind(now),
    reg.prepare("DELETE FROM sign_in_links WHERE expires_at < ?1").bind(now),
  ]);
  return total;
}

async function sweepDatabase(env: Env, log: Logger, now: number): Promise<SweepResult> {
  const schedules = await fireDueSchedules(env, log, now).catch((err) => {
    log.error("sweep: schedules failed; the next pass fires them", errorFields(err));
    return 0;
  });
  await fireDueCampaigns(env, log, now).catch((err) => {
    log.error("sweep: campaigns failed; the next pass starts them", errorFields(err));
  });
  await rollupEvents(env, log, now).catch((err) => {
    log.error("sweep: events rollup failed; the next pass counts them", errorFields(err));
  });
  const recomputes = await fireDueRecomputes(env, log, now).catch((err) => {
    log.error("sweep: segment recomputes failed; the next pass fires them", errorFields(err));
    return 0;
  });
  const { results: stale } = await env.DB.prepare(
    "SELECT project_id, id FROM events WHERE dispatched_at IS NULL AND created_at < ?1 ORDER BY created_at LIMIT ?2",
  )
    .bind(now - DISPATCH_GRACE_MS, BATCH)
    .all<{ project_id: string; id: string }>();
  if (stale.length > 0) {
    log.warn("sweep: finishing dispatch", { count: stale.length });
    const byProject = new Map<string, string[]>();
    for (const r of stale) byProject.set(r.project_id, [...(byProject.get(r.project_id) ?? []), r.id]);
    for (const [projectId, ids] of byProject) await dispatchStored(env, log, projectId, ids);
  }

  const stalled = await stalledExecutions(env, now);
  let kicked = 0;
  await Promise.all(
    stalled.map(async ({ id }) => {
      try {
        const summary = await env.EXECUTIONS.get(env.EXECUTIONS.idFromName(id)).kick();
        if (summary === null) await failNeverStarted(env, id, now);
        kicked++;
      } catch (err) {
        log.error("sweep: kick failed", { executionId: id, ...errorFields(err) });
      }
    }),
  );
  if (kicked > 0) log.warn("sweep: kicked stalled executions", { count: kicked });

  // Emails a crash kept from the queue (or whose sender's lease ran out): hand them over again. The
  // consumer claims each row before sending, so a second message for one email sends nothing.
  const unsent = await unsentEmails(env, now);
  if (unsent.length > 0) {
    await env.EMAILS_QUEUE.sendBatch(
      unsent.map((r) => ({
        body: { kind: "email-send", emailId: r.id, db: env.DATABASE },
        contentType: "json" as const,
      })),
    );
    log.warn("sweep: re-queued emails", { count: unsent.length });
  }

  // Bulk jobs whose page message was lost (or ran out of retries): handed to the queue again.
  const resumed = await resumeStalledJobs(env, now);
  if (resumed > 0) log.warn("sweep: resumed stalled bulk jobs", { count: resumed });

  await env.DB.prepare("DELETE FROM idempotency_keys WHERE created_at < ?1")
    .bind(now - IDEMPOTENCY_TTL_MS)
    .run();
  await retention(env, log, now);
  return { redispatched: stale.length, kicked, requeuedEmails: unsent.length, schedules, recomputes };
}

/*
 * What the sweep reads grows with what is due, not with the tables: each query below is a range of a
 * partial index holding only unfinished rows (executions_wake, executions_running, emails_queued,
 * emails_sending; events_undispatched above), one arm per index joined by UNION ALL (an OR of two
 * indexes would scan the table). test/sweep-indexes.test.ts checks every statement's plan.
 */

/** WAITING executions long past their due time (a lost alarm) and RUNNING ones whose mirror stopped moving. */
async function stalledExecutions(env: Env, now: number): Promise<{ id: string }[]> {
  const { results } = await env.DB.prepare(
    `SELECT id FROM executions WHERE wake_at IS NOT NULL AND wake_at < ?1 AND status = 'WAITING'
     UNION ALL SELECT id FROM executions WHERE status = 'RUNNING' AND updated_at < ?2 LIMIT ?3`,
  )
    .bind(now - ALARM_GRACE_MS, now - RUNNING_GRACE_MS, BATCH)
    .all<{ id: string }>();
  return results;
}

/** Emails QUEUED this long without being taken, and emails whose sender's lease has run out. */
async function unsentEmails(env: Env, now: number): Promise<{ id: string }[]> {
  const { results } = await env.DB.prepare(
    `SELECT id FROM emails WHERE status = 'QUEUED' AND updated_at < ?1
     UNION ALL SELECT id FROM emails WHERE status = 'SENDING' AND lease_until < ?2 LIMIT ?3`,
  )
    .bind(now - EMAIL_REQUEUE_MS, now, BATCH)
    .all<{ id: string }>();
  return results;
}

/**
 * An executions row whose object holds no state after a kick: its start never arrived (a manual start cut
 * short), so it is FAILED. An object that ended deletes its storage only once D1 has its final row, so a
 * row already ended is left as it is (the status condition). The enrollment is found by its key.
 */
async function failNeverStarted(env: Env, id: string, now: number): Promise<void> {
  await env.DB.batch([
    env.DB.prepare(
      `UPDATE executions SET status = 'FAILED', exit_reason = 'never started', completed_at = ?2, updated_at = ?2,
         wake_at = NULL
       WHERE id = ?1 AND status IN ('RUNNING', 'WAITING')`,
    ).bind(id, now),
    env.DB.prepare(
      `UPDATE enrollments SET active_execution_id = NULL
       WHERE workflow_id = (SELECT workflow_id FROM executions WHERE id = ?1)
         AND contact_id = (SELECT contact_id FROM executions WHERE id = ?1) AND active_execution_id = ?1`,
    ).bind(id),
  ]);
}
