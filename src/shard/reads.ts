/**
 * The executions API of a project on the shard engine, answered from its pages (src/shard/pages.ts): one
 * execution is one row read (its id names its page and place); a workflow's list is a range of
 * `pages_workflow`, newest page first, each page's executions unfolded by `json_each`.
 */
import type { ExecutionDetailOut, ExecutionOut } from "../domain/responses";
import { iso } from "../domain/shapes";
import { NO_CONTACT } from "../engine/state";
import type { Env } from "../env";
import { decodeCursor, encodeCursor, type Page } from "../http/pagination";
import { EXECUTION_READ, EXECUTIONS_LIST, PAGE_SIZE, parseExecutionId, type StoredExecution } from "./pages";

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
  const at = parseExecutionId(id);
  if (!at) return null;
  const row = await env.DB.prepare(EXECUTION_READ)
    .bind(at.pageId, `$[${at.place}]`)
    .first<{ project_id: string; workflow_id: string; owner: string; body: string | null }>();
  if (!row?.body || row.project_id !== projectId || row.workflow_id !== workflowId) return null;
  return { ...showDetail(workflowId, JSON.parse(row.body) as StoredExecution), owner: row.owner };
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
