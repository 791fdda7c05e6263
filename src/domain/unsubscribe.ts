/**
 * Signed unsubscribe tokens: `<contactId>.<projectId>.<HMAC-SHA256(contactId) base64url>`, keyed per
 * project. The project id says where the contact is (contacts are keyed by project and id); tokens made
 * before it was added (`<contactId>.<mac>`) are still read.
 */
import { base64url, hmacKey } from "./crypto";

async function mac(secret: string, contactId: string): Promise<string> {
  const key = await hmacKey(secret);
  const sig = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`unsubscribe:${contactId}`));
  return base64url(new Uint8Array(sig));
}

export async function unsubscribeToken(
  secret: string,
  projectId: string,
  contactId: string,
): Promise<string> {
  return `${contactId}.${projectId}.${await mac(secret, contactId)}`;
}

/** The contact (and, in tokens that carry it, the project) a token names; its signature is not checked. */
export function tokenTarget(token: string): { contactId: string; projectId: string | null } | null {
  const m = token.match(/^(ctc_[0-9a-z]{1,64})(?:\.(prj_[0-9a-z]{1,64}))?\.([A-Za-z0-9_-]{43})$/);
  return m ? { contactId: m[1] as string, projectId: m[2] ?? null } : null;
}

/** Whether the token's signature holds (checked in constant time). */
export async function verifyUnsubscribeToken(secret: string, token: string): Promise<boolean> {
  const target = tokenTarget(token);
  if (!target) return false;
  const { contactId, projectId } = target;
  const prefix = projectId ? `${contactId}.${projectId}` : contactId;
  const expected = new TextEncoder().encode(`${prefix}.${await mac(secret, contactId)}`);
  const given = new TextEncoder().encode(token);
  return expected.byteLength === given.byteLength && crypto.subtle.timingSafeEqual(expected, given);
}
