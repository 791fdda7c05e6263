/**
 * Segments (API.md "Project resources"): CRUD, members, the background fill of a new one, and a static
 * segment's members added and removed by email.
 */
import { and, desc, eq, lt, or, sql } from "drizzle-orm";
import { type Context, Hono } from "hono";
import { z } from "zod";
import { isUniqueViolation } from "../db/errors";
import { contacts, type Segment, segmentMembers, segments } from "../db/schema";
import { dispatchOrDefer } from "../dispatch";
import { newId } from "../domain/ids";
import {
  matches,
  readsTime,
  referencedSegments,
  type SegmentCondition,
  segmentCondition,
  slugify,
} from "../domain/segments";
import { iso, showContact } from "../domain/shapes";
import { emailField } from "../domain/track";
import type { Env } from "../env";
import { projectAuth } from "../http/auth";
import { parseJson, parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { conflict, fieldError, notFound } from "../http/errors";
import { afterCursor, decodeCursor, listQuery, newestFirst, toPage } from "../http/pagination";
import {
  asSubject,
  BACKFILL_PAGE,
  type BackfillMessage,
  contactsAfter,
  loadFacts,
  membershipChange,
  RECOMPUTE_EVERY_MS,
  refreshSegments,
} from "../segments";

const name = z.string().trim().min(1).max(100);
export const createSegment = z
  .strictObject({
    name,
    description: z.string().max(1000).nullish(),
    type: z.enum(["DYNAMIC", "STATIC"]).default("DYNAMIC"),
    condition: segmentCondition.optional(),
  })
  .superRefine((b, ctx) => {
    if (b.type === "DYNAMIC" && !b.condition)
      ctx.addIssue({ code: "custom", message: "A dynamic segment needs a condition", path: ["condition"] });
    if (b.type === "STATIC" && b.condition)
      ctx.addIssue({
        code: "custom",
        message: "A static segment has no condition: add its members by email",
        path: ["condition"],
      });
  });
export const patchSegment = z
  .strictObject({
    name: name.optional(),
    description: z.string().max(1000).nullish(),
    condition: segmentCondition.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: "Give at least one field", path: ["body"] });
export const countSegment = z.strictObject({ condition: segmentCondition });
/** How many contacts a live count (`POST /segments/count`) evaluates at most, in pages of BACKFILL_PAGE. */
export const COUNT_SCAN_LIMIT = 10_000;
export const MAX_MEMBER_EMAILS = 1000;
export const memberEmails = z.strictObject({
  emails: z
    .array(emailField)
    .min(1, `Give 1 to ${MAX_MEMBER_EMAILS} emails`)
    .max(MAX_MEMBER_EMAILS, `Give 1 to ${MAX_MEMBER_EMAILS} emails`),
});

async function memberCount(env: Env, id: string): Promise<number> {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM segment_members WHERE segment_id = ?1")
    .bind(id)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

const showSegment = (s: Segment, count: number) => ({
  id: s.id,
  name: s.name,
  slug: s.slug,
  type: s.type,
  description: s.description,
  condition: JSON.parse(s.condition) as unknown,
  memberCount: count,
  backfill: s.backfill,
  createdAt: iso(s.createdAt),
  updatedAt: iso(s.updatedAt),
});

async function loadSegment(env: Env, projectId: string, id: string): Promise<Segment> {
  const [row] = await db(env)
    .select()
    .from(segments)
    .where(and(eq(segments.projectId, projectId), eq(segments.id, id)));
  if (!row) throw notFound("Segment", "SEGMENT_NOT_FOUND");
  return row;
}

function checkSlug(n: string): string {
  const slug = slugify(n);
  if (!slug) throw fieldError("name", "The name needs at least one letter or digit", "invalid_name");
  return slug;
}

const isSlugTaken = (err: unknown) => isUniqueViolation(err, "segments");

/**
 * A condition's references to other segments must name segments of the project, and must not lead back
 * to the segment itself (`selfId`; null for a new one, which nothing can reference yet).
 */
export async function checkReferences(
  env: Env,
  projectId: string,
  selfId: string | null,
  condition: SegmentCondition,
  field = "condition",
): Promise<void> {
  const refs = referencedSegments(condition);
  if (refs.length === 0) return;
  const { results } = await env.DB.prepare("SELECT id, condition FROM segments WHERE project_id = ?1")
    .bind(projectId)
    .all<{ id: string; condition: string }>();
  const byId = new Map(results.map((r) => [r.id, JSON.parse(r.condition) as SegmentCondition | null]));
  for (const ref of refs) {
    if (!byId.has(ref)) throw fieldError("condition", `No segment ${ref} in this project`, "unknown_segment");
  }
  if (!selfId) return;
  const seen = new Set<string>();
  const leadsBack = (id: string): boolean => {
    if (id === selfId) return true;
    if (seen.has(id)) return false;
    seen.add(id);
    const c = byId.get(id);
    return c ? referencedSegments(c).some(leadsBack) : false;
  };
  if (refs.some(leadsBack))
    throw fieldError(field, "This condition would read the segment's own members", "segment_cycle");
}

/** When a segment is next evaluated for every contact: only while its condition reads time. */
const recomputeAt = (condition: SegmentCondition | null | undefined, now: number) =>
  condition && readsTime(condition) ? now + RECOMPUTE_EVERY_MS : null;

/** Looks up the project's contacts by email (a page of at most MAX_MEMBER_EMAILS). */
async function contactsByEmail(env: Env, projectId: string, emails: string[]) {
  const { results } = await env.DB.prepare(
    "SELECT id, email FROM contacts WHERE project_id = ?1 AND email IN (SELECT value FROM json_each(?2))",
  )
    .bind(projectId, JSON.stringify(emails))
    .all<{ id: string; email: string }>();
  return results;
}

const startBackfill = (env: Env, s: { id: string; generation: number }) =>
  env.SEGMENTS_QUEUE.send(
    {
      kind: "segment-backfill",
      db: env.DATABASE,
      segmentId: s.id,
      generation: s.generation,
      after: "",
    } satisfies BackfillMessage,
    { contentType: "json" },
  );

export const segmentRoutes = new Hono<AppEnv>()
  .use(projectAuth())
  .get("/", async (c) => {
    const q = parseQuery(c, listQuery);
    const rows = await db(c.env)
      .select()
      .from(segments)
      .where(
        and(
          eq(segments.projectId, c.get("project").id),
          afterCursor(segments.createdAt, segments.id, q.cursor),
        ),
      )
      .orderBy(...newestFirst(segments.createdAt, segments.id))
      .limit(q.limit + 1);
    const counts = await Promise.all(rows.slice(0, q.limit).map((r) => memberCount(c.env, r.id)));
    const byId = new Map(rows.map((r, i) => [r.id, counts[i] ?? 0]));
    return c.json(
      toPage(
        rows,
        q.limit,
        (r) => r.createdAt,
        (r) => showSegment(r, byId.get(r.id) ?? 0),
      ),
    );
  })
  .post("/", async (c) => {
    const { data } = await parseJson(c, createSegment);
    const now = Date.now();
    const projectId = c.get("project").id;
    if (data.condition) await checkReferences(c.env, projectId, null, data.condition);
    const row: Segment = {
      id: newId("seg", now),
      projectId,
      name: data.name,
      slug: checkSlug(data.name),
      type: data.type,
      description: data.description ?? null,
      condition: JSON.stringify(data.condition ?? null),
      recomputeAt: recomputeAt(data.condition, now),
      generation: 0,
      // A static segment has nothing to fill.
      backfill: data.type === "STATIC" ? "READY" : "BACKFILLING",
      createdAt: now,
      updatedAt: now,
    };
    try {
      await db(c.env).insert(segments).values(row);
    } catch (err) {
      if (isSlugTaken(err)) throw conflict(`A segment with the slug "${row.slug}" exists in this project`);
      throw err;
    }
    if (row.type === "DYNAMIC") await startBackfill(c.env, row);
    return c.json(showSegment(row, 0), 201);
  })
  // A condition's matches now, while it is being edited: evaluated over the project's contacts, the first
  // COUNT_SCAN_LIMIT of them (by id); `complete` says whether that was all of them.
  .post("/count", async (c) => {
    const { data } = await parseJson(c, countSegment);
    const projectId = c.get("project").id;
    await checkReferences(c.env, projectId, null, data.condition);
    const now = Date.now();
    let after = "";
    let count = 0;
    let scanned = 0;
    let complete = false;
    while (scanned < COUNT_SCAN_LIMIT) {
      const page = await contactsAfter(c.env, projectId, after, BACKFILL_PAGE);
      const facts = await loadFacts(
        c.env,
        projectId,
        page.map((p) => p.id),
        [data.condition],
        now,
      );
      count += page.filter((p) => matches(data.condition, asSubject(p), facts, now)).length;
      scanned += page.length;
      const last = page[page.length - 1];
      if (!last || page.length < BACKFILL_PAGE) {
        complete = true;
        break;
      }
      after = last.id;
    }
    return c.json({ count, scanned, complete });
  })
  .get("/:id", async (c) => {
    const s = await loadSegment(c.env, c.get("project").id, c.req.param("id"));
    return c.json(showSegment(s, await memberCount(c.env, s.id)));
  })
  .patch("/:id", async (c) => {
    const { data } = await parseJson(c, patchSegment);
    const s = await loadSegment(c.env, c.get("project").id, c.req.param("id"));
    const conditionChanged = data.condition !== undefined;
    if (data.condition && s.type === "STATIC")
      throw fieldError(
        "condition",
        "A static segment has no condition: add its members by email",
        "static_segment",
      );
    if (data.condition) await checkReferences(c.env, s.projectId, s.id, data.condition);
    let updated: Segment;
    try {
      [updated] = (await db(c.env)
        .update(segments)
        .set({
          name: data.name ?? s.name,
          slug: data.name ? checkSlug(data.name) : s.slug,
          description: data.description === undefined ? s.description : data.description,
          condition: conditionChanged ? JSON.stringify(data.condition) : s.condition,
          recomputeAt: conditionChanged ? recomputeAt(data.condition, Date.now()) : s.recomputeAt,
          generation: conditionChanged ? sql`${segments.generation} + 1` : s.generation,
          backfill: conditionChanged ? "BACKFILLING" : s.backfill,
          updatedAt: Date.now(),
        })
        .where(eq(segments.id, s.id))
        .returning()) as [Segment];
    } catch (err) {
      if (isSlugTaken(err)) throw conflict("A segment with this name's slug exists in this project");
      throw err;
    }
    // A new condition: membership is recomputed in the background, like a new segment's, without events.
    if (conditionChanged) await startBackfill(c.env, updated);
    return c.json(showSegment(updated, await memberCount(c.env, s.id)));
  })
  .delete("/:id", async (c) => {
    const s = await loadSegment(c.env, c.get("project").id, c.req.param("id"));
    // A schedule that runs for this segment's members keeps it (the workflow names it).
    const user = await c.env.DB.prepare(
      "SELECT id, name FROM workflows WHERE project_id = ?1 AND json_extract(schedule, '$.segmentId') = ?2 LIMIT 1",
    )
      .bind(s.projectId, s.id)
      .first<{ id: string; name: string }>();
    if (user)
      throw conflict(
        `The schedule of workflow "${user.name}" (${user.id}) runs for this segment: change it first`,
      );
    // A segment whose condition reads this one's members keeps it.
    const { results: others } = await c.env.DB.prepare(
      "SELECT id, name, condition FROM segments WHERE project_id = ?1 AND id != ?2",
    )
      .bind(s.projectId, s.id)
      .all<{ id: string; name: string; condition: string }>();
    const reader = others.find((o) => {
      const cond = JSON.parse(o.condition) as SegmentCondition | null;
      return cond !== null && referencedSegments(cond).includes(s.id);
    });
    if (reader)
      throw conflict(`Segment "${reader.name}" (${reader.id}) reads this segment's members: change it first`);
    await c.env.DB.batch([
      c.env.DB.prepare("DELETE FROM segment_members WHERE segment_id = ?1").bind(s.id),
      c.env.DB.prepare("DELETE FROM segments WHERE id = ?1").bind(s.id),
    ]);
    return c.body(null, 204);
  })
  .get("/:id/contacts", async (c) => {
    const q = parseQuery(c, listQuery);
    const s = await loadSegment(c.env, c.get("project").id, c.req.param("id"));
    const p = q.cursor ? decodeCursor(q.cursor) : null;
    const rows = await db(c.env)
      .select({ contact: contacts, joinedAt: segmentMembers.createdAt })
      .from(segmentMembers)
      .innerJoin(contacts, eq(contacts.id, segmentMembers.contactId))
      .where(
        and(
          eq(segmentMembers.segmentId, s.id),
          p
            ? or(
                lt(segmentMembers.createdAt, p.t),
                and(eq(segmentMembers.createdAt, p.t), lt(segmentMembers.contactId, p.id)),
              )
            : undefined,
        ),
      )
      .orderBy(desc(segmentMembers.createdAt), desc(segmentMembers.contactId))
      .limit(q.limit + 1);
    return c.json(
      toPage(
        rows.map((r) => ({ ...r, id: r.contact.id })),
        q.limit,
        (r) => r.joinedAt,
        (r) => ({ ...showContact(r.contact), joinedAt: iso(r.joinedAt) }),
      ),
    );
  })
  // A static segment's members, added or removed by email: each entry and exit is an event, stored once.
  .post("/:id/members", (c) => changeMembers(c, true))
  .post("/:id/members/remove", (c) => changeMembers(c, false));

async function changeMembers(c: Context<AppEnv>, enter: boolean) {
  const projectId = c.get("project").id;
  const s = await loadSegment(c.env, projectId, c.req.param("id") ?? "");
  const { data } = await parseJson(c, memberEmails);
  if (s.type !== "STATIC")
    throw conflict(
      "The members of a dynamic segment follow its condition: only a static segment's are set by email",
    );
  const emails = [...new Set(data.emails)];
  const found = await contactsByEmail(c.env, projectId, emails);
  const known = new Set(found.map((f) => f.email));
  const now = Date.now();
  const eventIds = found.map(() => newId("evt", now));
  const statements = found.flatMap((f, i) =>
    membershipChange(c.env, s, projectId, f.id, enter, eventIds[i] as string, now),
  );
  const results = statements.length > 0 ? await c.env.DB.batch(statements) : [];
  // The membership statements are every other one: each changed a row or found it as asked already.
  const changed = found.filter((_, i) => (results[2 * i]?.meta.changes ?? 0) > 0);
  const stored = eventIds.filter((_, i) => (results[2 * i]?.meta.changes ?? 0) > 0);
  if (stored.length > 0) {
    await dispatchOrDefer(c.env, c.get("log"), projectId, stored);
    // Segments that read this one's members follow it.
    await refreshSegments(
      c.env,
      c.get("log"),
      projectId,
      changed.map((f) => f.id),
    );
  }
  return c.json({
    [enter ? "added" : "removed"]: changed.length,
    unchanged: found.length - changed.length,
    notFound: emails.filter((e) => !known.has(e)),
  });
}
