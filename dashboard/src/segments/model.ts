/**
 * The segment builder's draft: a condition as the form edits it (every input as typed, each group and
 * filter with a stable key), read from the API's condition (either form: `{logic, groups}` or the older
 * `{match, filters}`) and written back to it. The draft is checked filter by filter with the worker's own
 * schema (src/domain/segments.ts), and the API's 422 field paths (`condition.groups.0.filters.1.value`)
 * are traced back to the filter they name.
 */
import { behaviourFilter, EMAIL_ACTIVITY, TIME_UNITS } from "../../../src/domain/segments";
import { OPERATORS, type Operator } from "../../../src/domain/workflow/config";
import { zodFieldErrors } from "../../../src/http/errors";
import type { FieldProblem } from "../api/client";
import { parseLoose, showLoose } from "../editor/forms/common";

export type Logic = "AND" | "OR";
export type FilterKind = "field" | "age" | "event" | "email" | "segment";
export type Unit = keyof typeof TIME_UNITS;
export type Activity = keyof typeof EMAIL_ACTIVITY;

export const UNITS = Object.keys(TIME_UNITS) as Unit[];
export const ACTIVITIES = Object.keys(EMAIL_ACTIVITY) as Activity[];
export type { Operator };
export { OPERATORS };

/** The API allows conditions 4 levels deep, 20 groups a level. */
export const MAX_DEPTH = 4;
export const MAX_GROUPS = 20;

export const KIND_LABELS: Record<FilterKind, string> = {
  field: "Contact field",
  age: "Contact created / updated",
  event: "Event",
  email: "Email activity",
  segment: "Segment membership",
};

export const FIELD_OPERATORS: Record<Operator, string> = {
  equals: "equals",
  notEquals: "does not equal",
  contains: "contains",
  notContains: "does not contain",
  greaterThan: "is greater than",
  lessThan: "is less than",
  greaterThanOrEqual: "is at least",
  lessThanOrEqual: "is at most",
  exists: "is set",
  notExists: "is not set",
};
export const AGE_OPERATORS = { within: "within the last", olderThan: "more than … ago" } as const;
export const ACTIVITY_OPERATORS = {
  triggered: "triggered (ever)",
  notTriggered: "not triggered (ever)",
  triggeredWithin: "triggered within the last",
  notTriggeredWithin: "not triggered within the last",
} as const;
export const SEGMENT_OPERATORS = { in: "is a member of", notIn: "is not a member of" } as const;
export const ACTIVITY_LABELS: Record<Activity, string> = {
  delivered: "delivered",
  opened: "opened",
  clicked: "clicked",
  bounced: "bounced",
  complained: "complained",
  received: "received",
};

export interface DraftFilter {
  key: string;
  kind: FilterKind;
  operator: string;
  /** A contact field: contact.email, contact.subscribed or contact.data (with `dataKey`); an age: contact.createdAt / contact.updatedAt. */
  field: string;
  dataKey: string;
  /** A contact field's value as typed (JSON when it parses, else text). */
  value: string;
  /** An age's or an activity window's amount, as typed. */
  amount: string;
  unit: Unit;
  /** "At least N times", as typed (empty: once). */
  count: string;
  event: string;
  activity: Activity;
  segment: string;
}

export interface DraftGroup {
  key: string;
  filters: DraftFilter[];
  conditions: DraftCondition | null;
}

export interface DraftCondition {
  key: string;
  logic: Logic;
  groups: DraftGroup[];
}

let seq = 0;
const newKey = (prefix: string) => `${prefix}${++seq}`;

const DEFAULTS: Record<FilterKind, { operator: string; field: string }> = {
  field: { operator: "equals", field: "contact.data" },
  age: { operator: "within", field: "contact.createdAt" },
  event: { operator: "triggered", field: "" },
  email: { operator: "triggered", field: "" },
  segment: { operator: "in", field: "" },
};

export function newFilter(kind: FilterKind = "field"): DraftFilter {
  return {
    key: newKey("f"),
    kind,
    operator: DEFAULTS[kind].operator,
    field: DEFAULTS[kind].field,
    dataKey: "",
    value: "",
    amount: "",
    unit: "days",
    count: "",
    event: "",
    activity: "opened",
    segment: "",
  };
}

/** The same filter as another kind: what it shares (an amount, a unit) is kept, the rest starts afresh. */
export function withKind(f: DraftFilter, kind: FilterKind): DraftFilter {
  const fresh = newFilter(kind);
  return { ...fresh, key: f.key, amount: f.amount, unit: f.unit, count: f.count };
}

export const newGroup = (filters: DraftFilter[] = [newFilter()]): DraftGroup => ({
  key: newKey("g"),
  filters,
  conditions: null,
});

export const newCondition = (logic: Logic = "AND", groups: DraftGroup[] = [newGroup()]): DraftCondition => ({
  key: newKey("c"),
  logic,
  groups,
});

export const isWindowed = (operator: string) => operator.endsWith("Within");
export const needsValue = (operator: string) => operator !== "exists" && operator !== "notExists";

