/**
 * The API's answers and request bodies, typed from the worker's own zod schemas (src/domain/responses.ts,
 * src/domain/workflow/requests.ts and definition.ts, src/domain/track.ts): never a copy typed by hand.
 */
import type { z } from "zod";
import type { SegmentCondition } from "../../../src/domain/segments";
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

/**
 * A segment as `GET /segments/:id` answers it (hand-typed like Segment: src/routes/segments.ts's showSegment).
 * `condition` is either form the API takes (`{logic, groups}` or the older `{match, filters}`), null for
 * a static segment.
 */
export interface SegmentDetail extends Segment {
  type: "DYNAMIC" | "STATIC";
  description: string | null;
  condition: SegmentCondition | null;
  backfill: "BACKFILLING" | "READY";
  createdAt: string;
  updatedAt: string;
}
export type { SegmentCondition };

/** `POST /segments/count`: how many of the first `scanned` contacts match; `complete` when that was all. */
export interface SegmentCount {
  count: number;
  scanned: number;
  complete: boolean;
}

/** `POST /segments` and `PATCH /segments/:id` (the condition as the builder writes it, checked by the API). */
export interface SegmentBody {
  name?: string;
  description?: string | null;
  type?: "DYNAMIC" | "STATIC";
  condition?: unknown;
}

/** `POST /segments/:id/members` (`added`) and `/members/remove` (`removed`). */
export interface MembersAnswer {
  added?: number;
  removed?: number;
  unchanged: number;
  notFound: string[];
}

/** `GET /project`: only the fields the dashboard reads (no response schema in src/domain/responses.ts). */
export interface ProjectSettings {
  id: string;
  name: string;
  /** The IANA time zone schedule triggers are read in ("UTC" unless changed). */
  timeZone: string;
}

/** An execution an event started or resumed, as `GET /contacts/:id/events` links it. */
export interface ExecutionLink {
  id: string;
  workflowId: string;
  status: string;
}

/**
 * One event of a contact's timeline (`GET /contacts/:id/events`; the worker has no response schema for it
 * in src/domain/responses.ts): the event and the executions it started or resumed.
 */
export interface ContactEvent {
  id: string;
  name: string;
  data: Record<string, unknown>;
  contactId: string;
  createdAt: string | null;
  executions: { started: ExecutionLink[]; resumed: ExecutionLink[] };
}

/** `PATCH /contacts/:id`'s body. */
export interface PatchContactBody {
  email?: string;
  subscribed?: boolean;
  data?: Record<string, unknown>;
}
