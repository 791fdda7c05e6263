/**
 * Bulk subscribe / unsubscribe / delete of contacts named by id, done in the request in batches of 100,
 * each one D1 batch: a retry after a crash finds what is done already done (a status already set is not
 * written and emits nothing; a deleted contact is not found) and finishes the rest.
 */
import type { z } from "zod";
import { deleteContacts, idsOf, statusStatements } from "../db/contact-bulk-sql";
import { REGISTRY_BINDING } from "../db/databases";
import { dispatchOrDefer } from "../dispatch";
import { newId } from "../domain/ids";
import type { bulkJobResponse, bulkResponse } from "../domain/responses";
import { matches, type SegmentCondition } from "../domain/segments";
import { iso } from "../domain/shapes";
import type { Env } from "../env";
import type { Logger } from "../log";
import { asSubject, contactsAfter, loadFacts, refreshSegments } from "../segments";

export const BULK_ACTIONS = ["subscribe", "unsubscribe", "delete"] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];
export const BULK_IDS_MAX = 1000;
const BATCH = 100;

export type BulkResult = z.output<typeof bulkResponse>;

/** Applies `action` to one page of contact ids; returns how many exist in the project and how many changed. */
export async function applyToContacts(
  env: Env,
  log: Logger,
  projectId: string,
  action: BulkAction,
  ids: string[],
): Promise<{ matched: number; changed: number }> {
  if (ids.length === 0) return { matched: 0, changed: 0 };
  if (action === "delete") {
    const deleted = await deleteContacts(env, projectId, ids);
    return { matched: deleted.length, changed: deleted.length };
  }
  const now = Date.now();
  const [events, changed, matched] = await env.DB.batch(
    statusStatements(
      env,
      projectId,
      ids,
      ids.map(() => newId("evt", now)),
      action === "subscribe",
      now,
    ),
  );
  await dispatchOrDefer(env, log, projectId, idsOf(events));
  // Every matched contact, changed or not: a retry after a crash before this refresh mends it.
  const found = idsOf(matched);
  await refreshSegments(env, log, projectId, found);
  return { matched: found.length, changed: idsOf(changed).length };
}

export async function bulkByIds(
  env: Env,
  log: Logger,
  projectId: string,
  action: BulkAction,
  given: string[],
): Promise<BulkResult> {
  const ids = [...new Set(given)];
  const result: BulkResult = { action, requested: ids.length, matched: 0, changed: 0 };
  for (let i = 0; i < ids.length; i += BATCH) {
    const page = await applyToContacts(env, log, projectId, action, ids.slice(i, i + BATCH));
    result.matched += page.matched;
    result.changed += page.changed;
  }
  return result;
}

// ---- by segment or filter: a job, paged through the segments queue -------------------------------------

/** Contacts read per page of a job chosen by filter (those that match are changed). */
export const JOB_SCAN_PAGE = 500;
/** Members changed per page of a job chosen by segment. */
export const JOB_MEMBER_PAGE = 100;
/** How long a delivery holds a page: another delivery of it meanwhile leaves it alone. */
export const JOB_LEASE_MS = 30_000;
/** A RUNNING job whose cursor has not moved for this long has lost its message: the sweep sends it again. */
export const JOB_STALLED_MS = 5 * 60_000;

export interface BulkJobMessage {
  kind: "contact-bulk";
  /** The D1 binding of the job's project. */
  db: string;
  jobId: string;
}

export type BulkJob = z.output<typeof bulkJobResponse>;

interface JobRow {
  id: string;
  project_id: string;
  action: BulkAction;
  segment_id: string | null;
  filter: string | null;
  status: "RUNNING" | "DONE";
  cursor: string;
  matched: number;
  changed: number;
  created_at: number;
  finished_at: number | null;
}

export const showJob = (j: JobRow): BulkJob => ({
  id: j.id,
  action: j.action,
  segmentId: j.segment_id,
  filter: j.filter === null ? null : (JSON.parse(j.filter) as SegmentCondition),
  status: j.status,
  matched: j.matched,
  changed: j.changed,
  createdAt: iso(j.created_at) as string,
  finishedAt: iso(j.finished_at),
});

const jobMessage = (env: Env, jobId: string): BulkJobMessage => ({
  kind: "contact-bulk",
  db: env.DATABASE ?? REGISTRY_BINDING,
  jobId,
});

export async function loadJob(env: Env, projectId: string, id: string): Promise<JobRow | null> {
  return env.DB.prepare("SELECT * FROM bulk_jobs WHERE project_id = ?1 AND id = ?2")
    .bind(projectId, id)
    .first<JobRow>();
}

