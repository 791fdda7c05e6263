import { and, desc, eq, lt, type SQL, sql } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { deleteContacts } from "../db/contact-bulk-sql";
import { type ContactRowRaw, mergeJsonSql, statusChangeEvent, upsertContact } from "../db/contact-sql";
import { contacts, events, executions } from "../db/schema";
import { dispatchOrDefer } from "../dispatch";
import { newId } from "../domain/ids";
import { showContact, showEvent } from "../domain/shapes";
import { emailField } from "../domain/track";
import type { Env } from "../env";
import { projectAuth } from "../http/auth";
import { parseJson, parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { conflict, notFound } from "../http/errors";
import { afterCursor, decodeCursor, listQuery, newestFirst, toPage } from "../http/pagination";
import { refreshSegments } from "../segments";
import { contactExecutions, type ExecutionLink, eventExecutionLinks } from "../shard/reads";
import { engineOf } from "../shard/routing";
import { showExecution } from "./executions";

const contactData = z.record(z.string(), z.unknown());

export const listContacts = listQuery.extend({
  subscribed: z.enum(["true", "false"]).optional(),
  search: z.string().max(254).optional(),
});

export const createContact = z.object({
  email: emailField,
  subscribed: z.boolean().optional(),
  data: contactData.optional(),
});

export const patchContact = z
  .object({ email: emailField.optional(), subscribed: z.boolean().optional(), data: contactData.optional() })
  .refine((b) => b.email !== undefined || b.subscribed !== undefined || b.data !== undefined, {
    message: "Give at least one of email, subscribed, data",
    path: ["body"],
  });

const contactNotFound = () => notFound("Contact", "CONTACT_NOT_FOUND");

/** The id, if it names a contact of the project (else 404), for the routes listing what is the contact's. */
async function projectContact(env: Env, projectId: string, contactId: string): Promise<string> {
  const [exists] = await db(env)
    .select({ id: contacts.id })
    .from(contacts)
    .where(and(eq(contacts.projectId, projectId), eq(contacts.id, contactId)));
  if (!exists) throw contactNotFound();
  return contactId;
}

const fromRaw = (r: ContactRowRaw) =>
  showContact({ ...r, createdAt: r.created_at, updatedAt: r.updated_at, subscribed: r.subscribed });

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (ch) => `\\${ch}`);

