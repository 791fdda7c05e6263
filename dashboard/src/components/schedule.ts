/**
 * Schedule triggers in the browser: the worker's own cron reading (src/domain/schedule.ts, croner), to
 * check a cron as it is typed and to preview its next times in the project's time zone.
 */
import { cronProblem, DEFAULT_TIME_ZONE, nextRunAfter } from "../../../src/domain/schedule";

export { DEFAULT_TIME_ZONE };

/** A schedule as the TRIGGER step's config and the definition hold it. */
export interface ScheduleValue {
  cron: string;
  /** Once for each member of this segment; null: once, with no contact. */
  segmentId: string | null;
}

/** The schedule of a TRIGGER step's config (`{schedule: {cron, segmentId}}`), or null for an event trigger. */
export function scheduleOfConfig(config: unknown): ScheduleValue | null {
  if (!config || typeof config !== "object") return null;
  const s = (config as { schedule?: unknown }).schedule;
  if (!s || typeof s !== "object" || Array.isArray(s)) return null;
  const { cron, segmentId } = s as { cron?: unknown; segmentId?: unknown };
  return {
    cron: typeof cron === "string" ? cron : "",
    segmentId: typeof segmentId === "string" && segmentId ? segmentId : null,
  };
}

/**
 * What is wrong with `cron` as typed, in the worker's words (null when it is a schedule, and for an empty
 * text: nothing typed yet is not an error to show).
 */
export function cronCheck(cron: string): string | null {
  const c = cron.trim();
  if (c === "") return null;
  const problem = cronProblem(c);
  if (problem) return `Not a five-field cron schedule: ${problem}`;
  if (nextRunAfter(c, DEFAULT_TIME_ZONE, Date.now()) === null) return "This schedule never runs";
  return null;
}

/** The next `n` times (ms) `cron` names after `from`, in `timeZone`; [] when it is not a schedule. */
export function nextRuns(cron: string, timeZone: string, n = 3, from = Date.now()): number[] {
  const c = cron.trim();
  if (c === "" || cronProblem(c)) return [];
  const out: number[] = [];
  let after = from;
  try {
    for (let i = 0; i < n; i++) {
      const next = nextRunAfter(c, timeZone, after);
      if (next === null) break;
      out.push(next);
      after = next;
    }
  } catch {
    // An unknown time zone: no preview.
  }
  return out;
}

/** A time as a person in `timeZone` reads it: "Mon, Jan 5, 2026, 9:00 AM GMT+1" (in the reader's locale). */
export function formatInZone(ms: number, timeZone: string): string {
  try {
    return new Intl.DateTimeFormat(undefined, {
      timeZone,
      weekday: "short",
      year: "numeric",
      month: "short",
      day: "numeric",
      hour: "numeric",
      minute: "2-digit",
      timeZoneName: "short",
    }).format(ms);
  } catch {
    return new Date(ms).toISOString();
  }
}
