/**
 * The one definition of the D1 tables. `npm run db:generate` (drizzle-kit) writes migrations/ from it.
 * Times are integer milliseconds since the epoch; the API shows them as ISO-8601 strings.
 * JSON columns hold text; every query names its project id (project isolation).
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const projects = sqliteTable(
  "projects",
  {
    id: text("id").primaryKey(),
    /** The D1 binding that holds the project's data (src/db/databases.ts); chosen at creation, never changed. */
    database: text("database").notNull().default("DB"),
    name: text("name").notNull(),
    publicKeyHash: text("public_key_hash").notNull().unique(),
    secretKeyHash: text("secret_key_hash").notNull().unique(),
    publicKeyPrefix: text("public_key_prefix").notNull(),
    secretKeyPrefix: text("secret_key_prefix").notNull(),
    webhookSecret: text("webhook_secret").notNull(),
    /** During a rotation the old secret signs beside the new one until this time. */
    previousWebhookSecret: text("previous_webhook_secret"),
    previousWebhookSecretUntil: integer("previous_webhook_secret_until"),
    /** Signs unsubscribe links (never shown, never rotated: old links keep working). */
    signingSecret: text("signing_secret"),
    /** Ended executions, their logs, finished deliveries, email bodies and events older than this go (src/retention.ts). */
    retentionDays: integer("retention_days").notNull().default(30),
    /** The IANA time zone schedule triggers are read in (src/domain/schedule.ts). */
    timeZone: text("time_zone").notNull().default("UTC"),
    /** Where its executions run: 'objects' (one Execution DO each) or 'shard' (pages, docs/engine.md). */
    engine: text("engine").notNull().default("objects"),
    /** On the shard engine: how many shards (src/shard/routing.ts); 4 for rows made before migration 0019. */
    shards: integer("shards").notNull().default(4),
    /** Moved on by triggers at every change of the project's workflows, steps or transitions (0018). */
    workflowsVersion: integer("workflows_version").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  // The projects of one database (the registry holds every project's row): the events' rollup reads them.
  (t) => [index("projects_database").on(t.database)],
);

/**
 * The small-rowed tables the hot path inserts into (contacts, events, enrollments, waits, step_counts) are
 * WITHOUT ROWID (migrations 0010, 0011; drizzle cannot say so): a rowid table with a text primary key writes
 * its row and a primary-key index entry, one D1 row more per insert. Not executions or webhook_deliveries:
 * a WITHOUT ROWID row over about 1 KB takes an overflow page of its own (4 KB), and theirs often are.
 *
 * Contacts are keyed by (project, id), which is also their list order: ids are time-ordered and made when
 * the contact is (`newId`), so the newest-first list is a range of the key, with no index of its own.
 */
export const contacts = sqliteTable(
  "contacts",
  {
    id: text("id").notNull(),
    projectId: text("project_id").notNull(),
    /** Trimmed and lower-cased. */
    email: text("email").notNull(),
    subscribed: integer("subscribed", { mode: "boolean" }).notNull(),
    data: text("data").notNull().default("{}"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.projectId, t.id] }),
    uniqueIndex("contacts_project_email").on(t.projectId, t.email),
  ],
);

/**
 * Events are keyed by (project, id), which is also GET /events' order: every event id is time-ordered
 * (`newId`, or `timedDerivedId` for ids a retry must find again), so the project's recent events are a
 * range of the key, with no index of their own.
 */
export const events = sqliteTable(
  "events",
  {
    id: text("id").notNull(),
    projectId: text("project_id").notNull(),
    contactId: text("contact_id").notNull(),
    name: text("name").notNull(),
    data: text("data").notNull().default("{}"),
    createdAt: integer("created_at").notNull(),
    /** Set once everything the event triggers has been handed on; the sweep finishes rows left null. */
    dispatchedAt: integer("dispatched_at"),
    /** In a project on the shard engine: the ids of the executions the event started (JSON array). */
    executions: text("executions"),
  },
  (t) => [
    primaryKey({ columns: [t.projectId, t.id] }),
    index("events_contact_created").on(t.projectId, t.contactId, t.createdAt, t.id),
    index("events_undispatched").on(t.createdAt).where(sql`dispatched_at IS NULL`),
  ],
);

