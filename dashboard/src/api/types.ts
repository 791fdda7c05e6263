/**
 * The API's answers and request bodies, typed from the worker's own zod schemas (src/domain/responses.ts
 * and the step configs of src/domain/workflow/config.ts): never a copy typed by hand.
 */
import type { z } from "zod";
import type { StepConfig, StepType } from "../../../src/domain/workflow/config";
import type { WorkflowDefinitionInput } from "../../../src/domain/workflow/definition";

export type {
  ContactOut as Contact,
  DeliveryOut as Delivery,
  EmailOut as Email,
  ErrorOut,
  ExecutionDetailOut as ExecutionDetail,
  ExecutionOut as Execution,
  PageOut as Page,
  SessionOut as Session,
  StepLogEntryOut as StepLogEntry,
  StepOut as Step,
  TemplateOut as Template,
  TransitionOut as Transition,
  WorkflowDetailOut as WorkflowDetail,
  WorkflowOut as Workflow,
  WorkflowStatsOut as WorkflowStats,
} from "../../../src/domain/responses";
export type { StepConfig, StepType, WorkflowDefinitionInput };
export type ZodInput<T extends z.ZodType> = z.input<T>;
