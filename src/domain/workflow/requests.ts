/**
 * The bodies of the workflow routes' requests (API.md "Workflows"), as zod schemas: what the routes
 * validate with, what the OpenAPI document shows, and what the dashboard types its requests by. Pure zod.
 */
import { z } from "zod";
import { scheduleSpec } from "../schedule";
import { emailField, eventName } from "../track";
import { branchField } from "./config";

/** Exactly one of `eventName` and `schedule`: how a workflow starts. */
export const oneTrigger = (b: { eventName?: string; schedule?: unknown }, ctx: z.RefinementCtx) => {
  if ((b.eventName === undefined) === (b.schedule === undefined))
    ctx.addIssue({
      code: "custom",
      path: ["eventName"],
      message:
        b.eventName === undefined
          ? "Give eventName (start on an event) or schedule (start on a cron schedule)"
          : "Give eventName or schedule, not both",
    });
};

export const createWorkflow = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    eventName: eventName.optional(),
    schedule: scheduleSpec.optional(),
    description: z.string().max(1000).nullish(),
    enabled: z.boolean().default(false),
    allowReentry: z.boolean().default(false),
  })
  .superRefine(oneTrigger);

export const patchWorkflow = z
  .strictObject({
    name: z.string().trim().min(1).max(100).optional(),
    description: z.string().max(1000).nullish(),
    enabled: z.boolean().optional(),
    allowReentry: z.boolean().optional(),
    eventName: z
      .never({ error: "The trigger event is permanent: create a new workflow for another" })
      .optional(),
    /** A schedule workflow's new schedule (an event workflow's trigger is permanent). */
    schedule: scheduleSpec.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: "Give at least one field", path: ["body"] });

/**
 * How `DELETE /workflows/:id/steps/:stepId` deletes: `detach` the step and its transitions (what is below
 * stays, unconnected), `splice` it out (its parents lead on to its one child), or `cascade` (it and the
 * steps below it that nothing else leads to).
 */
export const deleteStepQuery = z.strictObject({
  mode: z.enum(["detach", "splice", "cascade"]).default("detach"),
});

/** `POST /workflows/:id/duplicate`: the copy's name (the original's with " (copy)" when left out). */
export const duplicateWorkflow = z.strictObject({
  name: z.string().trim().min(1).max(100).optional(),
});

export const createTransition = z.strictObject({
  fromStepId: z.string().min(1).max(100),
  toStepId: z.string().min(1).max(100),
  branch: branchField,
});

export const startBody = z
  .strictObject({
    email: emailField.optional(),
    contactId: z.string().min(1).max(100).optional(),
    context: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((b) => (b.email === undefined) !== (b.contactId === undefined), {
    message: "Give either email or contactId",
    path: ["email"],
  });

/** `GET /workflows/fields`: more event names whose data fields to give (comma-separated), beside the triggers. */
export const workflowFieldsQuery = z.strictObject({
  event: z
    .string()
    .max(2000)
    .transform((s) =>
      s
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().max(100)).max(20))
    .optional(),
});
