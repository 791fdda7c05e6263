/**
 * The shapes of the API's answers (API.md "Resource shapes"), as zod schemas. The routes' `show*`
 * functions are typed by them, the OpenAPI document describes its answers with them, and the dashboard
 * takes its types from them (`z.output<typeof …>`): one definition, no copies typed by hand.
 * Pure zod: nothing here may import the worker's runtime (the dashboard compiles it for the browser).
 */
import { z } from "zod";
import { STEP_TYPES } from "./workflow/config";

const time = z.string().describe("ISO-8601 UTC");
const json = z.record(z.string(), z.unknown());

export const EXECUTION_STATUSES = [
  "RUNNING",
  "WAITING",
  "COMPLETED",
  "EXITED",
  "FAILED",
  "CANCELLED",
] as const;
export const ACTIVE_STATUSES = ["RUNNING", "WAITING"] as const;
export const DELIVERY_STATUSES = ["PENDING", "DELIVERED", "FAILED"] as const;

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), cursor: z.string().nullable(), hasMore: z.boolean() });

export const workflowResponse = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  /** The trigger event; null for a workflow started by its `schedule`. */
  eventName: z.string().nullable(),
  /** A schedule trigger (API.md "Schedules"); null for an event trigger. */
  schedule: z
    .object({
      cron: z.string(),
      segmentId: z.string().nullable(),
      /** Null while the workflow is disabled. */
      nextRunAt: time.nullable(),
    })
    .nullable(),
  enabled: z.boolean(),
  allowReentry: z.boolean(),
  /** RUNNING or WAITING executions now: while above 0, steps and transitions are locked. */
  activeExecutions: z.number().int(),
  createdAt: time.nullable(),
  updatedAt: time.nullable(),
});

export const stepResponse = z.object({
  id: z.string(),
  /** The step's key in workflows as code (`GET|PUT /workflows/:id/definition`); null if made by `POST …/steps`. */
  key: z.string().nullable(),
  type: z.enum(STEP_TYPES),
  name: z.string(),
  config: z.unknown(),
});

export const transitionResponse = z.object({
  id: z.string(),
  fromStepId: z.string(),
  toStepId: z.string(),
  branch: z.string().nullable(),
});

export const workflowDetailResponse = workflowResponse.extend({
  steps: z.array(stepResponse),
  transitions: z.array(transitionResponse),
});

export const executionResponse = z.object({
  id: z.string(),
  workflowId: z.string(),
  /** Null for a schedule's run with no contact. */
  contactId: z.string().nullable(),
  status: z.enum(EXECUTION_STATUSES),
  currentStepId: z.string().nullable(),
  exitReason: z.string().nullable(),
  context: json,
  startedAt: time.nullable(),
  completedAt: time.nullable(),
});

export const stepLogEntryResponse = z.object({
  id: z.string(),
  stepId: z.string(),
  status: z.string(),
  startedAt: time.nullable(),
  finishedAt: time.nullable(),
  output: z.unknown(),
  error: z.string().nullable(),
});

export const executionDetailResponse = executionResponse.extend({ steps: z.array(stepLogEntryResponse) });

/** `GET /workflows/:id/stats`: per step, executions at it now and its visits in the window. */
export const stepStatsResponse = z.object({
  stepId: z.string(),
  /** Executions RUNNING or WAITING at this step now. */
  active: z.number().int(),
  /** Visits of this step that began in the window (an execution reached it), whatever came of them. */
  passed: z.number().int(),
  /** Of those, visits that finished successfully (the execution went on, or ended there). */
  completed: z.number().int(),
  /** Of those, visits that failed (the execution ended FAILED at this step). */
  failed: z.number().int(),
});

export const workflowStatsResponse = z.object({
  workflowId: z.string(),
  since: time,
  until: time,
  steps: z.array(stepStatsResponse),
});

export const attemptResponse = z.object({
  at: z.string(),
  statusCode: z.number().int().nullable(),
  durationMs: z.number(),
  error: z.string().nullable(),
  responseSnippet: z.string().nullable(),
  /** 0 for the step's own attempts, n for those of the n-th replay. */
  generation: z.number().int(),
  /** On a failed attempt that will be tried again: when the next attempt is due. */
  nextAttemptAt: time.optional(),
});

export const deliveryResponse = z.object({
  id: z.string(),
  workflowId: z.string(),
  executionId: z.string(),
  stepId: z.string(),
  url: z.string(),
  method: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  attemptCount: z.number().int(),
  /** While PENDING after a failed attempt: when the next attempt is due (null before the first). */
  nextAttemptAt: time.nullable(),
  replays: z.number().int(),
  createdAt: time.nullable(),
  updatedAt: time.nullable(),
  attempts: z.array(attemptResponse).optional(),
});

