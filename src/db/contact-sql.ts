/**
 * The contact writes that must be atomic with the events they cause, as D1 statements for a batch().
 * A batch runs as one transaction, so "was the status different before this write?" is answered by a
 * statement placed before the write, with no race between concurrent requests.
 */
import type { Env } from "../env";

/**
 * A key resolved from memory (`trackAuth`): the write it authorises holds it against the projects row in
 * its own transaction, so a key rotated since writes nothing.
 */
export interface KeyCheck {
  column: "public_key_hash" | "secret_key_hash";
  hash: string;
}

/**
 * The project id as an SQL expression: the id when the key still names that project, NULL otherwise.
 * `p` and `k` are the placeholders bound to the project id and the key's hash.
 */
function projectIdSql(column: KeyCheck["column"], p: string, k: string): string {
  return `(SELECT id FROM projects WHERE id = ${p} AND ${column} = ${k})`;
}

/** Whether a D1 error is the one a contact upsert with a key check fails with when the key no longer holds. */
export function isKeyGone(err: unknown): boolean {
  return err instanceof Error && /NOT NULL constraint failed: contacts\.project_id/.test(err.message);
}

/**
 * Shallow merge of two JSON objects in SQL: the keys of `patch` replace those of `base`; others stay.
 * A value keeps its JSON type (objects and arrays stay JSON, true/false/null stay literals).
 */
export function mergeJsonSql(base: string, patch: string): string {
  const value = `CASE type WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
    WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') WHEN 'null' THEN json('null') ELSE value END`;
  return `(SELECT json_group_object(key, ${value}) FROM (
    SELECT key, value, type FROM json_each(${base}) WHERE key NOT IN (SELECT key FROM json_each(${patch}))
    UNION ALL SELECT key, value, type FROM json_each(${patch})))`;
}

export interface StatusChange {
  eventId: string;
  projectId: string;
  /** The status being written; null writes none and records nothing. */
  subscribed: boolean | null;
  now: number;
  /** The event's data: `{}`, or `{reason}` when the system made the change. */
  data?: Record<string, unknown>;
}

/**
 * Records `contact.subscribed` / `contact.unsubscribed` if the contact exists and its status differs from
 * the one about to be written. Place it in the batch before the write; its `changes` tell whether it did.
 */
export function statusChangeEvent(
  env: Pick<Env, "DB">,
  where: { email: string } | { contactId: string },
  change: StatusChange,
): D1PreparedStatement {
  const sub = change.subscribed === null ? null : change.subscribed ? 1 : 0;
  const [column, value] = "email" in where ? ["email", where.email] : ["id", where.contactId];
  // OR IGNORE: a derived event id (a retried workflow step) that is already stored is not an error.
  return env.DB.prepare(
    `INSERT OR IGNORE INTO events (id, project_id, contact_id, name, data, created_at)
     SELECT ?1, project_id, id, CASE WHEN ?2 = 1 THEN 'contact.subscribed' ELSE 'contact.unsubscribed' END, ?6, ?3
     FROM contacts WHERE project_id = ?4 AND ${column} = ?5 AND ?2 IS NOT NULL AND subscribed != ?2`,
  ).bind(change.eventId, sub, change.now, change.projectId, value, JSON.stringify(change.data ?? {}));
}

export interface ContactUpsert {
  id: string;
  projectId: string;
  email: string;
  /** null: a new contact gets `defaultSubscribed`, an existing one keeps its status. */
  subscribed: boolean | null;
  defaultSubscribed: boolean;
  data: Record<string, unknown>;
  now: number;
}

/** Insert or shallow-merge a contact by (project, email); RETURNING its row (and whether it is new). */
export function upsertContact(
  env: Pick<Env, "DB">,
  u: ContactUpsert,
  keyCheck?: KeyCheck,
): D1PreparedStatement {
  const sub = u.subscribed === null ? null : u.subscribed ? 1 : 0;
  const stmt = env.DB.prepare(upsertContactSql(keyCheck?.column));
  const args = [u.id, u.projectId, u.email, sub, u.defaultSubscribed ? 1 : 0, JSON.stringify(u.data), u.now];
  return keyCheck ? stmt.bind(...args, keyCheck.hash) : stmt.bind(...args);
}

/** The upsert's text, built once for each way of naming the project (a key column to hold, or none). */
const upsertSqlByColumn = new Map<KeyCheck["column"] | undefined, string>();

function upsertContactSql(column: KeyCheck["column"] | undefined): string {
  let sql = upsertSqlByColumn.get(column);
  if (sql) return sql;
  // With a key check, the project id is taken from the projects row only if the key still names it:
  // otherwise it is NULL, the insert fails, and so does the batch this statement is in.
  const projectId = column ? projectIdSql(column, "?2", "?8") : "?2";
  sql = `INSERT INTO contacts (id, project_id, email, subscribed, data, created_at, updated_at)
     VALUES (?1, ${projectId}, ?3, coalesce(?4, ?5), ?6, ?7, ?7)
     ON CONFLICT (project_id, email) DO UPDATE SET
       subscribed = coalesce(?4, contacts.subscribed),
       data = ${mergeJsonSql("contacts.data", "excluded.data")},
       updated_at = excluded.updated_at
     RETURNING id, email, subscribed, data, created_at, updated_at, (id = ?1) AS created`;
  upsertSqlByColumn.set(column, sql);
  return sql;
}

export interface ContactRowRaw {
  id: string;
  email: string;
  subscribed: number;
  data: string;
  created_at: number;
  updated_at: number;
  created?: number;
}
