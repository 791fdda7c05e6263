/**
 * Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with the
 * base64 part of the `whsec_` secret. During a rotation both secrets sign, space-separated.
 */
import { base64, hmacKey } from "../domain/crypto";

function secretBytes(secret: string): Uint8Array {
  const raw = secret.startsWith("whsec_") ? secret.slice(6) : secret;
  return Uint8Array.from(atob(raw), (ch) => ch.charCodeAt(0));
}

export async function signPayload(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  // Keyed by the whole secret: its prefix says how its bytes are read.
  const key = await hmacKey(`webhook:${secret}`, () => secretBytes(secret));
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${timestamp}.${body}`));
  return `v1,${base64(new Uint8Array(mac))}`;
}

export async function signatureHeader(
  secrets: string[],
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const sigs = await Promise.all(secrets.map((s) => signPayload(s, id, timestamp, body)));
  return sigs.join(" ");
}

/** The secrets that sign now: the current one, and the previous one while its 24 hours last. */
export function signingSecrets(
  project: {
    webhookSecret: string;
    previousWebhookSecret: string | null;
    previousWebhookSecretUntil: number | null;
  },
  now: number,
): string[] {
  const out = [project.webhookSecret];
  if (project.previousWebhookSecret && (project.previousWebhookSecretUntil ?? 0) > now) {
    out.push(project.previousWebhookSecret);
  }
  return out;
}
