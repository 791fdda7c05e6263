/**
 * The editor's local definition: steps named by their workflows-as-code key (stable across saves, since
 * step ids derive from the workflow id and the key) and transitions between keys. Pure functions that
 * return a new definition for each edit, so that the undo history can keep whole definitions.
 * No graph rules here (cycles, reachability…): the server judges those when the definition is saved.
 */
import {
  branchesOf as branchesOfConfig,
  branchLabel as branchLabelOfConfig,
  STEP_TYPES,
  type StepType,
} from "../../../src/domain/workflow/config";
import { TRIGGER_KEY } from "../../../src/domain/workflow/definition";
import { spliceOut, subtreeOf } from "../../../src/domain/workflow/graph";
import type { Step, Transition, WorkflowDefinitionInput, WorkflowDetail } from "../api/types";
import { type ScheduleValue, scheduleOfConfig } from "../components/schedule";

export type Config = Record<string, unknown>;

export interface EditorStep {
  key: string;
  /** The saved step's id; null for a step made in the editor and not saved yet. */
  id: string | null;
  type: StepType;
  name: string;
  config: Config;
}

export interface EditorTransition {
  /** The saved transition's id; null for one drawn in the editor. */
  id: string | null;
  from: string;
  to: string;
  branch: string | null;
}

export interface EditorDef {
  steps: EditorStep[];
  transitions: EditorTransition[];
}

/** Step types a person can add (the TRIGGER is made with the workflow). */
export const ADDABLE_TYPES = STEP_TYPES.filter((t) => t !== "TRIGGER");

export const TYPE_LABEL: Record<StepType, string> = {
  TRIGGER: "Trigger",
  SEND_EMAIL: "Send email",
  DELAY: "Delay",
  WAIT_FOR_EVENT: "Wait for event",
  CONDITION: "Condition",
  WEBHOOK: "Webhook",
  UPDATE_CONTACT: "Update contact",
  EXIT: "Exit",
};

/** A step's ways out: its type's, or a multi-branch CONDITION's branch ids and `default`. */
export const branchesOf = (s: { type: StepType; config: unknown }): readonly (string | null)[] =>
  branchesOfConfig(s.type, s.config);
/** What a handle or an edge of `branch` says (a multi-branch CONDITION's branch name). */
export const branchLabel = (s: { type: StepType; config: unknown }, branch: string | null) =>
  branchLabelOfConfig(s.type, s.config, branch);

/** What a step's DOM node and `data-step-id` carry: the real id, or the key while unsaved. */
export const domStepId = (s: EditorStep) => s.id ?? s.key;

/** A stable id for an edge: one transition per (from, branch), so these two name it. */
export const edgeKey = (t: { from: string; branch: string | null }) => `${t.from}:${t.branch ?? ""}`;

const asConfig = (c: unknown): Config =>
  c !== null && typeof c === "object" && !Array.isArray(c) ? { ...(c as Config) } : {};

function stepKeyOf(s: Step): string {
  if (s.type === "TRIGGER") return TRIGGER_KEY;
  return s.key ?? s.id;
}

/** The definition drawn from the API's steps and transitions (ids mapped to keys). */
export function fromApi(steps: readonly Step[], transitions: readonly Transition[]): EditorDef {
  const keyById = new Map<string, string>();
  const out: EditorStep[] = [];
  for (const s of steps) {
    const key = stepKeyOf(s);
    keyById.set(s.id, key);
    out.push({ key, id: s.id, type: s.type, name: s.name, config: asConfig(s.config) });
  }
  // The trigger first: the layout and "end of the path" start from it.
  out.sort((a, b) => (a.type === "TRIGGER" ? -1 : b.type === "TRIGGER" ? 1 : 0));
  const ts: EditorTransition[] = [];
  for (const t of transitions) {
    const from = keyById.get(t.fromStepId);
    const to = keyById.get(t.toStepId);
    if (from && to) ts.push({ id: t.id, from, to, branch: t.branch });
  }
  return { steps: out, transitions: ts };
}

/** The trigger's schedule as the editor holds it (the TRIGGER step's config), or null for an event. */
export function triggerSchedule(def: EditorDef): ScheduleValue | null {
  const t = def.steps.find((s) => s.type === "TRIGGER");
  return t ? scheduleOfConfig(t.config) : null;
}

