/**
 * The executions API of a project on the shard engine, answered from its pages (src/shard/pages.ts): one
 * execution is one row read (its id names its page and place); a workflow's list is a range of
 * `pages_workflow`, newest page first, each page's executions unfolded by `json_each`.
 */
import type { DeliveryOut, ExecutionDetailOut, ExecutionOut } from "../domain/responses";
import { iso } from "../domain/shapes";
import { NO_CONTACT } from "../engine/state";
import type { Env } from "../env";
import { decodeCursor, encodeCursor, type Page } from "../http/pagination";
import {
  EXECUTION_READ,
  EXECUTIONS_LIST,
  type Hook,
  PAGE_SIZE,
  parseDeliveryId,
  parseExecutionId,
  type StoredExecution,
} from "./pages";

function show(workflowId: string, e: StoredExecution): ExecutionOut {
  return {
    id: e.executionId,
    workflowId,
    contactId: e.contactId === NO_CONTACT ? null : e.contactId,
    status: e.status,
    currentStepId: e.currentStepId,
    exitReason: e.exitReason,
    context: { event: e.event },
    startedAt: iso(e.startedAt) as string,
    completedAt: iso(e.completedAt),
  };
}

function showDetail(workflowId: string, e: StoredExecution): ExecutionDetailOut {
  return {
    ...show(workflowId, e),
    steps: e.log.map((s) => ({
      id: s.id,
      stepId: s.stepId,
      status: s.status,
      startedAt: iso(s.startedAt) as string,
      finishedAt: iso(s.finishedAt),
      output: s.output ?? null,
      error: s.error,
    })),
  };
}

/** One execution of the workflow, with its step log; null if there is none of that id. */
export async function pagedExecution(
  env: Env,
  projectId: string,
  workflowId: string,
  id: string,
): Promise<(ExecutionDetailOut & { owner: string }) | null> {
  const e = await pagedExecutionRow(env, projectId, id);
  if (!e || e.workflowId !== workflowId) return null;
  return { ...showDetail(workflowId, e.exec), owner: e.owner };
}

/** A workflow's executions, newest first (a status filter of RUNNING or WAITING skips ended pages). */
export async function pagedExecutions(
  env: Env,
  projectId: string,
  workflowId: string,
  q: { limit: number; cursor?: string; status?: string },
): Promise<Page<ExecutionOut>> {
  const after = q.cursor ? decodeCursor(q.cursor) : null;
  const active = q.status === "RUNNING" || q.status === "WAITING" ? 1 : 0;
  const { results } = await env.DB.prepare(EXECUTIONS_LIST)
    .bind(
      projectId,
      workflowId,
      after?.id ?? "~",
      after?.t ?? PAGE_SIZE,
      q.status ?? null,
      active,
      q.limit + 1,
    )
    .all<{ page: string; place: number; body: string }>();
  const hasMore = results.length > q.limit;
  const kept = hasMore ? results.slice(0, q.limit) : results;
  const last = kept[kept.length - 1];
  return {
    data: kept.map((r) => show(workflowId, JSON.parse(r.body) as StoredExecution)),
    cursor: hasMore && last ? encodeCursor({ t: last.place, id: last.page }) : null,
    hasMore,
  };
}

/** An execution id's page and place, in SQL (`xpg_` + a 21-character page id + `_` + the place). */
const PAGE_OF = (id: string) => `substr(${id}, 5, 21)`;
const PATH_OF = (id: string, tail = "") => `('$[' || substr(${id}, 27) || ']${tail}')`;

/** The executions a contact's events started, newest first (a range of `events_contact_created`). */
export async function contactExecutions(
  env: Env,
  projectId: string,
  contactId: string,
  q: { limit: number; cursor?: string },
): Promise<Page<ExecutionOut>> {
  const after = q.cursor ? decodeCursor(q.cursor) : null;
  const { results } = await env.DB.prepare(
    `SELECT e.created_at AS startedAt, x.value ->> 0 AS id, x.value ->> 1 AS workflowId,
       p.body ->> ${PATH_OF("x.value ->> 0")} AS body
     FROM events e INDEXED BY events_contact_created CROSS JOIN json_each(e.executions) AS x
       CROSS JOIN pages p ON p.id = ${PAGE_OF("x.value ->> 0")}
     WHERE e.project_id = ?1 AND e.contact_id = ?2 AND e.executions IS NOT NULL
       AND (?3 IS NULL OR e.created_at < ?3 OR (e.created_at = ?3 AND x.value ->> 0 < ?4))
     ORDER BY e.created_at DESC, x.value ->> 0 DESC LIMIT ?5`,
  )
    .bind(projectId, contactId, after?.t ?? null, after?.id ?? "", q.limit + 1)
    .all<{ startedAt: number; id: string; workflowId: string; body: string | null }>();
  const rows = results.filter((r) => r.body !== null);
  const hasMore = results.length > q.limit;
  const kept = rows.slice(0, q.limit);
  const last = kept[kept.length - 1];
  return {
    data: kept.map((r) => show(r.workflowId, JSON.parse(r.body as string) as StoredExecution)),
    cursor: hasMore && last ? encodeCursor({ t: last.startedAt, id: last.id }) : null,
    hasMore,
  };
}

export interface ExecutionLink {
  id: string;
  workflowId: string;
  status: string;
}

/**
 * Per event: the executions it started (the event lists them) and those it resumed (a WAIT_FOR_EVENT it
 * ended records the event's id in its step log), read through the contact's events that started any.
 */
