/**
 * The workflows of the project: a table with each one's trigger, state and active executions, Enable /
 * Disable and Delete per row, and the form that creates one (then opens its editor).
 */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useEffect, useRef, useState } from "react";
import { Link, useLocation } from "wouter";
import { ApiError, del, patch, post } from "../api/client";
import { keys, workflowsQuery } from "../api/queries";
import type { CreateWorkflowBody, PatchWorkflowBody, Workflow, WorkflowDetail } from "../api/types";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { FieldError, fieldMessage, invalidProps } from "../components/FieldError";
import { Pager, useCursorPages } from "../components/Pager";
import { RadioOptions } from "../components/RadioOptions";
import { runsFor, ScheduleFields, useProjectTimeZone, useSegmentName } from "../components/ScheduleFields";
import { formatInZone, type ScheduleValue } from "../components/schedule";
import { Time } from "../components/Time";

export function WorkflowsPage() {
  const pages = useCursorPages("");
  const list = useQuery({ ...workflowsQuery(pages.cursor), placeholderData: keepPreviousData });
  const [creating, setCreating] = useState(false);
  const createRef = useRef<HTMLButtonElement>(null);
  const [deleting, setDeleting] = useState<Workflow | null>(null);
  const workflows = list.data?.data ?? [];

  return (
    <>
      <div className="page-head">
        <h1>Workflows</h1>
        {!creating && (
          <button ref={createRef} type="button" onClick={() => setCreating(true)}>
            Create workflow
          </button>
        )}
      </div>
      {creating && (
        <CreateWorkflowForm
          onClose={() => {
            setCreating(false);
            requestAnimationFrame(() => createRef.current?.focus());
          }}
        />
      )}

      {list.isError && <ErrorBox error={list.error} title="Could not load the workflows" />}
      {list.isPending && <p aria-busy="true">Loading the workflows…</p>}
      {list.isSuccess && workflows.length === 0 && pages.page === 1 && (
        <EmptyState title="No workflows yet">
          <p>
            A workflow sends emails, waits, branches and calls webhooks when a contact does something. Create
            one with <strong>Create workflow</strong>, give it the trigger event your app sends with{" "}
            <code>POST /v1/track</code> (for example <code>user.signup</code>) or a cron schedule (to run at
            set times, for each member of a segment), add its steps in the editor, then enable it.
          </p>
        </EmptyState>
      )}
      {workflows.length > 0 && (
        <>
          <p className="muted" aria-live="polite">
            {countLine(workflows)}
          </p>
          <div className="table-wrap">
            <table className="striped">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Trigger</th>
                  <th scope="col">State</th>
                  <th scope="col">Re-entry</th>
                  <th scope="col">Active executions</th>
                  <th scope="col">Last change</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {workflows.map((w) => (
                  <WorkflowRow key={w.id} workflow={w} onDelete={() => setDeleting(w)} />
                ))}
              </tbody>
            </table>
          </div>
          <Pager label="Workflow pages" pages={pages} data={list.data} />
        </>
      )}
      <DeleteWorkflowDialog workflow={deleting} onClose={() => setDeleting(null)} />
    </>
  );
}

function countLine(workflows: Workflow[]): string {
  const active = workflows.reduce((n, w) => n + w.activeExecutions, 0);
  const enabled = workflows.filter((w) => w.enabled).length;
  return `${workflows.length} workflow${workflows.length === 1 ? "" : "s"} shown, ${enabled} enabled, ${active} active execution${active === 1 ? "" : "s"}`;
}

