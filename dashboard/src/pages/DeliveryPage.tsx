/**
 * One webhook delivery: its request, status and every attempt (time, status code, duration, error and an
 * excerpt of the answer), with "Replay" to send it again.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "wouter";
import { ApiError, post } from "../api/client";
import { deliveryQuery, workflowQuery } from "../api/queries";
import type { Delivery } from "../api/types";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { StatusBadge } from "../components/StatusBadge";
import { Time } from "../components/Time";

type Attempt = NonNullable<Delivery["attempts"]>[number];

export function DeliveryPage() {
  const { id } = useParams<{ id: string }>();
  const delivery = useQuery(deliveryQuery(id));
  const d = delivery.data;
  const queryClient = useQueryClient();
  const replay = useMutation({
    mutationFn: () => post<Delivery>(`/webhook-deliveries/${id}/replay`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["deliveries"] }),
  });

  return (
    <>
      <p className="breadcrumb">
        <Link href="/deliveries">Webhook deliveries</Link> /
      </p>
      <h1>
        Delivery <code className="heading-id">{id}</code>
      </h1>
      {delivery.isError && <ErrorBox error={delivery.error} title="Could not load the delivery" />}
      {delivery.isPending && <p aria-busy="true">Loading the delivery…</p>}
      {d && (
        <>
          <div className="page-head">
            <dl className="fields">
              <dt>Status</dt>
              <dd aria-live="polite">
                <StatusBadge status={d.status} />
                {d.status === "PENDING" && <small className="muted"> refreshing every 2 seconds</small>}
              </dd>
              <dt>Request</dt>
              <dd className="cell-url">
                <code>{d.method}</code> {d.url}
              </dd>
              <dt>Attempts</dt>
              <dd>
                {d.attemptCount}
                {d.replays > 0 && ` (replayed ${d.replays} time${d.replays === 1 ? "" : "s"})`}
              </dd>
              {d.nextAttemptAt && (
                <>
                  <dt>Next attempt</dt>
                  <dd>
                    <Time iso={d.nextAttemptAt} />
                  </dd>
                </>
              )}
              <dt>Workflow</dt>
              <dd>
                <WorkflowLink workflowId={d.workflowId} />
              </dd>
              <dt>Step</dt>
              <dd>
                <StepName workflowId={d.workflowId} stepId={d.stepId} />
              </dd>
              <dt>Execution</dt>
              <dd>
                <Link href={`/workflows/${d.workflowId}/executions/${d.executionId}`}>
                  <code>{d.executionId}</code>
                </Link>
              </dd>
              <dt>Created</dt>
              <dd>
                <Time iso={d.createdAt} />
              </dd>
              <dt>Last change</dt>
              <dd>
                <Time iso={d.updatedAt} />
              </dd>
            </dl>
            <div>
              <button
                type="button"
                onClick={() => replay.mutate()}
                aria-busy={replay.isPending}
                disabled={replay.isPending}
                aria-describedby="replay-help"
              >
                Replay
              </button>
              <p id="replay-help" className="muted">
                <small>Sends the same request again, with its own attempts and retries.</small>
              </p>
            </div>
          </div>
          <div aria-live="polite">
            {replay.isSuccess && (
              <p className="notice" role="status">
                Replay queued: its attempts appear below as they are made.
              </p>
            )}
          </div>
          {replay.isError && <ErrorBox error={replay.error} title={replayFailure(replay.error)} />}
          <Attempts attempts={d.attempts ?? []} />
        </>
      )}
    </>
  );
}

function replayFailure(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 409) return "It cannot be replayed now: it is still being sent or retried";
    if (err.status === 404) return "This delivery no longer exists";
    if (err.status === 429) return "Too many replays: wait a moment and try again";
  }
  return "Could not replay the delivery";
}

function WorkflowLink({ workflowId }: { workflowId: string }) {
  const wf = useQuery(workflowQuery(workflowId));
  return <Link href={`/workflows/${workflowId}`}>{wf.data?.name ?? <code>{workflowId}</code>}</Link>;
}

function StepName({ workflowId, stepId }: { workflowId: string; stepId: string }) {
  const wf = useQuery(workflowQuery(workflowId));
  const step = wf.data?.steps.find((s) => s.id === stepId);
  return (
    <>
      {step && <>{step.name} </>}
      <small>
        <code>{stepId}</code>
      </small>
    </>
  );
}

function Attempts({ attempts }: { attempts: Attempt[] }) {
  return (
    <section aria-labelledby="attempts-title">
      <h2 id="attempts-title">Attempts</h2>
      {attempts.length === 0 ? (
        <EmptyState title="No attempts yet">
          <p>The first attempt is being made; this page refreshes by itself while the delivery is pending.</p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="striped">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Time</th>
                <th scope="col">Of</th>
                <th scope="col">Status code</th>
                <th scope="col">Duration (ms)</th>
                <th scope="col">Error</th>
                <th scope="col">Answer (excerpt)</th>
              </tr>
            </thead>
            <tbody>
              {attempts.map((a, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: attempts are only ever appended, never reordered.
                <tr key={`${a.at}:${i}`}>
                  <td>{i + 1}</td>
                  <td>
                    <Time iso={a.at} />
                  </td>
                  <td>{a.generation === 0 ? "the step" : `replay ${a.generation}`}</td>
                  <td>
                    {a.statusCode === null ? (
                      <span className="muted">none</span>
                    ) : (
                      <span className={a.statusCode >= 200 && a.statusCode < 300 ? "text-ok" : "text-bad"}>
                        {a.statusCode}
                      </span>
                    )}
                  </td>
                  <td>{Math.round(a.durationMs)}</td>
                  <td>{a.error ? <span className="text-bad">{a.error}</span> : "—"}</td>
                  <td className="cell-json">
                    {a.responseSnippet ? <pre>{a.responseSnippet}</pre> : <span className="muted">—</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
