/**
 * Schedule triggers: a workflow that starts on a cron schedule, in its project's time zone, once for each
 * contact of a segment or once with no contact (API.md "Schedules"). Parsing and the next time are
 * croner's (five-field cron and @nicknames, with the time zone's daylight-saving rules).
 */
import { Cron } from "croner";
import { z } from "zod";

export const DEFAULT_TIME_ZONE = "UTC";

function cronOf(expression: string, timeZone = DEFAULT_TIME_ZONE): Cron {
  return new Cron(expression, { timezone: timeZone, paused: true, mode: "5-part" });
}

/** Why `expression` is not a schedule, or null. */
export function cronProblem(expression: string): string | null {
  const fields = expression.trim().split(/\s+/).length;
  if (!expression.trim().startsWith("@") && fields !== 5)
    return `${fields} field${fields === 1 ? "" : "s"}: give five (minute hour day-of-month month day-of-week), or @daily, @hourly…`;
  try {
    cronOf(expression);
    return null;
  } catch (err) {
    return (err as Error).message.replace(/^CronPattern: /, "");
  }
}

/** An IANA time zone name the runtime knows ("Europe/Berlin", "UTC"). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The first time after `afterMs` the schedule names, in `timeZone`; null if it names none (a 30 February). */
export function nextRunAfter(expression: string, timeZone: string, afterMs: number): number | null {
  return cronOf(expression, timeZone).nextRun(new Date(afterMs))?.getTime() ?? null;
}

export const timeZoneField = z
  .string()
  .max(64)
  .refine(isTimeZone, { message: 'Must be an IANA time zone, such as "Europe/Berlin" or "UTC"' });

export const scheduleSpec = z.strictObject({
  cron: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .superRefine((v, ctx) => {
      const problem = cronProblem(v);
      if (problem) ctx.addIssue({ code: "custom", message: `Not a five-field cron schedule: ${problem}` });
      else if (nextRunAfter(v, DEFAULT_TIME_ZONE, Date.now()) === null)
        ctx.addIssue({ code: "custom", message: "This schedule never runs" });
    }),
  /** Once for each member of this segment; absent or null: once, with no contact. */
  segmentId: z.string().regex(/^seg_/, "Must be a segment id").nullish(),
});
export type ScheduleSpec = z.output<typeof scheduleSpec>;

/** What a stored schedule holds (the `workflows.schedule` column and the TRIGGER step's config). */
export interface StoredSchedule {
  cron: string;
  segmentId: string | null;
}

export const storedSchedule = (s: ScheduleSpec): StoredSchedule => ({
  cron: s.cron,
  segmentId: s.segmentId ?? null,
});

/**
 * A wall-clock time without an offset ("2026-12-24T09:00") in `timeZone`, as epoch ms: croner's one-off
 * run of an ISO date, read in the zone (with its daylight-saving rules). Null if it is not such a time.
 */
export function zonedTime(local: string, timeZone: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:\d{2})?$/.exec(local);
  if (!m) return null;
  const [y, mo, d, h, mi] = m.slice(1, 6).map(Number) as [number, number, number, number, number];
  // A date that is not on the calendar (30 February) is refused, not rolled over.
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d || h > 23 || mi > 59) return null;
  try {
    const at = new Cron(local.length === 16 ? `${local}:00` : local, { timezone: timeZone, paused: true });
    return at.nextRun(new Date(0))?.getTime() ?? null;
  } catch {
    return null;
  }
}