/**
 * The body of `PUT /workflows/:id/definition`: the whole workflow, the trigger named "trigger". A schedule
 * workflow sends its schedule as edited in the TRIGGER step (an event workflow, its permanent event).
 */
export function toDefinitionBody(
  wf: Pick<
    WorkflowDetail,
    "id" | "name" | "description" | "eventName" | "schedule" | "enabled" | "allowReentry"
  >,
  def: EditorDef,
): WorkflowDefinitionInput {
  const steps: NonNullable<WorkflowDefinitionInput["steps"]> = {};
  const triggerKey = def.steps.find((s) => s.type === "TRIGGER")?.key ?? TRIGGER_KEY;
  for (const s of def.steps) {
    if (s.type === "TRIGGER") continue;
    steps[s.key] = { type: s.type, name: s.name, config: s.config };
  }
  const edited = triggerSchedule(def);
  const schedule = wf.schedule
    ? (edited ?? { cron: wf.schedule.cron, segmentId: wf.schedule.segmentId })
    : null;
  return {
    id: wf.id,
    name: wf.name,
    description: wf.description,
    ...(schedule
      ? {
          schedule: schedule.segmentId
            ? { cron: schedule.cron.trim(), segmentId: schedule.segmentId }
            : { cron: schedule.cron.trim() },
        }
      : { eventName: wf.eventName ?? "" }),
    enabled: wf.enabled,
    allowReentry: wf.allowReentry,
    steps,
    transitions: def.transitions.map((t) => {
      const from = t.from === triggerKey ? TRIGGER_KEY : t.from;
      return t.branch ? { from, to: t.to, branch: t.branch } : { from, to: t.to };
    }),
  };
}

export function defaultConfig(type: StepType): Config {
  switch (type) {
    case "SEND_EMAIL":
      return { templateId: "" };
    case "DELAY":
      return { amount: 1, unit: "days" };
    case "WAIT_FOR_EVENT":
      return { eventName: "" };
    case "CONDITION":
      return { field: "", operator: "equals", value: "" };
    case "WEBHOOK":
      return { url: "", method: "POST" };
    case "UPDATE_CONTACT":
      return { data: {} };
    default:
      return {};
  }
}

/** A key not used yet, from the type: `send_email`, `send_email_2`, … */
export function newKey(def: EditorDef, type: StepType): string {
  const base = type.toLowerCase();
  const used = new Set(def.steps.map((s) => s.key));
  if (!used.has(base)) return base;
  for (let i = 2; ; i++) if (!used.has(`${base}_${i}`)) return `${base}_${i}`;
}

function newStep(def: EditorDef, type: StepType, key?: string): EditorStep {
  const k = key && !def.steps.some((s) => s.key === key) ? key : newKey(def, type);
  return { key: k, id: null, type, name: TYPE_LABEL[type], config: defaultConfig(type) };
}

export const stepByKey = (def: EditorDef, key: string) => def.steps.find((s) => s.key === key);

/** The branches of a step with no transition out yet. */
export function freeBranches(def: EditorDef, step: EditorStep): (string | null)[] {
  const used = new Set(def.transitions.filter((t) => t.from === step.key).map((t) => t.branch ?? null));
  return branchesOf(step).filter((b) => !used.has(b));
}

/**
 * Where "Add step" goes without a selection: down the main path from the trigger (each step's first
 * branch) to the first free branch; failing that, any free branch; failing that, nowhere (unconnected).
 */
export function endOfPath(def: EditorDef): { from: string; branch: string | null } | null {
  const trigger = def.steps.find((s) => s.type === "TRIGGER");
  const seen = new Set<string>();
  let cur = trigger;
  while (cur && !seen.has(cur.key)) {
    seen.add(cur.key);
    const free = freeBranches(def, cur);
    if (free.length > 0) return { from: cur.key, branch: free[0] ?? null };
    const first = branchesOf(cur)[0];
    if (first === undefined) break;
    const next = def.transitions.find((t) => t.from === cur?.key && (t.branch ?? null) === first);
    cur = next ? stepByKey(def, next.to) : undefined;
  }
  for (const s of def.steps) {
    const free = freeBranches(def, s);
    if (free.length > 0) return { from: s.key, branch: free[0] ?? null };
  }
  return null;
}

