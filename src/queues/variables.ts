import { unsubscribeToken } from "../domain/unsubscribe";
import type { Env } from "../env";

/** The variables Liquid sees, for emails and for webhooks (API.md "Emails"). */
export interface VariableInput {
  contact: { id: string; email: string; subscribed: boolean; data: Record<string, unknown> };
  event: Record<string, unknown>;
  /** The contact's signed links (left out where no link belongs: a CUSTOM recipient's address). */
  links?: { unsubscribeUrl: string; subscribeUrl: string; manageUrl: string };
  workflow?: { id: string; name: string };
  execution?: { id: string; startedAt: string };
}

export function templateVariables(v: VariableInput): Record<string, unknown> {
  return {
    ...v.contact.data,
    email: v.contact.email,
    id: v.contact.id,
    subscribed: v.contact.subscribed,
    data: v.contact.data,
    contact: { email: v.contact.email, subscribed: v.contact.subscribed, data: v.contact.data },
    event: v.event,
    ...v.links,
    ...(v.workflow ? { workflow: v.workflow } : {}),
    ...(v.execution ? { execution: v.execution } : {}),
  };
}

/** The links every email can carry, signed for its contact. */
export async function contactLinks(
  env: Env,
  secret: string,
  projectId: string,
  contactId: string,
  /** A campaign's email: its unsubscribe link names the campaign, for the campaign's `unsubscribed` count. */
  campaignId?: string | null,
) {
  const token = await unsubscribeToken(secret, projectId, contactId);
  const base = env.PUBLIC_URL.replace(/\/$/, "");
  return {
    unsubscribeUrl: `${base}/unsubscribe/${token}${campaignId ? `?campaign=${encodeURIComponent(campaignId)}` : ""}`,
    subscribeUrl: `${base}/subscribe/${token}`,
    manageUrl: `${base}/unsubscribe/${token}`,
  };
}
