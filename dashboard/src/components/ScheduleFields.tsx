/**
 * A schedule trigger's fields: its cron (checked as it is typed, with the worker's own reading), whom it
 * runs for (a segment, or no contact), and its next runs in the project's time zone. Shared by the create
 * form of the workflows page and the editor's TRIGGER panel.
 */
import { useQuery } from "@tanstack/react-query";
import { useId, useMemo } from "react";
import { projectQuery, segmentsQuery } from "../api/queries";
import { Field } from "../editor/forms/common";
import { cronCheck, DEFAULT_TIME_ZONE, formatInZone, nextRuns, type ScheduleValue } from "./schedule";

/** The project's time zone (GET /project, fetched only when `enabled`), and whether it is known yet. */
export function useProjectTimeZone(enabled = true): { timeZone: string; known: boolean } {
  const project = useQuery({ ...projectQuery, enabled });
  return { timeZone: project.data?.timeZone ?? DEFAULT_TIME_ZONE, known: project.isSuccess };
}

/**
 * A segment's name by id, from GET /segments (fetched only when `enabled`; undefined while loading or
 * when unknown).
 */
export function useSegmentName(enabled = true): (id: string) => string | undefined {
  const segments = useQuery({ ...segmentsQuery, enabled });
  const list = segments.data?.data;
  return useMemo(() => {
    const m = new Map((list ?? []).map((s) => [s.id, s.name]));
    return (id: string) => m.get(id);
  }, [list]);
}

/** Whom a schedule runs for, in words: "each member of VIP" or "no contact". */
export function runsFor(segmentId: string | null, segmentName: (id: string) => string | undefined): string {
  return segmentId ? `each member of ${segmentName(segmentId) ?? segmentId}` : "no contact";
}

/** The next runs of `cron`, in `timeZone`, as a list named "Next runs". */
export function NextRuns({ cron, timeZone, count = 3 }: { cron: string; timeZone: string; count?: number }) {
  const id = useId();
  const runs = useMemo(() => nextRuns(cron, timeZone, count), [cron, timeZone, count]);
  const valid = cron.trim() !== "" && cronCheck(cron) === null;
  return (
    <div className="next-runs">
      <p id={`${id}-h`} className="next-runs-title">
        Next runs, in the project's time zone <strong className="time-zone">{timeZone}</strong>
      </p>
      {runs.length > 0 ? (
        <ol aria-labelledby={`${id}-h`}>
          {runs.map((ms) => (
            <li key={ms}>
              <time dateTime={new Date(ms).toISOString()}>{formatInZone(ms, timeZone)}</time>
            </li>
          ))}
        </ol>
      ) : (
        <p className="muted">
          <small>
            {valid ? "None: this schedule names no time." : "Type a schedule to see when it runs."}
          </small>
        </p>
      )}
    </div>
  );
}

export function ScheduleFields(props: {
  value: ScheduleValue;
  onCron: (cron: string) => void;
  onSegment: (segmentId: string | null) => void;
  /** The API's messages for `schedule.cron` and `schedule.segmentId`. */
  cronErrors?: readonly string[];
  segmentErrors?: readonly string[];
  required?: boolean;
}) {
  const { value } = props;
  const segments = useQuery(segmentsQuery);
  const { timeZone } = useProjectTimeZone();
  const live = cronCheck(value.cron);
  const cronErrors = [...new Set([...(live ? [live] : []), ...(props.cronErrors ?? [])])];
  const list = segments.data?.data;
  const known = list?.some((s) => s.id === value.segmentId);
  return (
    <>
      <Field
        label="Cron schedule"
        errors={cronErrors}
        hint={
          <>
            <em>minute hour day month weekday</em>, as <code>0 9 * * 1</code> for Mondays at 9:00; or{" "}
            <code>@hourly</code>, <code>@daily</code>, <code>@weekly</code>, <code>@monthly</code>
          </>
        }
      >
        {(a) => (
          <input
            id={a.id}
            name="cron"
            className="mono"
            required={props.required}
            maxLength={100}
            autoComplete="off"
            spellCheck={false}
            placeholder="0 9 * * 1"
            aria-invalid={a.invalid}
            aria-describedby={a.describedBy}
            value={value.cron}
            onChange={(e) => props.onCron(e.target.value)}
          />
        )}
      </Field>
      <Field
        label="Run for"
        errors={props.segmentErrors}
        hint={
          segments.isError
            ? "The segments could not be loaded: reload the page to choose one."
            : list && list.length === 0
              ? "This project has no segments yet (POST /segments makes one): a run with no contact suits steps that need none, such as webhooks."
              : value.segmentId
                ? "At each time, a run for every member of the segment."
                : "At each time, one run with no contact (for steps that need none, such as webhooks)."
        }
      >
        {(a) => (
          <select
            id={a.id}
            name="segmentId"
            aria-invalid={a.invalid}
            aria-describedby={a.describedBy}
            aria-busy={segments.isPending}
            value={value.segmentId ?? ""}
            onChange={(e) => props.onSegment(e.target.value || null)}
          >
            <option value="">No contact (once per run)</option>
            {value.segmentId && !known && (
              <option value={value.segmentId}>
                {segments.isPending ? value.segmentId : `${value.segmentId} (not found)`}
              </option>
            )}
            {list?.map((s) => (
              <option key={s.id} value={s.id}>
                Each member of {s.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <NextRuns cron={value.cron} timeZone={timeZone} />
    </>
  );
}
