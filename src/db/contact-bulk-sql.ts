/**
 * Contact writes of many rows at once (the import, bulk subscribe / unsubscribe / delete): one statement
 * per kind of write over a JSON array of rows (`json_each`), placed in one D1 batch, so a batch is whole
 * or absent. As in contact-sql.ts, a status event is written by a statement placed before the change,
 * and only where the status really differs: a batch run twice stores its events once.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { cancelExecution } from "../engine/cancel";
import type { Env } from "../env";
import { engineOf, shardOf, shardStub } from "../shard/routing";
import { mergeJsonSql } from "./contact-sql";
import { executions } from "./schema";

/** One row of an import batch. */
export interface ImportRow {
  /** The email (trimmed, lower-cased, checked). */
  e: string;
  /** 1, 0, or null: not given (a new contact is subscribed, an existing one keeps its status). */
  s: 0 | 1 | null;
  /** Data to merge (shallow) into the contact's. */
  d: Record<string, unknown>;
  /** The id a new contact gets. */
  c: string;
  /** The id of the status event, should the row change an existing contact's status. */
  v: string;
}

/** Whether merging `patch` into `base` (JSON objects, as SQL expressions) would change any key. */
const dataChangesSql = (base: string, patch: string) =>
  `EXISTS (SELECT 1 FROM json_each(${patch}) p LEFT JOIN json_each(${base}) b ON b.key = p.key
     WHERE b.key IS NULL OR b.type != p.type OR b.value IS NOT p.value)`;

/**
 * An import batch: [status events RETURNING id, updated contacts RETURNING id, new contacts RETURNING id,
 * the ids of every row's contact]. An existing contact whose status and data the row would leave as they
 * are is not written (its `updated_at` stays): a file imported twice changes nothing the second time.
 */
export function importStatements(
  env: Pick<Env, "DB">,
  projectId: string,
  rows: ImportRow[],
  now: number,
): D1PreparedStatement[] {
  const db = env.DB;
  const json = JSON.stringify(rows);
  return [
    db
      .prepare(
        `INSERT INTO events (id, project_id, contact_id, name, data, created_at)
         SELECT r.value ->> '$.v', c.project_id, c.id,
                CASE WHEN r.value ->> '$.s' = 1 THEN 'contact.subscribed' ELSE 'contact.unsubscribed' END, '{}', ?2
           FROM json_each(?3) r JOIN contacts c ON c.project_id = ?1 AND c.email = r.value ->> '$.e'
          WHERE r.value ->> '$.s' IS NOT NULL AND c.subscribed != r.value ->> '$.s'
         RETURNING id`,
      )
      .bind(projectId, now, json),
    db
      .prepare(
        `UPDATE contacts SET
           subscribed = coalesce(r.s, contacts.subscribed),
           data = ${mergeJsonSql("contacts.data", "r.d")},
           updated_at = ?2
         FROM (SELECT value ->> '$.e' AS e, value ->> '$.s' AS s, value -> '$.d' AS d FROM json_each(?3)) AS r
         WHERE contacts.project_id = ?1 AND contacts.email = r.e
           AND ((r.s IS NOT NULL AND r.s != contacts.subscribed) OR ${dataChangesSql("contacts.data", "r.d")})
         RETURNING id`,
      )
      .bind(projectId, now, json),
    // WHERE true: SQLite needs it to read ON CONFLICT after INSERT … SELECT.
    db
      .prepare(
        `INSERT INTO contacts (id, project_id, email, subscribed, data, created_at, updated_at)
         SELECT value ->> '$.c', ?1, value ->> '$.e', coalesce(value ->> '$.s', 1), value -> '$.d', ?2, ?2
           FROM json_each(?3) WHERE true
         ON CONFLICT (project_id, email) DO NOTHING
         RETURNING id`,
      )
      .bind(projectId, now, json),
    db
      .prepare(
        "SELECT id FROM contacts WHERE project_id = ?1 AND email IN (SELECT value ->> '$.e' FROM json_each(?2))",
      )
      .bind(projectId, json),
  ];
}

/**
 * Subscribes or unsubscribes contacts by id, in one batch: [status events RETURNING id, changed contacts
 * RETURNING id, the ids of the project's contacts among `ids`]. A contact already in that status is not
 * written and gets no event, so a retried batch emits nothing twice. `eventIds` pairs with `ids`.
 */
