/**
 * Segment rules. A condition is groups of filters (`{logic, groups: [{filters, conditions?}]}`): a group
 * holds when all its filters and its nested condition hold, and `logic` joins the groups. The first form,
 * `{match: all|any, filters}`, is still accepted and read as one group (all) or one group per filter (any).
 *
 * A filter tests one of:
 * - a contact field, with CONDITION's operators (`contact.email`, `contact.subscribed`, `contact.data.<key>`);
 * - when the contact was created or last updated: `within` / `olderThan` an amount of a unit;
 * - the contact's events of a name (`event`), or its email activity (`email`: opened, clicked, …, which are
 *   the `email.*` events): `triggered` / `notTriggered` ever, or `triggeredWithin` / `notTriggeredWithin` a
 *   window, at least `count` times (default 1);
 * - membership of another segment (`segment`: `in` / `notIn`).
 *
 * Evaluation is pure: what it needs beyond the contact (event counts, other segments' members) comes in
 * `Facts`, read by src/segments.ts for a page of contacts at once (`factsNeeded` says what to read).
 */
import { z } from "zod";
import { type ConditionSubject, evaluateCondition, resolveField } from "./workflow/conditions";
import { conditionSchema } from "./workflow/config";

const CONTACT_FIELD = /^(contact\.email|contact\.subscribed|contact\.data(\.[^.\s]+)+)$/;

export const segmentFilter = conditionSchema(
  CONTACT_FIELD,
  "Must be contact.email, contact.subscribed or contact.data.<key>",
);

export const TIME_UNITS = {
  minutes: 60_000,
  hours: 3_600_000,
  days: 86_400_000,
  weeks: 604_800_000,
} as const;
const unit = z.enum(Object.keys(TIME_UNITS) as [keyof typeof TIME_UNITS, ...(keyof typeof TIME_UNITS)[]]);
/** Up to ten years of any unit. */
const amount = z
  .number()
  .int()
  .min(1)
  .max(520 * 7 * 24 * 60);

const timeFilter = z
  .strictObject({
    field: z.enum(["contact.createdAt", "contact.updatedAt"]),
    operator: z.enum(["within", "olderThan"]),
    value: amount,
    unit,
  })
  .refine((f) => f.value * TIME_UNITS[f.unit] <= 3650 * TIME_UNITS.days, {
    message: "At most ten years",
    path: ["value"],
  });

/** The `email.*` event each email activity is stored as, from SES's notifications (src/routes/sns.ts). */
export const EMAIL_ACTIVITY = {
  delivered: "email.delivery",
  opened: "email.open",
  clicked: "email.click",
  bounced: "email.bounce",
  complained: "email.complaint",
  received: "email.received",
} as const;
type EmailActivity = keyof typeof EMAIL_ACTIVITY;

const EVENT_OPERATORS = ["triggered", "notTriggered", "triggeredWithin", "notTriggeredWithin"] as const;
const activityFields = {
  operator: z.enum(EVENT_OPERATORS),
  value: amount.optional(),
  unit: unit.optional(),
  count: z.number().int().min(1).max(10_000).optional(),
};
type ActivityFields = {
  operator: (typeof EVENT_OPERATORS)[number];
  value?: number;
  unit?: keyof typeof TIME_UNITS;
};
const windowed = (f: ActivityFields) => f.operator.endsWith("Within");
function checkWindow(f: ActivityFields, ctx: z.RefinementCtx) {
  if (windowed(f) && (f.value === undefined || f.unit === undefined))
    ctx.addIssue({ code: "custom", message: `${f.operator} needs a value and a unit`, path: ["value"] });
  if (!windowed(f) && (f.value !== undefined || f.unit !== undefined))
    ctx.addIssue({
      code: "custom",
      message: `${f.operator} counts every event: give a value and unit only with ${f.operator}Within`,
      path: ["value"],
    });
  if (windowed(f) && f.value !== undefined && f.unit && f.value * TIME_UNITS[f.unit] > 3650 * TIME_UNITS.days)
    ctx.addIssue({ code: "custom", message: "At most ten years", path: ["value"] });
}

const eventFilter = z
  .strictObject({
    event: z.string().trim().min(1).max(200),
    ...activityFields,
  })
  .superRefine(checkWindow);

const emailFilter = z
  .strictObject({
    email: z.enum(Object.keys(EMAIL_ACTIVITY) as [EmailActivity, ...EmailActivity[]]),
    ...activityFields,
  })
  .superRefine(checkWindow);

const segmentRefFilter = z.strictObject({
  segment: z.string().min(1).max(100),
  operator: z.enum(["in", "notIn"]),
});

export const behaviourFilter = z.union([
  segmentFilter,
  timeFilter,
  eventFilter,
  emailFilter,
  segmentRefFilter,
]);
export type Filter = z.output<typeof behaviourFilter>;

export interface Group {
  filters: Filter[];
  conditions?: GroupedCondition;
}
export interface GroupedCondition {
  logic: "AND" | "OR";
  groups: Group[];
}

const MAX_DEPTH = 4;
const MAX_FILTERS = 100;

const group: z.ZodType<Group> = z.lazy(() =>
  z
    .strictObject({
      filters: z.array(behaviourFilter).max(50),
      conditions: groupedCondition.optional(),
    })
    .refine((g) => g.filters.length > 0 || g.conditions !== undefined, {
      message: "A group needs a filter or a nested condition",
      path: ["filters"],
    }),
);

