import { toHex } from "./ids";

const encoder = new TextEncoder();

export async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))));
}

export function base64url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function base64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * HMAC-SHA256 signing keys, imported once per secret in an isolate: a webhook's signature and a contact's
 * unsubscribe link are made per delivery, and importing the key each time was a tenth of a delivery's CPU.
 * Bounded: past `HMAC_KEYS_MAX` secrets the cache starts again.
 */
const hmacKeys = new Map<string, Promise<CryptoKey>>();
const HMAC_KEYS_MAX = 256;

export function hmacKey(
  secret: string,
  bytes: () => Uint8Array = () => encoder.encode(secret),
): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    if (hmacKeys.size >= HMAC_KEYS_MAX) hmacKeys.clear();
    key = crypto.subtle.importKey("raw", bytes(), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    key.catch(() => hmacKeys.delete(secret));
    hmacKeys.set(secret, key);
  }
  return key;
}

/** A secret with a prefix and 32 random bytes: `pk_…`, `sk_…`, `whsec_…` (the last in base64, per Standard Webhooks). */
export function newSecret(prefix: "pk" | "sk" | "whsec"): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return prefix === "whsec" ? `whsec_${base64(bytes)}` : `${prefix}_${base64url(bytes)}`;
}

/** Constant-time equality of two strings: both are hashed first, so lengths leak nothing either. */
export async function timingSafeEqualString(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(ha, hb);
}

/** The part of a key that may be shown again: its prefix and first characters. */
export function keyPrefix(key: string): string {
  return key.slice(0, key.indexOf("_") + 7);
}
