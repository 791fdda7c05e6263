/**
 * Segment membership. A dynamic segment's is kept current on every contact change: each change
 * re-evaluates the project's segments for the contacts it touched and stores `segment.<slug>.entry` /
 * `.exit` in the same batch as the membership change (an event is written only if its membership row
 * really changed, so two racing refreshes store one). A new segment (or a new condition) is filled in the
 * background through the `segments` queue, a page of contacts per message, without entry events. A
 * segment whose membership moves with time alone (a window, an age) is recomputed every
 * `RECOMPUTE_EVERY_MS` by the cron, in pages through the same queue, with entry and exit events. A static
 * segment's members are added and removed by email (src/routes/segments.ts), with the same events.
 */
import { dispatchOrDefer } from "./dispatch";
import { newId } from "./domain/ids";
import {
  type CountQuery,
  type Facts,
  factsNeeded,
  matches,
  referencedSegments,
  type SegmentCondition,
  type SegmentSubject,
} from "./domain/segments";
import { parseJsonObject } from "./domain/shapes";
import type { Env } from "./env";
import { errorFields, type Logger } from "./log";

/** How often a segment whose membership moves with time is evaluated again for every contact. */
export const RECOMPUTE_EVERY_MS = 15 * 60_000;

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
  created_at: number;
  updated_at: number;
}

const CONTACT_COLUMNS = "id, email, subscribed, data, created_at, updated_at";

/** A contact as segment conditions see it. */
export const asSubject = (c: ContactRow): SegmentSubject => ({
  id: c.id,
  email: c.email,
  subscribed: Boolean(c.subscribed),
  data: parseJsonObject(c.data),
  createdAt: c.created_at,
  updatedAt: c.updated_at,
});

/** A segment's condition, or null for a static segment. */
const conditionOf = (s: { condition: string }) => JSON.parse(s.condition) as SegmentCondition | null;

/**
 * The events of each contact (`?3`) of each name since each time (`?2`: [{key, name, since}]), counted: a
 * range of events_contact_created per (contact, query). CROSS JOIN keeps that order (a plain join let SQLite
 * read the project's every event by the events' key).
 */
export const EVENT_COUNTS = `SELECT e.contact_id AS contact, q.value ->> 'key' AS k, count(*) AS n
  FROM json_each(?3) AS ct CROSS JOIN json_each(?2) AS q CROSS JOIN events AS e
    ON e.project_id = ?1 AND e.contact_id = ct.value AND e.name = q.value ->> 'name'
    AND e.created_at >= q.value ->> 'since'
  GROUP BY 1, 2`;

/**
 * Reads what `conditions` need for these contacts beyond their rows: event counts (one statement over the
 * contacts' events index) and the members among them of the segments they reference (by the members' key).
 */
export async function loadFacts(
  env: Env,
  projectId: string,
  contactIds: string[],
  conditions: SegmentCondition[],
  now: number,
): Promise<Facts & { members: Set<string> }> {
  const queries: CountQuery[] = factsNeeded(conditions, now);
  const refs = [...new Set(conditions.flatMap(referencedSegments))];
  const counts = new Map<string, number>();
  const members = new Set<string>();
  const ids = JSON.stringify(contactIds);
  const statements: D1PreparedStatement[] = [];
  if (queries.length > 0 && contactIds.length > 0) {
    statements.push(env.DB.prepare(EVENT_COUNTS).bind(projectId, JSON.stringify(queries), ids));
  }
  if (refs.length > 0 && contactIds.length > 0) {
    statements.push(
      env.DB.prepare(
        `SELECT segment_id, contact_id FROM segment_members
         WHERE segment_id IN (SELECT value FROM json_each(?1)) AND contact_id IN (SELECT value FROM json_each(?2))`,
      ).bind(JSON.stringify(refs), ids),
    );
  }
  const results = statements.length > 0 ? await env.DB.batch(statements) : [];
  let at = 0;
  if (queries.length > 0 && contactIds.length > 0) {
    for (const r of (results[at++]?.results ?? []) as { contact: string; k: string; n: number }[])
      counts.set(`${r.contact} ${r.k}`, r.n);
  }
  if (refs.length > 0 && contactIds.length > 0) {
    for (const r of (results[at++]?.results ?? []) as { segment_id: string; contact_id: string }[])
      members.add(`${r.segment_id} ${r.contact_id}`);
  }
  return {
    members,
    count: (contactId, key) => counts.get(`${contactId} ${key}`) ?? 0,
    isMember: (segmentId, contactId) => members.has(`${segmentId} ${contactId}`),
  };
}

/**
 * The statements that make `contactId` enter or leave `seg`, with its event: the event is stored only if
 * the membership row really changed (`changes()` is the row count of the statement just before), so two
 * racing writers, or a page delivered twice, store one.
 */
