/**
 * Workflows as code: one workflow in one JSON or YAML file, the body of `PUT /workflows/:id/definition`.
 * Files are parsed and checked here before anything is sent; `export` writes the server's answer back in
 * one canonical layout (fixed key order, block YAML, transitions one per line), so that a file written
 * that way survives apply → export unchanged.
 */
import { Document, isMap, isSeq, LineCounter, parseDocument, visit } from "yaml";
import { CliError } from "./errors.ts";

export type Format = "yaml" | "json";

export const STEP_TYPES = [
  "SEND_EMAIL",
  "DELAY",
  "WAIT_FOR_EVENT",
  "CONDITION",
  "WEBHOOK",
  "UPDATE_CONTACT",
  "EXIT",
] as const;
/** A multi-branch CONDITION's branch ids, and the `default` it takes when none holds. */
export const BRANCH_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const WORKFLOW_ID = /^wf_[A-Za-z0-9_-]{1,64}$/;
export const STEP_KEY = /^[A-Za-z0-9_-]{1,64}$/;
/** The key transitions use for the workflow's TRIGGER step. */
export const TRIGGER_KEY = "trigger";

const TOP_KEYS = [
  "id",
  "name",
  "description",
  "eventName",
  "schedule",
  "enabled",
  "allowReentry",
  "steps",
  "transitions",
];
const STEP_KEYS = ["type", "name", "config"];
const TRANSITION_KEYS = ["from", "to", "branch"];

export interface Definition {
  id: string;
  [key: string]: unknown;
}

/** `.json` is JSON, `.yaml`/`.yml` YAML; anything else is decided by its first character. */
export function formatOfName(file: string): Format | undefined {
  if (/\.json$/i.test(file)) return "json";
  if (/\.ya?ml$/i.test(file)) return "yaml";
  return undefined;
}

function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split("\n");
  return { line: lines.length, col: (lines[lines.length - 1]?.length ?? 0) + 1 };
}

