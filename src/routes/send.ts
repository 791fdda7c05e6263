/** `POST /v1/send` (API.md): one email per recipient, durable before the answer, Plunk's answer shape. */
import { Hono } from "hono";
import { marked } from "marked";
import { z } from "zod";
import { statusChangeEvent, upsertContact } from "../db/contact-sql";
import { dispatchOrDefer } from "../dispatch";
import { newId } from "../domain/ids";
import { checkTemplate } from "../domain/templates";
import { emailField, splitTrackData } from "../domain/track";
import { projectAuth } from "../http/auth";
import { parseJson } from "../http/body";
import type { AppEnv } from "../http/context";
import { fieldError, validationError } from "../http/errors";
import { expireKey, isKeyTaken, readIdempotency, recordKey, replay } from "../http/idempotency";
import { rateLimit } from "../http/rate-limit";
import { refreshSegments } from "../segments";
import { loadTemplate } from "./templates";

const address = z.union([
  emailField,
  z.strictObject({ name: z.string().max(200).optional(), email: emailField }),
]);
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;
const RESERVED_HEADERS =
  /^(from|to|cc|bcc|subject|reply-to|list-unsubscribe|list-unsubscribe-post|content-type)$/i;

export const sendBody = z
  .strictObject({
    to: z.union([address, z.array(address).min(1).max(100)]),
    subject: z.string().min(1).max(998).optional(),
    body: z.string().min(1).max(500_000).optional(),
    template: z.string().regex(/^tpl_/, "Must be a template id").optional(),
    from: address.optional(),
    name: z.string().max(200).optional(),
    reply: emailField.optional(),
    headers: z
      .record(
        z
          .string()
          .regex(HEADER_NAME, "Not a valid header name")
          .refine((n) => !RESERVED_HEADERS.test(n), {
            message: "This header is set by the sender",
          }),
        z
          .string()
          .max(2000)
          .refine((v) => !/[\r\n]/.test(v), { message: "Header values cannot contain CR or LF" }),
      )
      .optional(),
    data: z.record(z.string(), z.unknown()).optional(),
    subscribed: z.boolean().optional(),
    type: z.enum(["html", "markdown"]).optional(),
  })
  .refine((b) => b.template !== undefined || (b.subject !== undefined && b.body !== undefined), {
    message: "Give either template, or both subject and body",
    path: ["template"],
  });

const asAddress = (a: z.output<typeof address>) =>
  typeof a === "string" ? { email: a, name: undefined } : a;

export const sendRoutes = new Hono<AppEnv>().post(
  "/send",
  projectAuth(),
  rateLimit("SEND_LIMITER"),
  async (c) => {
    const { raw, data } = await parseJson(c, sendBody);
    const projectId = c.get("project").id;
    const now = Date.now();
    const template = data.template
      ? await loadTemplate(c.env, projectId, data.template).catch(() => null)
      : null;
    if (data.template && !template)
      throw fieldError("template", "No such template in this project", "unknown_template");
    let body = data.body;
    if (body !== undefined && data.type === "markdown") body = await marked.parse(body);
    for (const [field, source] of [
      ["subject", data.subject],
      ["body", body],
    ] as const) {
      const problem = source === undefined ? null : checkTemplate(source);
      if (problem) throw validationError([{ field, code: "invalid_template", ...problem }]);
    }
    const idempotency = await readIdempotency(c, projectId, "send", raw, now);
    // As on /v1/track: data is kept on the contact unless written {value, persistent: false}.
    const split = splitTrackData(data.data);
    const recipients = (Array.isArray(data.to) ? data.to : [data.to]).map(asAddress);
    const from = data.from ? asAddress(data.from) : null;
    const subscribed = data.subscribed ?? null;
    const sourceType = "TRANSACTIONAL";
    const type = template?.type ?? "TRANSACTIONAL";

    const db = c.env.DB;
    const statements: D1PreparedStatement[] = [];
    if (idempotency) statements.push(expireKey(c.env, idempotency));
    const plan = recipients.map((r) => ({
      ...r,
      emailId: newId("eml", now),
      statusEventId: newId("evt", now),
    }));
    const upsertAt: number[] = [];
    for (const r of plan) {
      statements.push(
        statusChangeEvent(
          c.env,
          { email: r.email },
          { eventId: r.statusEventId, projectId, subscribed, now },
        ),
      );
      upsertAt.push(statements.length);
      statements.push(
        upsertContact(c.env, {
          id: newId("ctc", now),
          projectId,
          email: r.email,
          subscribed,
          defaultSubscribed: false,
          data: split.persistent,
          now,
        }),
        db
          .prepare(
            `INSERT INTO emails (id, project_id, contact_id, template_id, source_type, type, status, to_email, from_email,
             from_name, reply_to, subject, body, headers, data, created_at, updated_at)
           VALUES (?1, ?2, (SELECT id FROM contacts WHERE project_id = ?2 AND email = ?3), ?4, ?5, ?6, 'QUEUED', ?3,
             ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)`,
          )
          .bind(
            r.emailId,
            projectId,
            r.email,
            template?.id ?? null,
            sourceType,
            type,
            from?.email ?? null,
            data.name ?? from?.name ?? null,
            data.reply ?? null,
            data.subject ?? null,
            body ?? null,
            data.headers ? JSON.stringify(data.headers) : null,
            JSON.stringify(split.event),
            now,
          ),
      );
    }
    const timestamp = new Date(now).toISOString();
    if (idempotency) {
      statements.push(
        recordKey(
          c.env,
          idempotency,
          200,
          `json_object('success', json('true'), 'data', json_object('emails', (SELECT json_group_array(json(j)) FROM (
           SELECT json_object('contact', json_object('id', c.id, 'email', c.email), 'email', e.id) AS j
           FROM json_each(?6) AS ids JOIN emails e ON e.id = ids.value
           JOIN contacts c ON c.project_id = e.project_id AND c.id = e.contact_id
           ORDER BY ids.key)), 'timestamp', ?7))`,
          [JSON.stringify(plan.map((r) => r.emailId)), timestamp],
        ),
      );
    }
    let results: D1Result[];
    try {
      results = await db.batch(statements);
    } catch (err) {
      if (idempotency && isKeyTaken(err)) return replay(c.env, idempotency);
      throw err;
    }
    // Durable now; the queue takes it from here (the sweep re-queues anything this send did not hand over).
    await c.env.EMAILS_QUEUE.sendBatch(
      plan.map((r) => ({
        body: { kind: "email-send", emailId: r.emailId, db: c.env.DATABASE },
        contentType: "json" as const,
      })),
    );
    const statusEvents = plan
      .filter((_, i) => (results[(upsertAt[i] as number) - 1]?.meta.changes ?? 0) > 0)
      .map((r) => r.statusEventId);
    await dispatchOrDefer(c.env, c.get("log"), c.get("project").id, statusEvents);
    const emailsOut = plan.map((r, i) => {
      const row = results[upsertAt[i] as number]?.results[0] as { id: string; email: string };
      return { contact: { id: row.id, email: row.email }, email: r.emailId };
    });
    await refreshSegments(c.env, c.get("log"), projectId, [...new Set(emailsOut.map((e) => e.contact.id))]);
    return c.json({ success: true, data: { emails: emailsOut, timestamp } });
  },
);
