/**
 * Segment membership, kept current on every contact change: each change re-evaluates the project's
 * segments for the contacts it touched and stores `segment.<slug>.entry` / `.exit` in the same batch as
 * the membership change (an event is written only if its membership row really changed, so two racing
 * refreshes store one). A new segment is filled in the background through the `segments` queue, a page
 * of contacts per message, without entry events.
 */
import { dispatchOrDefer } from "./dispatch";
import { newId } from "./domain/ids";
import { matches, type SegmentCondition } from "./domain/segments";
import { parseJsonObject } from "./domain/shapes";
import type { Env } from "./env";
import { errorFields, type Logger } from "./log";

interface SegmentRow {
  id: string;
  name: string;
  slug: string;
  condition: string;
}

export interface ContactRow {
  id: string;
  email: string;
  subscribed: number;
  data: string;
}

/** A contact as segment conditions see it. */
export const asSubject = (c: ContactRow) => ({
  email: c.email,
  subscribed: Boolean(c.subscribed),
  data: parseJsonObject(c.data),
});

/** Re-evaluates the project's segments for these contacts; stores and dispatches entry and exit events. */
export async function refreshSegments(
  env: Env,
  log: Logger,
  projectId: string,
  contactIds: string[],
): Promise<void> {
  if (contactIds.length === 0) return;
  try {
    const db = env.DB;
    const ids = JSON.stringify(contactIds);
    const [segs, people, members] = await db.batch([
      db.prepare("SELECT id, name, slug, condition FROM segments WHERE project_id = ?1").bind(projectId),
      // By the contacts' key (project_id, id): one probe a contact.
      db
        .prepare(
          "SELECT id, email, subscribed, data FROM contacts WHERE project_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
        )
        .bind(projectId, ids),
      db
        .prepare(
          `SELECT segment_id, contact_id FROM segment_members
           WHERE project_id = ?1 AND contact_id IN (SELECT value FROM json_each(?2))`,
        )
        .bind(projectId, ids),
    ]);
    const segmentRows = (segs?.results ?? []) as unknown as SegmentRow[];
    if (segmentRows.length === 0) return;
    const contactRows = (people?.results ?? []) as unknown as ContactRow[];
    const isMember = new Set(
      ((members?.results ?? []) as { segment_id: string; contact_id: string }[]).map(
        (m) => `${m.segment_id} ${m.contact_id}`,
      ),
    );
    const now = Date.now();
    const statements: D1PreparedStatement[] = [];
    const eventIds: string[] = [];
    for (const contact of contactRows) {
      for (const seg of segmentRows) {
        const should = matches(JSON.parse(seg.condition) as SegmentCondition, asSubject(contact));
        const was = isMember.has(`${seg.id} ${contact.id}`);
        if (should === was) continue;
        const eventId = newId("evt", now);
        eventIds.push(eventId);
        const data = JSON.stringify({ segmentId: seg.id, segmentName: seg.name });
        const name = `segment.${seg.slug}.${should ? "entry" : "exit"}`;
        statements.push(
          should
            ? db
                .prepare(
                  "INSERT OR IGNORE INTO segment_members (segment_id, contact_id, project_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .bind(seg.id, contact.id, projectId, now)
            : db
                .prepare("DELETE FROM segment_members WHERE segment_id = ?1 AND contact_id = ?2")
                .bind(seg.id, contact.id),
          // changes() is the row count of the statement just before: no change, no event.
          db
            .prepare(
              `INSERT INTO events (id, project_id, contact_id, name, data, created_at)
               SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE changes() = 1`,
            )
            .bind(eventId, projectId, contact.id, name, data, now),
        );
      }
    }
    if (statements.length === 0) return;
    await db.batch(statements);
    await dispatchOrDefer(env, log, projectId, eventIds);
  } catch (err) {
    log.error("segment refresh failed", { projectId, contactIds, ...errorFields(err) });
  }
}

export interface BackfillMessage {
  kind: "segment-backfill";
  /** The D1 binding of the segment's project (src/db/databases.ts); unset in messages queued before it. */
  db?: string;
  segmentId: string;
  generation: number;
  /** The last contact id done: the next page starts after it. */
  after: string;
}

export const BACKFILL_PAGE = 500;

/** One page of a segment's background fill; queues the next page until every contact is seen. */
export async function backfillPage(env: Env, m: BackfillMessage): Promise<void> {
  const db = env.DB;
  const seg = await db
    .prepare("SELECT id, project_id, condition, generation FROM segments WHERE id = ?1")
    .bind(m.segmentId)
    .first<{ id: string; project_id: string; condition: string; generation: number }>();
  if (!seg || seg.generation !== m.generation) return; // deleted, or its condition changed since
  const results = await contactsAfter(env, seg.project_id, m.after, BACKFILL_PAGE);
  const condition = JSON.parse(seg.condition) as SegmentCondition;
  const now = Date.now();
  const inside = results.filter((c) => matches(condition, asSubject(c))).map((c) => c.id);
  const outside = results.filter((c) => !inside.includes(c.id)).map((c) => c.id);
  const last = results[results.length - 1]?.id;
  const statements = [
    db
      .prepare(
        `INSERT OR IGNORE INTO segment_members (segment_id, contact_id, project_id, created_at)
         SELECT ?1, value, ?2, ?3 FROM json_each(?4)`,
      )
      .bind(seg.id, seg.project_id, now, JSON.stringify(inside)),
    db
      .prepare(
        "DELETE FROM segment_members WHERE segment_id = ?1 AND contact_id IN (SELECT value FROM json_each(?2))",
      )
      .bind(seg.id, JSON.stringify(outside)),
  ];
  if (!last || results.length < BACKFILL_PAGE) {
    statements.push(
      db
        .prepare("UPDATE segments SET backfill = 'READY' WHERE id = ?1 AND generation = ?2")
        .bind(seg.id, m.generation),
    );
  }
  await db.batch(statements);
  if (last && results.length === BACKFILL_PAGE) {
    await env.SEGMENTS_QUEUE.send({ ...m, after: last } satisfies BackfillMessage, { contentType: "json" });
  }
}

/** A page of a project's contacts after `after`: a range of the contacts' key (project_id, id). */
export async function contactsAfter(env: Env, projectId: string, after: string, limit: number) {
  const { results } = await env.DB.prepare(
    "SELECT id, email, subscribed, data FROM contacts WHERE project_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
  )
    .bind(projectId, after, limit)
    .all<ContactRow>();
  return results;
}

/** Whether `segmentId` is a segment of the project. */
export async function isProjectSegment(env: Env, projectId: string, segmentId: string): Promise<boolean> {
  const row = await env.DB.prepare("SELECT 1 AS found FROM segments WHERE project_id = ?1 AND id = ?2")
    .bind(projectId, segmentId)
    .first();
  return row !== null;
}