function WorkflowRow({ workflow: w, onDelete }: { workflow: Workflow; onDelete: () => void }) {
  const queryClient = useQueryClient();
  const toggle = useMutation({
    mutationFn: (enabled: boolean) => patch<Workflow, PatchWorkflowBody>(`/workflows/${w.id}`, { enabled }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.workflows }),
  });
  const [, navigate] = useLocation();
  // A copy with new ids, disabled; opened in the editor.
  const duplicate = useMutation({
    mutationFn: () => post<WorkflowDetail, Record<string, never>>(`/workflows/${w.id}/duplicate`, {}),
    onSuccess: (copy) => {
      queryClient.invalidateQueries({ queryKey: keys.workflows });
      navigate(`/workflows/${copy.id}`);
    },
  });
  return (
    <>
      <tr data-workflow-id={w.id}>
        <td className="cell-wrap">
          <Link href={`/workflows/${w.id}`}>{w.name}</Link>
          {w.description && (
            <>
              <br />
              <small className="muted">{w.description}</small>
            </>
          )}
        </td>
        <td className={w.schedule ? "cell-wrap" : undefined}>
          <TriggerCell workflow={w} />
        </td>
        <td>
          <span className={w.enabled ? "state-on" : "state-off"}>{w.enabled ? "Enabled" : "Disabled"}</span>
        </td>
        <td>{w.allowReentry ? "Allowed" : "Not allowed"}</td>
        <td>
          {w.activeExecutions > 0 ? (
            <Link href={`/workflows/${w.id}/executions`}>{w.activeExecutions}</Link>
          ) : (
            "0"
          )}
        </td>
        <td>
          <Time iso={w.updatedAt ?? w.createdAt} />
        </td>
        <td>
          <div className="row-actions">
            <button
              type="button"
              className={w.enabled ? "secondary outline" : "outline"}
              aria-busy={toggle.isPending}
              disabled={toggle.isPending}
              onClick={() => toggle.mutate(!w.enabled)}
            >
              {w.enabled ? "Disable" : "Enable"}
            </button>
            <button
              type="button"
              className="secondary outline"
              aria-busy={duplicate.isPending}
              disabled={duplicate.isPending}
              onClick={() => duplicate.mutate()}
            >
              Duplicate
            </button>
            <button type="button" className="secondary outline" onClick={onDelete}>
              Delete
            </button>
          </div>
        </td>
      </tr>
      {duplicate.isError && (
        <tr>
          <td colSpan={7}>
            <ErrorBox error={duplicate.error} title={`Could not duplicate ${w.name}`} />
          </td>
        </tr>
      )}
      {toggle.isError && (
        <tr>
          <td colSpan={7}>
            <ErrorBox
              error={toggle.error}
              title={`Could not ${w.enabled ? "disable" : "enable"} ${w.name}`}
            />
          </td>
        </tr>
      )}
    </>
  );
}

/** An event workflow's event; a schedule workflow's cron, whom it runs for, and its next run. */
function TriggerCell({ workflow: w }: { workflow: Workflow }) {
  const segmentName = useSegmentName(Boolean(w.schedule?.segmentId));
  const { timeZone } = useProjectTimeZone(w.schedule !== null);
  if (!w.schedule) return <code>{w.eventName}</code>;
  const next = w.schedule.nextRunAt;
  return (
    <div className="trigger-cell">
      <span className="visually-hidden">Schedule </span>
      <code>{w.schedule.cron}</code>
      <br />
      <small className="muted">for {runsFor(w.schedule.segmentId, segmentName)}</small>
      <br />
      <small className="next-run">
        {next ? (
          <>
            Next run{" "}
            <time dateTime={next} title={next}>
              {formatInZone(Date.parse(next), timeZone)}
            </time>
          </>
        ) : (
          <span className="muted">No next run while disabled</span>
        )}
      </small>
    </div>
  );
}

function DeleteWorkflowDialog({ workflow, onClose }: { workflow: Workflow | null; onClose: () => void }) {
  const queryClient = useQueryClient();
  const remove = useMutation({
    mutationFn: (id: string) => del<void>(`/workflows/${id}`),
    onSuccess: (_, id) => {
      queryClient.removeQueries({ queryKey: keys.workflow(id) });
      queryClient.invalidateQueries({ queryKey: keys.workflows });
      onClose();
    },
  });
  const close = () => {
    remove.reset();
    onClose();
  };
  const locked = remove.error instanceof ApiError && remove.error.status === 409;
  return (
    <ConfirmDialog
      open={workflow !== null}
      title={workflow ? `Delete ${workflow.name}?` : "Delete the workflow?"}
      confirmLabel="Delete workflow"
      danger
      busy={remove.isPending}
      onConfirm={() => workflow && remove.mutate(workflow.id)}
      onCancel={close}
    >
      <p>
        Its steps, transitions and the history of its executions go with it. This cannot be undone.
        {workflow && workflow.activeExecutions > 0 && (
          <>
            {" "}
            {workflow.activeExecutions === 1
              ? "It has 1 active execution: cancel it first on its Executions tab."
              : `It has ${workflow.activeExecutions} active executions: cancel them first on its Executions tab.`}
          </>
        )}
      </p>
      {remove.isError && (
        <ErrorBox
          error={remove.error}
          title={
            locked
              ? "The workflow is locked: it has running or waiting executions"
              : "Could not delete the workflow"
          }
        />
      )}
      {locked && workflow && (
        <p>
          Cancel them on its <Link href={`/workflows/${workflow.id}/executions`}>Executions tab</Link> (Cancel
          all executions) or let them finish, then delete it.
        </p>
      )}
    </ConfirmDialog>
  );
}

