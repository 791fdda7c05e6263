/** Step types and their `config`, validated by type (API.md "Step types and their config"). */
import { z } from "zod";
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

export const triggerConfig = z.strictObject({ eventName });
export const sendEmailConfig = z.strictObject({
  templateId: z.string().regex(/^tpl_/, "Must be a template id"),
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
export const waitForEventConfig = z.strictObject({
  eventName,
  timeout: z.number().int().positive().max(MAX_WAIT_TIMEOUT_SECONDS).optional(),
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

export const conditionConfig = conditionSchema(
  FIELD_PATH,
  "Must be contact.email, contact.subscribed, contact.data.<key> or event.<key>",
);
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

/** A new step: its type decides its config (TRIGGER is made with the workflow, never here). */
export const newStepBody = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("SEND_EMAIL"), name: stepName, config: sendEmailConfig }),
  z.strictObject({ type: z.literal("DELAY"), name: stepName, config: delayConfig }),
  z.strictObject({ type: z.literal("WAIT_FOR_EVENT"), name: stepName, config: waitForEventConfig }),
  z.strictObject({ type: z.literal("CONDITION"), name: stepName, config: conditionConfig }),
  z.strictObject({ type: z.literal("WEBHOOK"), name: stepName, config: webhookConfig }),
  z.strictObject({ type: z.literal("UPDATE_CONTACT"), name: stepName, config: updateContactConfig }),
  z.strictObject({ type: z.literal("EXIT"), name: stepName, config: exitConfig }),
]);

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

export const delayMs = (c: StepConfig<"DELAY">) => c.amount * DELAY_UNITS[c.unit];
