/**
 * Workflows as code: the whole workflow as one object, its steps and transitions named by the file's
 * own keys (`GET|PUT /workflows/:id/definition`, the CLI's files, the dashboard's editor). Pure zod.
 */
import { z } from "zod";
import { scheduleSpec } from "../schedule";
import { eventName } from "../track";
import { branchField, MAX_STEPS_PER_WORKFLOW, STEP_TYPES, type StepType } from "./config";
import { oneTrigger } from "./requests";

export const STEP_KEY = /^[A-Za-z0-9_-]{1,64}$/;
export const TRIGGER_KEY = "trigger";

export const definitionBody = z
  .strictObject({
    id: z
      .string()
      .regex(/^wf_[A-Za-z0-9_-]{1,64}$/, "A workflow id: wf_ and up to 64 letters, digits, _ or -"),
    name: z.string().trim().min(1).max(100),
    description: z.string().max(1000).nullish(),
    /** How the workflow starts: exactly one of `eventName` and `schedule`. */
    eventName: eventName.optional(),
    schedule: scheduleSpec.optional(),
    enabled: z.boolean().default(false),
    allowReentry: z.boolean().default(false),
    steps: z
      .record(
        z.string().regex(STEP_KEY, "Step keys are 1-64 letters, digits, _ or -"),
        z.strictObject({
          type: z.enum(STEP_TYPES.filter((t) => t !== "TRIGGER") as [StepType, ...StepType[]]),
          name: z.string().trim().min(1).max(100).optional(),
          config: z.unknown(),
        }),
      )
      .default({}),
    transitions: z
      .array(
        z.strictObject({
          from: z.string().regex(STEP_KEY),
          to: z.string().regex(STEP_KEY),
          branch: branchField,
        }),
      )
      .max(MAX_STEPS_PER_WORKFLOW * 2)
      .default([]),
  })
  .superRefine(oneTrigger);

export type WorkflowDefinition = z.output<typeof definitionBody>;
export type WorkflowDefinitionInput = z.input<typeof definitionBody>;
