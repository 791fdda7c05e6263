/** Email templates: Liquid subject and body, parsed on save (API.md "Project resources"). */
import { and, eq } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { type Template, templates } from "../db/schema";
import { newId } from "../domain/ids";
import type { TemplateOut } from "../domain/responses";
import { iso } from "../domain/shapes";
import { checkTemplate } from "../domain/templates";
import { emailField } from "../domain/track";
import type { Env } from "../env";
import { projectAuth } from "../http/auth";
import { parseJson, parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { conflict, type FieldError, notFound, validationError } from "../http/errors";
import { afterCursor, listQuery, newestFirst, toPage } from "../http/pagination";
import { renderForContact, sendTest } from "../render";

const fields = {
  name: z.string().trim().min(1).max(200),
  subject: z.string().min(1).max(998),
  body: z.string().min(1).max(500_000),
  from: emailField,
  fromName: z.string().max(200).nullish(),
  replyTo: emailField.nullish(),
  type: z.enum(["MARKETING", "TRANSACTIONAL"]),
};
export const createTemplate = z.strictObject({ ...fields, type: fields.type.default("MARKETING") });
export const patchTemplate = z
  .strictObject({
    name: fields.name.optional(),
    subject: fields.subject.optional(),
    body: fields.body.optional(),
    from: fields.from.optional(),
    fromName: fields.fromName,
    replyTo: fields.replyTo,
    type: fields.type.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: "Give at least one field", path: ["body"] });

/** A subject and body rendered with a contact's data, as the email consumer would (the editor's live preview). */
export const previewTemplate = z.strictObject({
  subject: z.string().max(998),
  body: z.string().max(500_000),
  contactId: z
    .string()
    .max(100)
    .optional()
    .describe("Render with this contact (default: an example contact)"),
  event: z
    .record(z.string(), z.unknown())
    .optional()
    .describe("The trigger event's data, as {{ event.* }} sees it"),
});
export const testTemplate = z.strictObject({
  to: emailField,
  contactId: z
    .string()
    .max(100)
    .optional()
    .describe("Render with this contact (default: an example contact)"),
});

/** 422 with line and column for each of subject and body that does not parse. */
function assertParses(parts: { subject?: string; body?: string }) {
  const errors: FieldError[] = [];
  for (const field of ["subject", "body"] as const) {
    const source = parts[field];
    if (source === undefined) continue;
    const problem = checkTemplate(source);
    if (problem) errors.push({ field, code: "invalid_template", ...problem });
  }
  if (errors.length) throw validationError(errors);
}

export const showTemplate = (t: Template): TemplateOut => ({
  id: t.id,
  name: t.name,
  subject: t.subject,
  body: t.body,
  from: t.from,
  fromName: t.fromName,
  replyTo: t.replyTo,
  type: t.type,
  createdAt: iso(t.createdAt),
  updatedAt: iso(t.updatedAt),
});

export async function loadTemplate(env: Env, projectId: string, id: string): Promise<Template> {
  const [row] = await db(env)
    .select()
    .from(templates)
    .where(and(eq(templates.projectId, projectId), eq(templates.id, id)));
  if (!row) throw notFound("Template", "TEMPLATE_NOT_FOUND");
  return row;
}

export const templateRoutes = new Hono<AppEnv>()
  .use(projectAuth())
  .get("/", async (c) => {
    const q = parseQuery(c, listQuery);
    const rows = await db(c.env)
      .select()
      .from(templates)
      .where(
        and(
          eq(templates.projectId, c.get("project").id),
          afterCursor(templates.createdAt, templates.id, q.cursor),
        ),
      )
      .orderBy(...newestFirst(templates.createdAt, templates.id))
      .limit(q.limit + 1);
    return c.json(toPage(rows, q.limit, (r) => r.createdAt, showTemplate));
  })
  .post("/", async (c) => {
    const { data } = await parseJson(c, createTemplate);
    assertParses(data);
    const now = Date.now();
    const row: Template = {
      id: newId("tpl", now),
      projectId: c.get("project").id,
      name: data.name,
      subject: data.subject,
      body: data.body,
      from: data.from,
      fromName: data.fromName ?? null,
      replyTo: data.replyTo ?? null,
      type: data.type,
      createdAt: now,
      updatedAt: now,
    };
    await db(c.env).insert(templates).values(row);
    return c.json(showTemplate(row), 201);
  })
  // Nothing is stored: what the editor shows while a template (saved or not) is being written.
  .post("/preview", async (c) => {
    const { data } = await parseJson(c, previewTemplate);
    assertParses(data);
    return c.json(
      await renderForContact(c.env, c.get("project").id, data, data.contactId ?? null, data.event ?? {}),
    );
  })
  .get("/:id", async (c) =>
    c.json(showTemplate(await loadTemplate(c.env, c.get("project").id, c.req.param("id")))),
  )
  .post("/:id/test", async (c) => {
    const t = await loadTemplate(c.env, c.get("project").id, c.req.param("id"));
    const { data } = await parseJson(c, testTemplate);
    const rendered = await renderForContact(c.env, t.projectId, t, data.contactId ?? null);
    const sent = await sendTest(c.env, {
      to: data.to,
      from: t.from,
      fromName: t.fromName,
      replyTo: t.replyTo,
      subject: rendered.subject,
      html: rendered.html,
    });
    c.get("log").info("template test sent", { templateId: t.id });
    return c.json({ to: data.to, subject: rendered.subject, messageId: sent.messageId });
  })
  .patch("/:id", async (c) => {
    const { data } = await parseJson(c, patchTemplate);
    assertParses(data);
    const t = await loadTemplate(c.env, c.get("project").id, c.req.param("id"));
    const [row] = await db(c.env)
      .update(templates)
      .set({
        name: data.name ?? t.name,
        subject: data.subject ?? t.subject,
        body: data.body ?? t.body,
        from: data.from ?? t.from,
        fromName: data.fromName === undefined ? t.fromName : data.fromName,
        replyTo: data.replyTo === undefined ? t.replyTo : data.replyTo,
        type: data.type ?? t.type,
        updatedAt: Date.now(),
      })
      .where(eq(templates.id, t.id))
      .returning();
    return c.json(showTemplate(row as Template));
  })
  .delete("/:id", async (c) => {
    const t = await loadTemplate(c.env, c.get("project").id, c.req.param("id"));
    const used = await c.env.DB.prepare(
      `SELECT workflow_id FROM workflow_steps WHERE project_id = ?1 AND type = 'SEND_EMAIL'
         AND json_extract(config, '$.templateId') = ?2 LIMIT 1`,
    )
      .bind(c.get("project").id, t.id)
      .first<{ workflow_id: string }>();
    if (used) throw conflict(`The template is used by a SEND_EMAIL step of workflow ${used.workflow_id}`);
    await db(c.env).delete(templates).where(eq(templates.id, t.id));
    return c.body(null, 204);
  });