export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    projectId: text("project_id").notNull(),
    route: text("route").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    statusCode: integer("status_code").notNull(),
    responseBody: text("response_body").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.projectId, t.route, t.key] }),
    index("idempotency_created").on(t.createdAt),
  ],
);

export type Project = typeof projects.$inferSelect;
export type Contact = typeof contacts.$inferSelect;
export type EventRow = typeof events.$inferSelect;

export const workflows = sqliteTable(
  "workflows",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    name: text("name").notNull(),
    description: text("description"),
    /** Permanent: the trigger event is never changed. '' for a workflow started by its schedule. */
    eventName: text("event_name").notNull(),
    /** A schedule trigger's `{cron, segmentId}` (JSON), or null for an event trigger. */
    schedule: text("schedule"),
    /** When an enabled schedule runs next (the cron's due read); null when disabled or not a schedule. */
    nextRunAt: integer("next_run_at"),
    enabled: integer("enabled", { mode: "boolean" }).notNull(),
    allowReentry: integer("allow_reentry", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("workflows_project_created").on(t.projectId, t.createdAt, t.id),
    index("workflows_trigger").on(t.projectId, t.eventName, t.enabled),
    index("workflows_due").on(t.nextRunAt).where(sql`next_run_at IS NOT NULL`),
  ],
);

export const workflowSteps = sqliteTable(
  "workflow_steps",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    workflowId: text("workflow_id").notNull(),
    type: text("type").notNull(),
    name: text("name").notNull(),
    config: text("config").notNull(),
    /** The step's name in a workflow file (PUT /workflows/:id/definition); null for steps made one by one. */
    key: text("key"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("steps_workflow").on(t.workflowId, t.createdAt)],
);

export const workflowTransitions = sqliteTable(
  "workflow_transitions",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    workflowId: text("workflow_id").notNull(),
    fromStepId: text("from_step_id").notNull(),
    toStepId: text("to_step_id").notNull(),
    branch: text("branch"),
    /** `branch`, or '' for none: one transition per (step, branch), kept by a unique index. */
    branchKey: text("branch_key").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("transitions_workflow").on(t.workflowId),
    uniqueIndex("transitions_from_branch").on(t.fromStepId, t.branchKey),
  ],
);

/**
 * The executions of a project on the shard engine (durable-objects/shard.ts): up to 16 of one workflow to a row,
 * started by one shard from one snapshot, their states a JSON array rewritten whole (migration 0018).
 */
export const pages = sqliteTable(
  "pages",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    workflowId: text("workflow_id").notNull(),
    owner: text("owner").notNull(),
    active: integer("active").notNull(),
    snapshot: text("snapshot").notNull(),
    body: text("body").notNull(),
    /** Per-step counters by UTC day, {day: {step: [passed, completed, failed]}}: added to step_counts by retention. */
    counts: text("counts").notNull().default("{}"),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("pages_workflow").on(t.projectId, t.workflowId, t.id),
    index("pages_project").on(t.projectId, t.id),
  ],
);

/** The executions index: the Execution DO owns the state and mirrors it here for listing. */
export const executions = sqliteTable(
  "executions",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    workflowId: text("workflow_id").notNull(),
    contactId: text("contact_id").notNull(),
    triggerEventId: text("trigger_event_id"),
    status: text("status").notNull(),
    currentStepId: text("current_step_id"),
    exitReason: text("exit_reason"),
    context: text("context").notNull().default("{}"),
    /** The step log, one entry a visit of a step in order (`StepLogEntry`s), written whole by each mirror. */
    steps: text("steps").notNull().default("[]"),
    /** When WAITING with a due time: the sweep re-arms executions whose alarm this far past is lost. */
    wakeAt: integer("wake_at"),
    startedAt: integer("started_at").notNull(),
    completedAt: integer("completed_at"),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("executions_workflow_started").on(t.projectId, t.workflowId, t.startedAt, t.id),
    // The active executions of a workflow (counts, stats, cancel all): an entry made when the execution
    // starts, gone when it ends; a move between RUNNING and WAITING does not rewrite it.
    index("executions_active").on(t.workflowId).where(sql`status IN ('RUNNING', 'WAITING')`),
    index("executions_wake").on(t.wakeAt).where(sql`wake_at IS NOT NULL`),
    // A contact's executions (its page, its deletion); without status, which a status change would rewrite.
    index("executions_contact").on(t.contactId),
    // The sweep's stalled runs: a range over the RUNNING rows only (ended rows are not in it).
    index("executions_running").on(t.updatedAt).where(sql`status = 'RUNNING'`),
    // Retention: a project's ended executions by age (one entry written when an execution ends).
    index("executions_ended").on(t.projectId, t.completedAt).where(sql`completed_at IS NOT NULL`),
  ],
);