export function statusStatements(
  env: Pick<Env, "DB">,
  projectId: string,
  ids: string[],
  eventIds: string[],
  subscribed: boolean,
  now: number,
): D1PreparedStatement[] {
  const db = env.DB;
  const pairs = JSON.stringify(ids.map((i, n) => ({ i, v: eventIds[n] })));
  const sub = subscribed ? 1 : 0;
  const name = subscribed ? "contact.subscribed" : "contact.unsubscribed";
  return [
    db
      .prepare(
        `INSERT INTO events (id, project_id, contact_id, name, data, created_at)
         SELECT r.value ->> '$.v', c.project_id, c.id, ?5, '{}', ?2
           FROM json_each(?3) r JOIN contacts c ON c.project_id = ?1 AND c.id = r.value ->> '$.i'
          WHERE c.subscribed != ?4
         RETURNING id`,
      )
      .bind(projectId, now, pairs, sub, name),
    db
      .prepare(
        `UPDATE contacts SET subscribed = ?4, updated_at = ?2
          WHERE project_id = ?1 AND id IN (SELECT value ->> '$.i' FROM json_each(?3)) AND subscribed != ?4
         RETURNING id`,
      )
      .bind(projectId, now, pairs, sub),
    db
      .prepare(
        "SELECT id FROM contacts WHERE project_id = ?1 AND id IN (SELECT value ->> '$.i' FROM json_each(?2))",
      )
      .bind(projectId, pairs),
  ];
}

/**
 * Deletes the project's contacts among `ids` as `DELETE /contacts/:id` does: their running and waiting
 * executions are cancelled first (one waiting with no timeout would wait forever), then their events,
 * segment memberships and rows go in one batch. Returns the ids deleted (another project's, or one
 * already gone, is not among them). Run again after a crash, it finishes what is left.
 */
export async function deleteContacts(env: Env, projectId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const json = JSON.stringify(ids);
  const active = await drizzle(env.DB)
    .select()
    .from(executions)
    .where(
      and(
        eq(executions.projectId, projectId),
        sql`${executions.contactId} IN (SELECT value FROM json_each(${json}))`,
        inArray(executions.status, ["RUNNING", "WAITING"]),
      ),
    );
  await Promise.all(active.map((e) => cancelExecution(env, e)));
  if ((await engineOf(env, projectId)) === "shard") await cancelInShards(env, projectId, json);
  const db = env.DB;
  const results = await db.batch([
    db
      .prepare("DELETE FROM events WHERE project_id = ?1 AND contact_id IN (SELECT value FROM json_each(?2))")
      .bind(projectId, json),
    db
      .prepare(
        "DELETE FROM segment_members WHERE project_id = ?1 AND contact_id IN (SELECT value FROM json_each(?2))",
      )
      .bind(projectId, json),
    db
      .prepare(
        "DELETE FROM contacts WHERE project_id = ?1 AND id IN (SELECT value FROM json_each(?2)) RETURNING id",
      )
      .bind(projectId, json),
  ]);
  return ((results[2]?.results ?? []) as { id: string }[]).map((r) => r.id);
}

/** On the shard engine: the contacts' active executions, cancelled by their shards. */
async function cancelInShards(env: Env, projectId: string, idsJson: string): Promise<void> {
  const { results } = await env.DB.prepare(
    `SELECT c.id, c.email FROM json_each(?2) AS m CROSS JOIN contacts c ON c.project_id = ?1 AND c.id = m.value`,
  )
    .bind(projectId, idsJson)
    .all<{ id: string; email: string }>();
  const byShard = new Map<string, string[]>();
  for (const r of results) {
    const name = await shardOf(env, projectId, r.email);
    byShard.set(name, [...(byShard.get(name) ?? []), r.id]);
  }
  await Promise.all([...byShard].map(([name, ids]) => shardStub(env, name).cancelContacts(ids)));
}

/** The `id` column of a batch result's rows. */
export const idsOf = (r: D1Result | undefined): string[] =>
  ((r?.results ?? []) as { id: string }[]).map((x) => x.id);
