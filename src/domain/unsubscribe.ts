/** Signed unsubscribe tokens: `<contactId>.<HMAC-SHA256(contactId) base64url>`, keyed per project. */
import { base64url } from "./crypto";

async function mac(secret: string, contactId: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const sig = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`unsubscribe:${contactId}`));
  return base64url(new Uint8Array(sig));
}

export async function unsubscribeToken(secret: string, contactId: string): Promise<string> {
  return `${contactId}.${await mac(secret, contactId)}`;
}

/** The contact id a token names, if its signature holds (checked in constant time). */
export function tokenContactId(token: string): string | null {
  const m = token.match(/^(ctc_[0-9a-z]{1,64})\.([A-Za-z0-9_-]{43})$/);
  return m ? (m[1] as string) : null;
}

export async function verifyUnsubscribeToken(secret: string, token: string): Promise<boolean> {
  const contactId = tokenContactId(token);
  if (!contactId) return false;
  const expected = new TextEncoder().encode(`${contactId}.${await mac(secret, contactId)}`);
  const given = new TextEncoder().encode(token);
  return expected.byteLength === given.byteLength && crypto.subtle.timingSafeEqual(expected, given);
}