export const emailResponse = z.object({
  id: z.string(),
  contactId: z.string(),
  to: z.string(),
  templateId: z.string().nullable(),
  workflowExecutionId: z.string().nullable(),
  /** The workflow of that execution (null once retention has deleted the execution). */
  workflowId: z.string().nullable(),
  campaignId: z.string().nullable(),
  sourceType: z.string(),
  type: z.string(),
  status: z.string(),
  subject: z.string().nullable(),
  messageId: z.string().nullable(),
  opens: z.number().int(),
  clicks: z.number().int(),
  error: z.string().nullable(),
  createdAt: time.nullable(),
  sentAt: time.nullable(),
  deliveredAt: time.nullable(),
  openedAt: time.nullable(),
  clickedAt: time.nullable(),
  bouncedAt: time.nullable(),
  complainedAt: time.nullable(),
});

export const templateResponse = z.object({
  id: z.string(),
  name: z.string(),
  subject: z.string(),
  body: z.string(),
  from: z.string().nullable(),
  fromName: z.string().nullable(),
  replyTo: z.string().nullable(),
  type: z.string(),
  createdAt: time.nullable(),
  updatedAt: time.nullable(),
});

export const contactResponse = z.object({
  id: z.string(),
  email: z.string(),
  subscribed: z.boolean(),
  data: json,
  createdAt: time.nullable(),
  updatedAt: time.nullable(),
});

/** `POST /workflows/:id/executions/cancel-all`. */
export const cancelAllResponse = z.object({ cancelled: z.number().int() });

/** `POST /v1/track` (Plunk's shape). */
export const trackResponse = z.object({
  success: z.literal(true),
  data: z.object({ contact: z.string(), event: z.string(), timestamp: time }),
});

/** `GET|POST /session`: the dashboard's signed-in project. */
export const sessionResponse = z.object({
  project: z.object({ id: z.string(), name: z.string() }),
  expiresAt: time,
});

export const errorResponse = z.object({
  success: z.literal(false),
  error: z.object({
    code: z.string(),
    message: z.string(),
    statusCode: z.number().int(),
    requestId: z.string(),
    errors: z.array(z.object({ field: z.string(), message: z.string(), code: z.string() })).optional(),
  }),
  timestamp: z.string(),
});

export type WorkflowOut = z.output<typeof workflowResponse>;
export type StepOut = z.output<typeof stepResponse>;
export type TransitionOut = z.output<typeof transitionResponse>;
export type WorkflowDetailOut = z.output<typeof workflowDetailResponse>;
export type ExecutionOut = z.output<typeof executionResponse>;
export type ExecutionDetailOut = z.output<typeof executionDetailResponse>;
export type StepLogEntryOut = z.output<typeof stepLogEntryResponse>;
export type WorkflowStatsOut = z.output<typeof workflowStatsResponse>;
export type DeliveryOut = z.output<typeof deliveryResponse>;
export type EmailOut = z.output<typeof emailResponse>;
export type TemplateOut = z.output<typeof templateResponse>;
export type ContactOut = z.output<typeof contactResponse>;
export type SessionOut = z.output<typeof sessionResponse>;
export type CancelAllOut = z.output<typeof cancelAllResponse>;
export type TrackOut = z.output<typeof trackResponse>;
export type ErrorOut = z.output<typeof errorResponse>;
export type PageOut<T> = { data: T[]; cursor: string | null; hasMore: boolean };

/** `POST /contacts/import`'s report. */
export const importReportResponse = z.object({
  rows: z.number().int().describe("Rows read after the header (blank lines not counted)"),
  created: z.number().int(),
  updated: z.number().int(),
  unchanged: z
    .number()
    .int()
    .describe("Rows of existing contacts whose status and data they leave as they are"),
  refusedCount: z.number().int(),
  refused: z
    .array(z.object({ line: z.number().int(), email: z.string().optional(), reason: z.string() }))
    .describe("The first 100 refused rows: the line each starts on, its email if it had one, and why"),
});

/** `POST /contacts/bulk`'s answer. */
/** A bulk change by segment or filter (`POST /contacts/bulk` answers 202 with it; `GET /contacts/bulk/:id`). */
export const bulkJobResponse = z.object({
  id: z.string(),
  action: z.enum(["subscribe", "unsubscribe", "delete"]),
  segmentId: z.string().nullable(),
  filter: z.unknown().nullable(),
  status: z.enum(["RUNNING", "DONE"]),
  matched: z.number().int().describe("Contacts chosen so far"),
  changed: z.number().int().describe("Of those, contacts whose status changed, or that were deleted"),
  createdAt: time,
  finishedAt: time.nullable(),
});

export const bulkResponse = z.object({
  action: z.enum(["subscribe", "unsubscribe", "delete"]),
  requested: z.number().int().describe("Distinct ids given"),
  matched: z.number().int().describe("Of those, contacts of this project"),
  changed: z.number().int().describe("Contacts whose status changed, or that were deleted"),
});
