/**
 * The one path every event takes (DESIGN.md "One path for every event"): store it, then dispatch it.
 * Tracked events and the system's own events (subscription changes, later email and segment events)
 * are stored here, in the same D1 batch as the change that caused them.
 */
import { isKeyGone, type KeyCheck, statusChangeEvent, upsertContact } from "./db/contact-sql";
import type { EventRow } from "./dispatch";
import { newId } from "./domain/ids";
import type { Env } from "./env";
import { expireKey, type Idempotency, isKeyTaken, recordKey, replay } from "./http/idempotency";

export interface TrackInput {
  projectId: string;
  email: string;
  name: string;
  subscribed: boolean | null;
  persistentData: Record<string, unknown>;
  eventData: Record<string, unknown>;
  now: number;
  idempotency: Idempotency | null;
  /** The key the request came with, held against the projects row in the batch (see `trackAuth`). */
  keyCheck: KeyCheck;
}

export interface TrackResult {
  contactId: string;
  eventId: string;
  timestamp: string;
  /** Every event this request stored, in order: a subscription change first, then the tracked one. */
  stored: string[];
  /**
   * When the tracked event is the only one stored and was stored undispatched (a workflow has it as
   * trigger, or an execution of the contact waits for it): the event, for `dispatchEvent`. Null when it
   * has nothing to dispatch (it was stored as dispatched) or when a status change was stored before it
   * (`stored` is dispatched the usual way then, in order).
   */
  dispatch: EventRow | null;
  /** Whether the project has segments (read in the same batch): without any, no refresh is needed. */
  hasSegments: boolean;
}

/**
 * A tracked event (its text built once). Stored as dispatched when, in this transaction, no workflow has
 * it as trigger and no execution of the contact waits for it: dispatch would find nothing to do, so
 * nothing is left for it (or the sweep) to finish. A disabled workflow counts: its dispatch starts
 * nothing, but says so in a log line (nothing is a silent no-op). RETURNING says which it was, and whether the
 * project has segments. What dispatch needs (workflows, steps, waits) is read by the dispatch itself,
 * after the answer: read here, its five subqueries cost about 15% of a plain track request's CPU locally,
 * for events that have nothing to dispatch, and the cost is in compiling the statement (guarded so that
 * they did not run, they cost the same; bench/notes.md, items 20 and 21).
 */
const INSERT_TRACKED_EVENT = `INSERT INTO events (id, project_id, contact_id, name, data, created_at, dispatched_at)
       VALUES (?1, ?2, (SELECT id FROM contacts WHERE project_id = ?2 AND email = ?3), ?4, ?5, ?6,
         CASE WHEN EXISTS (SELECT 1 FROM workflows WHERE project_id = ?2 AND event_name = ?4)
           OR EXISTS (SELECT 1 FROM waits WHERE project_id = ?2 AND event_name = ?4
             AND contact_id = (SELECT id FROM contacts WHERE project_id = ?2 AND email = ?3))
         THEN NULL ELSE ?6 END)
       RETURNING dispatched_at IS NULL AS undispatched, EXISTS (SELECT 1 FROM segments WHERE project_id = ?2) AS has_segments`;

/**
 * Upserts the contact and stores the event (and a status change, if any) in one batch. With an
 * idempotency key, a repeat returns the first answer as a Response instead; "key gone" when the key no
 * longer names the project (rotated since it was read): then nothing was written.
 */
export async function trackEvent(env: Env, input: TrackInput): Promise<TrackResult | Response | "key gone"> {
  const { projectId, email, now } = input;
  const statusEventId = input.subscribed === null ? "" : newId("evt", now);
  const eventId = newId("evt", now);
  const timestamp = new Date(now).toISOString();

  const statements: D1PreparedStatement[] = [];
  if (input.idempotency) statements.push(expireKey(env, input.idempotency));
  // Without `subscribed` the status cannot change, and the statement would insert nothing: left out.
  const statusAt = input.subscribed === null ? -1 : statements.length;
  if (input.subscribed !== null) {
    statements.push(
      statusChangeEvent(
        env,
        { email },
        { eventId: statusEventId, projectId, subscribed: input.subscribed, now },
      ),
    );
  }
  const contactAt = statements.length;
  statements.push(
    upsertContact(
      env,
      {
        id: newId("ctc", now),
        projectId,
        email,
        subscribed: input.subscribed,
        defaultSubscribed: true,
        data: input.persistentData,
        now,
      },
      input.keyCheck,
    ),
    env.DB.prepare(INSERT_TRACKED_EVENT).bind(
      eventId,
      projectId,
      email,
      input.name,
      JSON.stringify(input.eventData),
      now,
    ),
  );
  const readAt = statements.length - 1;
  if (input.idempotency) {
    statements.push(
      recordKey(
        env,
        input.idempotency,
        200,
        `json_object('success', json('true'), 'data', json_object(
           'contact', (SELECT contact_id FROM events WHERE project_id = ?1 AND id = ?6), 'event', ?6, 'timestamp', ?7))`,
        [eventId, timestamp],
      ),
    );
  }

  let results: D1Result[];
  try {
    results = await env.DB.batch(statements);
  } catch (err) {
    if (isKeyGone(err)) return "key gone";
    if (input.idempotency && isKeyTaken(err)) return replay(env, input.idempotency);
    throw err;
  }
  const statusChanged = statusAt >= 0 && (results[statusAt]?.meta.changes ?? 0) > 0;
  const contact = results[contactAt]?.results[0] as { id: string } | undefined;
  if (!contact) throw new Error("contact upsert returned no row");
  const read = results[readAt]?.results[0] as { undispatched: number; has_segments: number } | undefined;
  if (!read) throw new Error("event insert returned no row");
  return {
    contactId: contact.id,
    eventId,
    timestamp,
    stored: statusChanged ? [statusEventId, eventId] : [eventId],
    dispatch:
      statusChanged || !read.undispatched
        ? null
        : {
            id: eventId,
            project_id: projectId,
            contact_id: contact.id,
            name: input.name,
            data: JSON.stringify(input.eventData),
            created_at: now,
          },
    hasSegments: Boolean(read.has_segments),
  };
}
