/** Auth by the admin token, a public key or a secret key (API.md "Conventions"). */
import { eq } from "drizzle-orm";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { KeyCheck } from "../db/contact-sql";
import { projectEnv } from "../db/databases";
import { projects } from "../db/schema";
import { sha256Hex, timingSafeEqualString } from "../domain/crypto";
import { rememberPlacement } from "../shard/routing";
import type { AppEnv, AuthedProject } from "./context";
import { db } from "./db";
import { ApiError } from "./errors";
import { assertSameOrigin, type SessionProject, sessionOf } from "./session";

const missing = () => new ApiError(401, "MISSING_AUTH", "Missing Authorization: Bearer <key> header");
const invalid = () => new ApiError(401, "INVALID_API_KEY", "Invalid API key");
const forbidden = (message: string) => new ApiError(403, "FORBIDDEN", message);

function bearer(header: string | undefined): string {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  if (!match?.[1]) throw missing();
  return match[1];
}

/** `/admin` routes: the ADMIN_TOKEN secret; with no secret set, nothing gets in. */
export const adminAuth = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearer(c.req.header("authorization"));
  if (/^(pk|sk)_/.test(token)) throw forbidden("Project keys cannot use admin routes");
  const expected = c.env.ADMIN_TOKEN;
  if (!expected || !(await timingSafeEqualString(token, expected))) throw invalid();
  await next();
});

type KeyType = AuthedProject["keyType"];

function keyOf(c: Context<AppEnv>): { key: string; keyType: KeyType } {
  const key = bearer(c.req.header("authorization"));
  const keyType = key.startsWith("pk_") ? "public" : key.startsWith("sk_") ? "secret" : null;
  if (!keyType) throw invalid();
  return { key, keyType };
}

/** The project a key names, read from D1 by the key's SHA-256 hash; 401 if none. */
async function lookUp(env: AppEnv["Bindings"], keyType: KeyType, hash: string): Promise<AuthedProject> {
  const column = keyType === "public" ? projects.publicKeyHash : projects.secretKeyHash;
  const [project] = await db(env)
    .select({
      id: projects.id,
      name: projects.name,
      database: projects.database,
      engine: projects.engine,
      shards: projects.shards,
      hash: column,
    })
    .from(projects)
    .where(eq(column, hash))
    .limit(1);
  if (!project || !(await timingSafeEqualString(project.hash, hash))) throw invalid();
  rememberPlacement(project.id, project.engine, project.shards);
  return { id: project.id, name: project.name, database: project.database, keyType };
}

/** The request is the project's: its log lines name it, and `c.env.DB` is its database from here on. */
function authed(c: Context<AppEnv>, project: AuthedProject) {
  c.set("project", project);
  c.env = projectEnv(c.env, project.database);
  c.set("log", c.get("log").child({ projectId: project.id }));
}

/**
 * A request with no `Authorization` header but a dashboard session cookie: the session's project, as a
 * secret key would name it; a write must come from this origin. Null when there is no cookie to try.
 */
async function bySession(c: Context<AppEnv>): Promise<SessionProject | null> {
  if (c.req.header("authorization") !== undefined) return null;
  const session = await sessionOf(c);
  if (!session) return null;
  assertSameOrigin(c);
  return session;
}

/**
 * Project routes: a secret key (or the dashboard's session cookie), or with `allowPublic` a public key
 * too. Keys are looked up by their SHA-256 hash, so the stored value is never compared with the key itself.
 */
export const projectAuth = (opts: { allowPublic?: boolean } = {}) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const session = await bySession(c);
    if (session) {
      authed(c, { id: session.id, name: session.name, database: session.database, keyType: "secret" });
      return next();
    }
    const { key, keyType } = keyOf(c);
    const project = await lookUp(c.env, keyType, await sha256Hex(key));
    if (keyType === "public" && !opts.allowPublic) {
      throw forbidden("A public key can only track events; use the secret key");
    }
    authed(c, project);
    await next();
  });

/**
 * Keys seen valid by this isolate, by the key itself: the project it named, its hash, and when that was
 * read. Keyed by the key (not its hash), a hit needs no hashing; the map lives in this isolate's memory
 * only, as the request that carried the key does, and is never logged.
 */
const seen = new Map<string, { project: AuthedProject; hash: string; at: number }>();
const SEEN_TTL_MS = 60_000;
const SEEN_MAX = 1_000;

/**
 * `POST /v1/track` (a public or a secret key), without a D1 round trip of its own: a key this isolate
 * has seen valid in the last minute names its project from memory, and the route's one D1 batch holds
 * the key against the projects row in the same transaction (`keyCheck`): a key rotated since makes the
 * batch write nothing, and the route answers 401 and forgets the key (`keyGone`). Rotation therefore
 * takes effect at once, as with `projectAuth`. A key not in memory is looked up as `projectAuth` does.
 */
export const trackAuth = createMiddleware<AppEnv>(async (c, next) => {
  const session = await bySession(c);
  if (session) {
    // The dashboard's "Track event": the write is held against the key the session was made under.
    authed(c, { id: session.id, name: session.name, database: session.database, keyType: "secret" });
    c.set("keyCheck", { column: "secret_key_hash", hash: session.keyHash });
    return next();
  }
  const { key, keyType } = keyOf(c);
  const now = Date.now();
  let hit = seen.get(key);
  if (!hit || now - hit.at > SEEN_TTL_MS) {
    const hash = await sha256Hex(key);
    hit = { project: await lookUp(c.env, keyType, hash), hash, at: now };
    if (seen.size >= SEEN_MAX) seen.clear();
    seen.set(key, hit);
  }
  authed(c, hit.project);
  c.set("keyCheck", { column: keyType === "public" ? "public_key_hash" : "secret_key_hash", hash: hit.hash });
  await next();
});

/** After a write found that the key no longer names its project: forget it, and answer 401. */
export function keyGone(check: KeyCheck): ApiError {
  for (const [key, entry] of seen) if (entry.hash === check.hash) seen.delete(key);
  return invalid();
}