export const contactRoutes = new Hono<AppEnv>()
  .use(projectAuth())
  .get("/", async (c) => {
    const q = parseQuery(c, listContacts);
    const projectId = c.get("project").id;
    // A range of the contacts' key (project_id, id), newest first: ids are time-ordered, made with the contact.
    const after = q.cursor ? decodeCursor(q.cursor) : null;
    const filters: (SQL | undefined)[] = [
      eq(contacts.projectId, projectId),
      after ? lt(contacts.id, after.id) : undefined,
    ];
    if (q.subscribed) filters.push(eq(contacts.subscribed, q.subscribed === "true"));
    if (q.search) {
      // SQLite's LIKE has no escape character unless ESCAPE names one.
      const pattern = `%${escapeLike(q.search.toLowerCase())}%`;
      filters.push(sql`${contacts.email} LIKE ${pattern} ESCAPE '\\'`);
    }
    const rows = await db(c.env)
      .select()
      .from(contacts)
      .where(and(...filters))
      .orderBy(desc(contacts.id))
      .limit(q.limit + 1);
    return c.json(toPage(rows, q.limit, (r) => r.createdAt, showContact));
  })
  .post("/", async (c) => {
    const { data } = await parseJson(c, createContact);
    const projectId = c.get("project").id;
    const now = Date.now();
    const statusEventId = newId("evt", now);
    const subscribed = data.subscribed ?? null;
    const [status, upsert] = await c.env.DB.batch([
      statusChangeEvent(c.env, { email: data.email }, { eventId: statusEventId, projectId, subscribed, now }),
      upsertContact(c.env, {
        id: newId("ctc", now),
        projectId,
        email: data.email,
        subscribed,
        defaultSubscribed: true,
        data: data.data ?? {},
        now,
      }),
    ]);
    if (status?.meta.changes)
      await dispatchOrDefer(c.env, c.get("log"), c.get("project").id, [statusEventId]);
    const row = upsert?.results[0] as ContactRowRaw;
    await refreshSegments(c.env, c.get("log"), projectId, [row.id]);
    return c.json(fromRaw(row), row.created ? 201 : 200);
  })
  .get("/:id", async (c) => {
    const [row] = await db(c.env)
      .select()
      .from(contacts)
      .where(and(eq(contacts.projectId, c.get("project").id), eq(contacts.id, c.req.param("id"))));
    if (!row) throw contactNotFound();
    return c.json(showContact(row));
  })
  .patch("/:id", async (c) => {
    const { data } = await parseJson(c, patchContact);
    const projectId = c.get("project").id;
    const contactId = c.req.param("id");
    const now = Date.now();
    const statusEventId = newId("evt", now);
    const subscribed = data.subscribed === undefined ? null : data.subscribed ? 1 : 0;
    let results: D1Result[];
    try {
      results = await c.env.DB.batch([
        statusChangeEvent(
          c.env,
          { contactId },
          { eventId: statusEventId, projectId, subscribed: data.subscribed ?? null, now },
        ),
        c.env.DB.prepare(
          `UPDATE contacts SET email = coalesce(?1, email), subscribed = coalesce(?2, subscribed),
             data = ${mergeJsonSql("data", "?3")}, updated_at = ?4
           WHERE project_id = ?5 AND id = ?6
           RETURNING id, email, subscribed, data, created_at, updated_at`,
        ).bind(data.email ?? null, subscribed, JSON.stringify(data.data ?? {}), now, projectId, contactId),
      ]);
    } catch (err) {
      if (err instanceof Error && /UNIQUE constraint failed: contacts/.test(err.message)) {
        throw conflict("Another contact of this project has this email");
      }
      throw err;
    }
    const row = results[1]?.results[0] as ContactRowRaw | undefined;
    if (!row) throw contactNotFound();
    if (results[0]?.meta.changes)
      await dispatchOrDefer(c.env, c.get("log"), c.get("project").id, [statusEventId]);
    await refreshSegments(c.env, c.get("log"), projectId, [row.id]);
    return c.json(fromRaw(row));
  })
  .delete("/:id", async (c) => {
    const deleted = await deleteContacts(c.env, c.get("project").id, [c.req.param("id")]);
    if (deleted.length === 0) throw contactNotFound();
    return c.body(null, 204);
  })
  // The contact's executions across workflows, newest first (by executions_contact: the contact's own).
  .get("/:id/executions", async (c) => {
    const q = parseQuery(c, listQuery);
    const projectId = c.get("project").id;
    const contactId = await projectContact(c.env, projectId, c.req.param("id"));
    if ((await engineOf(c.env, projectId)) === "shard")
      return c.json(await contactExecutions(c.env, projectId, contactId, q));
    const d = db(c.env);
    const rows = await d
      .select()
      .from(executions)
      .where(
        and(
          eq(executions.contactId, contactId),
          eq(executions.projectId, projectId),
          afterCursor(executions.startedAt, executions.id, q.cursor),
        ),
      )
      .orderBy(...newestFirst(executions.startedAt, executions.id))
      .limit(q.limit + 1);
    return c.json(toPage(rows, q.limit, (r) => r.startedAt, showExecution));
  })
  .get("/:id/events", async (c) => {
    const q = parseQuery(c, listQuery);
    const projectId = c.get("project").id;
    const contactId = await projectContact(c.env, projectId, c.req.param("id"));
    const d = db(c.env);
    const rows = await d
      .select()
      .from(events)
      .where(
        and(
          eq(events.projectId, projectId),
          eq(events.contactId, contactId),
          afterCursor(events.createdAt, events.id, q.cursor),
        ),
      )
      .orderBy(...newestFirst(events.createdAt, events.id))
      .limit(q.limit + 1);
    const links = await executionsOfEvents(
      c.env,
      projectId,
      contactId,
      rows.slice(0, q.limit).map((r) => r.id),
    );
    return c.json(
      toPage(
        rows,
        q.limit,
        (r) => r.createdAt,
        (r) => ({
          ...showEvent(r),
          executions: links.get(r.id) ?? { started: [], resumed: [] },
        }),
      ),
    );
  });

/**
 * Per event of a page: the executions it started (their trigger) and those it resumed (a WAIT_FOR_EVENT
 * it ended records the event's id in its step log). Both read through the contact's executions
 * (executions_contact, then each one's step log), so in proportion to the contact's own runs.
 */
async function executionsOfEvents(env: Env, projectId: string, contactId: string, eventIds: string[]) {
  const out = new Map<string, { started: ExecutionLink[]; resumed: ExecutionLink[] }>();
  if (eventIds.length === 0) return out;
  const ids = JSON.stringify(eventIds);
  const [started, resumed] =
    (await engineOf(env, projectId)) === "shard"
      ? Object.values(await eventExecutionLinks(env, projectId, contactId, eventIds)).map((results) => ({
          results,
        }))
      : await env.DB.batch<{ eventId: string } & ExecutionLink>([
          env.DB.prepare(
            `SELECT trigger_event_id AS eventId, id, workflow_id AS workflowId, status FROM executions
        WHERE contact_id = ?1 AND trigger_event_id IN (SELECT value FROM json_each(?2))`,
          ).bind(contactId, ids),
          env.DB.prepare(
            `SELECT sx.value ->> '$.output.eventId' AS eventId, e.id, e.workflow_id AS workflowId, e.status
         FROM executions e, json_each(e.steps) AS sx
        WHERE e.contact_id = ?1 AND sx.value ->> '$.output.eventId' IN (SELECT value FROM json_each(?2))`,
          ).bind(contactId, ids),
        ]);
  const entry = (id: string) => {
    let e = out.get(id);
    if (!e) {
      e = { started: [], resumed: [] };
      out.set(id, e);
    }
    return e;
  };
  for (const r of started?.results ?? [])
    entry(r.eventId).started.push({ id: r.id, workflowId: r.workflowId, status: r.status });
  for (const r of resumed?.results ?? [])
    entry(r.eventId).resumed.push({ id: r.id, workflowId: r.workflowId, status: r.status });
  return out;
}
