/**
 * One execution: its status, contact and times, its path on the workflow's graph, its step log, and the
 * webhook deliveries and emails it made. Everything refreshes while it is RUNNING or WAITING.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useMemo, useState } from "react";
import { Link, useParams } from "wouter";
import { ApiError, del } from "../api/client";
import {
  contactQuery,
  deliveriesQuery,
  emailsQuery,
  executionQuery,
  isActive,
  keys,
  POLL_MS,
  templatesQuery,
  workflowQuery,
} from "../api/queries";
import type { Execution, ExecutionDetail, Step, Transition } from "../api/types";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { DeliveriesTable } from "../components/DeliveriesTable";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { Json } from "../components/Json";
import { useSegmentName } from "../components/ScheduleFields";
import { StatusBadge } from "../components/StatusBadge";
import { scheduleOfConfig } from "../components/schedule";
import { Time } from "../components/Time";
import { TYPE_LABEL } from "../editor/model";
import { ReadOnlyGraph } from "../editor/ReadOnlyGraph";

export function ExecutionPage() {
  const { id, eid } = useParams<{ id: string; eid: string }>();
  const execution = useQuery(executionQuery(id, eid));
  const workflow = useQuery(workflowQuery(id));
  const ex = execution.data;
  const active = ex ? isActive(ex.status) : false;

  return (
    <>
      <header className="workflow-header">
        <p className="breadcrumb">
          <Link href="/workflows">Workflows</Link> /{" "}
          <Link href={`/workflows/${id}/executions`}>{workflow.data?.name ?? "Workflow"}: executions</Link> /
        </p>
        <h1>
          Execution <code className="heading-id">{eid}</code>
        </h1>
      </header>
      {execution.isError && <ErrorBox error={execution.error} title="Could not load the execution" />}
      {execution.isPending && <p aria-busy="true">Loading the execution…</p>}
      {ex && (
        <>
          <Summary execution={ex} workflowId={id} />
          {workflow.isError && <ErrorBox error={workflow.error} title="Could not load the workflow" />}
          <section aria-labelledby="path-title" className="execution-path">
            <h2 id="path-title">Path</h2>
            {workflow.data ? (
              <PathGraph execution={ex} steps={workflow.data.steps} transitions={workflow.data.transitions} />
            ) : (
              workflow.isPending && <p aria-busy="true">Loading the workflow…</p>
            )}
          </section>
          <StepLog execution={ex} steps={workflow.data?.steps ?? []} />
          <Deliveries executionId={eid} active={active} />
          <Emails executionId={eid} active={active} />
        </>
      )}
    </>
  );
}

function Summary({ execution: ex, workflowId }: { execution: ExecutionDetail; workflowId: string }) {
  // A schedule's run with no contact has none to look up.
  const contact = useQuery({ ...contactQuery(ex.contactId ?? ""), enabled: ex.contactId !== null });
  const active = isActive(ex.status);
  const [confirming, setConfirming] = useState(false);
  const queryClient = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => del<Execution>(`/workflows/${workflowId}/executions/${ex.id}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.workflow(workflowId) }),
    onSettled: () => setConfirming(false),
  });
  const ended = cancel.error instanceof ApiError && cancel.error.status === 409;

  return (
    <section aria-label="Summary" className="summary">
      <dl className="fields">
        <dt>Status</dt>
        <dd aria-live="polite">
          <StatusBadge status={ex.status} />
          {active && <small className="muted"> refreshing every 2 seconds</small>}
        </dd>
        <dt>Contact</dt>
        <dd>
          {ex.contactId === null ? (
            <span className="muted">No contact (a scheduled run)</span>
          ) : contact.data ? (
            <>
              <Link href={`/contacts/${contact.data.id}`}>{contact.data.email}</Link>{" "}
              {!contact.data.subscribed && <small className="muted">(unsubscribed)</small>}
            </>
          ) : contact.isError ? (
            <span className="muted">email unavailable</span>
          ) : (
            <span aria-busy="true">…</span>
          )}{" "}
          {ex.contactId !== null && (
            <small>
              <code>{ex.contactId}</code>
            </small>
          )}
        </dd>
        <dt>Started</dt>
        <dd>
          <Time iso={ex.startedAt} />
        </dd>
        <dt>Completed</dt>
        <dd>
          <Time iso={ex.completedAt} />
        </dd>
        <dt>Exit reason</dt>
        <dd>{ex.exitReason ?? <span className="muted">—</span>}</dd>
        {Object.keys(ex.context).length > 0 && (
          <>
            <dt>Context</dt>
            <dd>
              <Json value={ex.context} />
            </dd>
          </>
        )}
      </dl>
      {contact.isError && <ErrorBox error={contact.error} title="Could not load the contact" />}
      {active && (
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          Cancel execution
        </button>
      )}
      {cancel.isError && (
        <ErrorBox
          error={cancel.error}
          title={
            ended ? "The execution had already ended, so there was nothing to cancel" : "Could not cancel"
          }
        />
      )}
      <ConfirmDialog
        open={confirming}
        title="Cancel this execution?"
        confirmLabel="Yes, cancel it"
        danger
        busy={cancel.isPending}
        onConfirm={() => cancel.mutate()}
        onCancel={() => setConfirming(false)}
      >
        <p>
          It stops now and cannot be resumed: the contact will not get its remaining steps. Without re-entry,
          the contact will not enter this workflow again.
        </p>
      </ConfirmDialog>
    </section>
  );
}

function PathGraph(props: { execution: ExecutionDetail; steps: Step[]; transitions: Transition[] }) {
  const { execution: ex } = props;
  const templates = useQuery(templatesQuery);
  const visited = useMemo(() => [...new Set(ex.steps.map((s) => s.stepId))], [ex.steps]);
  const templateMap = useMemo(
    () => new Map((templates.data?.data ?? []).map((t) => [t.id, t.name])),
    [templates.data],
  );
  const templateName = useCallback((tid: string) => templateMap.get(tid), [templateMap]);
  // A schedule trigger's summary names its segment.
  const segmentName = useSegmentName(
    props.steps.some((s) => s.type === "TRIGGER" && scheduleOfConfig(s.config)?.segmentId),
  );
  return (
    <>
      <p className="muted">
        {visited.length} of {props.steps.length} steps visited
        {isActive(ex.status) && ex.currentStepId ? "; the current step is highlighted" : ""}.
      </p>
      <ReadOnlyGraph
        steps={props.steps}
        transitions={props.transitions}
        visited={visited}
        currentStepId={isActive(ex.status) ? ex.currentStepId : null}
        height={520}
        templateName={templateName}
        segmentName={segmentName}
      />
    </>
  );
}

function StepLog({ execution: ex, steps }: { execution: ExecutionDetail; steps: Step[] }) {
  const byId = useMemo(() => new Map(steps.map((s) => [s.id, s])), [steps]);
  return (
    <section aria-labelledby="log-title">
      <h2 id="log-title">Step log</h2>
      <p className="muted" aria-live="polite">
        {ex.steps.length} step{ex.steps.length === 1 ? "" : "s"} run
      </p>
      {ex.steps.length === 0 ? (
        <EmptyState title="No steps run yet">
          <p>The execution has not run a step yet; this page refreshes by itself while it is active.</p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="striped">
            <thead>
              <tr>
                <th scope="col">Step</th>
                <th scope="col">Type</th>
                <th scope="col">Status</th>
                <th scope="col">Started</th>
                <th scope="col">Finished</th>
                <th scope="col">Output</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {ex.steps.map((entry) => {
                const step = byId.get(entry.stepId);
                return (
                  <tr key={entry.id} data-step-id={entry.stepId}>
                    <td>{step?.name ?? <code>{entry.stepId}</code>}</td>
                    <td>{step ? TYPE_LABEL[step.type] : <span className="muted">deleted step</span>}</td>
                    <td>
                      <StatusBadge status={entry.status} />
                    </td>
                    <td>
                      <Time iso={entry.startedAt} />
                    </td>
                    <td>
                      <Time iso={entry.finishedAt} />
                    </td>
                    <td className="cell-json">
                      <OutputNote output={entry.output} />
                      <Json value={entry.output} />
                    </td>
                    <td>{entry.error ? <span className="text-bad">{entry.error}</span> : "—"}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** What a step's output points at, in words: the time a delay resumes, the delivery a webhook made. */
