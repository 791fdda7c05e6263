/**
 * Query keys and fetchers by resource, shared by the pages so that a mutation invalidates every view of
 * what it changed. Lists poll only while something in them is active.
 */
import { queryOptions } from "@tanstack/react-query";
import { get } from "./client";
import type {
  Analytics,
  Campaign,
  Contact,
  ContactEvent,
  Delivery,
  Email,
  Execution,
  ExecutionDetail,
  Page,
  ProjectSettings,
  Segment,
  SegmentDetail,
  Session,
  Template,
  Workflow,
  WorkflowDetail,
  WorkflowStats,
} from "./types";

export const POLL_MS = 2_000;

export const keys = {
  session: ["session"] as const,
  workflows: ["workflows"] as const,
  workflow: (id: string) => ["workflows", id] as const,
  stats: (id: string) => ["workflows", id, "stats"] as const,
  executions: (id: string, q: { status?: string; cursor?: string } = {}) =>
    ["workflows", id, "executions", q] as const,
  execution: (wid: string, eid: string) => ["workflows", wid, "executions", "one", eid] as const,
  templates: ["templates"] as const,
  deliveries: (q: Record<string, string | undefined> = {}) => ["deliveries", q] as const,
  delivery: (id: string) => ["deliveries", "one", id] as const,
  emails: (q: Record<string, string | undefined> = {}) => ["emails", q] as const,
  contact: (id: string) => ["contacts", id] as const,
  contacts: (q: Record<string, string | undefined> = {}) => ["contacts", "list", q] as const,
  contactEvents: (id: string, q: { cursor?: string; limit?: number } = {}) =>
    ["contacts", id, "events", q] as const,
  email: (id: string) => ["emails", "one", id] as const,
  fields: (events: string[]) => ["fields", events] as const,
  segments: ["segments"] as const,
  segmentList: (cursor?: string) => ["segments", "list", { cursor: cursor ?? "" }] as const,
  segment: (id: string) => ["segments", "one", id] as const,
  segmentMembers: (id: string, cursor?: string) => ["segments", "one", id, "members", cursor ?? ""] as const,
  analytics: (from: string, to: string) => ["analytics", { from, to }] as const,
  project: ["project"] as const,
  template: (id: string) => ["templates", "one", id] as const,
  templateList: (cursor?: string) => ["templates", "list", { cursor: cursor ?? "" }] as const,
  campaigns: ["campaigns"] as const,
  campaign: (id: string) => ["campaigns", "one", id] as const,
  campaignList: (cursor?: string) => ["campaigns", "list", { cursor: cursor ?? "" }] as const,
};

/** RUNNING or WAITING: the execution may still move, so its views poll. */
export const isActive = (status: string) => status === "RUNNING" || status === "WAITING";

export const sessionQuery = queryOptions({
  queryKey: keys.session,
  queryFn: () => get<Session>("/session"),
  staleTime: 60_000,
});

export const workflowsQuery = (cursor?: string, limit = 50) =>
  queryOptions({
    queryKey: [...keys.workflows, "list", { cursor: cursor ?? "", limit }],
    queryFn: () => get<Page<Workflow>>("/workflows", { limit, cursor }),
    // The active counts change as executions run and end.
    refetchInterval: (q) => (q.state.data?.data.some((w) => w.activeExecutions > 0) ? POLL_MS : false),
  });

export const workflowQuery = (id: string) =>
  queryOptions({
    queryKey: keys.workflow(id),
    queryFn: () => get<WorkflowDetail>(`/workflows/${id}`),
    // The lock and the counts change as executions run.
    refetchInterval: (q) => ((q.state.data?.activeExecutions ?? 0) > 0 ? POLL_MS : false),
  });

/** Fields seen in the project's data (GET /workflows/fields): contact fields, and these events' fields. */
export const fieldsQuery = (events: string[]) =>
  queryOptions({
    queryKey: keys.fields(events),
    queryFn: () =>
      get<{ contact: { field: string }[]; events: Record<string, { field: string }[]> }>(
        `/workflows/fields${events.length ? `?event=${encodeURIComponent(events.join(","))}` : ""}`,
      ),
    staleTime: 60_000,
  });

export const statsQuery = (id: string) =>
  queryOptions({
    queryKey: keys.stats(id),
    queryFn: () => get<WorkflowStats>(`/workflows/${id}/stats`),
    refetchInterval: (q) => (q.state.data?.steps.some((s) => s.active > 0) ? POLL_MS : false),
  });

export const executionsQuery = (id: string, q: { status?: string; cursor?: string } = {}) =>
  queryOptions({
    queryKey: keys.executions(id, q),
    queryFn: () => get<Page<Execution>>(`/workflows/${id}/executions`, { limit: 20, ...q }),
    refetchInterval: (query) => (query.state.data?.data.some((e) => isActive(e.status)) ? POLL_MS : false),
  });

export const executionQuery = (wid: string, eid: string) =>
  queryOptions({
    queryKey: keys.execution(wid, eid),
    queryFn: () => get<ExecutionDetail>(`/workflows/${wid}/executions/${eid}`),
    refetchInterval: (q) => (q.state.data && isActive(q.state.data.status) ? POLL_MS : false),
  });

export const templatesQuery = queryOptions({
  queryKey: keys.templates,
  queryFn: () => get<Page<Template>>("/templates", { limit: 100 }),
});

