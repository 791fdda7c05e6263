/**
 * The workflow editor: a local definition (with its undo history) drawn on the canvas and edited there
 * and in the side panel, saved whole by `PUT /workflows/:id/definition`. The server judges the graph; its
 * refusals are shown at the nodes, edges and fields they name. Read-only while executions are active,
 * but for a schedule trigger's times and segment (saved alone then, by `PATCH /workflows/:id`).
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { StepType } from "../../../src/domain/workflow/config";
import { ApiError, patch, post, put } from "../api/client";
import { fieldsQuery, keys, statsQuery, templatesQuery } from "../api/queries";
import type { PatchWorkflowBody, WorkflowDetail } from "../api/types";
import { ErrorBox } from "../components/ErrorBox";
import { useSegmentName } from "../components/ScheduleFields";
import type { EditorActions } from "./actions";
import { EditorCanvas } from "./EditorCanvas";
import type { StepStats } from "./graph";
import { useDefinitionHistory } from "./history";
import { LockBanner } from "./LockBanner";
import {
  addStep,
  cascadeStep,
  connect,
  deleteEdges,
  deleteSteps,
  type EditorDef,
  edgeKey,
  endOfPath,
  freeBranches,
  fromApi,
  insertOnEdge,
  newKey,
  onlyScheduleChanged,
  spliceStep,
  stepByKey,
  toDefinitionBody,
  updateStep,
} from "./model";
import { NO_PROBLEMS, type Problems, placeProblems, problemLines } from "./problems";
import { StepPanel } from "./StepPanel";
import { TryIt } from "./TryIt";
import { TypeMenu } from "./TypeMenu";

const BASE_FIELDS = ["contact.email", "contact.subscribed"];

/** Field suggestions for conditions: the fixed ones, and the keys this workflow already uses. */
function suggestionsOf(def: EditorDef): string[] {
  const out = new Set(BASE_FIELDS);
  for (const s of def.steps) {
    if (s.type === "UPDATE_CONTACT" && s.config.data && typeof s.config.data === "object") {
      for (const k of Object.keys(s.config.data)) out.add(`contact.data.${k}`);
    }
    if (s.type === "CONDITION" && typeof s.config.field === "string" && s.config.field)
      out.add(s.config.field);
  }
  if (![...out].some((f) => f.startsWith("contact.data."))) out.add("contact.data.plan");
  if (![...out].some((f) => f.startsWith("event."))) out.add("event.plan");
  return [...out];
}

function isTextInput(el: EventTarget | null): boolean {
  return el instanceof HTMLElement && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
}

