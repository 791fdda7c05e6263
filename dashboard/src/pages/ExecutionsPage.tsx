/**
 * A workflow's Executions tab: its executions newest first, filtered by status and refreshing while any
 * is active; "Cancel all executions" and a form that starts one by hand.
 */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useEffect, useMemo, useRef, useState } from "react";
import { Link, useLocation, useParams } from "wouter";
import { post } from "../api/client";
import { executionsQuery, isActive, keys, POLL_MS, workflowQuery } from "../api/queries";
import type { CancelAll as CancelAllAnswer, Execution, StartExecutionBody, Step } from "../api/types";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { FieldError, fieldMessage, invalidProps } from "../components/FieldError";
import { useFilterParams } from "../components/Filters";
import { Pager, useCursorPages } from "../components/Pager";
import { StatusBadge } from "../components/StatusBadge";
import { Time } from "../components/Time";
import { WorkflowHeader } from "../components/WorkflowHeader";

/** Every execution status with what it means (the keys are checked against the API's own list). */
export const EXECUTION_STATUS_HELP: Record<Execution["status"], string> = {
  RUNNING: "Running: moving through its steps",
  WAITING: "Waiting: paused at a delay or a wait for an event",
  COMPLETED: "Completed: finished all its steps",
  EXITED: "Exited: ended by an Exit step",
  FAILED: "Failed: stopped by an error",
  CANCELLED: "Cancelled: cancelled by hand",
};
const STATUSES = Object.keys(EXECUTION_STATUS_HELP) as Execution["status"][];
const isStatus = (s: string | null): s is Execution["status"] => s !== null && s in EXECUTION_STATUS_HELP;

