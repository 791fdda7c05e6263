/** Campaigns (README "Campaigns"): drafts, their audience's count, schedule, send, cancel, test send, stats. */
import { and, eq } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { type Audience, startSending } from "../campaigns";
import { type Campaign, campaigns } from "../db/schema";
import { newId } from "../domain/ids";
import { zonedTime } from "../domain/schedule";
import { matches, segmentCondition } from "../domain/segments";
import { iso } from "../domain/shapes";
import { checkTemplate } from "../domain/templates";
import { emailField } from "../domain/track";
import type { Env } from "../env";
import { projectAuth } from "../http/auth";
import { parseJson, parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { conflict, type FieldError, fieldError, notFound, validationError } from "../http/errors";
import { afterCursor, listQuery, newestFirst, toPage } from "../http/pagination";
import { renderForContact, sendTest } from "../render";
import { asSubject, BACKFILL_PAGE, contactsAfter, isProjectSegment, loadFacts } from "../segments";
import { checkReferences } from "./segments";
import { loadTemplate } from "./templates";

const audience = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("ALL") }),
  z.strictObject({ type: z.literal("SEGMENT"), segmentId: z.string().min(1).max(100) }),
  z.strictObject({ type: z.literal("FILTER"), filter: segmentCondition }),
]);

const content = {
  name: z.string().trim().min(1).max(200),
  subject: z.string().min(1).max(998).nullish(),
  body: z.string().min(1).max(500_000).nullish(),
  templateId: z.string().regex(/^tpl_/, "Must be a template id").nullish(),
  from: emailField.nullish(),
  fromName: z.string().max(200).nullish(),
  replyTo: emailField.nullish(),
  audience,
};
export const createCampaign = z.strictObject({ ...content, audience: audience.default({ type: "ALL" }) });
export const patchCampaign = z
  .strictObject({
    name: content.name.optional(),
    subject: content.subject,
    body: content.body,
    templateId: content.templateId,
    from: content.from,
    fromName: content.fromName,
    replyTo: content.replyTo,
    audience: audience.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: "Give at least one field", path: ["body"] });
export const scheduleCampaign = z.strictObject({
  at: z
    .string()
    .max(40)
    .describe("An ISO time with an offset, or a wall-clock time (2026-12-24T09:00) in timeZone"),
  timeZone: z.string().max(64).optional().describe("Default: the project's time zone"),
});
export const testCampaign = z.strictObject({
  to: emailField,
  contactId: z.string().max(100).optional().describe("Render with this contact's data (default: an example)"),
});
export const countAudience = z.strictObject({ audience });

/** How many contacts a count of a FILTER audience evaluates at most (as POST /segments/count). */
const COUNT_SCAN_LIMIT = 10_000;

const showCampaign = (c: Campaign) => ({
  id: c.id,
  name: c.name,
  status: c.status,
  subject: c.subject,
  body: c.body,
  templateId: c.templateId,
  from: c.from,
  fromName: c.fromName,
  replyTo: c.replyTo,
  audience: JSON.parse(c.audience) as Audience,
  scheduledAt: iso(c.scheduledAt),
  timeZone: c.timeZone,
  stats: {
    recipients: c.recipients,
    sent: c.sent,
    skipped: c.skipped,
    delivered: c.delivered,
    opened: c.opened,
    clicked: c.clicked,
    bounced: c.bounced,
    complained: c.complained,
    unsubscribed: c.unsubscribed,
  },
  /** While SENDING: whether every recipient's email is made (then `stats.recipients` is the whole audience). */
  fannedOut: Boolean(c.fannedOut),
  createdAt: iso(c.createdAt),
  updatedAt: iso(c.updatedAt),
  startedAt: iso(c.startedAt),
  finishedAt: iso(c.finishedAt),
});

async function loadCampaign(env: Env, projectId: string, id: string): Promise<Campaign> {
  const [row] = await db(env)
    .select()
    .from(campaigns)
    .where(and(eq(campaigns.projectId, projectId), eq(campaigns.id, id)));
  if (!row) throw notFound("Campaign", "CAMPAIGN_NOT_FOUND");
  return row;
}

