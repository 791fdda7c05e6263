/** Email records (API.md "Emails"): status, SES message id, counters and timestamps. */
import { and, eq, type SQL } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { type EmailRow, emails } from "../db/schema";
import type { EmailOut } from "../domain/responses";
import { iso } from "../domain/shapes";
import type { Env } from "../env";
import { projectAuth } from "../http/auth";
import { parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { notFound } from "../http/errors";
import { afterCursor, listQuery, newestFirst, toPage } from "../http/pagination";

export const EMAIL_STATUSES = [
  "QUEUED",
  "SENDING",
  "SENT",
  "DELIVERED",
  "BOUNCED",
  "COMPLAINED",
  "NOT_SENT",
  "FAILED",
] as const;

export const listEmails = listQuery.extend({
  contactId: z.string().max(100).optional(),
  /** The emails one workflow execution made. */
  executionId: z.string().max(100).optional(),
  /** The emails one campaign sent. */
  campaignId: z.string().max(100).optional(),
  status: z.enum(EMAIL_STATUSES).optional(),
});

/**
 * The workflow of each email's execution (by the executions' key; on the shard engine, by the page its id
 * names), for the execution page's address.
 */
async function workflowsOf(env: Env, rows: EmailRow[]): Promise<Map<string, string>> {
  const ids = [...new Set(rows.flatMap((r) => (r.workflowExecutionId ? [r.workflowExecutionId] : [])))];
  if (ids.length === 0) return new Map();
  const { results } = await env.DB.prepare(
    `SELECT id, workflow_id FROM executions WHERE id IN (SELECT value FROM json_each(?1))
     UNION ALL
     SELECT m.value, p.workflow_id FROM json_each(?1) AS m CROSS JOIN pages p ON p.id = substr(m.value, 5, 21)
     WHERE substr(m.value, 1, 4) = 'xpg_'`,
  )
    .bind(JSON.stringify(ids))
    .all<{ id: string; workflow_id: string }>();
  return new Map(results.map((r) => [r.id, r.workflow_id]));
}

export const showEmail = (e: EmailRow, workflows: Map<string, string> = new Map()): EmailOut => ({
  id: e.id,
  contactId: e.contactId,
  to: e.toEmail,
  templateId: e.templateId,
  workflowExecutionId: e.workflowExecutionId,
  workflowId: e.workflowExecutionId ? (workflows.get(e.workflowExecutionId) ?? null) : null,
  campaignId: e.campaignId,
  sourceType: e.sourceType,
  type: e.type,
  status: e.status,
  subject: e.subject,
  messageId: e.messageId,
  opens: e.opens,
  clicks: e.clicks,
  error: e.error,
  createdAt: iso(e.createdAt),
  sentAt: iso(e.sentAt),
  deliveredAt: iso(e.deliveredAt),
  openedAt: iso(e.openedAt),
  clickedAt: iso(e.clickedAt),
  bouncedAt: iso(e.bouncedAt),
  complainedAt: iso(e.complainedAt),
});

export const emailRoutes = new Hono<AppEnv>()
  .use(projectAuth())
  .get("/", async (c) => {
    const q = parseQuery(c, listEmails);
    const filters: (SQL | undefined)[] = [
      eq(emails.projectId, c.get("project").id),
      afterCursor(emails.createdAt, emails.id, q.cursor),
    ];
    if (q.contactId) filters.push(eq(emails.contactId, q.contactId));
    if (q.executionId) filters.push(eq(emails.workflowExecutionId, q.executionId));
    if (q.campaignId) filters.push(eq(emails.campaignId, q.campaignId));
    if (q.status) filters.push(eq(emails.status, q.status));
    const rows = await db(c.env)
      .select()
      .from(emails)
      .where(and(...filters))
      .orderBy(...newestFirst(emails.createdAt, emails.id))
      .limit(q.limit + 1);
    const workflows = await workflowsOf(c.env, rows.slice(0, q.limit));
    return c.json(
      toPage(
        rows,
        q.limit,
        (r) => r.createdAt,
        (r) => showEmail(r, workflows),
      ),
    );
  })
  .get("/:id", async (c) => {
    const [row] = await db(c.env)
      .select()
      .from(emails)
      .where(and(eq(emails.projectId, c.get("project").id), eq(emails.id, c.req.param("id"))));
    if (!row) throw notFound("Email", "EMAIL_NOT_FOUND");
    return c.json(showEmail(row, await workflowsOf(c.env, [row])));
  });
