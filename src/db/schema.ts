/**
 * The one definition of the D1 tables. `npm run db:generate` (drizzle-kit) writes migrations/ from it.
 * Times are integer milliseconds since the epoch; the API shows them as ISO-8601 strings.
 * JSON columns hold text; every query names its project id (project isolation).
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const projects = sqliteTable("projects", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  publicKeyHash: text("public_key_hash").notNull().unique(),
  secretKeyHash: text("secret_key_hash").notNull().unique(),
  publicKeyPrefix: text("public_key_prefix").notNull(),
  secretKeyPrefix: text("secret_key_prefix").notNull(),
  webhookSecret: text("webhook_secret").notNull(),
  /** During a rotation the old secret signs beside the new one until this time. */
  previousWebhookSecret: text("previous_webhook_secret"),
  previousWebhookSecretUntil: integer("previous_webhook_secret_until"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export const contacts = sqliteTable(
  "contacts",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    /** Trimmed and lower-cased. */
    email: text("email").notNull(),
    subscribed: integer("subscribed", { mode: "boolean" }).notNull(),
    data: text("data").notNull().default("{}"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("contacts_project_email").on(t.projectId, t.email),
    index("contacts_project_created").on(t.projectId, t.createdAt, t.id),
  ],
);

export const events = sqliteTable(
  "events",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    contactId: text("contact_id").notNull(),
    name: text("name").notNull(),
    data: text("data").notNull().default("{}"),
    createdAt: integer("created_at").notNull(),
    /** Set once everything the event triggers has been handed on; the sweep finishes rows left null. */
    dispatchedAt: integer("dispatched_at"),
  },
  (t) => [
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