/** The audience names only the project's segments (a segment, or those a filter reads). */
async function checkAudience(env: Env, projectId: string, a: Audience): Promise<void> {
  if (a.type === "SEGMENT" && !(await isProjectSegment(env, projectId, a.segmentId)))
    throw fieldError("audience.segmentId", "No segment with this id in this project", "unknown_segment");
  if (a.type === "FILTER") await checkReferences(env, projectId, null, a.filter, "audience.filter");
}

/** What a campaign sends: a subject and body that parse, or a template of the project (its own are defaults). */
async function checkContent(
  env: Env,
  projectId: string,
  c: { subject?: string | null; body?: string | null; templateId?: string | null },
): Promise<void> {
  if (c.templateId) {
    const found = await env.DB.prepare("SELECT 1 AS found FROM templates WHERE project_id = ?1 AND id = ?2")
      .bind(projectId, c.templateId)
      .first();
    if (!found)
      throw fieldError("templateId", "No template with this id in this project", "unknown_template");
  } else if (!c.subject || !c.body)
    throw validationError(
      (["subject", "body"] as const)
        .filter((f) => !c[f])
        .map((f) => ({ field: f, message: "Give a subject and a body, or a templateId", code: "required" })),
    );
  const errors: FieldError[] = [];
  for (const field of ["subject", "body"] as const) {
    const source = c[field];
    const problem = source ? checkTemplate(source) : null;
    if (problem) errors.push({ field, code: "invalid_template", ...problem });
  }
  if (errors.length) throw validationError(errors);
}

/** The parts to render: the campaign's own, else its template's. */
async function partsOf(env: Env, c: Campaign) {
  const t = c.templateId ? await loadTemplate(env, c.projectId, c.templateId) : null;
  return {
    subject: c.subject ?? t?.subject ?? "",
    body: c.body ?? t?.body ?? "",
    from: c.from ?? t?.from ?? env.DEFAULT_FROM ?? "",
    fromName: c.fromName ?? t?.fromName ?? null,
    replyTo: c.replyTo ?? t?.replyTo ?? null,
  };
}

/** The subscribed contacts an audience holds now (a FILTER's over the first COUNT_SCAN_LIMIT contacts). */
async function countRecipients(env: Env, projectId: string, a: Audience) {
  if (a.type !== "FILTER") {
    const row =
      a.type === "ALL"
        ? await env.DB.prepare("SELECT count(*) AS n FROM contacts WHERE project_id = ?1 AND subscribed = 1")
            .bind(projectId)
            .first<{ n: number }>()
        : await env.DB.prepare(
            `SELECT count(*) AS n FROM segment_members m
             JOIN contacts c ON c.project_id = m.project_id AND c.id = m.contact_id
             WHERE m.segment_id = ?1 AND c.subscribed = 1`,
          )
            .bind(a.segmentId)
            .first<{ n: number }>();
    return { count: row?.n ?? 0, complete: true };
  }
  const now = Date.now();
  let after = "";
  let count = 0;
  for (let scanned = 0; scanned < COUNT_SCAN_LIMIT; ) {
    const page = await contactsAfter(env, projectId, after, BACKFILL_PAGE);
    const facts = await loadFacts(
      env,
      projectId,
      page.map((p) => p.id),
      [a.filter],
      now,
    );
    count += page.filter((p) => p.subscribed && matches(a.filter, asSubject(p), facts, now)).length;
    scanned += page.length;
    const last = page[page.length - 1];
    if (!last || page.length < BACKFILL_PAGE) return { count, complete: true };
    after = last.id;
  }
  return { count, complete: false };
}

const notAllowed = (c: Campaign, what: string) => conflict(`A ${c.status} campaign cannot be ${what}`);