/** Re-entry in one statement: the active run of (workflow, contact), claimed by a single upsert. */
export const enrollments = sqliteTable(
  "enrollments",
  {
    workflowId: text("workflow_id").notNull(),
    contactId: text("contact_id").notNull(),
    activeExecutionId: text("active_execution_id"),
    lastExecutionId: text("last_execution_id").notNull(),
    runs: integer("runs").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.workflowId, t.contactId] })],
);

/** Executions at WAIT_FOR_EVENT, found by (project, contact, event name) when an event arrives. */
export const waits = sqliteTable(
  "waits",
  {
    executionId: text("execution_id").primaryKey(),
    projectId: text("project_id").notNull(),
    contactId: text("contact_id").notNull(),
    eventName: text("event_name").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("waits_lookup").on(t.projectId, t.contactId, t.eventName)],
);

/**
 * Per-step counts by UTC day (GET /workflows/:id/stats), kept by the executions' mirrors: one row per
 * workflow and day, `counts` = {stepId: [passed, completed, failed]}, a visit `passed` on the day a mirror
 * first writes it and `completed` or `failed` on the day one writes it ended so. A mirror derives its
 * increments from the step log the executions row held before it, so a repeated mirror adds nothing.
 */
export const stepCounts = sqliteTable(
  "step_counts",
  {
    workflowId: text("workflow_id").notNull(),
    day: integer("day").notNull(),
    counts: text("counts").notNull().default("{}"),
  },
  (t) => [primaryKey({ columns: [t.workflowId, t.day] })],
);

/** Analytics' counters (src/analytics.ts): migrations/0017_analytics.sql. */
export const statsDaily = sqliteTable(
  "stats_daily",
  {
    projectId: text("project_id").notNull(),
    /** The UTC day: ms since the epoch / 86,400,000, floored. */
    day: integer("day").notNull(),
    metric: text("metric").notNull(),
    dim: text("dim").notNull(),
    n: integer("n").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.day, t.metric, t.dim] })],
);

/** Where the events' rollup of each project has counted to (an event id). */
export const rollupCursors = sqliteTable("rollup_cursors", {
  projectId: text("project_id").primaryKey(),
  after: text("after").notNull().default(""),
});

/**
 * Dashboard sessions: the SHA-256 of the cookie's value, and the project's secret-key hash when it was
 * made. A session counts only while that hash is still the project's, so rotating the keys ends them.
 */
export const sessions = sqliteTable(
  "sessions",
  {
    idHash: text("id_hash").primaryKey(),
    projectId: text("project_id").notNull(),
    keyHash: text("key_hash").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("sessions_expires").on(t.expiresAt)],
);

/** One-time sign-in links (made by an admin, e.g. `npm start`): used once, then a session. */
export const signInLinks = sqliteTable(
  "sign_in_links",
  {
    tokenHash: text("token_hash").primaryKey(),
    projectId: text("project_id").notNull(),
    keyHash: text("key_hash").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("sign_in_links_expires").on(t.expiresAt)],
);

export type Workflow = typeof workflows.$inferSelect;
export type WorkflowStep = typeof workflowSteps.$inferSelect;
export type WorkflowTransition = typeof workflowTransitions.$inferSelect;
export type Execution = typeof executions.$inferSelect;

export const templates = sqliteTable(
  "templates",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    name: text("name").notNull(),
    subject: text("subject").notNull(),
    body: text("body").notNull(),
    from: text("from_email").notNull(),
    fromName: text("from_name"),
    replyTo: text("reply_to"),
    /** MARKETING (never to an unsubscribed contact) or TRANSACTIONAL. */
    type: text("type").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("templates_project_created").on(t.projectId, t.createdAt, t.id)],
);

