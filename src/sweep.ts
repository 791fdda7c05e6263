/** The cron sweep: finishes what a crash left half done, and forgets what has expired. */
import { dispatchStored } from "./dispatch";
import type { Env } from "./env";
import { IDEMPOTENCY_TTL_MS } from "./http/idempotency";
import type { Logger } from "./log";

/** Events younger than this may still be in their request's own dispatch: leave them to it. */
export const DISPATCH_GRACE_MS = 30_000;
const BATCH = 100;

export async function sweep(env: Env, log: Logger, now = Date.now()): Promise<{ redispatched: number }> {
  const { results } = await env.DB.prepare(
    "SELECT id FROM events WHERE dispatched_at IS NULL AND created_at < ?1 ORDER BY created_at LIMIT ?2",
  )
    .bind(now - DISPATCH_GRACE_MS, BATCH)
    .all<{ id: string }>();
  const ids = results.map((r) => r.id);
  if (ids.length > 0) {
    log.warn("sweep: finishing dispatch", { count: ids.length });
    await dispatchStored(env, log, ids);
  }
  await env.DB.prepare("DELETE FROM idempotency_keys WHERE created_at < ?1")
    .bind(now - IDEMPOTENCY_TTL_MS)
    .run();
  return { redispatched: ids.length };
}
