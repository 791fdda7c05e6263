/**
 * The server's refusals placed where they belong: `steps.<key>.…` at the step (and the form field it
 * names), `schedule.…` at the trigger, `transitions.<index>.…` at the edge that was sent at that index,
 * the rest in the summary.
 */
import { ApiError, type FieldProblem } from "../api/client";

export interface StepProblem {
  /** The rest of the field after `steps.<key>.`: `config.amount`, `templateId`, `name`, or "". */
  path: string;
  message: string;
}

export interface Problems {
  steps: Map<string, StepProblem[]>;
  edges: Map<string, string[]>;
  other: FieldProblem[];
}

export const NO_PROBLEMS: Problems = { steps: new Map(), edges: new Map(), other: [] };

export function placeProblems(err: unknown, sentEdgeKeys: readonly string[], triggerKey: string): Problems {
  if (!(err instanceof ApiError) || err.fields.length === 0) return NO_PROBLEMS;
  const steps = new Map<string, StepProblem[]>();
  const edges = new Map<string, string[]>();
  const other: FieldProblem[] = [];
  for (const f of err.fields) {
    const parts = f.field.split(".");
    if (parts[0] === "steps" && parts[1]) {
      const key = parts[1] === "trigger" ? triggerKey : parts[1];
      const list = steps.get(key) ?? [];
      list.push({ path: parts.slice(2).join("."), message: f.message });
      steps.set(key, list);
      continue;
    }
    // A schedule's fields (`schedule.cron`, `schedule.segmentId`) are the TRIGGER step's.
    if (parts[0] === "schedule") {
      const list = steps.get(triggerKey) ?? [];
      list.push({ path: f.field, message: f.message });
      steps.set(triggerKey, list);
      continue;
    }
    if (parts[0] === "transitions" && parts[1] !== undefined && /^\d+$/.test(parts[1])) {
      const ek = sentEdgeKeys[Number(parts[1])];
      if (ek !== undefined) {
        const list = edges.get(ek) ?? [];
        const what = parts.slice(2).join(".");
        list.push(what ? `${what}: ${f.message}` : f.message);
        edges.set(ek, list);
        continue;
      }
    }
    other.push(f);
  }
  return { steps, edges, other };
}

/** A step's problems as lines for its node. */
export function problemLines(list: readonly StepProblem[] | undefined): string[] {
  if (!list) return [];
  return list.map((p) => (p.path ? `${p.path.replace(/^config\./, "")}: ${p.message}` : p.message));
}

/** The messages for one form field (`templateId` matches `config.templateId` and `templateId`). */
export function fieldMessages(list: readonly StepProblem[] | undefined, field: string): string[] {
  if (!list) return [];
  return list
    .filter((p) => {
      const path = p.path.replace(/^config\./, "");
      return path === field || path.startsWith(`${field}.`);
    })
    .map((p) => p.message);
}
