/** The project's recent events (API.md "Project resources"): newest first, optionally of one name. */
import { Hono } from "hono";
import { z } from "zod";
import { eventNames } from "../db/discovery";
import { iso, parseJsonObject } from "../domain/shapes";
import { projectAuth } from "../http/auth";
import { parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { decodeCursor, encodeCursor, listQuery } from "../http/pagination";

export const listEvents = listQuery.extend({
  /** Only events of this name (a filter over the project's recent events). */
  name: z.string().min(1).max(100).optional(),
});

interface Row {
  id: string;
  name: string;
  data: string;
  contact_id: string;
  contact_email: string | null;
  created_at: number;
}

export const eventNamesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const eventRoutes = new Hono<AppEnv>()
  .use(projectAuth())
  // The names among the project's newest events, most frequent first (src/db/discovery.ts).
  .get("/names", async (c) => {
    const q = parseQuery(c, eventNamesQuery);
    const out = await eventNames(c.env, c.get("project").id, q.limit);
    return c.json({
      data: out.names.map((n) => ({ name: n.name, count: n.count, lastSeen: iso(n.lastSeen) })),
      sampled: out.sampled,
      since: out.since === null ? null : iso(out.since),
    });
  })
  .get("/", async (c) => {
    const q = parseQuery(c, listEvents);
    const after = q.cursor ? decodeCursor(q.cursor) : null;
    // A range of the events' key (project_id, id), newest first: ids are time-ordered. The contact's email
    // by its key.
    const { results } = await c.env.DB.prepare(
      `SELECT e.id, e.name, e.data, e.contact_id, c.email AS contact_email, e.created_at
       FROM events e LEFT JOIN contacts c ON c.project_id = e.project_id AND c.id = e.contact_id
      WHERE e.project_id = ?1 AND e.id < ?2 AND (?3 IS NULL OR e.name = ?3)
      ORDER BY e.id DESC LIMIT ?4`,
    )
      .bind(c.get("project").id, after?.id ?? "\uffff", q.name ?? null, q.limit + 1)
      .all<Row>();
    const hasMore = results.length > q.limit;
    const kept = hasMore ? results.slice(0, q.limit) : results;
    const last = kept.at(-1);
    return c.json({
      data: kept.map((e) => ({
        id: e.id,
        name: e.name,
        data: parseJsonObject(e.data),
        contactId: e.contact_id,
        contactEmail: e.contact_email,
        createdAt: iso(e.created_at),
      })),
      cursor: hasMore && last ? encodeCursor({ t: last.created_at, id: last.id }) : null,
      hasMore,
    });
  });