/** Every email, one row per recipient, keyed by an id derived from what asked for it. */
export const emails = sqliteTable(
  "emails",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    contactId: text("contact_id").notNull(),
    templateId: text("template_id"),
    workflowExecutionId: text("workflow_execution_id"),
    /** The campaign that sent it (its subject and body are the campaign's, read when it is sent). */
    campaignId: text("campaign_id"),
    /** TRANSACTIONAL (/v1/send), WORKFLOW or CAMPAIGN. */
    sourceType: text("source_type").notNull(),
    /** MARKETING or TRANSACTIONAL: whether an unsubscribed contact may get it. */
    type: text("type").notNull(),
    /** QUEUED, SENDING, SENT, DELIVERED, BOUNCED, COMPLAINED, NOT_SENT, FAILED */
    status: text("status").notNull(),
    toEmail: text("to_email").notNull(),
    from: text("from_email"),
    fromName: text("from_name"),
    replyTo: text("reply_to"),
    subject: text("subject"),
    body: text("body"),
    headers: text("headers"),
    data: text("data"),
    messageId: text("message_id"),
    opens: integer("opens").notNull().default(0),
    clicks: integer("clicks").notNull().default(0),
    error: text("error"),
    leaseUntil: integer("lease_until"),
    sentAt: integer("sent_at"),
    deliveredAt: integer("delivered_at"),
    openedAt: integer("opened_at"),
    clickedAt: integer("clicked_at"),
    bouncedAt: integer("bounced_at"),
    complainedAt: integer("complained_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("emails_project_created").on(t.projectId, t.createdAt, t.id),
    index("emails_message").on(t.messageId),
    index("emails_execution").on(t.workflowExecutionId).where(sql`workflow_execution_id IS NOT NULL`),
    // The sweep's emails to hand over again: only those still QUEUED, and those being SENT (by lease).
    index("emails_queued").on(t.updatedAt).where(sql`status = 'QUEUED'`),
    index("emails_sending").on(t.leaseUntil).where(sql`status = 'SENDING'`),
    // Retention: emails whose content is still kept; an email leaves it when retention empties it, so the
    // cron never reads the same emptied row twice.
    index("emails_retained")
      .on(t.projectId, t.createdAt)
      .where(sql`body IS NOT NULL OR data IS NOT NULL OR headers IS NOT NULL`),
  ],
);

/** Campaigns (src/campaigns.ts): migrations/0016_campaigns.sql says what each column is for. */
export const campaigns = sqliteTable(
  "campaigns",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    name: text("name").notNull(),
    subject: text("subject"),
    body: text("body"),
    templateId: text("template_id"),
    from: text("from_email"),
    fromName: text("from_name"),
    replyTo: text("reply_to"),
    /** JSON: {type: ALL} | {type: SEGMENT, segmentId} | {type: FILTER, filter}. */
    audience: text("audience").notNull(),
    /** DRAFT, SCHEDULED, SENDING, SENT, CANCELLED */
    status: text("status").notNull(),
    scheduledAt: integer("scheduled_at"),
    timeZone: text("time_zone"),
    cursor: text("cursor").notNull().default(""),
    leaseUntil: integer("lease_until"),
    fannedOut: integer("fanned_out").notNull().default(0),
    recipients: integer("recipients").notNull().default(0),
    sent: integer("sent").notNull().default(0),
    skipped: integer("skipped").notNull().default(0),
    delivered: integer("delivered").notNull().default(0),
    opened: integer("opened").notNull().default(0),
    clicked: integer("clicked").notNull().default(0),
    bounced: integer("bounced").notNull().default(0),
    complained: integer("complained").notNull().default(0),
    unsubscribed: integer("unsubscribed").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    startedAt: integer("started_at"),
    finishedAt: integer("finished_at"),
  },
  (t) => [
    index("campaigns_project_created").on(t.projectId, t.createdAt, t.id),
    index("campaigns_due").on(t.scheduledAt).where(sql`status = 'SCHEDULED'`),
    index("campaigns_sending").on(t.updatedAt).where(sql`status = 'SENDING' AND fanned_out = 0`),
  ],
);
export type Campaign = typeof campaigns.$inferSelect;