export function membershipChange(
  env: Env,
  seg: { id: string; name: string; slug: string },
  projectId: string,
  contactId: string,
  enter: boolean,
  eventId: string,
  now: number,
): D1PreparedStatement[] {
  const data = JSON.stringify({ segmentId: seg.id, segmentName: seg.name });
  const name = `segment.${seg.slug}.${enter ? "entry" : "exit"}`;
  return [
    enter
      ? env.DB.prepare(
          "INSERT OR IGNORE INTO segment_members (segment_id, contact_id, project_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        ).bind(seg.id, contactId, projectId, now)
      : env.DB.prepare("DELETE FROM segment_members WHERE segment_id = ?1 AND contact_id = ?2").bind(
          seg.id,
          contactId,
        ),
    env.DB.prepare(
      `INSERT INTO events (id, project_id, contact_id, name, data, created_at)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE changes() = 1`,
    ).bind(eventId, projectId, contactId, name, data, now),
  ];
}

/** Dynamic segments in an order where a segment comes after those it reads the members of. */
function inDependencyOrder<T extends { id: string; condition: SegmentCondition }>(segs: T[]): T[] {
  const byId = new Map(segs.map((s) => [s.id, s]));
  const out: T[] = [];
  const seen = new Set<string>();
  const visit = (s: T) => {
    if (seen.has(s.id)) return;
    seen.add(s.id); // a cycle (refused when written) cannot loop here
    for (const ref of referencedSegments(s.condition)) {
      const r = byId.get(ref);
      if (r) visit(r);
    }
    out.push(s);
  };
  for (const s of segs) visit(s);
  return out;
}

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
          `SELECT ${CONTACT_COLUMNS} FROM contacts WHERE project_id = ?1 AND id IN (SELECT value FROM json_each(?2))`,
        )
        .bind(projectId, ids),
      db
        .prepare(
          `SELECT segment_id, contact_id FROM segment_members
           WHERE project_id = ?1 AND contact_id IN (SELECT value FROM json_each(?2))`,
        )
        .bind(projectId, ids),
    ]);
    const dynamic = ((segs?.results ?? []) as unknown as SegmentRow[]).flatMap((s) => {
      const condition = conditionOf(s);
      return condition ? [{ ...s, condition }] : [];
    });
    if (dynamic.length === 0) return;
    const contactRows = (people?.results ?? []) as unknown as ContactRow[];
    const isMember = new Set(
      ((members?.results ?? []) as { segment_id: string; contact_id: string }[]).map(
        (m) => `${m.segment_id} ${m.contact_id}`,
      ),
    );
    const now = Date.now();
    const counted = await loadFacts(
      env,
      projectId,
      contactRows.map((c) => c.id),
      dynamic.map((s) => s.condition),
      now,
    );
    // Members as this refresh leaves them, so a segment reading another sees its new members.
    const facts: Facts = { count: counted.count, isMember: (s, c) => isMember.has(`${s} ${c}`) };
    const statements: D1PreparedStatement[] = [];
    const eventIds: string[] = [];
    for (const seg of inDependencyOrder(dynamic)) {
      for (const contact of contactRows) {
        const should = matches(seg.condition, asSubject(contact), facts, now);
        const key = `${seg.id} ${contact.id}`;
        if (should === isMember.has(key)) continue;
        if (should) isMember.add(key);
        else isMember.delete(key);
        const eventId = newId("evt", now);
        eventIds.push(eventId);
        statements.push(...membershipChange(env, seg, projectId, contact.id, should, eventId, now));
      }
    }
    if (statements.length === 0) return;
    await db.batch(statements);
    await dispatchOrDefer(env, log, projectId, eventIds);
  } catch (err) {
    log.error("segment refresh failed", { projectId, contactIds, ...errorFields(err) });
  }
}

/**
 * A page of a segment's evaluation over every contact: a fill (`segment-backfill`: a new segment or a new
 * condition, without events) or a recompute (`segment-recompute`: time moved membership, with events).
 */
export interface BackfillMessage {
  kind: "segment-backfill" | "segment-recompute";
  /** The D1 binding of the segment's project (src/db/databases.ts); unset in messages queued before it. */
  db?: string;
  segmentId: string;
  generation: number;
  /** The last contact id done: the next page starts after it. */
  after: string;
}

export const BACKFILL_PAGE = 500;

