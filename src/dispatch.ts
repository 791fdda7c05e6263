/**
 * Dispatch of stored events (DESIGN.md "One path for every event"). An event row is written before this
 * runs and marked dispatched after, so the cron sweep can finish what a crash cut short.
 */
import type { Env } from "./env";
import type { Logger } from "./log";

export async function dispatchStored(env: Env, log: Logger, eventIds: string[]): Promise<void> {
  if (eventIds.length === 0) return;
  const now = Date.now();
  await env.DB.batch(
    eventIds.map((id) =>
      env.DB.prepare("UPDATE events SET dispatched_at = ?1 WHERE id = ?2 AND dispatched_at IS NULL").bind(
        now,
        id,
      ),
    ),
  );
  log.info("events dispatched", { eventIds });
}
