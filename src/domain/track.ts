/** The rules of `POST /v1/track` that need no runtime: the body's schema, reserved names, data split. */
import { z } from "zod";

/** Trimmed and lower-cased, then checked. */
export const emailField = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email({ message: "Invalid email" }));

const RESERVED = [
  /^email\./,
  /^contact\.subscribed$/,
  /^contact\.unsubscribed$/,
  /^segment\..+\.entry$/,
  /^segment\..+\.exit$/,
];

export function isReservedEventName(name: string): boolean {
  return RESERVED.some((re) => re.test(name));
}

export const eventName = z.string().trim().min(1).max(100);

export const trackBody = z.object({
  event: eventName.refine((name) => !isReservedEventName(name), {
    message: "This event name is reserved for events the system emits",
    params: { code: "reserved_event" },
  }),
  email: emailField,
  subscribed: z.boolean().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

export type TrackBody = z.output<typeof trackBody>;

function isTransient(v: unknown): v is { value: unknown; persistent: false } {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 2 && keys.includes("value") && (v as Record<string, unknown>).persistent === false;
}

/**
 * `{value, persistent: false}` entries go to the event only; everything else to the event and the contact.
 * The event keeps every value unwrapped.
 */
export function splitTrackData(data: Record<string, unknown> = {}): {
  persistent: Record<string, unknown>;
  event: Record<string, unknown>;
} {
  const persistent: Record<string, unknown> = {};
  const event: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(data)) {
    if (isTransient(v)) {
      event[key] = v.value;
    } else {
      persistent[key] = v;
      event[key] = v;
    }
  }
  return { persistent, event };
}