/** One page of a segment's fill or recompute; queues the next page until every contact is seen. */
export async function backfillPage(env: Env, log: Logger, m: BackfillMessage): Promise<void> {
  const db = env.DB;
  const seg = await db
    .prepare("SELECT id, project_id, name, slug, condition, generation, backfill FROM segments WHERE id = ?1")
    .bind(m.segmentId)
    .first<SegmentRow & { project_id: string; generation: number; backfill: string }>();
  if (!seg || seg.generation !== m.generation) return; // deleted, or its condition changed since
  const condition = conditionOf(seg);
  if (!condition) return;
  const recompute = m.kind === "segment-recompute";
  if (recompute && seg.backfill !== "READY") return; // the fill of this generation sees every contact
  const projectId = seg.project_id;
  const results = await contactsAfter(env, projectId, m.after, BACKFILL_PAGE);
  const ids = results.map((c) => c.id);
  const now = Date.now();
  const facts = await loadFacts(env, projectId, ids, [condition], now);
  const inside = results.filter((c) => matches(condition, asSubject(c), facts, now)).map((c) => c.id);
  const last = results[results.length - 1]?.id;
  const done = !last || results.length < BACKFILL_PAGE;
  const statements: D1PreparedStatement[] = [];
  const eventIds: string[] = [];
  const changed: string[] = [];
  if (recompute) {
    const { results: rows } = await db
      .prepare(
        "SELECT contact_id FROM segment_members WHERE segment_id = ?1 AND contact_id IN (SELECT value FROM json_each(?2))",
      )
      .bind(seg.id, JSON.stringify(ids))
      .all<{ contact_id: string }>();
    const was = new Set(rows.map((r) => r.contact_id));
    const should = new Set(inside);
    for (const id of ids) {
      if (should.has(id) === was.has(id)) continue;
      const eventId = newId("evt", now);
      eventIds.push(eventId);
      changed.push(id);
      statements.push(...membershipChange(env, seg, projectId, id, should.has(id), eventId, now));
    }
  } else {
    const outside = ids.filter((id) => !inside.includes(id));
    statements.push(
      db
        .prepare(
          `INSERT OR IGNORE INTO segment_members (segment_id, contact_id, project_id, created_at)
           SELECT ?1, value, ?2, ?3 FROM json_each(?4)`,
        )
        .bind(seg.id, projectId, now, JSON.stringify(inside)),
      db
        .prepare(
          "DELETE FROM segment_members WHERE segment_id = ?1 AND contact_id IN (SELECT value FROM json_each(?2))",
        )
        .bind(seg.id, JSON.stringify(outside)),
    );
    if (done) {
      statements.push(
        db
          .prepare("UPDATE segments SET backfill = 'READY' WHERE id = ?1 AND generation = ?2")
          .bind(seg.id, m.generation),
      );
    }
  }
  if (statements.length > 0) await db.batch(statements);
  if (eventIds.length > 0) {
    await dispatchOrDefer(env, log, projectId, eventIds);
    // Segments that read this one's members follow it (their own entry and exit events).
    await refreshSegments(env, log, projectId, changed);
  }
  if (!done) {
    await env.SEGMENTS_QUEUE.send({ ...m, after: last } satisfies BackfillMessage, { contentType: "json" });
  }
}

/**
 * The cron's part: hands each segment due for a recompute to the segments queue (at most 50 a database a
 * minute), then moves its next time on. The message goes first: a crash between the two sends it again
 * next minute, and a recompute repeated changes nothing (membership changes are conditional).
 */
export async function fireDueRecomputes(env: Env, log: Logger, now: number): Promise<number> {
  const { results } = await env.DB.prepare(
    `SELECT id, generation, recompute_at FROM segments
     WHERE recompute_at <= ?1 AND backfill = 'READY' ORDER BY recompute_at LIMIT 50`,
  )
    .bind(now)
    .all<{ id: string; generation: number; recompute_at: number }>();
  let fired = 0;
  for (const s of results) {
    await env.SEGMENTS_QUEUE.send(
      {
        kind: "segment-recompute",
        db: env.DATABASE,
        segmentId: s.id,
        generation: s.generation,
        after: "",
      } satisfies BackfillMessage,
      { contentType: "json" },
    );
    const moved = await env.DB.prepare(
      "UPDATE segments SET recompute_at = ?3 WHERE id = ?1 AND recompute_at = ?2",
    )
      .bind(s.id, s.recompute_at, now + RECOMPUTE_EVERY_MS)
      .run();
    if (moved.meta.changes > 0) fired++;
  }
  if (fired > 0) log.info("segment recomputes queued", { segments: fired });
  return fired;
}

/** A page of a project's contacts after `after`: a range of the contacts' key (project_id, id). */
export async function contactsAfter(env: Env, projectId: string, after: string, limit: number) {
  const { results } = await env.DB.prepare(
    `SELECT ${CONTACT_COLUMNS} FROM contacts WHERE project_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3`,
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