const str = (v: unknown) => (v === undefined || v === null ? "" : String(v));
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** A filter of the API as a draft (anything it does not know is read as a contact field filter). */
export function fromFilter(raw: unknown): DraftFilter {
  const f = isObject(raw) ? raw : {};
  if ("segment" in f) return { ...newFilter("segment"), operator: str(f.operator), segment: str(f.segment) };
  if ("event" in f || "email" in f) {
    const kind = "event" in f ? "event" : "email";
    return {
      ...newFilter(kind),
      operator: str(f.operator),
      event: kind === "event" ? str(f.event) : "",
      activity: kind === "email" ? (str(f.email) as Activity) : "opened",
      amount: str(f.value),
      unit: (str(f.unit) || "days") as Unit,
      count: str(f.count),
    };
  }
  const field = str(f.field);
  if (field === "contact.createdAt" || field === "contact.updatedAt")
    return {
      ...newFilter("age"),
      field,
      operator: str(f.operator),
      amount: str(f.value),
      unit: (str(f.unit) || "days") as Unit,
    };
  const isData = field.startsWith("contact.data.");
  return {
    ...newFilter("field"),
    field: isData ? "contact.data" : field,
    dataKey: isData ? field.slice("contact.data.".length) : "",
    operator: str(f.operator),
    value:
      f.value === undefined
        ? ""
        : field === "contact.email" && typeof f.value === "string"
          ? f.value
          : showLoose(f.value),
  };
}

/**
 * A condition of the API as a draft. The older flat form becomes groups: `all` one AND group of its
 * filters, `any` an OR of one-filter groups (as the worker reads it).
 */
export function fromCondition(raw: unknown): DraftCondition {
  const c = isObject(raw) ? raw : {};
  if ("match" in c) {
    const filters = (Array.isArray(c.filters) ? c.filters : []).map(fromFilter);
    return c.match === "any"
      ? newCondition(
          "OR",
          filters.map((f) => newGroup([f])),
        )
      : newCondition("AND", [newGroup(filters)]);
  }
  const groups = Array.isArray(c.groups) ? c.groups : [];
  return newCondition(
    c.logic === "OR" ? "OR" : "AND",
    groups.map((g) => {
      const group = isObject(g) ? g : {};
      return {
        key: newKey("g"),
        filters: (Array.isArray(group.filters) ? group.filters : []).map(fromFilter),
        conditions: group.conditions === undefined ? null : fromCondition(group.conditions),
      };
    }),
  );
}

/** A number as typed: undefined when empty (the API then says what is missing), else the number. */
const num = (s: string) => (s.trim() === "" ? undefined : Number(s));

/** A draft filter as the API reads it: what is left empty is left out, for the API to name. */
export function toFilter(f: DraftFilter): Record<string, unknown> {
  switch (f.kind) {
    case "field": {
      const field = f.field === "contact.data" ? `contact.data.${f.dataKey.trim()}` : f.field;
      let value: unknown;
      if (needsValue(f.operator) && f.value !== "") {
        if (f.field === "contact.subscribed") value = f.value === "true";
        else if (f.field === "contact.email") value = f.value;
        else value = parseLoose(f.value);
      }
      return { field, operator: f.operator, ...(value === undefined ? {} : { value }) };
    }
    case "age":
      return { field: f.field, operator: f.operator, value: num(f.amount), unit: f.unit };
    case "event":
    case "email": {
      const count = num(f.count);
      return {
        ...(f.kind === "event" ? { event: f.event.trim() } : { email: f.activity }),
        operator: f.operator,
        ...(isWindowed(f.operator) ? { value: num(f.amount), unit: f.unit } : {}),
        ...(count === undefined ? {} : { count }),
      };
    }
    case "segment":
      return { segment: f.segment, operator: f.operator };
  }
}

export interface ApiCondition {
  logic: Logic;
  groups: { filters: Record<string, unknown>[]; conditions?: ApiCondition }[];
}

export function toCondition(c: DraftCondition): ApiCondition {
  return {
    logic: c.logic,
    groups: c.groups.map((g) => ({
      filters: g.filters.map(toFilter),
      ...(g.conditions ? { conditions: toCondition(g.conditions) } : {}),
    })),
  };
}

/** Messages by the key of a draft's condition, group or filter, then by its field ("value", "event", …). */
export type Problems = Map<string, Map<string, string[]>>;

function add(p: Problems, key: string, sub: string, message: string) {
  const byField = p.get(key) ?? new Map<string, string[]>();
  const list = byField.get(sub) ?? [];
  if (!list.includes(message)) list.push(message);
  byField.set(sub, list);
  p.set(key, byField);
}

/**
 * What the worker's own schema finds wrong in each filter, and the groups with nothing in them: empty
 * when the draft can be counted and saved (the API still checks what only it knows: other segments).
 */