export function addStep(
  def: EditorDef,
  type: StepType,
  after: { from: string; branch: string | null } | null,
  key?: string,
): { def: EditorDef; key: string } {
  const step = newStep(def, type, key);
  const transitions = after
    ? [...def.transitions, { id: null, from: after.from, to: step.key, branch: after.branch }]
    : def.transitions;
  return { def: { steps: [...def.steps, step], transitions }, key: step.key };
}

/** A new step on the edge `ek`: from -[branch]-> new -[new's first branch]-> to. */
export function insertOnEdge(
  def: EditorDef,
  ek: string,
  type: StepType,
  key?: string,
): { def: EditorDef; key: string } | null {
  const i = def.transitions.findIndex((t) => edgeKey(t) === ek);
  const t = def.transitions[i];
  if (!t) return null;
  const step = newStep(def, type, key);
  const out = branchesOf(step)[0];
  const transitions = def.transitions.slice();
  transitions.splice(i, 1, { id: null, from: t.from, to: step.key, branch: t.branch });
  if (out !== undefined) transitions.push({ id: null, from: step.key, to: t.to, branch: out });
  return { def: { steps: [...def.steps, step], transitions }, key: step.key };
}

export function connect(def: EditorDef, from: string, branch: string | null, to: string): EditorDef {
  if (def.transitions.some((t) => t.from === from && (t.branch ?? null) === branch)) return def;
  return { ...def, transitions: [...def.transitions, { id: null, from, to, branch }] };
}

export function deleteSteps(def: EditorDef, keys: readonly string[]): EditorDef {
  const gone = new Set(keys.filter((k) => stepByKey(def, k)?.type !== "TRIGGER"));
  if (gone.size === 0) return def;
  return {
    steps: def.steps.filter((s) => !gone.has(s.key)),
    transitions: def.transitions.filter((t) => !gone.has(t.from) && !gone.has(t.to)),
  };
}

const graphTransitions = (def: EditorDef) =>
  def.transitions.map((t) => ({ fromStepId: t.from, toStepId: t.to, branch: t.branch ?? null }));

/**
 * Deletes a step and leads each transition into it on to its one child (the API's `?mode=splice`); null
 * when it has more than one way on.
 */
export function spliceStep(def: EditorDef, key: string): EditorDef | null {
  const r = spliceOut(graphTransitions(def), key);
  if ("problem" in r) return null;
  const rest = deleteSteps(def, [key]);
  const added = r.reconnect.map((t) => ({ id: null, from: t.fromStepId, to: t.toStepId, branch: t.branch }));
  return { ...rest, transitions: [...rest.transitions, ...added] };
}

/** Deletes a step with the steps below it that nothing else leads to (the API's `?mode=cascade`). */
export function cascadeStep(def: EditorDef, key: string): EditorDef {
  const steps = def.steps.map((s) => ({ id: s.key, type: s.type }));
  return deleteSteps(def, subtreeOf(steps, graphTransitions(def), key));
}

export function deleteEdges(def: EditorDef, eks: readonly string[]): EditorDef {
  const gone = new Set(eks);
  const transitions = def.transitions.filter((t) => !gone.has(edgeKey(t)));
  return transitions.length === def.transitions.length ? def : { ...def, transitions };
}

export function updateStep(
  def: EditorDef,
  key: string,
  patch: Partial<Pick<EditorStep, "name" | "config">>,
): EditorDef {
  return { ...def, steps: def.steps.map((s) => (s.key === key ? { ...s, ...patch } : s)) };
}

/** The trigger's schedule changed, and nothing else: what `PATCH /workflows/:id {schedule}` can save. */
export function onlyScheduleChanged(base: EditorDef, def: EditorDef): boolean {
  if (def === base || def.transitions !== base.transitions || def.steps.length !== base.steps.length)
    return false;
  let changed = false;
  for (let i = 0; i < def.steps.length; i++) {
    const a = base.steps[i];
    const b = def.steps[i];
    if (a === b) continue;
    if (!a || !b || a.type !== "TRIGGER" || b.type !== "TRIGGER" || a.key !== b.key || a.name !== b.name)
      return false;
    changed = true;
  }
  return changed && triggerSchedule(def) !== null;
}