export const deliveriesQuery = (q: Record<string, string | undefined> = {}) =>
  queryOptions({
    queryKey: keys.deliveries(q),
    queryFn: () => get<Page<Delivery>>("/webhook-deliveries", { limit: 20, ...q }),
    refetchInterval: (query) =>
      query.state.data?.data.some((d) => d.status === "PENDING") ? POLL_MS : false,
  });

export const deliveryQuery = (id: string) =>
  queryOptions({
    queryKey: keys.delivery(id),
    queryFn: () => get<Delivery>(`/webhook-deliveries/${id}`),
    refetchInterval: (q) => (q.state.data?.status === "PENDING" ? POLL_MS : false),
  });

export const emailsQuery = (q: Record<string, string | undefined> = {}) =>
  queryOptions({
    queryKey: keys.emails(q),
    queryFn: () => get<Page<Email>>("/emails", { limit: 50, ...q }),
  });

export const contactQuery = (id: string) =>
  queryOptions({
    queryKey: keys.contact(id),
    queryFn: () => get<Contact>(`/contacts/${id}`),
    staleTime: 60_000,
  });

/** The project's segments (the first 100, newest first): what a schedule may run for. */
export const segmentsQuery = queryOptions({
  queryKey: keys.segments,
  queryFn: () => get<Page<Segment>>("/segments", { limit: 100 }),
  staleTime: 60_000,
});

/** A page of the segments list (newest first), polled while one of them is still filling. */
export const segmentListQuery = (cursor?: string) =>
  queryOptions({
    queryKey: keys.segmentList(cursor),
    queryFn: () => get<Page<SegmentDetail>>("/segments", { limit: 50, cursor }),
    refetchInterval: (q) => (q.state.data?.data.some((s) => s.backfill === "BACKFILLING") ? POLL_MS : false),
  });

/** One segment, polled while its membership fills (its count grows). */
export const segmentQuery = (id: string) =>
  queryOptions({
    queryKey: keys.segment(id),
    queryFn: () => get<SegmentDetail>(`/segments/${id}`),
    refetchInterval: (q) => (q.state.data?.backfill === "BACKFILLING" ? POLL_MS : false),
  });

/** A page of a segment's members (GET /segments/:id/contacts), newest first. */
export const segmentMembersQuery = (id: string, cursor?: string, filling = false) =>
  queryOptions({
    queryKey: keys.segmentMembers(id, cursor),
    queryFn: () => get<Page<Contact>>(`/segments/${id}/contacts`, { limit: 20, cursor }),
    refetchInterval: filling ? POLL_MS : false,
  });

/** The project's settings: its time zone, which schedules are read in. */
export const projectQuery = queryOptions({
  queryKey: keys.project,
  queryFn: () => get<ProjectSettings>("/project"),
  staleTime: 60_000,
});

/** The project's counters by UTC day, `from`…`to` (GET /analytics): they change as things happen, not by the second. */
export const analyticsQuery = (from: string, to: string) =>
  queryOptions({
    queryKey: keys.analytics(from, to),
    queryFn: () => get<Analytics>("/analytics", { from, to }),
    staleTime: 30_000,
  });

/** The project's contacts, newest first: `search` (a part of the email) and `subscribed` ("true"/"false"). */
export const contactsQuery = (q: Record<string, string | undefined> = {}) =>
  queryOptions({
    queryKey: keys.contacts(q),
    queryFn: () => get<Page<Contact>>("/contacts", { limit: 20, ...q }),
  });

/** A contact's events, newest first, each with the executions it started or resumed. */
export const contactEventsQuery = (id: string, q: { cursor?: string; limit?: number } = {}) =>
  queryOptions({
    queryKey: keys.contactEvents(id, q),
    queryFn: () => get<Page<ContactEvent>>(`/contacts/${id}/events`, { limit: 20, ...q }),
    // A run the events started may still move.
    refetchInterval: (query) =>
      query.state.data?.data.some((e) =>
        [...e.executions.started, ...e.executions.resumed].some((x) => isActive(x.status)),
      )
        ? POLL_MS
        : false,
  });

/** One email record; polled while it is on its way (QUEUED or SENDING). */
export const emailQuery = (id: string) =>
  queryOptions({
    queryKey: keys.email(id),
    queryFn: () => get<Email>(`/emails/${id}`),
    refetchInterval: (q) =>
      q.state.data?.status === "QUEUED" || q.state.data?.status === "SENDING" ? POLL_MS : false,
  });

/** A page of the templates list, newest first. */
export const templateListQuery = (cursor?: string) =>
  queryOptions({
    queryKey: keys.templateList(cursor),
    queryFn: () => get<Page<Template>>("/templates", { limit: 20, cursor }),
  });

export const templateQuery = (id: string) =>
  queryOptions({ queryKey: keys.template(id), queryFn: () => get<Template>(`/templates/${id}`) });

/** A page of the campaigns list, newest first; polled while one of them is sending. */
export const campaignListQuery = (cursor?: string) =>
  queryOptions({
    queryKey: keys.campaignList(cursor),
    queryFn: () => get<Page<Campaign>>("/campaigns", { limit: 20, cursor }),
    refetchInterval: (q) => (q.state.data?.data.some((c) => c.status === "SENDING") ? POLL_MS : false),
  });

/** One campaign: polled every 2 s while SENDING (its progress), every 30 s while SCHEDULED (the cron starts it). */
export const campaignQuery = (id: string) =>
  queryOptions({
    queryKey: keys.campaign(id),
    queryFn: () => get<Campaign>(`/campaigns/${id}`),
    refetchInterval: (q) =>
      q.state.data?.status === "SENDING" ? POLL_MS : q.state.data?.status === "SCHEDULED" ? 30_000 : false,
  });
