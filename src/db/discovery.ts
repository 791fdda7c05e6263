/**
 * What editors and CLIs are offered to choose from (`GET /workflows/fields`, `GET /events/names`), read
 * from bounded samples of the project's newest rows: contacts and events are keyed by (project_id, id) with
 * time-ordered ids, so "the newest N" is one range of the key, whatever the tables hold.
 */
import type { Env } from "../env";

/** How many of the newest contacts and events a discovery reads. */
export const CONTACTS_SAMPLED = 1_000;
export const EVENTS_SAMPLED = 5_000;

/** SQLite's JSON types as the API names them. */
const TYPE: Record<string, string> = {
  text: "string",
  integer: "number",
  real: "number",
  true: "boolean",
  false: "boolean",
  null: "null",
};

export interface FieldSeen {
  field: string;
  types: string[];
  /** In how many of the sampled rows it appeared (null for the fields every contact has). */
  seen: number | null;
}

/** Leaf fields (`a.b.c`, arrays not entered) of JSON data, by field, with their types and counts. */
function fields(rows: { leaf: string; type: string; n: number }[], prefix: string): FieldSeen[] {
  const byField = new Map<string, FieldSeen>();
  for (const r of rows) {
    const field = `${prefix}${r.leaf}`;
    const f = byField.get(field) ?? { field, types: [], seen: 0 };
    const type = TYPE[r.type] ?? r.type;
    if (!f.types.includes(type)) f.types.push(type);
    f.seen = (f.seen ?? 0) + r.n;
    byField.set(field, f);
  }
  return [...byField.values()].sort(
    (a, b) => (b.seen ?? 0) - (a.seen ?? 0) || a.field.localeCompare(b.field),
  );
}

// json_tree's leaves: not objects or arrays, and not inside an array (a path with `[`). (The alias is not
// `path`: json_tree has a column of that name, which GROUP BY would take.)
const LEAVES = `j.type NOT IN ('object', 'array') AND instr(j.fullkey, '[') = 0`;

/** The contact fields seen in the project's newest contacts' data, after the two every contact has. */
export async function contactFields(env: Env, projectId: string): Promise<FieldSeen[]> {
  const { results } = await env.DB.prepare(
    `SELECT substr(j.fullkey, 3) AS leaf, j.type AS type, count(*) AS n
       FROM (SELECT data FROM contacts WHERE project_id = ?1 ORDER BY id DESC LIMIT ?2) c, json_tree(c.data) j
      WHERE ${LEAVES} GROUP BY leaf, j.type`,
  )
    .bind(projectId, CONTACTS_SAMPLED)
    .all<{ leaf: string; type: string; n: number }>();
  return [
    { field: "contact.email", types: ["string"], seen: null },
    { field: "contact.subscribed", types: ["boolean"], seen: null },
    ...fields(results, "contact.data."),
  ];
}

/** Each named event's data fields seen among the project's newest events. */
export async function eventFields(
  env: Env,
  projectId: string,
  names: string[],
): Promise<Record<string, FieldSeen[]>> {
  if (names.length === 0) return {};
  const { results } = await env.DB.prepare(
    `SELECT e.name AS name, substr(j.fullkey, 3) AS leaf, j.type AS type, count(*) AS n
       FROM (SELECT name, data FROM events WHERE project_id = ?1 ORDER BY id DESC LIMIT ?2) e, json_tree(e.data) j
      WHERE e.name IN (SELECT value FROM json_each(?3)) AND ${LEAVES} GROUP BY e.name, leaf, j.type`,
  )
    .bind(projectId, EVENTS_SAMPLED, JSON.stringify(names))
    .all<{ name: string; leaf: string; type: string; n: number }>();
  return Object.fromEntries(
    names.map((name) => [
      name,
      fields(
        results.filter((r) => r.name === name),
        "event.",
      ),
    ]),
  );
}

/** Event names among the project's newest events, most frequent first, with when each was last seen. */
export async function eventNames(env: Env, projectId: string, limit: number) {
  const rows = await env.DB.batch<{ name: string; n: number; last: number; first: number }>([
    env.DB.prepare(
      `SELECT name, count(*) AS n, max(created_at) AS last, min(created_at) AS first
         FROM (SELECT name, created_at FROM events WHERE project_id = ?1 ORDER BY id DESC LIMIT ?2)
        GROUP BY name ORDER BY n DESC, name LIMIT ?3`,
    ).bind(projectId, EVENTS_SAMPLED, limit),
    env.DB.prepare(
      `SELECT count(*) AS n, min(created_at) AS first, 0 AS last, '' AS name
         FROM (SELECT created_at FROM events WHERE project_id = ?1 ORDER BY id DESC LIMIT ?2)`,
    ).bind(projectId, EVENTS_SAMPLED),
  ]);
  const sample = rows[1]?.results[0];
  return {
    names: (rows[0]?.results ?? []).map((r) => ({ name: r.name, count: r.n, lastSeen: r.last })),
    sampled: sample?.n ?? 0,
    since: sample?.n ? sample.first : null,
  };
}
