/**
 * The days the analytics page shows: a preset (the last 7, 30 or 90 UTC days, today included) or a custom
 * `from`…`to`, both kept in the address (`?range=7`, `?from=2026-11-01&to=2026-11-30`). Days are UTC, as
 * `GET /analytics` counts them.
 */
export const PRESETS = [7, 30, 90] as const;
export type Preset = (typeof PRESETS)[number];
export const DEFAULT_PRESET: Preset = 30;
/** The API answers at most this many days. */
export const MAX_DAYS = 366;

const DAY_MS = 86_400_000;
const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

export const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
export const dayMs = (iso: string) => Date.parse(`${iso}T00:00:00Z`);
export const isDay = (s: string) => ISO_DAY.test(s) && !Number.isNaN(dayMs(s)) && isoDay(dayMs(s)) === s;

export interface Range {
  from: string;
  to: string;
  /** The preset it is, or null for a custom range. */
  preset: Preset | null;
}

/** The last `n` UTC days up to today. */
export function presetRange(n: Preset, now = Date.now()): Range {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  return { from: isoDay(today - (n - 1) * DAY_MS), to: isoDay(today), preset: n };
}

/** The range the address names; anything it cannot read is the default preset. */
export function rangeOf(params: URLSearchParams, now = Date.now()): Range {
  const from = params.get("from") ?? "";
  const to = params.get("to") ?? "";
  if (isDay(from) && isDay(to)) return { from, to, preset: null };
  const n = Number(params.get("range"));
  const preset = PRESETS.find((p) => p === n) ?? DEFAULT_PRESET;
  return presetRange(preset, now);
}

/** Why a custom range cannot be asked for, or null (the API checks again: its answer is shown at `from`). */
export function customProblem(from: string, to: string): { field: "from" | "to"; message: string } | null {
  if (!isDay(from)) return { field: "from", message: "Give the first day" };
  if (!isDay(to)) return { field: "to", message: "Give the last day" };
  if (from > to) return { field: "to", message: "The last day is before the first" };
  if ((dayMs(to) - dayMs(from)) / DAY_MS + 1 > MAX_DAYS) {
    return { field: "to", message: `At most ${MAX_DAYS} days` };
  }
  return null;
}

/** "Nov 3" (or "Nov 3, 2025" with the year), read as a UTC day. */
export function formatDay(iso: string, opts: { year?: boolean; weekday?: boolean } = {}): string {
  return new Date(dayMs(iso)).toLocaleDateString(undefined, {
    timeZone: "UTC",
    month: "short",
    day: "numeric",
    ...(opts.year ? { year: "numeric" } : {}),
    ...(opts.weekday ? { weekday: "short" } : {}),
  });
}

/** "Nov 1 – Nov 30, 2026" for the heading and the charts' summaries. */
export function formatRange(from: string, to: string): string {
  if (from === to) return formatDay(from, { year: true });
  const sameYear = from.slice(0, 4) === to.slice(0, 4);
  return `${formatDay(from, { year: !sameYear })} – ${formatDay(to, { year: true })}`;
}

export const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
