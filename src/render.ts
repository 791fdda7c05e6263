/**
 * An email's subject and body rendered for a contact, as the email consumer renders it (the contact's
 * fields and data, its signed links), for previews and test sends: nothing is stored and no event is made.
 */

import { parseJsonObject } from "./domain/shapes";
import { renderTemplate } from "./domain/templates";
import type { Env } from "./env";
import { ApiError, fieldError, notFound } from "./http/errors";
import { sendEmail } from "./integrations/ses";
import { contactLinks, templateVariables } from "./queues/variables";

export interface EmailParts {
  subject: string;
  body: string;
}

/** With `contactId`, that contact of the project (404 if none); without, an example contact with no data. */
export async function renderForContact(
  env: Env,
  projectId: string,
  parts: EmailParts,
  contactId: string | null,
  event: Record<string, unknown> = {},
): Promise<{ subject: string; html: string }> {
  const [contact, project] = await env.DB.batch([
    env.DB.prepare("SELECT id, email, subscribed, data FROM contacts WHERE project_id = ?1 AND id = ?2").bind(
      projectId,
      contactId ?? "",
    ),
    env.DB.prepare("SELECT signing_secret FROM projects WHERE id = ?1").bind(projectId),
  ]);
  const row = contact?.results[0] as
    | { id: string; email: string; subscribed: number; data: string }
    | undefined;
  if (contactId && !row) throw notFound("Contact", "CONTACT_NOT_FOUND");
  const who = row
    ? { id: row.id, email: row.email, subscribed: Boolean(row.subscribed), data: parseJsonObject(row.data) }
    : { id: "ctc_example", email: "someone@example.com", subscribed: true, data: {} };
  const secret = (project?.results[0] as { signing_secret: string | null } | undefined)?.signing_secret ?? "";
  const vars = templateVariables({
    contact: who,
    event,
    links: await contactLinks(env, secret, projectId, who.id),
  });
  const out = { subject: "", html: "" };
  for (const [field, key] of [
    ["subject", "subject"],
    ["body", "html"],
  ] as const) {
    try {
      out[key] = await renderTemplate(parts[field], vars);
    } catch (err) {
      throw fieldError(field, `Template error: ${(err as Error).message}`, "invalid_template");
    }
  }
  return out;
}

/** Sends a rendered email to `to` now, through SES (502 SEND_FAILED with SES's reason if it refuses). */
export async function sendTest(
  env: Env,
  email: {
    to: string;
    from: string;
    fromName: string | null;
    replyTo: string | null;
    subject: string;
    html: string;
  },
): Promise<{ messageId: string }> {
  const result = await sendEmail(env, { ...email, headers: {} });
  if (!result.ok)
    throw new ApiError(502, "SEND_FAILED", `SES did not accept the test email: ${result.error}`);
  return { messageId: result.messageId };
}