const groupedCondition: z.ZodType<GroupedCondition> = z.lazy(() =>
  z.strictObject({
    logic: z.enum(["AND", "OR"]),
    groups: z.array(group).min(1, "Give 1 to 20 groups").max(20, "Give 1 to 20 groups"),
  }),
);

const flatCondition = z.strictObject({
  match: z.enum(["all", "any"]),
  filters: z.array(segmentFilter).min(1).max(50),
});

export const segmentCondition = z.union([flatCondition, groupedCondition]).superRefine((c, ctx) => {
  const g = grouped(c);
  if (depth(g) > MAX_DEPTH)
    ctx.addIssue({
      code: "custom",
      message: `Nest conditions at most ${MAX_DEPTH} deep`,
      path: ["groups"],
    });
  if (allFilters(g).length > MAX_FILTERS)
    ctx.addIssue({ code: "custom", message: `At most ${MAX_FILTERS} filters in all`, path: ["groups"] });
});

export type SegmentCondition = z.output<typeof segmentCondition>;

/** The grouped form of a condition (the flat form read as groups). */
export function grouped(c: SegmentCondition): GroupedCondition {
  if ("logic" in c) return c;
  return c.match === "all"
    ? { logic: "AND", groups: [{ filters: c.filters }] }
    : { logic: "OR", groups: c.filters.map((f) => ({ filters: [f] })) };
}

const depth = (c: GroupedCondition): number =>
  1 + Math.max(0, ...c.groups.map((g) => (g.conditions ? depth(g.conditions) : 0)));

export function allFilters(c: GroupedCondition): Filter[] {
  return c.groups.flatMap((g) => [...g.filters, ...(g.conditions ? allFilters(g.conditions) : [])]);
}

/** The segments a condition reads the members of. */
export const referencedSegments = (c: SegmentCondition): string[] => [
  ...new Set(allFilters(grouped(c)).flatMap((f) => ("segment" in f ? [f.segment] : []))),
];

/** Whether membership can change with time alone (a window or an age): such segments are recomputed. */
export const readsTime = (c: SegmentCondition): boolean =>
  allFilters(grouped(c)).some(
    (f) =>
      ("field" in f && (f.operator === "within" || f.operator === "olderThan")) ||
      (("event" in f || "email" in f) && windowed(f)),
  );

/** "VIP Users" → "vip-users". */
export function slugify(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

/** A contact as segment conditions see it. */
export interface SegmentSubject {
  id: string;
  email: string;
  subscribed: boolean;
  data: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

/** An event count a condition needs: events of `name` since `since` (0: ever), by key. */
export interface CountQuery {
  key: string;
  name: string;
  since: number;
}

/** What evaluation needs beyond the contact: event counts per (contact, query key), other segments' members. */
export interface Facts {
  count(contactId: string, key: string): number;
  isMember(segmentId: string, contactId: string): boolean;
}

const eventName = (f: { event: string } | { email: EmailActivity }) =>
  "event" in f ? f.event : EMAIL_ACTIVITY[f.email];
const sinceOf = (f: ActivityFields, now: number) =>
  windowed(f) && f.value !== undefined && f.unit ? now - f.value * TIME_UNITS[f.unit] : 0;
const countKey = (name: string, since: number) => `${since}:${name}`;

/** The event counts these conditions need, at `now`. */
export function factsNeeded(conditions: SegmentCondition[], now: number): CountQuery[] {
  const out = new Map<string, CountQuery>();
  for (const c of conditions) {
    for (const f of allFilters(grouped(c))) {
      if (!("event" in f) && !("email" in f)) continue;
      const name = eventName(f);
      const since = sinceOf(f, now);
      out.set(countKey(name, since), { key: countKey(name, since), name, since });
    }
  }
  return [...out.values()];
}

export function matches(
  condition: SegmentCondition,
  contact: SegmentSubject,
  facts: Facts,
  now: number,
): boolean {
  const test = (f: Filter): boolean => {
    if ("segment" in f) return facts.isMember(f.segment, contact.id) === (f.operator === "in");
    if ("event" in f || "email" in f) {
      const n = facts.count(contact.id, countKey(eventName(f), sinceOf(f, now)));
      const reached = n >= (f.count ?? 1);
      return f.operator.startsWith("not") ? !reached : reached;
    }
    if (f.operator === "within" || f.operator === "olderThan") {
      const at = f.field === "contact.createdAt" ? contact.createdAt : contact.updatedAt;
      const cut = now - f.value * TIME_UNITS[f.unit];
      return f.operator === "within" ? at >= cut : at < cut;
    }
    const subject: ConditionSubject = { contact, event: {} };
    return evaluateCondition(resolveField(f.field, subject), f.operator, f.value);
  };
  const holds = (c: GroupedCondition): boolean => {
    const groupHolds = (g: Group) => g.filters.every(test) && (!g.conditions || holds(g.conditions));
    return c.logic === "AND" ? c.groups.every(groupHolds) : c.groups.some(groupHolds);
  };
  return holds(grouped(condition));
}

/** Facts from nothing: no events, no memberships (for conditions over contact fields alone). */
export const noFacts: Facts = { count: () => 0, isMember: () => false };
