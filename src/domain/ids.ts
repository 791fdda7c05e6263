/** Opaque, type-prefixed, time-ordered ids: `prefix_` + 10 chars of time + 16 random (Crockford base32). */
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

export type IdPrefix =
  | "prj"
  | "ctc"
  | "blk"
  | "evt"
  | "tpl"
  | "wf"
  | "stp"
  | "trn"
  | "exec"
  | "sx"
  | "eml"
  | "seg"
  | "cmp"
  | "whd"
  | "req";

/** The random part of the last id (16 digits, 0–31), and the time part for its millisecond. */
const random = new Uint8Array(16);
let lastTime = -1;
let lastTimeChars = "";

/**
 * Monotonic within an isolate: two ids made in the same millisecond sort in the order they were made
 * (the random part of the second is the first's plus one), so events of one request list in order.
 */
export function newId(prefix: IdPrefix, now = Date.now()): string {
  if (now === lastTime) {
    for (let i = random.length - 1; i >= 0; i--) {
      random[i] = ((random[i] as number) + 1) % 32;
      if (random[i] !== 0) break;
    }
  } else {
    crypto.getRandomValues(random);
    for (let i = 0; i < random.length; i++) random[i] = (random[i] as number) % 32;
    // Leave headroom so increments within one millisecond do not wrap.
    random[0] = (random[0] as number) % 16;
    lastTime = now;
    lastTimeChars = timeChars(now);
  }
  let id = `${prefix}_${lastTimeChars}`;
  for (const d of random) id += ALPHABET[d];
  return id;
}

/**
 * A deterministic id that sorts by time like `newId`: `prefix_` + 10 chars of `at` + 16 chars of SHA-256
 * over the parts. For the ids of events a retry must find again (an SNS message's events, with the SES
 * event's own time): events are listed in id order.
 */
export async function timedDerivedId(
  prefix: IdPrefix,
  at: number,
  ...parts: (string | number)[]
): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\u0000"))),
  );
  let rest = "";
  for (let i = 0; i < 16; i++) rest += ALPHABET[(digest[i] as number) % 32];
  return `${prefix}_${timeChars(at)}${rest}`;
}

/** An id bound: every id of `prefix` made before `at` (by `newId` or `timedDerivedId`) sorts below it. */
export const idsBefore = (prefix: IdPrefix, at: number) => `${prefix}_${timeChars(at)}`;

/** A millisecond time as 10 Crockford base32 digits, which sort as the times do. */
/** The smallest id `newId` could make at `at` (a bound of a range of time-ordered ids). */
export const idFloor = (prefix: IdPrefix, at: number): string => `${prefix}_${timeChars(at)}`;

function timeChars(at: number): string {
  let time = "";
  let t = Math.max(0, Math.floor(at));
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time;
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