export function localProblems(c: DraftCondition, out: Problems = new Map()): Problems {
  for (const g of c.groups) {
    if (g.filters.length === 0 && !g.conditions)
      add(out, g.key, "filters", "A group needs a filter or a nested group");
    for (const f of g.filters) {
      const r = behaviourFilter.safeParse(toFilter(f));
      if (r.success) continue;
      for (const e of zodFieldErrors(r.error))
        add(out, f.key, subField(f, e.field.split(".")[0] ?? ""), e.message);
    }
    if (g.conditions) localProblems(g.conditions, out);
  }
  return out;
}

/** Where a filter's problem is shown: the input of that field (an unknown key or the filter as a whole: "body"). */
function subField(f: DraftFilter, field: string): string {
  if (field === "email") return "activity";
  if (["field", "operator", "value", "unit", "count", "event", "segment"].includes(field)) {
    if (field === "value" && (f.kind === "age" || f.kind === "event" || f.kind === "email")) return "amount";
    return field;
  }
  return "body";
}

/**
 * The API's field errors of a condition (`condition.groups.0.conditions.groups.1.filters.0.event`) by the
 * keys of the draft that was sent; `rest` are those that name no part of it (the condition as a whole).
 */
export function apiProblems(
  sent: DraftCondition,
  fields: readonly FieldProblem[],
): { at: Problems; rest: FieldProblem[] } {
  const at: Problems = new Map();
  const rest: FieldProblem[] = [];
  for (const e of fields) {
    if (e.field !== "condition" && !e.field.startsWith("condition.")) continue;
    const where = locate(sent, e.field.split(".").slice(1));
    if (where) add(at, where.key, where.sub, e.message);
    else rest.push(e);
  }
  return { at, rest };
}

function locate(c: DraftCondition, path: string[]): { key: string; sub: string } | null {
  let cond = c;
  let i = 0;
  for (;;) {
    if (path[i] === "logic") return { key: cond.key, sub: "logic" };
    if (path[i] !== "groups") return null;
    if (path[i + 1] === undefined) return { key: cond.key, sub: "groups" };
    const g = cond.groups[Number(path[i + 1])];
    if (!g) return { key: cond.key, sub: "groups" };
    const next = path[i + 2];
    if (next === "filters") {
      const f = path[i + 3] === undefined ? undefined : g.filters[Number(path[i + 3])];
      if (!f) return { key: g.key, sub: "filters" };
      return { key: f.key, sub: subField(f, path[i + 4] ?? "") };
    }
    if (next === "conditions" && g.conditions) {
      cond = g.conditions;
      i += 3;
      continue;
    }
    return { key: g.key, sub: "filters" };
  }
}

/**
 * What each part of a draft is, by key: a filter as sent, a group's and a condition's shape. A problem the
 * API found is shown while its part is still what was sent (editing a filter clears its messages).
 */
export function signatures(c: DraftCondition, out = new Map<string, string>()): Map<string, string> {
  out.set(c.key, `${c.logic}:${c.groups.length}`);
  for (const g of c.groups) {
    out.set(g.key, `${g.filters.length}:${g.conditions ? 1 : 0}`);
    for (const f of g.filters) out.set(f.key, JSON.stringify(toFilter(f)));
    if (g.conditions) signatures(g.conditions, out);
  }
  return out;
}

/** Which segments a draft reads (a condition of a segment cannot read itself). */
export function readsSegments(c: DraftCondition): string[] {
  return c.groups.flatMap((g) => [
    ...g.filters.flatMap((f) => (f.kind === "segment" && f.segment ? [f.segment] : [])),
    ...(g.conditions ? readsSegments(g.conditions) : []),
  ]);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** A filter in words: "data.plan equals vip", "purchase triggered at least 2 times within the last 30 days". */
export function describeFilter(f: DraftFilter, segmentName: (id: string) => string | undefined): string {
  const window = isWindowed(f.operator)
    ? ` within the last ${plural(Number(f.amount), f.unit.replace(/s$/, ""))}`
    : "";
  switch (f.kind) {
    case "field": {
      const field = f.field === "contact.data" ? `data.${f.dataKey}` : f.field.replace("contact.", "");
      const op = FIELD_OPERATORS[f.operator as Operator] ?? f.operator;
      return needsValue(f.operator) ? `${field} ${op} ${f.value}` : `${field} ${op}`;
    }
    case "age": {
      const what = f.field === "contact.createdAt" ? "created" : "updated";
      const span = plural(Number(f.amount), f.unit.replace(/s$/, ""));
      return f.operator === "within" ? `${what} within the last ${span}` : `${what} more than ${span} ago`;
    }
    case "event":
    case "email": {
      const name = f.kind === "event" ? f.event : `email ${f.activity}`;
      const times = f.count && f.count !== "1" ? ` at least ${f.count} times` : "";
      const not = f.operator.startsWith("not");
      return `${name} ${not ? "not triggered" : "triggered"}${times}${window}`;
    }
    case "segment": {
      const name = segmentName(f.segment) ?? f.segment;
      return f.operator === "in" ? `member of ${name}` : `not a member of ${name}`;
    }
  }
}
