import type { Execution } from "../db/schema";
import type { Env } from "../env";

/**
 * Cancels one execution through its Durable Object. One whose object never started (a crash between
 * the claim and the start) is cancelled in D1 directly. Returns whether this call cancelled it.
 */
export async function cancelExecution(env: Env, e: Execution): Promise<boolean> {
  const result = await env.EXECUTIONS.get(env.EXECUTIONS.idFromName(e.id)).cancel(e.id, env.DATABASE);
  if (result.status !== null) return result.cancelled;
  const now = Date.now();
  const [updated] = await env.DB.batch([
    env.DB.prepare(
      `UPDATE executions SET status = 'CANCELLED', completed_at = ?2, updated_at = ?2, wake_at = NULL
       WHERE id = ?1 AND status IN ('RUNNING', 'WAITING')`,
    ).bind(e.id, now),
    env.DB.prepare(
      "UPDATE enrollments SET active_execution_id = NULL WHERE workflow_id = ?1 AND contact_id = ?2 AND active_execution_id = ?3",
    ).bind(e.workflowId, e.contactId, e.id),
  ]);
  return (updated?.meta.changes ?? 0) > 0;
}
