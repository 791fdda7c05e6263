/**
 * "Try it": track the workflow's trigger event for a contact (POST /v1/track, with the session cookie),
 * then look for the execution it started (the newest one started since) and link to it. A schedule
 * workflow has no event to track: it says when it runs next and where to start a run by hand.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { Link } from "wouter";
import { get, post } from "../api/client";
import { keys } from "../api/queries";
import type { Execution, Page, Workflow } from "../api/types";
import { ErrorBox } from "../components/ErrorBox";
import { useProjectTimeZone } from "../components/ScheduleFields";
import { StatusBadge } from "../components/StatusBadge";
import { formatInZone } from "../components/schedule";

interface TrackAnswer {
  success: boolean;
  data: { contact: string; event: string; timestamp: string };
}

type Outcome = { kind: "started"; execution: Execution } | { kind: "none"; email: string };

const POLL_TRIES = 8;
const POLL_GAP_MS = 700;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function TryIt({ workflow }: { workflow: Workflow }) {
  return workflow.schedule ? <ScheduledTryIt workflow={workflow} /> : <TrackTryIt workflow={workflow} />;
}

/** A schedule workflow has no event to track: when it runs next, and how to run it now by hand. */
function ScheduledTryIt({ workflow }: { workflow: Workflow }) {
  const id = useId();
  const { timeZone } = useProjectTimeZone();
  const next = workflow.schedule?.nextRunAt;
  return (
    <section className="try-it" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Try it</h2>
      <p className="muted">
        This workflow starts on its schedule, not on a tracked event:{" "}
        {next ? (
          <>
            its next run is{" "}
            <time dateTime={next} title={next}>
              {formatInZone(Date.parse(next), timeZone)}
            </time>
            .
          </>
        ) : (
          "it has no next run while it is disabled (enable it to schedule one)."
        )}{" "}
        To run it now for one contact, use <strong>Start execution</strong> on its{" "}
        <Link href={`/workflows/${workflow.id}/executions`}>Executions tab</Link>.
      </p>
    </section>
  );
}

function TrackTryIt({ workflow }: { workflow: Workflow }) {
  const id = useId();
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [data, setData] = useState("");
  const [dataError, setDataError] = useState<string | null>(null);

  const track = useMutation({
    mutationFn: async (v: { email: string; data: unknown }): Promise<Outcome> => {
      const before = Date.now();
      const answer = await post<TrackAnswer>("/v1/track", {
        event: workflow.eventName ?? "",
        email: v.email,
        ...(v.data === undefined ? {} : { data: v.data }),
      });
      // A run started by this event began at or after the event's time (or our own clock, with slack).
      const since = Math.min(Date.parse(answer.data.timestamp) || before, before) - 2_000;
      for (let i = 0; i < POLL_TRIES; i++) {
        const page = await get<Page<Execution>>(`/workflows/${workflow.id}/executions`, { limit: 5 });
        const hit = page.data.find(
          (e) => e.contactId === answer.data.contact && e.startedAt && Date.parse(e.startedAt) >= since,
        );
        if (hit) return { kind: "started", execution: hit };
        await sleep(POLL_GAP_MS);
      }
      return { kind: "none", email: v.email };
    },
    onSettled: () => {
      queryClient.invalidateQueries({ queryKey: keys.workflow(workflow.id) });
      queryClient.invalidateQueries({ queryKey: keys.stats(workflow.id) });
      queryClient.invalidateQueries({ queryKey: ["workflows", workflow.id, "executions"] });
    },
  });

  const submit = () => {
    let parsed: unknown;
    if (data.trim() !== "") {
      try {
        parsed = JSON.parse(data);
      } catch (err) {
        setDataError(`Not valid JSON: ${(err as Error).message}`);
        return;
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        setDataError('The event data must be a JSON object, like {"plan": "pro"}');
        return;
      }
    }
    setDataError(null);
    track.mutate({ email: email.trim(), data: parsed });
  };

  const outcome = track.data;
  return (
    <section className="try-it" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Try it</h2>
      <p className="muted">
        Track <code>{workflow.eventName}</code> for a contact and follow the execution it starts.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <div>
          <label htmlFor={`${id}-email`}>Contact email</label>
          <input
            id={`${id}-email`}
            type="email"
            required
            autoComplete="off"
            placeholder="someone@example.com"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </div>
        <div>
          <label htmlFor={`${id}-data`}>Event data (JSON, optional)</label>
          <textarea
            id={`${id}-data`}
            rows={1}
            spellCheck={false}
            placeholder='{"plan": "pro"}'
            aria-invalid={dataError ? true : undefined}
            aria-describedby={dataError ? `${id}-data-err` : undefined}
            value={data}
            onChange={(e) => setData(e.target.value)}
          />
          {dataError && (
            <small id={`${id}-data-err`} className="field-error" role="alert">
              {dataError}
            </small>
          )}
        </div>
        <div>
          <button type="submit" aria-busy={track.isPending} disabled={track.isPending}>
            Track event
          </button>
        </div>
      </form>
      <div className="try-result" aria-live="polite">
        {track.isPending && (
          <p aria-busy="true">Tracking the event and looking for the execution it started…</p>
        )}
        {track.isError && <ErrorBox error={track.error} title="The event was not tracked" />}
        {outcome?.kind === "started" && (
          <p>
            Execution started: <StatusBadge status={outcome.execution.status} />{" "}
            <Link href={`/workflows/${workflow.id}/executions/${outcome.execution.id}`}>
              Open execution {outcome.execution.id}
            </Link>
          </p>
        )}
        {outcome?.kind === "none" && (
          <div>
            <p>
              The event was tracked for {outcome.email}, but no execution started within a few seconds. Why it
              may be:
            </p>
            {workflow.enabled ? (
              <ul>
                <li>This contact already has an active run of this workflow (a contact never has two).</li>
                {!workflow.allowReentry && (
                  <li>Re-entry is not allowed, and this contact has already entered this workflow once.</li>
                )}
                <li>The run may still be starting: look at the Executions tab in a moment.</li>
              </ul>
            ) : (
              <ul>
                <li>
                  <strong>The workflow is disabled</strong>: disabled workflows start no runs. Enable it
                  first.
                </li>
              </ul>
            )}
          </div>
        )}
      </div>
    </section>
  );
}