function OutputNote({ output }: { output: unknown }) {
  if (typeof output !== "object" || output === null) return null;
  const o = output as Record<string, unknown>;
  const until = typeof o.until === "number" || typeof o.until === "string" ? new Date(o.until) : null;
  return (
    <>
      {until && !Number.isNaN(until.getTime()) && (
        <small className="output-note">
          Waits until <Time iso={until.toISOString()} />
        </small>
      )}
      {typeof o.deliveryId === "string" && (
        <small className="output-note">
          <Link href={`/deliveries/${o.deliveryId}`}>Webhook delivery {o.deliveryId}</Link>
        </small>
      )}
    </>
  );
}

function Deliveries({ executionId, active }: { executionId: string; active: boolean }) {
  const q = useQuery({
    ...deliveriesQuery({ executionId }),
    refetchInterval: (query) =>
      active || query.state.data?.data.some((d) => d.status === "PENDING") ? POLL_MS : false,
  });
  const rows = q.data?.data ?? [];
  return (
    <section aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">Webhook deliveries</h2>
      {q.isError && <ErrorBox error={q.error} title="Could not load the webhook deliveries" />}
      {q.isPending && <p aria-busy="true">Loading…</p>}
      {q.isSuccess && rows.length === 0 && (
        <EmptyState title="No webhook deliveries">
          <p>This execution has not called a webhook: it makes one delivery per Webhook step it runs.</p>
        </EmptyState>
      )}
      {rows.length > 0 && <DeliveriesTable rows={rows} />}
      {q.data?.hasMore && (
        <p>
          <Link href={`/deliveries?executionId=${encodeURIComponent(executionId)}`}>All its deliveries</Link>
        </p>
      )}
    </section>
  );
}

