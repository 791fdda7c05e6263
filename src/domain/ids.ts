/** Opaque, type-prefixed, time-ordered ids: `prefix_` + 10 chars of time + 16 random (Crockford base32). */
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

export type IdPrefix =
  | "prj"
  | "ctc"
  | "evt"
  | "tpl"
  | "wf"
  | "stp"
  | "trn"
  | "exec"
  | "sx"
  | "eml"
  | "seg"
  | "whd"
  | "req";

export function newId(prefix: IdPrefix, now = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let rand = "";
  for (const b of bytes) rand += ALPHABET[b % 32];
  return `${prefix}_${time}${rand}`;
}

/** A deterministic id: `prefix_` + the first 24 hex chars of SHA-256 over the parts. */
export async function derivedId(prefix: IdPrefix, ...parts: (string | number)[]): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\u0000")));
  return `${prefix}_${toHex(new Uint8Array(digest)).slice(0, 24)}`;
}

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}
