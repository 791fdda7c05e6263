/**
 * An UPDATE_CONTACT step's write, for either engine's host: the contact's status and data in one batch,
 * with its `contact.subscribed` / `contact.unsubscribed` event stored (undispatched) when the status
 * changes. The caller dispatches that event and refreshes the contact's segments once the step is saved.
 */
import { mergeJsonSql, statusChangeEvent } from "../db/contact-sql";
import type { StepConfig } from "../domain/workflow/config";
import type { Env } from "../env";
import { StepFailure } from "./steps";

export async function updateContactRow(
  env: Env,
  projectId: string,
  contactId: string,
  update: StepConfig<"UPDATE_CONTACT">,
  statusEventId: string,
): Promise<{ statusChanged: boolean }> {
  const now = Date.now();
  const subscribed = update.subscribed ?? null;
  const [status, updated] = await env.DB.batch([
    statusChangeEvent(env, { contactId }, { eventId: statusEventId, projectId, subscribed, now }),
    env.DB.prepare(
      `UPDATE contacts SET subscribed = coalesce(?1, subscribed), data = ${mergeJsonSql("data", "?2")},
         updated_at = ?3 WHERE project_id = ?4 AND id = ?5 RETURNING id`,
    ).bind(
      subscribed === null ? null : subscribed ? 1 : 0,
      JSON.stringify(update.data ?? {}),
      now,
      projectId,
      contactId,
    ),
  ]);
  if (!updated?.results.length) throw new StepFailure("The contact no longer exists");
  return { statusChanged: (status?.meta.changes ?? 0) > 0 };
}