function Emails({ executionId, active }: { executionId: string; active: boolean }) {
  const q = useQuery({ ...emailsQuery({ executionId }), refetchInterval: active ? POLL_MS : false });
  const rows = q.data?.data ?? [];
  return (
    <section aria-labelledby="emails-title">
      <h2 id="emails-title">Emails</h2>
      {q.isError && <ErrorBox error={q.error} title="Could not load the emails" />}
      {q.isPending && <p aria-busy="true">Loading…</p>}
      {q.isSuccess && rows.length === 0 && (
        <EmptyState title="No emails">
          <p>This execution has not sent an email: it sends one per Send email step it runs.</p>
        </EmptyState>
      )}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table className="striped">
            <thead>
              <tr>
                <th scope="col">Subject</th>
                <th scope="col">To</th>
                <th scope="col">Status</th>
                <th scope="col">Sent</th>
                <th scope="col">Delivered</th>
                <th scope="col">Opens</th>
                <th scope="col">Clicks</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((m) => (
                <tr key={m.id} data-email-id={m.id}>
                  <td>
                    <Link href={`/emails/${m.id}`}>{m.subject ?? "(not rendered)"}</Link>
                  </td>
                  <td>{m.to}</td>
                  <td>
                    <StatusBadge status={m.status} />
                  </td>
                  <td>
                    <Time iso={m.sentAt} />
                  </td>
                  <td>
                    <Time iso={m.deliveredAt} />
                  </td>
                  <td>{m.opens}</td>
                  <td>{m.clicks}</td>
                  <td>{m.error ? <span className="text-bad">{m.error}</span> : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
