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
  /** The first characters of the keys (the keys themselves are shown once, when made). */
  publicKeyPrefix: string;
  secretKeyPrefix: string;
  /** The `whsec_…` secret webhooks are signed with. */
  webhookSecret: string;
  /** Days ended executions, logs, finished deliveries, email bodies and events are kept (1–365). */
  retentionDays: number;
  createdAt: string;
}

/** `PATCH /project` (src/routes/project.ts's patchProject): one field or both. */
export interface PatchProjectBody {
  retentionDays?: number | null;
  timeZone?: string;
}

/** `POST /project/rotate-keys`: the new keys, answered this once. */
export interface RotatedKeys {
  publicKey: string;
  secretKey: string;
}

/** `POST /project/rotate-webhook-secret`: the new secret; the previous one signs beside it until then. */
export interface RotatedWebhookSecret {
  webhookSecret: string;
  previousSecretValidUntil: string;
}

/**
 * `GET /analytics?from&to` (hand-typed from src/analytics.ts's Analytics, which the dashboard cannot import:
 * that file is the worker's). Each array has one number per day of `days` (UTC, `from`…`to`).
 */
export interface Analytics {
  from: string;
  to: string;
  days: string[];
  emails: Record<"sent" | "delivered" | "opened" | "clicked" | "bounced" | "complained", number[]>;
  contacts: { subscribed: number[]; unsubscribed: number[] };
  /** Most frequent first. */
  events: { name: string; total: number; daily: number[] }[];
  executions: {
    workflowId: string;
    name: string;
    started: number[];
    ended: Record<"COMPLETED" | "EXITED" | "FAILED" | "CANCELLED", number[]>;
  }[];
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

/** `POST /templates` and `PATCH /templates/:id` (src/routes/templates.ts's createTemplate, patchTemplate). */
export interface TemplateBody {
  name?: string;
  subject?: string;
  body?: string;
  from?: string;
  fromName?: string | null;
  replyTo?: string | null;
  type?: "MARKETING" | "TRANSACTIONAL";
}

/** `POST /templates/preview`: the subject and body rendered for a contact (or an example contact). */
export interface RenderedEmail {
  subject: string;
  html: string;
}

/** `POST /templates/:id/test` and `POST /campaigns/:id/test`: the test email SES accepted. */
export interface TestSendAnswer {
  to: string;
  subject: string;
  messageId: string;
}

/** Whom a campaign is sent to (subscribed contacts only): all, a segment's members, or a condition's matches. */
export type CampaignAudience =
  | { type: "ALL" }
  | { type: "SEGMENT"; segmentId: string }
  | { type: "FILTER"; filter: SegmentCondition };

export type CampaignStatus = "DRAFT" | "SCHEDULED" | "SENDING" | "SENT" | "CANCELLED";

/** A campaign's counters, kept as things happen. */
export interface CampaignStats {
  recipients: number;
  sent: number;
  skipped: number;
  delivered: number;
  opened: number;
  clicked: number;
  bounced: number;
  complained: number;
  unsubscribed: number;
}

/** A campaign as `GET /campaigns/:id` answers it (hand-typed: src/routes/campaigns.ts's showCampaign). */
export interface Campaign {
  id: string;
  name: string;
  status: CampaignStatus;
  subject: string | null;
  body: string | null;
  templateId: string | null;
  from: string | null;
  fromName: string | null;
  replyTo: string | null;
  audience: CampaignAudience;
  scheduledAt: string | null;
  timeZone: string | null;
  stats: CampaignStats;
  /** Whether every recipient's email is made (then `stats.recipients` is the whole audience). */
  fannedOut: boolean;
  createdAt: string | null;
  updatedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** `POST /campaigns` and `PATCH /campaigns/:id` (null clears a field). */
export interface CampaignBody {
  name?: string;
  subject?: string | null;
  body?: string | null;
  templateId?: string | null;
  from?: string | null;
  fromName?: string | null;
  replyTo?: string | null;
  audience?: CampaignAudience;
}

/** `POST /campaigns/count`: the subscribed contacts an audience holds now (`complete` false past 10,000 for a filter). */
export interface AudienceCount {
  count: number;
  complete: boolean;
}
