/** Step types and their `config`, validated by type (API.md "Step types and their config"). */
import { z } from "zod";
import { scheduleSpec } from "../schedule";
import { eventName } from "../track";

export const STEP_TYPES = [
  "TRIGGER",
  "SEND_EMAIL",
  "DELAY",
  "WAIT_FOR_EVENT",
  "CONDITION",
  "WEBHOOK",
  "UPDATE_CONTACT",
  "EXIT",
] as const;
export type StepType = (typeof STEP_TYPES)[number];

export const OPERATORS = [
  "equals",
  "notEquals",
  "contains",
  "notContains",
  "greaterThan",
  "lessThan",
  "greaterThanOrEqual",
  "lessThanOrEqual",
  "exists",
  "notExists",
] as const;
export type Operator = (typeof OPERATORS)[number];

export const DELAY_UNITS = { seconds: 1_000, minutes: 60_000, hours: 3_600_000, days: 86_400_000 } as const;
export const MAX_DELAY_MS = 365 * DELAY_UNITS.days;
export const MAX_WAIT_TIMEOUT_SECONDS = 31_536_000;
/** Steps in one workflow, the TRIGGER included. */
export const MAX_STEPS_PER_WORKFLOW = 250;
export const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

/** `contact.email`, `contact.subscribed`, `contact.data.<key>[.<key>…]`, `event.<key>[.<key>…]`. */
export const FIELD_PATH =
  /^(contact\.email|contact\.subscribed|contact\.data(\.[^.\s]+)+|event(\.[^.\s]+)+)$/;

const jsonObject = z.record(z.string(), z.unknown());

/** An event trigger's `{eventName}`, or a schedule trigger's `{schedule: {cron, segmentId}}`. */
export const triggerConfig = z.union([
  z.strictObject({ eventName }),
  z.strictObject({ schedule: scheduleSpec }),
]);
/**
 * Whom a SEND_EMAIL writes to: the execution's contact (the default), or another address, a Liquid
 * template over the same variables as the email (`{{ event.managerEmail }}`), rendered when it is sent.
 */
export const emailRecipient = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("CONTACT") }),
  z.strictObject({ type: z.literal("CUSTOM"), email: z.string().trim().min(1).max(512) }),
]);
export const sendEmailConfig = z.strictObject({
  templateId: z.string().regex(/^tpl_/, "Must be a template id"),
  recipient: emailRecipient.optional(),
});
export const delayConfig = z
  .strictObject({
    amount: z.number().int().positive(),
    unit: z.enum(Object.keys(DELAY_UNITS) as [keyof typeof DELAY_UNITS, ...(keyof typeof DELAY_UNITS)[]]),
  })
  .refine((c) => c.amount * DELAY_UNITS[c.unit] <= MAX_DELAY_MS, {
    message: "A delay is at most 365 days",
    path: ["amount"],
  });
/** A WAIT_FOR_EVENT's `match` keys: the awaited event's data, `event.<key>[.<key>…]`. */
export const EVENT_FIELD = /^event(\.[^.\s]+)+$/;
export const MAX_MATCH_FIELDS = 10;
/**
 * `{"event.orderId": {"equals": "{{ trigger.orderId }}"}}`: each field of the awaited event's data with
 * one test (the CONDITION operators; `exists` / `notExists` take `true`). String values are Liquid over
 * `trigger` (the execution's event data), `contact` and `event` (the same as `trigger`), rendered when
 * the wait is reached.
 */
export const waitMatch = z
  .record(
    z.string().regex(EVENT_FIELD, "Must be event.<key>: a field of the awaited event's data"),
    z
      .partialRecord(z.enum(OPERATORS), z.unknown())
      .refine((t) => Object.keys(t).length === 1, { message: "Give one operator and its value" }),
  )
  .refine((m) => Object.keys(m).length >= 1 && Object.keys(m).length <= MAX_MATCH_FIELDS, {
    message: `Give 1 to ${MAX_MATCH_FIELDS} fields`,
  });