/** The file's value; a syntax error is `file:line:col: message`. */
export function parseText(text: string, file: string): unknown {
  const format = formatOfName(file) ?? (/^\s*[{[]/.test(text) ? "json" : "yaml");
  if (format === "json") {
    try {
      return JSON.parse(text);
    } catch (err) {
      const message = (err as Error).message;
      const at = /at position (\d+)/.exec(message);
      const where = at ? lineCol(text, Number(at[1])) : undefined;
      const reason = message.replace(/\s*(in JSON )?at position \d+.*$/, "").replace(/^JSON\.parse: /, "");
      throw new CliError(
        `${file}${where ? `:${where.line}:${where.col}` : ""}: not valid JSON: ${reason || message}`,
      );
    }
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const [first] = doc.errors;
  if (first) {
    const { line, col } = lineCounter.linePos(first.pos[0]);
    const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more)` : "";
    throw new CliError(`${file}:${line}:${col}: not valid YAML: ${first.message}${more}`);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new CliError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const show = (v: unknown) => JSON.stringify(v) ?? String(v);

/** Every problem found, as `field: message` with the API's field paths (`steps.crm.type`, `transitions.1.to`). */
export function problemsOf(value: unknown): string[] {
  if (!isObject(value))
    return ["the file must hold one workflow: a mapping with id, name, eventName, steps…"];
  const problems: string[] = [];
  const { id, name, eventName, schedule, description, enabled, allowReentry, steps, transitions } = value;
  if (id === undefined || id === null) problems.push("id: missing (the file names its workflow: id: wf_…)");
  else if (typeof id !== "string" || !WORKFLOW_ID.test(id)) {
    problems.push(`id: ${show(id)} is not a workflow id (wf_ then 1–64 of A-Z a-z 0-9 _ -)`);
  }
  if (typeof name !== "string" || name.trim() === "") problems.push("name: missing (a non-empty string)");
  if (eventName !== undefined && schedule !== undefined) {
    problems.push("eventName: give eventName or schedule, not both");
  } else if (schedule !== undefined) {
    if (!isObject(schedule) || typeof schedule.cron !== "string" || schedule.cron.trim() === "") {
      problems.push('schedule: must be {cron: "0 9 * * 1", segmentId?: seg_…} (when the workflow starts)');
    }
  } else if (typeof eventName !== "string" || eventName.trim() === "") {
    problems.push("eventName: missing (the event that starts the workflow, or give schedule)");
  }
  if (description !== undefined && description !== null && typeof description !== "string") {
    problems.push("description: must be a string");
  }
  if (enabled !== undefined && typeof enabled !== "boolean") problems.push("enabled: must be true or false");
  if (allowReentry !== undefined && typeof allowReentry !== "boolean") {
    problems.push("allowReentry: must be true or false");
  }
  const keys = new Set<string>();
  if (steps !== undefined && !isObject(steps)) {
    problems.push("steps: must be a mapping of step key → step (steps: {} for none)");
  } else if (steps !== undefined) {
    for (const [key, step] of Object.entries(steps)) {
      keys.add(key);
      const at = `steps.${key}`;
      if (key === TRIGGER_KEY) {
        problems.push(
          `${at}: "trigger" is the TRIGGER step, made from eventName or schedule: do not list it`,
        );
        continue;
      }
      if (!STEP_KEY.test(key)) problems.push(`${at}: a step key is 1–64 of A-Z a-z 0-9 _ -`);
      if (!isObject(step)) {
        problems.push(`${at}: must be a mapping with type, name? and config`);
        continue;
      }
      if (step.type === "TRIGGER") {
        problems.push(`${at}.type: the TRIGGER step is made from eventName or schedule: do not list it`);
      } else if (!STEP_TYPES.includes(step.type as (typeof STEP_TYPES)[number])) {
        problems.push(`${at}.type: unknown step type ${show(step.type)} (one of ${STEP_TYPES.join(", ")})`);
      }
      if (step.name !== undefined && (typeof step.name !== "string" || step.name.trim() === "")) {
        problems.push(`${at}.name: must be a non-empty string (or left out: the key is the name)`);
      }
      if (step.config !== undefined && !isObject(step.config))
        problems.push(`${at}.config: must be a mapping`);
    }
  }
  if (transitions !== undefined && !Array.isArray(transitions)) {
    problems.push("transitions: must be a list of {from, to, branch?} (transitions: [] for none)");
  } else if (transitions !== undefined) {
    transitions.forEach((t: unknown, i) => {
      const at = `transitions.${i}`;
      if (!isObject(t)) {
        problems.push(`${at}: must be a mapping {from, to, branch?}`);
        return;
      }
      for (const end of ["from", "to"] as const) {
        const ref = t[end];
        if (typeof ref !== "string" || ref === "") problems.push(`${at}.${end}: missing (a step key)`);
        else if (end === "to" && ref === TRIGGER_KEY)
          problems.push(`${at}.to: nothing leads into the trigger`);
        else if (ref !== TRIGGER_KEY && !keys.has(ref)) {
          problems.push(`${at}.${end}: no step "${ref}" in steps`);
        }
      }
      const branch = t.branch;
      if (branch === undefined || branch === null) return;
      const ways = namedBranches(
        t.from === TRIGGER_KEY ? { type: "TRIGGER" } : isObject(steps) ? steps[t.from as string] : undefined,
      );
      if (ways === null) {
        // A step unknown here: whether the branch is one of its ways is the server's to say.
        if (typeof branch !== "string" || !BRANCH_ID.test(branch))
          problems.push(`${at}.branch: ${show(branch)} is not a branch`);
      } else if (!ways.includes(branch as string)) {
        const of = ways.length ? `one of ${ways.join(", ")}` : "this step's way on has none: leave it out";
        problems.push(`${at}.branch: ${show(branch)} is not a branch of ${show(t.from)} (${of})`);
      }
    });
  }
  return problems;
}

/**
 * The named branches out of a step as the file gives it (a multi-branch CONDITION's ids and `default`),
 * or null when the step or its config cannot be read here.
 */
function namedBranches(step: unknown): string[] | null {
  if (!isObject(step)) return null;
  const config = step.config;
  switch (step.type) {
    case "CONDITION":
      if (isObject(config) && config.mode === "multi") {
        if (!Array.isArray(config.branches)) return null;
        return [...config.branches.map((b: unknown) => (isObject(b) ? String(b.id) : "")), "default"];
      }
      return ["yes", "no"];
    case "WAIT_FOR_EVENT":
      return ["event", "timeout"];
    default:
      return typeof step.type === "string" ? [] : null;
  }
}

/** Parses and checks one file's text; any problem is one line naming the file. */
export function readDefinition(text: string, file: string): Definition {
  const value = parseText(text, file);
  const problems = problemsOf(value);
  if (problems.length > 0) throw new CliError(`${file}: ${problems.join("; ")}`);
  return value as Definition;
}

/** Known keys in their fixed order, then whatever else the object has; `null` description and branch dropped. */
function ordered(
  obj: Record<string, unknown>,
  order: string[],
  drop: string[] = [],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of order) if (obj[k] !== undefined && !(drop.includes(k) && obj[k] === null)) out[k] = obj[k];
  for (const [k, v] of Object.entries(obj)) if (!order.includes(k) && v !== undefined) out[k] = v;
  return out;
}

/** The canonical layout of a definition: what `export` writes. */
export function canonical(def: Record<string, unknown>): Record<string, unknown> {
  const out = ordered(def, TOP_KEYS, ["description"]);
  if (isObject(out.steps)) {
    out.steps = Object.fromEntries(
      Object.entries(out.steps).map(([k, s]) => [k, isObject(s) ? ordered(s, STEP_KEYS) : s]),
    );
  }
  if (Array.isArray(out.transitions)) {
    out.transitions = out.transitions.map((t: unknown) =>
      isObject(t) ? ordered(t, TRANSITION_KEYS, ["branch"]) : t,
    );
  }
  return out;
}

/** Strings that YAML 1.1 readers would take for booleans are quoted, so that every reader agrees. */
const YAML11_BOOLEAN = /^(y|yes|n|no|on|off|true|false)$/i;

export function serialize(def: Record<string, unknown>, format: Format): string {
  const value = canonical(def);
  if (format === "json") return `${JSON.stringify(value, null, 2)}\n`;
  const doc = new Document(value);
  const transitions = doc.get("transitions", true);
  if (isSeq(transitions)) for (const t of transitions.items) if (isMap(t)) t.flow = true;
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value === "string" && YAML11_BOOLEAN.test(node.value)) node.type = "QUOTE_DOUBLE";
    },
  });
  return doc.toString({ lineWidth: 0, indent: 2 });
}
