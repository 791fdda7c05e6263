/**
 * Projects spread over several D1 databases (DESIGN.md "Past one database"). Every `[[d1_databases]]`
 * binding named `DB` or `DB_<n>` in wrangler.toml holds projects; `DB` is also the registry: the
 * `projects` rows (keys, secrets, which database each project is in), dashboard sessions and sign-in links.
 * A project's database is chosen when it is created (the one holding the fewest projects) and recorded in
 * `projects.database`; its contacts, events, workflows, executions, emails, deliveries and segments live
 * there, with a copy of its `projects` row, so that a batch there can hold a key against it (`keyCheck`).
 *
 * Code below the entry points is written against `env.DB`: an entry point that knows the project (auth, a
 * queue message, the execution's object, the sweep's loop over databases) hands on `projectEnv(env, name)`,
 * whose `DB` is that project's database and whose `REGISTRY` stays the registry.
 */
import type { Env } from "../env";

/** The registry's binding, and the database of a project created before there were several. */
export const REGISTRY_BINDING = "DB";
const BINDING = /^DB(_[0-9]+)?$/;

/** The bindings that hold projects, the registry first. */
export function databaseNames(env: Env): string[] {
  const root = (env.ROOT_ENV ?? env) as unknown as Record<string, unknown>;
  const names = Object.keys(root).filter((k) => BINDING.test(k) && isD1(root[k]));
  return names.sort((a, b) =>
    a === REGISTRY_BINDING ? -1 : b === REGISTRY_BINDING ? 1 : a.localeCompare(b),
  );
}

function isD1(v: unknown): v is D1Database {
  return typeof v === "object" && v !== null && typeof (v as D1Database).prepare === "function";
}

/** The registry database, from any env (a project's included). */
export const registry = (env: Env): D1Database => env.REGISTRY ?? env.DB;

/** `env` with `DB` the database `name` (a binding of `databaseNames`), `REGISTRY` the registry. */
export function projectEnv(env: Env, name: string): Env {
  if (env.DATABASE === name) return env;
  const root = env.ROOT_ENV ?? env;
  // Made once per Worker env and database, its other bindings and vars read through to the Worker's env
  // (its prototype): copying them at each call was a tenth of a webhook post's CPU.
  let made = projectEnvs.get(root);
  if (!made) {
    made = new Map();
    projectEnvs.set(root, made);
  }
  const hit = made.get(name);
  if (hit) return hit;
  const db = (root as unknown as Record<string, unknown>)[name];
  if (!BINDING.test(name) || !isD1(db)) throw new Error(`no D1 binding named ${name}`);
  // Defined, not assigned: an assignment would go to the Worker env's own (read-only) bindings.
  const own = (value: unknown) => ({ value, enumerable: true });
  const out = Object.create(root, {
    DB: own(db),
    DATABASE: own(name),
    REGISTRY: own(root.DB),
    ROOT_ENV: own(root),
  }) as Env;
  made.set(name, out);
  return out;
}

const projectEnvs = new WeakMap<Env, Map<string, Env>>();

/** Projects' databases, as read from the registry: a project never moves, so this isolate keeps them. */
const known = new Map<string, string>();

/** The database of project `projectId` (null if there is no such project). */
export async function databaseOf(env: Env, projectId: string): Promise<string | null> {
  const hit = known.get(projectId);
  if (hit) return hit;
  const row = await registry(env)
    .prepare("SELECT database FROM projects WHERE id = ?1")
    .bind(projectId)
    .first<{ database: string }>();
  if (!row) return null;
  if (known.size > 10_000) known.clear();
  known.set(projectId, row.database);
  return row.database;
}

/** `projectEnv` for project `projectId`, found in the registry; its database if there is no such project. */
export async function envOfProject(env: Env, projectId: string): Promise<Env> {
  return projectEnv(env, (await databaseOf(env, projectId)) ?? REGISTRY_BINDING);
}

/** `projectEnv` for each database, the registry first. */
export const everyDatabase = (env: Env): Env[] => databaseNames(env).map((n) => projectEnv(env, n));

/** The database a new project goes to: the one holding the fewest projects (the registry on a tie). */
export async function databaseForNewProject(env: Env): Promise<string> {
  const names = databaseNames(env);
  if (names.length === 1) return REGISTRY_BINDING;
  const { results } = await registry(env)
    .prepare("SELECT database, count(*) AS n FROM projects GROUP BY database")
    .all<{ database: string; n: number }>();
  const count = new Map(results.map((r) => [r.database, r.n]));
  let best = REGISTRY_BINDING;
  for (const n of names) if ((count.get(n) ?? 0) < (count.get(best) ?? 0)) best = n;
  return best;
}

/**
 * Runs a write of a project's `projects` row on the registry and on the project's own copy (one database
 * when they are the same): the project's copy first, so that once the registry has a new key, no write
 * holds the old one against the copy.
 */
export async function writeProjectRow(
  env: Env,
  projectId: string,
  statement: (db: D1Database) => D1PreparedStatement,
): Promise<D1Result> {
  const own = (await envOfProject(env, projectId)).DB;
  const reg = registry(env);
  if (own !== reg) await statement(own).run();
  return statement(reg).run();
}

/** Where a queue message's project lives: its `db` (set by producers), else its project's, else the registry. */
export async function envOfMessage(env: Env, m: { db?: string; projectId?: string }): Promise<Env> {
  if (m.db) return projectEnv(env, m.db);
  if (m.projectId) return envOfProject(env, m.projectId);
  return projectEnv(env, REGISTRY_BINDING);
}