/** Records the job and hands its first page to the queue (the sweep sends it again should that fail). */
export async function startJob(
  env: Env,
  projectId: string,
  action: BulkAction,
  source: { segmentId: string } | { filter: SegmentCondition },
): Promise<JobRow> {
  const now = Date.now();
  const id = newId("blk", now);
  const row = await env.DB.prepare(
    `INSERT INTO bulk_jobs (id, project_id, action, segment_id, filter, status, created_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, 'RUNNING', ?6, ?6) RETURNING *`,
  )
    .bind(
      id,
      projectId,
      action,
      "segmentId" in source ? source.segmentId : null,
      "filter" in source ? JSON.stringify(source.filter) : null,
      now,
    )
    .first<JobRow>();
  await env.SEGMENTS_QUEUE.send(jobMessage(env, id), { contentType: "json" });
  return row as JobRow;
}

/**
 * One page of a job: the next contacts after its cursor (a segment's members, or the contacts a filter
 * matches), changed as by ids; then the cursor moves, only from where this page read it, and the page
 * that moved it queues the next. A delivery first takes the page's lease: another delivery of the same
 * page meanwhile does nothing (the holder goes on, or, should it die, the sweep resumes the job), so a
 * page is counted once; a page applied twice (a retry after a crash) changes nothing twice.
 */
export async function bulkJobPage(env: Env, log: Logger, m: BulkJobMessage): Promise<void> {
  const held = Date.now();
  const job = await env.DB.prepare(
    `UPDATE bulk_jobs SET lease_until = ?2 + ${JOB_LEASE_MS}
     WHERE id = ?1 AND status = 'RUNNING' AND (lease_until IS NULL OR lease_until < ?2) RETURNING *`,
  )
    .bind(m.jobId, held)
    .first<JobRow>();
  if (!job) return; // gone, done, or worked by another delivery
  try {
    await jobPage(env, log, job);
  } catch (err) {
    // Let the retry of this message take the page again at once.
    await env.DB.prepare("UPDATE bulk_jobs SET lease_until = NULL WHERE id = ?1 AND cursor = ?2")
      .bind(job.id, job.cursor)
      .run()
      .catch(() => {});
    throw err;
  }
}

async function jobPage(env: Env, log: Logger, job: JobRow): Promise<void> {
  let ids: string[];
  let last: string | undefined;
  let done: boolean;
  if (job.segment_id !== null) {
    const { results } = await env.DB.prepare(
      `SELECT contact_id AS id FROM segment_members WHERE segment_id = ?1 AND contact_id > ?2
       ORDER BY contact_id LIMIT ?3`,
    )
      .bind(job.segment_id, job.cursor, JOB_MEMBER_PAGE)
      .all<{ id: string }>();
    ids = results.map((r) => r.id);
    last = ids[ids.length - 1];
    done = results.length < JOB_MEMBER_PAGE;
  } else {
    const results = await contactsAfter(env, job.project_id, job.cursor, JOB_SCAN_PAGE);
    const condition = JSON.parse(job.filter ?? "{}") as SegmentCondition;
    const now = Date.now();
    const facts = await loadFacts(
      env,
      job.project_id,
      results.map((c) => c.id),
      [condition],
      now,
    );
    ids = results.filter((c) => matches(condition, asSubject(c), facts, now)).map((c) => c.id);
    last = results[results.length - 1]?.id;
    done = results.length < JOB_SCAN_PAGE;
  }
  const page = await applyToContacts(env, log, job.project_id, job.action, ids);
  const now = Date.now();
  const moved = await env.DB.prepare(
    `UPDATE bulk_jobs SET matched = matched + ?3, changed = changed + ?4, cursor = ?5, updated_at = ?6,
       lease_until = NULL, status = CASE WHEN ?7 THEN 'DONE' ELSE status END,
       finished_at = CASE WHEN ?7 THEN ?6 END
     WHERE id = ?1 AND cursor = ?2 AND status = 'RUNNING'`,
  )
    .bind(job.id, job.cursor, page.matched, page.changed, last ?? job.cursor, now, done ? 1 : 0)
    .run();
  if (moved.meta.changes === 0) return; // moved meanwhile (this delivery outlived its lease)
  if (done) log.info("bulk job done", { jobId: job.id, action: job.action });
  else await env.SEGMENTS_QUEUE.send(jobMessage(env, job.id), { contentType: "json" });
}

/** The sweep's part: RUNNING jobs whose cursor has not moved for JOB_STALLED_MS get their message again. */
export async function resumeStalledJobs(env: Env, now: number): Promise<number> {
  const { results } = await env.DB.prepare(
    "SELECT id FROM bulk_jobs WHERE status = 'RUNNING' AND updated_at < ?1 LIMIT 100",
  )
    .bind(now - JOB_STALLED_MS)
    .all<{ id: string }>();
  if (results.length === 0) return 0;
  await env.SEGMENTS_QUEUE.sendBatch(
    results.map((r) => ({ body: jobMessage(env, r.id), contentType: "json" as const })),
  );
  return results.length;
}
