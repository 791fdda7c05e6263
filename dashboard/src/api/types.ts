/**
 * The API's answers and request bodies, typed from the worker's own zod schemas (src/domain/responses.ts,
 * src/domain/workflow/requests.ts and definition.ts, src/domain/track.ts): never a copy typed by hand.
 */
import type { z } from "zod";
import type { trackBody } from "../../../src/domain/track";
import type { StepConfig, StepType } from "../../../src/domain/workflow/config";
import type { WorkflowDefinitionInput } from "../../../src/domain/workflow/definition";
import type { createWorkflow, patchWorkflow, startBody } from "../../../src/domain/workflow/requests";

export type {
  CancelAllOut as CancelAll,
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
  TrackOut as TrackAnswer,
  TransitionOut as Transition,
  WorkflowDetailOut as WorkflowDetail,
  WorkflowOut as Workflow,
  WorkflowStatsOut as WorkflowStats,
} from "../../../src/domain/responses";
export type { StepConfig, StepType, WorkflowDefinitionInput };

export type CreateWorkflowBody = z.input<typeof createWorkflow>;
export type PatchWorkflowBody = z.input<typeof patchWorkflow>;
export type StartExecutionBody = z.input<typeof startBody>;
export type TrackBody = z.input<typeof trackBody>;

/**
 * A segment as `GET /segments` lists it: only the fields the dashboard reads (the worker has no response
 * schema for segments in src/domain/responses.ts yet).
 */
export interface Segment {
  id: string;
  name: string;
  slug: string;
  memberCount: number;
}

/** `GET /project`: only the fields the dashboard reads (no response schema in src/domain/responses.ts). */
export interface ProjectSettings {
  id: string;
  name: string;
  /** The IANA time zone schedule triggers are read in ("UTC" unless changed). */
  timeZone: string;
}