/** Webhook deliveries: one row per (execution, step, visit), with every attempt. */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    workflowId: text("workflow_id").notNull(),
    executionId: text("execution_id").notNull(),
    stepId: text("step_id").notNull(),
    url: text("url").notNull(),
    method: text("method").notNull(),
    /** PENDING, DELIVERED, FAILED */
    status: text("status").notNull(),
    /** The queue message that asked for it: what a replay sends again. */
    message: text("message").notNull(),
    attempts: text("attempts").notNull().default("[]"),
    /** Bumped by a replay: queue messages of an older generation are stale. */
    generation: integer("generation").notNull().default(0),
    leaseUntil: integer("lease_until"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("deliveries_project_created").on(t.projectId, t.createdAt, t.id),
    index("deliveries_execution").on(t.executionId),
  ],
);

export type Template = typeof templates.$inferSelect;
export type EmailRow = typeof emails.$inferSelect;
export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;

/** SNS message ids already handled: a replayed notification changes nothing twice. */
export const snsMessages = sqliteTable(
  "sns_messages",
  {
    id: text("id").primaryKey(),
    receivedAt: integer("received_at").notNull(),
  },
  (t) => [index("sns_messages_received").on(t.receivedAt)],
);

export const segments = sqliteTable(
  "segments",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    name: text("name").notNull(),
    /** "VIP Users" → "vip-users": the events are segment.<slug>.entry / .exit. */
    slug: text("slug").notNull(),
    description: text("description"),
    /** DYNAMIC: members follow `condition`; STATIC: added and removed by email (`condition` is "null"). */
    type: text("type").notNull().default("DYNAMIC"),
    /** JSON: src/domain/segments.ts's condition, or null for a static segment. */
    condition: text("condition").notNull(),
    /** When the cron evaluates every contact again (set while the condition reads time); else null. */
    recomputeAt: integer("recompute_at"),
    /** Bumped when the condition changes: backfill messages of an older generation stop. */
    generation: integer("generation").notNull().default(0),
    /** BACKFILLING until the background fill has seen every contact, then READY. */
    backfill: text("backfill").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("segments_project_slug").on(t.projectId, t.slug),
    index("segments_project_created").on(t.projectId, t.createdAt, t.id),
    index("segments_recompute").on(t.recomputeAt).where(sql`recompute_at IS NOT NULL`),
  ],
);

export const segmentMembers = sqliteTable(
  "segment_members",
  {
    segmentId: text("segment_id").notNull(),
    contactId: text("contact_id").notNull(),
    projectId: text("project_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.segmentId, t.contactId] }),
    index("segment_members_contact").on(t.contactId),
    index("segment_members_list").on(t.segmentId, t.createdAt, t.contactId),
  ],
);

export type Segment = typeof segments.$inferSelect;

/** A bulk change of contacts by segment or filter (src/contacts/bulk.ts), paged through the segments queue. */
export const bulkJobs = sqliteTable(
  "bulk_jobs",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    action: text("action").notNull(),
    segmentId: text("segment_id"),
    /** A segment condition (JSON), when the contacts are chosen by filter. */
    filter: text("filter"),
    status: text("status").notNull(),
    /** The last contact id a page saw: the next page starts after it. */
    cursor: text("cursor").notNull().default(""),
    matched: integer("matched").notNull().default(0),
    changed: integer("changed").notNull().default(0),
    /** While a delivery works the page at `cursor`: another delivery of it leaves it alone. */
    leaseUntil: integer("lease_until"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    finishedAt: integer("finished_at"),
  },
  (t) => [
    index("bulk_jobs_project").on(t.projectId, t.createdAt),
    // The sweep's stalled jobs: a range over the running ones only.
    index("bulk_jobs_running").on(t.updatedAt).where(sql`status = 'RUNNING'`),
  ],
);

/** Where a cron pass that visits projects a few at a time stopped (retention: `name` = "retention"). */
export const sweepCursors = sqliteTable("sweep_cursors", {
  name: text("name").primaryKey(),
  cursor: text("cursor").notNull(),
  updatedAt: integer("updated_at").notNull(),
});
