/**
 * Bulk subscribe / unsubscribe / delete of contacts named by id, done in the request in batches of 100,
 * each one D1 batch: a retry after a crash finds what is done already done (a status already set is not
 * written and emits nothing; a deleted contact is not found) and finishes the rest.
 */
import type { z } from "zod";
import { deleteContacts, idsOf, statusStatements } from "../db/contact-bulk-sql";
import { dispatchOrDefer } from "../dispatch";
import { newId } from "../domain/ids";
import type { bulkResponse } from "../domain/responses";
import type { Env } from "../env";
import type { Logger } from "../log";
import { refreshSegments } from "../segments";

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
