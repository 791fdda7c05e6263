/** Segments (API.md "Project resources"): CRUD, members, and the background fill of a new one. */
import { and, desc, eq, lt, or, sql } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { isUniqueViolation } from "../db/errors";
import { contacts, type Segment, segmentMembers, segments } from "../db/schema";
import { newId } from "../domain/ids";
import { segmentCondition, slugify } from "../domain/segments";
import { iso, showContact } from "../domain/shapes";
import type { Env } from "../env";
import { projectAuth } from "../http/auth";
import { parseJson, parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { conflict, fieldError, notFound } from "../http/errors";
import { afterCursor, decodeCursor, listQuery, newestFirst, toPage } from "../http/pagination";
import type { BackfillMessage } from "../segments";

const name = z.string().trim().min(1).max(100);
export const createSegment = z.strictObject({
  name,
  description: z.string().max(1000).nullish(),
  condition: segmentCondition,
});
export const patchSegment = z
  .strictObject({
    name: name.optional(),
    description: z.string().max(1000).nullish(),
    condition: segmentCondition.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: "Give at least one field", path: ["body"] });

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
    const row: Segment = {
      id: newId("seg", now),
      projectId: c.get("project").id,
      name: data.name,
      slug: checkSlug(data.name),
      description: data.description ?? null,
      condition: JSON.stringify(data.condition),
      generation: 0,
      backfill: "BACKFILLING",
      createdAt: now,
      updatedAt: now,
    };
    try {
      await db(c.env).insert(segments).values(row);
    } catch (err) {
      if (isSlugTaken(err)) throw conflict(`A segment with the slug "${row.slug}" exists in this project`);
      throw err;
    }
    await startBackfill(c.env, row);
    return c.json(showSegment(row, 0), 201);
  })
  .get("/:id", async (c) => {
    const s = await loadSegment(c.env, c.get("project").id, c.req.param("id"));
    return c.json(showSegment(s, await memberCount(c.env, s.id)));
  })
  .patch("/:id", async (c) => {
    const { data } = await parseJson(c, patchSegment);
    const s = await loadSegment(c.env, c.get("project").id, c.req.param("id"));
    const conditionChanged = data.condition !== undefined;
    let updated: Segment;
    try {
      [updated] = (await db(c.env)
        .update(segments)
        .set({
          name: data.name ?? s.name,
          slug: data.name ? checkSlug(data.name) : s.slug,
          description: data.description === undefined ? s.description : data.description,
          condition: conditionChanged ? JSON.stringify(data.condition) : s.condition,
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
        (r) => showContact(r.contact),
      ),
    );
  });