export async function eventExecutionLinks(
  env: Env,
  projectId: string,
  contactId: string,
  eventIds: string[],
) {
  const ids = JSON.stringify(eventIds);
  const [started, resumed] = await env.DB.batch<{ eventId: string } & ExecutionLink>([
    env.DB.prepare(
      `SELECT e.id AS eventId, x.value ->> 0 AS id, x.value ->> 1 AS workflowId,
         p.body ->> ${PATH_OF("x.value ->> 0", ".status")} AS status
       FROM json_each(?3) AS m CROSS JOIN events e ON e.project_id = ?1 AND e.id = m.value
         CROSS JOIN json_each(e.executions) AS x CROSS JOIN pages p ON p.id = ${PAGE_OF("x.value ->> 0")}
       WHERE e.contact_id = ?2`,
    ).bind(projectId, contactId, ids),
    env.DB.prepare(
      `SELECT sx.value ->> '$.output.eventId' AS eventId, x.value ->> 0 AS id, x.value ->> 1 AS workflowId,
         p.body ->> ${PATH_OF("x.value ->> 0", ".status")} AS status
       FROM events e INDEXED BY events_contact_created CROSS JOIN json_each(e.executions) AS x
         CROSS JOIN pages p ON p.id = ${PAGE_OF("x.value ->> 0")}
         CROSS JOIN json_each(p.body, ${PATH_OF("x.value ->> 0", ".log")}) AS sx
       WHERE e.project_id = ?1 AND e.contact_id = ?2 AND e.executions IS NOT NULL
         AND sx.value ->> '$.output.eventId' IN (SELECT value FROM json_each(?3))`,
    ).bind(projectId, contactId, ids),
  ]);
  return {
    started: (started?.results ?? []) as ({ eventId: string } & ExecutionLink)[],
    resumed: (resumed?.results ?? []) as ({ eventId: string } & ExecutionLink)[],
  };
}

function showHook(workflowId: string, executionId: string, h: Hook, withAttempts: boolean): DeliveryOut {
  return {
    id: h.id,
    workflowId,
    executionId,
    stepId: h.stepId,
    url: h.url,
    method: h.message.config.method,
    status: h.status,
    attemptCount: h.attempts.length,
    nextAttemptAt: h.status === "PENDING" ? (h.attempts.at(-1)?.nextAttemptAt ?? null) : null,
    replays: h.generation,
    createdAt: iso(h.createdAt),
    updatedAt: iso(h.updatedAt),
    ...(withAttempts ? { attempts: h.attempts } : {}),
  };
}

/**
 * The project's webhook deliveries, in the order of the executions that made them (newest page first):
 * a range of `pages_workflow` (of one workflow with `workflowId`; one page with `executionId`).
 */
export async function pagedDeliveries(
  env: Env,
  projectId: string,
  q: { limit: number; cursor?: string; status?: string; workflowId?: string; executionId?: string },
): Promise<Page<DeliveryOut>> {
  const after = q.cursor ? decodeCursor(q.cursor) : null;
  const one = q.executionId ? parseExecutionId(q.executionId) : null;
  if (q.executionId && !one) return { data: [], cursor: null, hasMore: false };
  const { results } = await env.DB.prepare(
    `SELECT p.id AS page, p.workflow_id AS workflowId, e.value ->> 'executionId' AS executionId,
       CAST(e.key AS INTEGER) * 1000 + CAST(h.key AS INTEGER) AS at, h.value AS hook
     FROM pages p INDEXED BY pages_workflow, json_each(p.body) AS e, json_each(e.value, '$.hooks') AS h
     WHERE p.project_id = ?1 AND (?2 IS NULL OR p.workflow_id = ?2) AND (?3 IS NULL OR p.id = ?3)
       AND (?4 IS NULL OR e.key = ?4) AND (?5 IS NULL OR h.value ->> 'status' = ?5)
       AND (p.id < ?6 OR (p.id = ?6 AND CAST(e.key AS INTEGER) * 1000 + CAST(h.key AS INTEGER) < ?7))
     ORDER BY p.id DESC, at DESC LIMIT ?8`,
  )
    .bind(
      projectId,
      q.workflowId ?? null,
      one?.pageId ?? null,
      one?.place ?? null,
      q.status ?? null,
      after?.id ?? "~",
      after?.t ?? Number.MAX_SAFE_INTEGER,
      q.limit + 1,
    )
    .all<{ page: string; workflowId: string; executionId: string; at: number; hook: string }>();
  const hasMore = results.length > q.limit;
  const kept = hasMore ? results.slice(0, q.limit) : results;
  const last = kept[kept.length - 1];
  return {
    data: kept.map((r) => showHook(r.workflowId, r.executionId, JSON.parse(r.hook) as Hook, false)),
    cursor: hasMore && last ? encodeCursor({ t: last.at, id: last.page }) : null,
    hasMore,
  };
}

/** One delivery, with its attempts: its id names its execution's page (one row read). */
export async function pagedDelivery(
  env: Env,
  projectId: string,
  id: string,
): Promise<(DeliveryOut & { owner: string }) | null> {
  const at = parseDeliveryId(id);
  const e = at && (await pagedExecutionRow(env, projectId, at.executionId));
  const h = e?.exec.hooks?.find((x) => x.id === id);
  return e && h ? { ...showHook(e.workflowId, e.exec.executionId, h, true), owner: e.owner } : null;
}

async function pagedExecutionRow(env: Env, projectId: string, executionId: string) {
  const at = parseExecutionId(executionId);
  if (!at) return null;
  const row = await env.DB.prepare(EXECUTION_READ)
    .bind(at.pageId, `$[${at.place}]`)
    .first<{ project_id: string; workflow_id: string; owner: string; body: string | null }>();
  if (!row?.body || row.project_id !== projectId) return null;
  return { workflowId: row.workflow_id, owner: row.owner, exec: JSON.parse(row.body) as StoredExecution };
}