function CreateWorkflowForm({ onClose }: { onClose: () => void }) {
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [startsOn, setStartsOn] = useState<"event" | "schedule">("event");
  const [eventName, setEventName] = useState("");
  const [schedule, setSchedule] = useState<ScheduleValue>({ cron: "", segmentId: null });
  const [allowReentry, setAllowReentry] = useState(false);
  const nameRef = useRef<HTMLInputElement>(null);
  useEffect(() => nameRef.current?.focus(), []);

  const create = useMutation({
    mutationFn: (body: CreateWorkflowBody) => post<WorkflowDetail, CreateWorkflowBody>("/workflows", body),
    onSuccess: (wf) => {
      queryClient.setQueryData(keys.workflow(wf.id), wf);
      queryClient.invalidateQueries({ queryKey: keys.workflows });
      navigate(`/workflows/${wf.id}`);
    },
    onError: (error) => {
      // The segment chosen is gone (deleted meanwhile): the list is read again.
      if (fieldMessage(error, "schedule.segmentId"))
        queryClient.invalidateQueries({ queryKey: keys.segments });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const base = { name: name.trim(), description: description.trim() || undefined, allowReentry };
    create.mutate(
      startsOn === "event"
        ? { ...base, eventName: eventName.trim() }
        : {
            ...base,
            schedule: {
              cron: schedule.cron.trim(),
              ...(schedule.segmentId ? { segmentId: schedule.segmentId } : {}),
            },
          },
    );
  };
  // The API's messages, at their fields: those of a schedule only while it is the one it judged.
  const sent = create.variables?.schedule;
  const sameSchedule = sent !== undefined && sent.cron === schedule.cron.trim();
  const err = {
    name: fieldMessage(create.error, "name"),
    description: fieldMessage(create.error, "description"),
    eventName: fieldMessage(create.error, "eventName"),
    cron: sameSchedule ? fieldMessage(create.error, "schedule.cron") : undefined,
    segmentId: fieldMessage(create.error, "schedule.segmentId"),
    allowReentry: fieldMessage(create.error, "allowReentry"),
  };

  return (
    <article className="create-form" onKeyDown={(e) => e.key === "Escape" && onClose()}>
      <h2>New workflow</h2>
      <form onSubmit={submit}>
        <label>
          Name
          <input
            ref={nameRef}
            name="name"
            required
            maxLength={100}
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="Onboarding"
            {...invalidProps("wf-name-error", err.name)}
          />
          <FieldError id="wf-name-error" message={err.name} />
        </label>
        <label>
          Description <span className="muted">(optional)</span>
          <input
            name="description"
            maxLength={1000}
            value={description}
            onChange={(e) => setDescription(e.target.value)}
            {...invalidProps("wf-description-error", err.description)}
          />
          <FieldError id="wf-description-error" message={err.description} />
        </label>
        <fieldset className="starts-on" aria-describedby="wf-starts-help">
          <legend>Starts on</legend>
          <RadioOptions
            name="startsOn"
            value={startsOn}
            onChange={setStartsOn}
            options={[
              ["event", "An event"],
              ["schedule", "A schedule"],
            ]}
          />
          <small id="wf-starts-help" className="muted">
            <strong>The trigger is permanent</strong>: an event workflow keeps its event, and a schedule
            workflow stays on a schedule (its times and segment can be changed in the editor).
          </small>
          {startsOn === "schedule" && <FieldError id="wf-starts-error" message={err.eventName} />}
        </fieldset>
        {startsOn === "event" ? (
          <label>
            Trigger event
            <input
              name="eventName"
              required
              maxLength={100}
              value={eventName}
              onChange={(e) => setEventName(e.target.value)}
              placeholder="user.signup"
              autoComplete="off"
              spellCheck={false}
              aria-describedby={err.eventName ? "wf-event-error wf-event-help" : "wf-event-help"}
              aria-invalid={err.eventName ? true : undefined}
            />
            <FieldError id="wf-event-error" message={err.eventName} />
            <small id="wf-event-help">
              The event your app sends with <code>POST /v1/track</code>, or a system event such as{" "}
              <code>email.bounce</code> or <code>segment.vip.entry</code>.
            </small>
          </label>
        ) : (
          <div className="schedule-fields">
            <ScheduleFields
              value={schedule}
              required
              onCron={(cron) => setSchedule((s) => ({ ...s, cron }))}
              onSegment={(segmentId) => setSchedule((s) => ({ ...s, segmentId }))}
              cronErrors={err.cron ? [err.cron] : []}
              segmentErrors={err.segmentId ? [err.segmentId] : []}
            />
          </div>
        )}
        <label>
          <input
            type="checkbox"
            name="allowReentry"
            checked={allowReentry}
            onChange={(e) => setAllowReentry(e.target.checked)}
            aria-describedby="wf-reentry-help"
          />
          Allow re-entry
        </label>
        <small id="wf-reentry-help" className="muted">
          {startsOn === "event"
            ? "With re-entry a contact can run through the workflow again after a previous run ended; without it, once."
            : "For a segment: with re-entry a member runs again at each time once the previous run ended; without it, once. Runs with no contact start at each time unless the last one is still going."}
        </small>
        <FieldError id="wf-reentry-error" message={err.allowReentry} />
        {create.isError && <ErrorBox error={create.error} title="Could not create the workflow" />}
        <p className="muted">It is created disabled: add its steps in the editor, then enable it.</p>
        <div className="form-actions">
          <button type="button" className="secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" aria-busy={create.isPending} disabled={create.isPending}>
            Create workflow
          </button>
        </div>
      </form>
    </article>
  );
}