export const campaignRoutes = new Hono<AppEnv>()
  .use(projectAuth())
  .get("/", async (c) => {
    const q = parseQuery(c, listQuery);
    const rows = await db(c.env)
      .select()
      .from(campaigns)
      .where(
        and(
          eq(campaigns.projectId, c.get("project").id),
          afterCursor(campaigns.createdAt, campaigns.id, q.cursor),
        ),
      )
      .orderBy(...newestFirst(campaigns.createdAt, campaigns.id))
      .limit(q.limit + 1);
    return c.json(toPage(rows, q.limit, (r) => r.createdAt, showCampaign));
  })
  .post("/", async (c) => {
    const { data } = await parseJson(c, createCampaign);
    const projectId = c.get("project").id;
    await checkContent(c.env, projectId, data);
    await checkAudience(c.env, projectId, data.audience);
    const now = Date.now();
    const [row] = await db(c.env)
      .insert(campaigns)
      .values({
        id: newId("cmp", now),
        projectId,
        name: data.name,
        subject: data.subject ?? null,
        body: data.body ?? null,
        templateId: data.templateId ?? null,
        from: data.from ?? null,
        fromName: data.fromName ?? null,
        replyTo: data.replyTo ?? null,
        audience: JSON.stringify(data.audience),
        status: "DRAFT",
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    return c.json(showCampaign(row as Campaign), 201);
  })
  .post("/count", async (c) => {
    const { data } = await parseJson(c, countAudience);
    const projectId = c.get("project").id;
    await checkAudience(c.env, projectId, data.audience);
    return c.json(await countRecipients(c.env, projectId, data.audience));
  })
  .get("/:id", async (c) =>
    c.json(showCampaign(await loadCampaign(c.env, c.get("project").id, c.req.param("id")))),
  )
  .patch("/:id", async (c) => {
    const cur = await loadCampaign(c.env, c.get("project").id, c.req.param("id"));
    const { data } = await parseJson(c, patchCampaign);
    if (cur.status !== "DRAFT") throw notAllowed(cur, "changed (only a DRAFT can)");
    const next = {
      subject: data.subject === undefined ? cur.subject : data.subject,
      body: data.body === undefined ? cur.body : data.body,
      templateId: data.templateId === undefined ? cur.templateId : data.templateId,
    };
    await checkContent(c.env, cur.projectId, next);
    if (data.audience) await checkAudience(c.env, cur.projectId, data.audience);
    const [row] = await db(c.env)
      .update(campaigns)
      .set({
        ...next,
        name: data.name ?? cur.name,
        from: data.from === undefined ? cur.from : data.from,
        fromName: data.fromName === undefined ? cur.fromName : data.fromName,
        replyTo: data.replyTo === undefined ? cur.replyTo : data.replyTo,
        audience: data.audience ? JSON.stringify(data.audience) : cur.audience,
        updatedAt: Date.now(),
      })
      // Guarded: a schedule or send between the read and this write wins.
      .where(and(eq(campaigns.id, cur.id), eq(campaigns.status, "DRAFT")))
      .returning();
    if (!row) throw conflict("The campaign left DRAFT meanwhile");
    return c.json(showCampaign(row));
  })
  .delete("/:id", async (c) => {
    const cur = await loadCampaign(c.env, c.get("project").id, c.req.param("id"));
    const gone = await c.env.DB.prepare("DELETE FROM campaigns WHERE id = ?1 AND status = 'DRAFT'")
      .bind(cur.id)
      .run();
    if (gone.meta.changes === 0) throw notAllowed(cur, "deleted (only a DRAFT can; cancel it instead)");
    return c.body(null, 204);
  })
  .post("/:id/schedule", async (c) => {
    const project = c.get("project");
    const cur = await loadCampaign(c.env, project.id, c.req.param("id"));
    const { data } = await parseJson(c, scheduleCampaign);
    const zone =
      data.timeZone ??
      (
        await c.env.DB.prepare("SELECT time_zone FROM projects WHERE id = ?1")
          .bind(project.id)
          .first<{ time_zone: string | null }>()
      )?.time_zone ??
      "UTC";
    const withOffset = /(Z|[+-]\d{2}:?\d{2})$/i.test(data.at);
    const at = withOffset ? Date.parse(data.at) : zonedTime(data.at, zone);
    if (at === null || Number.isNaN(at))
      throw fieldError(
        "at",
        `Not a time: give an ISO time with an offset (2026-12-24T09:00:00Z) or a wall-clock time (2026-12-24T09:00) in ${zone}`,
        "invalid_time",
      );
    if (data.timeZone !== undefined && zonedTime("2000-01-01T00:00", data.timeZone) === null)
      throw fieldError(
        "timeZone",
        'Must be an IANA time zone, such as "Europe/Berlin" or "UTC"',
        "invalid_time_zone",
      );
    if (at <= Date.now()) throw fieldError("at", "This time has passed: send it now instead", "in_the_past");
    const moved = await c.env.DB.prepare(
      `UPDATE campaigns SET status = 'SCHEDULED', scheduled_at = ?2, time_zone = ?3, updated_at = ?4
       WHERE id = ?1 AND status IN ('DRAFT', 'SCHEDULED')`,
    )
      .bind(cur.id, at, zone, Date.now())
      .run();
    if (moved.meta.changes === 0) throw notAllowed(cur, "scheduled");
    return c.json(showCampaign(await loadCampaign(c.env, project.id, cur.id)));
  })
  .post("/:id/unschedule", async (c) => {
    const cur = await loadCampaign(c.env, c.get("project").id, c.req.param("id"));
    const moved = await c.env.DB.prepare(
      "UPDATE campaigns SET status = 'DRAFT', scheduled_at = NULL, updated_at = ?2 WHERE id = ?1 AND status = 'SCHEDULED'",
    )
      .bind(cur.id, Date.now())
      .run();
    if (moved.meta.changes === 0) throw notAllowed(cur, "unscheduled (only a SCHEDULED one can)");
    return c.json(showCampaign(await loadCampaign(c.env, cur.projectId, cur.id)));
  })
  .post("/:id/send", async (c) => {
    const cur = await loadCampaign(c.env, c.get("project").id, c.req.param("id"));
    if (!(await startSending(c.env, cur.id, ["DRAFT", "SCHEDULED"], Date.now())))
      throw notAllowed(cur, "sent (it is not a DRAFT or SCHEDULED)");
    c.get("log").info("campaign sending", { campaignId: cur.id });
    return c.json(showCampaign(await loadCampaign(c.env, cur.projectId, cur.id)), 202);
  })
  .post("/:id/cancel", async (c) => {
    const cur = await loadCampaign(c.env, c.get("project").id, c.req.param("id"));
    const now = Date.now();
    const moved = await c.env.DB.prepare(
      `UPDATE campaigns SET status = 'CANCELLED', finished_at = ?2, updated_at = ?2
       WHERE id = ?1 AND status IN ('SCHEDULED', 'SENDING')`,
    )
      .bind(cur.id, now)
      .run();
    if (moved.meta.changes === 0) throw notAllowed(cur, "cancelled (only a SCHEDULED or SENDING one can)");
    c.get("log").info("campaign cancelled", { campaignId: cur.id });
    return c.json(showCampaign(await loadCampaign(c.env, cur.projectId, cur.id)));
  })
  .post("/:id/test", async (c) => {
    const cur = await loadCampaign(c.env, c.get("project").id, c.req.param("id"));
    const { data } = await parseJson(c, testCampaign);
    const parts = await partsOf(c.env, cur);
    const rendered = await renderForContact(c.env, cur.projectId, parts, data.contactId ?? null);
    const sent = await sendTest(c.env, {
      to: data.to,
      from: parts.from,
      fromName: parts.fromName,
      replyTo: parts.replyTo,
      subject: rendered.subject,
      html: rendered.html,
    });
    c.get("log").info("campaign test sent", { campaignId: cur.id });
    return c.json({ to: data.to, subject: rendered.subject, messageId: sent.messageId });
  });
