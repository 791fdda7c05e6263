/** The graph rules of API.md, and the walk from one step to the next. */
import { branchesOf, type StepType } from "./config";

export interface GraphStep {
  id: string;
  type: StepType;
  /** The step's config (a multi-branch CONDITION's branches are its ways out). */
  config?: unknown;
}

export interface GraphTransition {
  fromStepId: string;
  toStepId: string;
  branch: string | null;
}

export interface TransitionProblem {
  field: "fromStepId" | "toStepId" | "branch";
  message: string;
  code: string;
}

/** Why a new transition would break the graph, or null if it fits. */
export function transitionProblem(
  steps: GraphStep[],
  transitions: GraphTransition[],
  t: GraphTransition,
): TransitionProblem | null {
  const from = steps.find((s) => s.id === t.fromStepId);
  const to = steps.find((s) => s.id === t.toStepId);
  if (!from) return { field: "fromStepId", message: "No such step in this workflow", code: "unknown_step" };
  if (!to) return { field: "toStepId", message: "No such step in this workflow", code: "unknown_step" };
  if (from.id === to.id)
    return { field: "toStepId", message: "A step cannot lead to itself", code: "self_loop" };
  if (to.type === "TRIGGER") {
    return { field: "toStepId", message: "Nothing leads back to the trigger", code: "into_trigger" };
  }
  const branches = branchesOf(from.type, from.config);
  if (branches.length === 0) {
    return { field: "fromStepId", message: `Nothing comes after ${from.type}`, code: "after_exit" };
  }
  if (!branches.includes(t.branch)) {
    const allowed = branches.map((b) => (b === null ? "none" : `"${b}"`)).join(" or ");
    return {
      field: "branch",
      message: `A ${from.type} step takes branch ${allowed}`,
      code: "invalid_branch",
    };
  }
  if (transitions.some((x) => x.fromStepId === t.fromStepId && x.branch === t.branch)) {
    return {
      field: "branch",
      message: "This step already has a transition on this branch",
      code: "duplicate_branch",
    };
  }
  if (reaches(transitions, t.toStepId, t.fromStepId)) {
    return { field: "toStepId", message: "This transition would make a cycle", code: "cycle" };
  }
  return null;
}

function reaches(transitions: GraphTransition[], start: string, target: string): boolean {
  return reachableFrom(transitions, start).has(target);
}

/** The step after `stepId` on `branch` (null: the unnamed way on), or null when the way ends. */
export function nextStepId(
  transitions: GraphTransition[],
  stepId: string,
  branch: string | null,
): string | null {
  return transitions.find((t) => t.fromStepId === stepId && t.branch === branch)?.toStepId ?? null;
}

/** The steps `start` leads to, itself included, never passing `avoid`. */
function reachableFrom(transitions: GraphTransition[], start: string, avoid?: string): Set<string> {
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length > 0) {
    const id = stack.pop() as string;
    if (seen.has(id) || id === avoid) continue;
    seen.add(id);
    for (const t of transitions) if (t.fromStepId === id) stack.push(t.toStepId);
  }
  return seen;
}

/**
 * Deleting `stepId` by splicing it out: each transition into it leads on, on its own branch, to the one
 * step it led to. A step with more than one way on cannot be spliced (which would its parents take?).
 */
export function spliceOut(
  transitions: GraphTransition[],
  stepId: string,
): { reconnect: GraphTransition[] } | { problem: TransitionProblem } {
  const out = transitions.filter((t) => t.fromStepId === stepId);
  if (out.length > 1) {
    return {
      problem: {
        field: "fromStepId",
        message: `This step leads on by ${out.length} transitions: splice keeps one way; delete it with cascade, or delete the transitions you do not keep first`,
        code: "splice_ambiguous",
      },
    };
  }
  const child = out[0]?.toStepId;
  const reconnect = child
    ? transitions
        .filter((t) => t.toStepId === stepId)
        .map((t) => ({ fromStepId: t.fromStepId, toStepId: child, branch: t.branch }))
    : [];
  return { reconnect };
}

/**
 * Deleting `stepId` with its subtree: it, and every step below it that the trigger no longer reaches once
 * it is gone (a step that another way still leads to stays).
 */
export function subtreeOf(steps: GraphStep[], transitions: GraphTransition[], stepId: string): string[] {
  const below = reachableFrom(transitions, stepId);
  const trigger = steps.find((s) => s.type === "TRIGGER");
  const kept = trigger ? reachableFrom(transitions, trigger.id, stepId) : new Set<string>();
  return [...below].filter((id) => !kept.has(id) && id !== trigger?.id);
}