export const waitForEventConfig = z.strictObject({
  eventName,
  timeout: z.number().int().positive().max(MAX_WAIT_TIMEOUT_SECONDS).optional(),
  match: waitMatch.optional(),
});
/** `{field, operator, value?}` over the fields `pattern` allows: CONDITION's config, and segment filters. */
export function conditionSchema(pattern: RegExp, fieldMessage: string) {
  return z
    .strictObject({
      field: z.string().regex(pattern, fieldMessage),
      operator: z.enum(OPERATORS),
      value: z.unknown().optional(),
    })
    .refine((c) => c.operator === "exists" || c.operator === "notExists" || c.value !== undefined, {
      message: "This operator needs a value",
      path: ["value"],
    });
}

const FIELD_MESSAGE = "Must be contact.email, contact.subscribed, contact.data.<key> or event.<key>";
/** A transition's branch: a type's fixed names, or a multi-branch CONDITION's branch ids. */
export const BRANCH_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const branchField = z.string().regex(BRANCH_ID, "A branch is 1-64 letters, digits, _ or -").nullish();
export const MAX_CONDITION_BRANCHES = 20;
/** The branch a multi-branch CONDITION takes when none of its branches' tests holds. */
export const DEFAULT_BRANCH = "default";

const twoWayCondition = conditionSchema(FIELD_PATH, FIELD_MESSAGE);
/**
 * Plunk's multi-branch form: one field, tested against each branch in order; the first whose test holds
 * is taken, else `default`.
 */
const multiCondition = z.strictObject({
  mode: z.literal("multi"),
  field: z.string().regex(FIELD_PATH, FIELD_MESSAGE),
  branches: z
    .array(
      z
        .strictObject({
          id: z
            .string()
            .regex(BRANCH_ID, "A branch id is 1-64 letters, digits, _ or -")
            .refine((id) => id !== DEFAULT_BRANCH, {
              message: `"${DEFAULT_BRANCH}" is the way when none holds`,
            }),
          name: z.string().trim().min(1).max(100),
          operator: z.enum(OPERATORS),
          value: z.unknown().optional(),
        })
        .refine((b) => b.operator === "exists" || b.operator === "notExists" || b.value !== undefined, {
          message: "This operator needs a value",
          path: ["value"],
        }),
    )
    .min(1, "Give 1 to 20 branches")
    .max(MAX_CONDITION_BRANCHES, "Give 1 to 20 branches")
    .superRefine((branches, ctx) => {
      const seen = new Set<string>();
      branches.forEach((b, i) => {
        if (seen.has(b.id))
          ctx.addIssue({ code: "custom", message: "Branch ids are unique", path: [i, "id"] });
        seen.add(b.id);
      });
    }),
});
/** CONDITION: the two-way form (`yes` / `no`) or the multi-branch form. */
export const conditionConfig = z.union([twoWayCondition, multiCondition]);
export type MultiCondition = z.output<typeof multiCondition>;
export const isMultiCondition = (c: unknown): c is MultiCondition =>
  typeof c === "object" && c !== null && (c as { mode?: unknown }).mode === "multi";
export const webhookConfig = z.strictObject({
  url: z.string().min(1).max(2048),
  method: z.enum(HTTP_METHODS).default("POST"),
  headers: z.record(z.string().min(1).max(256), z.string().max(8192)).optional(),
  body: z.unknown().optional(),
});
export const updateContactConfig = z
  .strictObject({ data: jsonObject.optional(), subscribed: z.boolean().optional() })
  .refine((c) => c.data !== undefined || c.subscribed !== undefined, {
    message: "Give data, subscribed, or both",
    path: ["data"],
  });
export const exitConfig = z.strictObject({ reason: z.string().max(500).optional() });

