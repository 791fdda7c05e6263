/**
 * The one path every event takes (DESIGN.md "One path for every event"): store it, then dispatch it.
 * Tracked events and the system's own events (subscription changes, later email and segment events)
 * are stored here, in the same D1 batch as the change that caused them.
 */
import { statusChangeEvent, upsertContact } from "./db/contact-sql";
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
}

export interface TrackResult {
  contactId: string;
  eventId: string;
  timestamp: string;
  /** Every event this request stored, in order: a subscription change first, then the tracked one. */
  stored: string[];
}

/**
 * Upserts the contact and stores the event (and a status change, if any) in one batch. With an
 * idempotency key, a repeat returns the first answer as a Response instead.
 */
export async function trackEvent(env: Env, input: TrackInput): Promise<TrackResult | Response> {
  const { projectId, email, now } = input;
  const statusEventId = newId("evt", now);
  const eventId = newId("evt", now);
  const timestamp = new Date(now).toISOString();

  const statements: D1PreparedStatement[] = [];
  if (input.idempotency) statements.push(expireKey(env, input.idempotency));
  const statusAt = statements.length;
  statements.push(
    statusChangeEvent(
      env,
      { email },
      { eventId: statusEventId, projectId, subscribed: input.subscribed, now },
    ),
    upsertContact(env, {
      id: newId("ctc", now),
      projectId,
      email,
      subscribed: input.subscribed,
      defaultSubscribed: true,
      data: input.persistentData,
      now,
    }),
    env.DB.prepare(
      `INSERT INTO events (id, project_id, contact_id, name, data, created_at)
       VALUES (?1, ?2, (SELECT id FROM contacts WHERE project_id = ?2 AND email = ?3), ?4, ?5, ?6)`,
    ).bind(eventId, projectId, email, input.name, JSON.stringify(input.eventData), now),
  );
  if (input.idempotency) {
    statements.push(
      recordKey(
        env,
        input.idempotency,
        200,
        `json_object('success', json('true'), 'data', json_object(
           'contact', (SELECT contact_id FROM events WHERE id = ?6), 'event', ?6, 'timestamp', ?7))`,
        [eventId, timestamp],
      ),
    );
  }

  let results: D1Result[];
  try {
    results = await env.DB.batch(statements);
  } catch (err) {
    if (input.idempotency && isKeyTaken(err)) return replay(env, input.idempotency);
    throw err;
  }
  const statusChanged = (results[statusAt]?.meta.changes ?? 0) > 0;
  const contact = results[statusAt + 1]?.results[0] as { id: string } | undefined;
  if (!contact) throw new Error("contact upsert returned no row");
  return {
    contactId: contact.id,
    eventId,
    timestamp,
    stored: statusChanged ? [statusEventId, eventId] : [eventId],
  };
}