export function ExecutionsPage() {
  const { id } = useParams<{ id: string }>();
  const workflow = useQuery(workflowQuery(id));
  const { params, setFilter } = useFilterParams();
  const statusParam = params.get("status");
  const status = isStatus(statusParam) ? statusParam : undefined;
  const pages = useCursorPages(status ?? "");
  const base = executionsQuery(id, { status, cursor: pages.cursor });
  const list = useQuery({
    ...base,
    placeholderData: keepPreviousData,
    // Poll while any shown is active, and while the workflow has active ones not shown (another filter or page).
    refetchInterval: (q) =>
      (workflow.data?.activeExecutions ?? 0) > 0 || q.state.data?.data.some((e) => isActive(e.status))
        ? POLL_MS
        : false,
  });
  const [starting, setStarting] = useState(false);
  const startRef = useRef<HTMLButtonElement>(null);
  const [confirming, setConfirming] = useState(false);

  const stepNames = useMemo(
    () => new Map<string, Step>((workflow.data?.steps ?? []).map((s) => [s.id, s])),
    [workflow.data?.steps],
  );
  const executions = list.data?.data ?? [];
  const activeShown = executions.filter((e) => isActive(e.status)).length;

  return (
    <>
      {workflow.data ? (
        <WorkflowHeader workflow={workflow.data} />
      ) : (
        <header className="workflow-header">
          <p className="breadcrumb">
            <Link href="/workflows">Workflows</Link> /
          </p>
          <h1>Executions</h1>
        </header>
      )}
      {workflow.isError && <ErrorBox error={workflow.error} title="Could not load the workflow" />}

      <div className="toolbar">
        <label className="inline-field">
          Status
          <select name="status" value={status ?? ""} onChange={(e) => setFilter("status", e.target.value)}>
            <option value="">All statuses</option>
            {STATUSES.map((s) => (
              <option key={s} value={s} title={EXECUTION_STATUS_HELP[s]}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <div className="toolbar-actions">
          {!starting && (
            <button ref={startRef} type="button" className="outline" onClick={() => setStarting(true)}>
              Start execution
            </button>
          )}
          <button type="button" className="danger" onClick={() => setConfirming(true)}>
            Cancel all executions
          </button>
        </div>
      </div>

      <CancelAll workflowId={id} open={confirming} onClose={() => setConfirming(false)} />
      {starting && (
        <StartExecutionForm
          workflowId={id}
          onClose={() => {
            setStarting(false);
            requestAnimationFrame(() => startRef.current?.focus());
          }}
        />
      )}

      {list.isError && <ErrorBox error={list.error} title="Could not load the executions" />}
      {list.isPending && <p aria-busy="true">Loading the executions…</p>}
      <p className="muted" aria-live="polite">
        {list.isSuccess &&
          `${executions.length} execution${executions.length === 1 ? "" : "s"} shown${status ? ` (${status})` : ""}, ${activeShown} active${activeShown > 0 ? ": refreshing every 2 seconds" : ""}`}
      </p>
      {list.isSuccess && executions.length === 0 && (
        <EmptyState title={status ? `No ${status} executions` : "No executions yet"}>
          {status ? (
            <p>
              No execution of this workflow is {status}. Choose <strong>All statuses</strong> to see the
              others.
            </p>
          ) : (
            <p>
              {workflow.data?.schedule ? (
                <>
                  Executions start at the times of this workflow's schedule (
                  <code>{workflow.data.schedule.cron}</code>) while it is enabled.
                </>
              ) : (
                <>
                  An execution starts when a contact's tracked event (<code>POST /v1/track</code> with{" "}
                  <code>{workflow.data?.eventName ?? "the trigger event"}</code>) reaches this workflow while
                  it is enabled.
                </>
              )}{" "}
              You can also start one by hand with <strong>Start execution</strong>.
            </p>
          )}
        </EmptyState>
      )}
      {executions.length > 0 && (
        <div className="table-wrap">
          <table className="striped">
            <thead>
              <tr>
                <th scope="col">Execution</th>
                <th scope="col">Status</th>
                <th scope="col">Contact</th>
                <th scope="col">Current step</th>
                <th scope="col">Started</th>
                <th scope="col">Completed</th>
              </tr>
            </thead>
            <tbody>
              {executions.map((e) => (
                <tr key={e.id} data-execution-id={e.id}>
                  <td>
                    <Link href={`/workflows/${id}/executions/${e.id}`}>
                      <code>{e.id}</code>
                    </Link>
                  </td>
                  <td>
                    <StatusBadge status={e.status} />
                    {e.exitReason && (
                      <>
                        <br />
                        <small className="muted">{e.exitReason}</small>
                      </>
                    )}
                  </td>
                  <td>
                    {e.contactId === null ? (
                      <span className="muted">no contact</span>
                    ) : (
                      <code>{e.contactId}</code>
                    )}
                  </td>
                  <td>
                    {e.currentStepId ? (
                      (stepNames.get(e.currentStepId)?.name ?? <code>{e.currentStepId}</code>)
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td>
                    <Time iso={e.startedAt} />
                  </td>
                  <td>
                    <Time iso={e.completedAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager label="Execution pages" pages={pages} data={list.data} />
    </>
  );
}

function CancelAll({
  workflowId,
  open,
  onClose,
}: {
  workflowId: string;
  open: boolean;
  onClose: () => void;
}) {
  const queryClient = useQueryClient();
  const cancelAll = useMutation({
    mutationFn: () => post<CancelAllAnswer>(`/workflows/${workflowId}/executions/cancel-all`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.workflows }),
    onSettled: onClose,
  });
  return (
    <>
      <ConfirmDialog
        open={open}
        title="Cancel all executions?"
        confirmLabel="Yes, cancel them all"
        danger
        busy={cancelAll.isPending}
        onConfirm={() => cancelAll.mutate()}
        onCancel={onClose}
      >
        <p>
          Every running or waiting execution of this workflow stops now.{" "}
          <strong>This cannot be undone.</strong>
        </p>
        <ul>
          <li>Their contacts will not get the remaining steps of this run.</li>
          <li>
            If the workflow does not allow re-entry, they will not enter it again, even when the trigger event
            fires again.
          </li>
        </ul>
      </ConfirmDialog>
      <div aria-live="polite">
        {cancelAll.isSuccess && (
          <p className="notice" role="status">
            Cancelled {cancelAll.data.cancelled} execution{cancelAll.data.cancelled === 1 ? "" : "s"}.
          </p>
        )}
      </div>
      {cancelAll.isError && <ErrorBox error={cancelAll.error} title="Could not cancel the executions" />}
    </>
  );
}

/** Parses the context textarea: empty is no context; otherwise it must be a JSON object. */
function parseContext(text: string): { value?: Record<string, unknown>; error?: string } {
  if (!text.trim()) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { error: `This is not valid JSON: ${(e as Error).message}` };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return { error: 'The context must be a JSON object, such as {"plan": "pro"}.' };
  }
  return { value: v as Record<string, unknown> };
}

function StartExecutionForm({ workflowId, onClose }: { workflowId: string; onClose: () => void }) {
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [context, setContext] = useState("");
  const [contextError, setContextError] = useState<string | undefined>();
  const emailRef = useRef<HTMLInputElement>(null);
  useEffect(() => emailRef.current?.focus(), []);

  const start = useMutation({
    mutationFn: (body: StartExecutionBody) =>
      post<Execution, StartExecutionBody>(`/workflows/${workflowId}/executions`, body),
    onSuccess: (ex) => {
      queryClient.invalidateQueries({ queryKey: keys.workflows });
      navigate(`/workflows/${workflowId}/executions/${ex.id}`);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseContext(context);
    setContextError(parsed.error);
    if (parsed.error) return;
    start.mutate({ email: email.trim(), context: parsed.value });
  };
  const emailErr = fieldMessage(start.error, "email") ?? fieldMessage(start.error, "contactId");
  const ctxErr = contextError ?? fieldMessage(start.error, "context");

  return (
    <article className="create-form" onKeyDown={(e) => e.key === "Escape" && onClose()}>
      <h2>Start an execution by hand</h2>
      <form onSubmit={submit}>
        <label>
          Contact's email
          <input
            ref={emailRef}
            type="email"
            name="email"
            required
            autoComplete="off"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            placeholder="someone@example.com"
            {...invalidProps("start-email-error", emailErr)}
          />
          <FieldError id="start-email-error" message={emailErr} />
        </label>
        <label>
          Context <span className="muted">(optional JSON object, the trigger event's data)</span>
          <textarea
            name="context"
            rows={4}
            spellCheck={false}
            className="mono"
            value={context}
            onChange={(e) => {
              setContext(e.target.value);
              if (contextError) setContextError(parseContext(e.target.value).error);
            }}
            placeholder='{"plan": "pro"}'
            {...invalidProps("start-context-error", ctxErr)}
          />
          <FieldError id="start-context-error" message={ctxErr} />
        </label>
        {start.isError && <ErrorBox error={start.error} title="Could not start the execution" />}
        <div className="form-actions">
          <button type="button" className="secondary" onClick={onClose}>
            Close
          </button>
          <button type="submit" aria-busy={start.isPending} disabled={start.isPending}>
            Start execution
          </button>
        </div>
      </form>
    </article>
  );
}