export const configByType = {
  TRIGGER: triggerConfig,
  SEND_EMAIL: sendEmailConfig,
  DELAY: delayConfig,
  WAIT_FOR_EVENT: waitForEventConfig,
  CONDITION: conditionConfig,
  WEBHOOK: webhookConfig,
  UPDATE_CONTACT: updateContactConfig,
  EXIT: exitConfig,
} as const;

export type StepConfig<T extends StepType> = z.output<(typeof configByType)[T]>;

const stepName = z.string().trim().min(1).max(100);

/** A step's body by type, with `extra` fields beside type, name and config. */
const stepBodies = <E extends z.ZodRawShape>(extra: E) =>
  [
    z.strictObject({ type: z.literal("SEND_EMAIL"), name: stepName, config: sendEmailConfig, ...extra }),
    z.strictObject({ type: z.literal("DELAY"), name: stepName, config: delayConfig, ...extra }),
    z.strictObject({
      type: z.literal("WAIT_FOR_EVENT"),
      name: stepName,
      config: waitForEventConfig,
      ...extra,
    }),
    z.strictObject({ type: z.literal("CONDITION"), name: stepName, config: conditionConfig, ...extra }),
    z.strictObject({ type: z.literal("WEBHOOK"), name: stepName, config: webhookConfig, ...extra }),
    z.strictObject({
      type: z.literal("UPDATE_CONTACT"),
      name: stepName,
      config: updateContactConfig,
      ...extra,
    }),
    z.strictObject({ type: z.literal("EXIT"), name: stepName, config: exitConfig, ...extra }),
  ] as const;

/** A new step: its type decides its config (TRIGGER is made with the workflow, never here). */
export const newStepBody = z.discriminatedUnion("type", stepBodies({}));

/**
 * A step put into a transition (`POST /workflows/:id/transitions/:tid/insert-step`): `branch` is the new
 * step's way on to the transition's old target (its type's first way when left out).
 */
export const insertStepBody = z.discriminatedUnion("type", stepBodies({ branch: branchField }));

export const patchStepBody = z
  .strictObject({
    type: z.enum(STEP_TYPES).optional(),
    name: stepName.optional(),
    config: z.unknown().optional(),
  })
  .refine((b) => b.name !== undefined || b.config !== undefined, {
    message: "Give name, config, or both",
    path: ["body"],
  });

/** Branches each type has on its way out: `null` is the one unnamed way on; `[]` none at all. */
export const BRANCHES: Record<StepType, readonly (string | null)[]> = {
  TRIGGER: [null],
  SEND_EMAIL: [null],
  DELAY: [null],
  WAIT_FOR_EVENT: ["event", "timeout"],
  CONDITION: ["yes", "no"],
  WEBHOOK: [null],
  UPDATE_CONTACT: [null],
  EXIT: [],
};

/** The branches out of a step with this config: a multi-branch CONDITION's ids and `default`. */
export function branchesOf(type: StepType, config: unknown): readonly (string | null)[] {
  if (type === "CONDITION" && isMultiCondition(config)) {
    // Read defensively: the dashboard's editor asks this of configs still being typed.
    const list: unknown[] = Array.isArray(config.branches) ? config.branches : [];
    const ids = list
      .map((b) => (typeof b === "object" && b !== null ? (b as { id?: unknown }).id : undefined))
      .filter((id): id is string => typeof id === "string" && id !== "" && id !== DEFAULT_BRANCH);
    return [...new Set(ids), DEFAULT_BRANCH];
  }
  return BRANCHES[type];
}

/** What the editor shows for a branch: a multi-branch CONDITION's branch name, else the branch. */
export function branchLabel(type: StepType, config: unknown, branch: string | null): string | null {
  if (branch === null || type !== "CONDITION" || !isMultiCondition(config) || !Array.isArray(config.branches))
    return branch;
  const name = config.branches.find((b) => b?.id === branch)?.name;
  return typeof name === "string" && name.trim() !== "" ? name : branch;
}

export const delayMs = (c: StepConfig<"DELAY">) => c.amount * DELAY_UNITS[c.unit];