export function WorkflowEditor({ workflow }: { workflow: WorkflowDetail }) {
  const queryClient = useQueryClient();
  const stats = useQuery(statsQuery(workflow.id));
  const templates = useQuery(templatesQuery);

  const serverDef = useMemo(
    () => fromApi(workflow.steps, workflow.transitions),
    [workflow.steps, workflow.transitions],
  );
  const history = useDefinitionHistory(serverDef);
  const { def, dirty, apply, undo, reset } = history;
  const isSchedule = workflow.schedule !== null;
  const segmentName = useSegmentName(isSchedule);

  // New data from the server (polling, another tab) replaces the local definition only if it is unedited.
  const dirtyRef = useRef(dirty);
  dirtyRef.current = dirty;
  useEffect(() => {
    if (!dirtyRef.current) reset(serverDef);
  }, [serverDef, reset]);

  const locked = workflow.activeExecutions > 0;
  const [selectedKey, setSelectedKey] = useState<string | null>(null);
  const [focusRequest, setFocusRequest] = useState<{ key: string; n: number } | null>(null);
  const [problems, setProblems] = useState<Problems>(NO_PROBLEMS);
  const [jsonError, setJsonError] = useState<string | null>(null);
  const [addOpen, setAddOpen] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  const selected = selectedKey ? stepByKey(def, selectedKey) : undefined;
  useEffect(() => {
    if (selectedKey && !stepByKey(def, selectedKey)) setSelectedKey(null);
  }, [def, selectedKey]);

  // The edges in the order they were sent: the server names a transition by its index there.
  const sentEdgeKeys = useRef<string[]>([]);
  const save = useMutation({
    mutationFn: async (v: { def: EditorDef; scheduleOnly: boolean }) => {
      sentEdgeKeys.current = v.def.transitions.map(edgeKey);
      const body = toDefinitionBody(workflow, v.def);
      // While executions are active the definition is locked, but a schedule can still change alone.
      if (v.scheduleOnly && body.schedule) {
        await patch<unknown, PatchWorkflowBody>(`/workflows/${workflow.id}`, { schedule: body.schedule });
        return;
      }
      await put<unknown>(`/workflows/${workflow.id}/definition`, body);
    },
    onSuccess: async () => {
      setProblems(NO_PROBLEMS);
      await queryClient.invalidateQueries({ queryKey: keys.workflow(workflow.id) });
      const fresh = queryClient.getQueryData<WorkflowDetail>(keys.workflow(workflow.id));
      if (fresh) reset(fromApi(fresh.steps, fresh.transitions));
      queryClient.invalidateQueries({ queryKey: keys.workflows });
      setNotice("Saved.");
    },
    onError: (err) => {
      setProblems(placeProblems(err, sentEdgeKeys.current, "trigger"));
      if (err instanceof ApiError && err.code === "WORKFLOW_LOCKED") {
        queryClient.invalidateQueries({ queryKey: keys.workflow(workflow.id) });
      }
    },
  });

  const toggle = useMutation({
    mutationFn: () => patch<unknown>(`/workflows/${workflow.id}`, { enabled: !workflow.enabled }),
    onSettled: () => {
      queryClient.invalidateQueries({ queryKey: keys.workflows });
    },
  });

  const cancelAll = useMutation({
    mutationFn: () => post<{ cancelled: number }>(`/workflows/${workflow.id}/executions/cancel-all`),
    onSuccess: (r) => setNotice(`Cancelled ${r.cancelled} execution${r.cancelled === 1 ? "" : "s"}.`),
    onSettled: () => {
      queryClient.invalidateQueries({ queryKey: ["workflows", workflow.id] });
    },
  });

  const editable = !locked;
  // Locked, a schedule's change alone can still be saved (PATCH /workflows/:id {schedule}).
  const scheduleOnly = locked && onlyScheduleChanged(history.base, def);

  // Edits: each makes one entry of the undo history. None while a save is under way (its answer
  // replaces the local definition).
  const saving = useRef(false);
  saving.current = save.isPending;
  const edit = useCallback(
    (fn: (d: EditorDef) => EditorDef, tag?: string) => {
      if (saving.current) return;
      setNotice(null);
      apply(fn, tag);
    },
    [apply],
  );

  const addAt = useCallback(
    (type: StepType, after: { from: string; branch: string | null } | null) => {
      const key = newKey(def, type);
      edit((d) => addStep(d, type, after, key).def);
      setSelectedKey(key);
    },
    [edit, def],
  );

  const actions = useMemo<EditorActions>(
    () => ({
      addAfter: (from, branch, type) => addAt(type, { from, branch }),
      insertOnEdge: (ek, type) => {
        const key = newKey(def, type);
        edit((d) => insertOnEdge(d, ek, type, key)?.def ?? d);
        setSelectedKey(key);
      },
      deleteEdge: (ek) => edit((d) => deleteEdges(d, [ek])),
    }),
    [addAt, edit, def],
  );

  const addTarget = useMemo(() => {
    const sel = selectedKey ? stepByKey(def, selectedKey) : undefined;
    if (sel) {
      const free = freeBranches(def, sel);
      if (free.length > 0) return { from: sel.key, branch: free[0] ?? null };
    }
    return endOfPath(def);
  }, [def, selectedKey]);
  const addLabel = addTarget
    ? `Add step after ${stepByKey(def, addTarget.from)?.name ?? addTarget.from}${addTarget.branch ? ` (${addTarget.branch})` : ""}`
    : "Add an unconnected step";

  const onSelect = useCallback((key: string | null, viaKeyboard?: boolean) => {
    if (key?.startsWith("+")) return;
    setSelectedKey(key);
    setFocusRequest((r) => (viaKeyboard && key ? { key, n: (r?.n ?? 0) + 1 } : null));
  }, []);
  const onConnect = useCallback(
    (from: string, branch: string | null, to: string) => edit((d) => connect(d, from, branch, to)),
    [edit],
  );
  const onDelete = useCallback(
    (stepKeys: string[], edgeKeys: string[]) => edit((d) => deleteSteps(deleteEdges(d, edgeKeys), stepKeys)),
    [edit],
  );

  const doSave = useCallback(() => {
    if (jsonError) {
      setNotice(null);
      return;
    }
    save.mutate({ def, scheduleOnly });
  }, [def, jsonError, save, scheduleOnly]);

  // Ctrl/Cmd+Z undoes the last edit of the definition (Ctrl/Cmd+S saves).
  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
      const k = e.key.toLowerCase();
      if (k === "z" && !e.shiftKey) {
        if (isTextInput(e.target) && !history.canUndo) return;
        e.preventDefault();
        undo();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [undo, history.canUndo]);

  // Leaving with unsaved changes asks first.
  useEffect(() => {
    if (!dirty) return;
    const onLeave = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener("beforeunload", onLeave);
    return () => window.removeEventListener("beforeunload", onLeave);
  }, [dirty]);

  const templateList = templates.data?.data;
  const templateName = useMemo(() => {
    const m = new Map((templateList ?? []).map((t) => [t.id, t.name]));
    return (id: string) => m.get(id);
  }, [templateList]);
  const statsMap = useMemo(
    () => (stats.data ? new Map<string, StepStats>(stats.data.steps.map((s) => [s.stepId, s])) : undefined),
    [stats.data],
  );
  const stepProblems = useMemo(
    () => new Map([...problems.steps].map(([k, list]) => [k, problemLines(list)])),
    [problems],
  );
  // The fields seen in the project's data: its contacts', and the trigger's and awaited events'.
  const awaited = useMemo(
    () =>
      [
        ...new Set(
          def.steps
            .filter((s) => s.type === "WAIT_FOR_EVENT" && typeof s.config.eventName === "string")
            .map((s) => s.config.eventName as string)
            .filter(Boolean),
        ),
      ].slice(0, 20),
    [def],
  );
  const seen = useQuery(fieldsQuery(awaited));
  const suggestions = useMemo(() => {
    const out = new Set(suggestionsOf(def));
    for (const f of seen.data?.contact ?? []) out.add(f.field);
    for (const list of Object.values(seen.data?.events ?? {})) for (const f of list) out.add(f.field);
    return [...out];
  }, [def, seen.data]);

  const problemCount = problems.steps.size + problems.edges.size + problems.other.length;

  return (
    <>
      {locked && (
        <LockBanner
          active={workflow.activeExecutions}
          enabled={workflow.enabled}
          allowReentry={workflow.allowReentry}
          toggleBusy={toggle.isPending}
          cancelBusy={cancelAll.isPending}
          onToggle={() => toggle.mutate()}
          onCancelAll={() => cancelAll.mutate()}
        />
      )}
      <div className="editor-toolbar" role="toolbar" aria-label="Editor">
        <div className="toolbar-menu">
          <button
            type="button"
            aria-haspopup="true"
            aria-expanded={addOpen}
            disabled={!editable}
            onClick={() => setAddOpen((o) => !o)}
          >
            Add step
          </button>
          {addOpen && editable && (
            <TypeMenu
              label={addLabel}
              onPick={(t) => addAt(t, addTarget)}
              onClose={() => setAddOpen(false)}
            />
          )}
        </div>
        <button
          type="button"
          className="secondary outline"
          disabled={!history.canUndo || save.isPending}
          onClick={undo}
          title="Undo (Ctrl/Cmd+Z)"
        >
          Undo
        </button>
        <button
          type="button"
          disabled={!dirty || (locked && !scheduleOnly) || save.isPending}
          aria-busy={save.isPending}
          onClick={doSave}
        >
          Save
        </button>
        <span className={`save-state${dirty ? " is-dirty" : ""}`} role="status">
          {save.isPending ? "Saving…" : dirty ? "Unsaved changes" : (notice ?? "No unsaved changes")}
        </span>
        <span className="spacer" />
        {!locked && (
          <button
            type="button"
            className="secondary outline"
            aria-busy={toggle.isPending}
            disabled={toggle.isPending}
            onClick={() => toggle.mutate()}
            title={
              workflow.enabled ? "Stop starting new executions" : "Start executions when the trigger fires"
            }
          >
            {workflow.enabled ? "Disable" : "Enable"}
          </button>
        )}
      </div>
      {locked && notice && <p role="status">{notice}</p>}
      {jsonError && dirty && (
        <div className="error-box" role="alert">
          <strong>Fix the JSON before saving</strong>
          <p>{jsonError}</p>
        </div>
      )}
      {save.isError && (
        <ErrorBox
          error={save.error}
          title={
            problemCount > 0
              ? `The workflow was not saved: ${problemCount} problem${problemCount === 1 ? "" : "s"}, shown at the steps and connections`
              : "The workflow was not saved"
          }
        />
      )}
      {toggle.isError && <ErrorBox error={toggle.error} title="Could not change the workflow's state" />}
      {cancelAll.isError && <ErrorBox error={cancelAll.error} title="Could not cancel the executions" />}
      {stats.isError && <ErrorBox error={stats.error} title="Could not load the step counts" />}
      {templates.isError && <ErrorBox error={templates.error} title="Could not load the templates" />}
      <div className="editor-body">
        <EditorCanvas
          def={def}
          editable={editable}
          locked={locked}
          templateName={templateName}
          segmentName={segmentName}
          stats={statsMap}
          stepProblems={stepProblems}
          edgeProblems={problems.edges}
          selectedKey={selectedKey}
          onSelect={onSelect}
          onConnect={onConnect}
          onDelete={onDelete}
          actions={actions}
        />
        {selected ? (
          <StepPanel
            key={`${selected.key}:${history.epoch}`}
            step={selected}
            editable={selected.type === "TRIGGER" ? isSchedule : editable}
            locked={locked}
            problems={problems.steps.get(selected.key)}
            templates={templateList}
            templatesLoading={templates.isPending}
            suggestions={suggestions}
            focusToken={focusRequest?.key === selected.key ? focusRequest.n : 0}
            onName={(name) => edit((d) => updateStep(d, selected.key, { name }), `name:${selected.key}`)}
            onConfig={(config, tag) =>
              edit((d) => updateStep(d, selected.key, { config }), tag ? `${tag}:${selected.key}` : undefined)
            }
            onDelete={() => edit((d) => deleteSteps(d, [selected.key]))}
            onSplice={
              spliceStep(def, selected.key) ? () => edit((d) => spliceStep(d, selected.key) ?? d) : null
            }
            onCascade={() => edit((d) => cascadeStep(d, selected.key))}
            onClose={() => {
              // Back to the step's node, for a keyboard's next move.
              const key = selected.key;
              setSelectedKey(null);
              document.querySelector<HTMLElement>(`.react-flow__node[data-id="${CSS.escape(key)}"]`)?.focus();
            }}
            onJsonError={setJsonError}
          />
        ) : (
          <aside className="step-panel step-panel-empty" aria-label="Step panel">
            <h2>Steps</h2>
            <p className="muted">
              Select a step to edit it (click it, or focus it and press Enter).
              {editable
                ? " Use a “+” to add a step on a free branch, the “+” on a connection to insert one, or drag from a branch handle to a step to connect them."
                : ""}
            </p>
            {problems.other.length > 0 && (
              <ul>
                {problems.other.map((p) => (
                  <li key={`${p.field}:${p.code}`}>
                    <code>{p.field}</code>: {p.message}
                  </li>
                ))}
              </ul>
            )}
          </aside>
        )}
      </div>
      <TryIt workflow={workflow} />
    </>
  );
}
