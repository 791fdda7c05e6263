/**
 * Dashboard sessions (API.md "Dashboard sessions"): a project's secret key, or a one-time sign-in link,
 * exchanged for a random session id in an HttpOnly, SameSite=Strict cookie (Secure outside development
 * and tests) that page scripts cannot read. D1 keeps only the id's SHA-256 and the project's secret-key
 * hash of the moment: a session counts while that hash is still the project's, so rotating the keys
 * ends every session of the project at once. Requests that change state with the cookie must come from
 * this origin (`Origin` checked); requests with an `Authorization` header never look at the cookie.
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { registry } from "../db/databases";
import { base64url, sha256Hex } from "../domain/crypto";
import type { Env } from "../env";
import type { AppEnv, AuthedProject } from "./context";
import { ApiError } from "./errors";

export const SESSION_COOKIE = "plunk_session";
export const SESSION_TTL_MS = 12 * 3_600_000;
export const SIGN_IN_LINK_TTL_MS = { default: 3_600_000, max: 7 * 86_400_000 };

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export const randomToken = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

/** Whether the cookie may go over plain http: only on a developer's machine and in the tests. */
const insecureAllowed = (env: Env) => env.ENVIRONMENT === "development" || env.ENVIRONMENT === "test";

export interface SessionProject extends AuthedProject {
  /** The secret-key hash the session was made under (held against the projects row by writes). */
  keyHash: string;
  expiresAt: number;
}

/** The session the request's cookie names, if it is live and the project's keys have not been rotated. */
export async function sessionOf(c: Context<AppEnv>): Promise<SessionProject | null> {
  const value = getCookie(c, SESSION_COOKIE);
  if (!value || value.length > 100) return null;
  const row = await registry(c.env)
    .prepare(
      `SELECT p.id, p.name, p.database, s.key_hash AS keyHash, s.expires_at AS expiresAt
       FROM sessions s JOIN projects p ON p.id = s.project_id AND p.secret_key_hash = s.key_hash
      WHERE s.id_hash = ?1 AND s.expires_at > ?2`,
    )
    .bind(await sha256Hex(value), Date.now())
    .first<{ id: string; name: string; database: string; keyHash: string; expiresAt: number }>();
  return row ? { ...row, keyType: "secret" } : null;
}

/**
 * A cookie-authenticated request that changes state must come from a page of this origin: its `Origin`
 * is this origin (or PUBLIC_URL's), or, where a browser sent no `Origin`, its `Sec-Fetch-Site` (which
 * page scripts cannot set) is `same-origin`. A request with neither is refused: other clients use keys.
 */
export function assertSameOrigin(c: Context<AppEnv>): void {
  if (SAFE_METHODS.has(c.req.method)) return;
  const origin = c.req.header("origin");
  const own = new URL(c.req.url).origin;
  let publicOrigin: string | null = null;
  try {
    publicOrigin = c.env.PUBLIC_URL ? new URL(c.env.PUBLIC_URL).origin : null;
  } catch {}
  const sameOrigin =
    origin === undefined
      ? c.req.header("sec-fetch-site") === "same-origin"
      : origin === own || origin === publicOrigin;
  if (!sameOrigin) {
    throw new ApiError(
      403,
      "FORBIDDEN",
      "Cross-origin request refused: a session may only be used by this origin",
    );
  }
}

/** Makes a session for the project under the given secret-key hash and sets its cookie. */
export async function startSession(c: Context<AppEnv>, projectId: string, keyHash: string) {
  const value = randomToken();
  const now = Date.now();
  const expiresAt = now + SESSION_TTL_MS;
  await registry(c.env)
    .prepare(
      `INSERT INTO sessions (id_hash, project_id, key_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)`,
    )
    .bind(await sha256Hex(value), projectId, keyHash, now, expiresAt)
    .run();
  setCookie(c, SESSION_COOKIE, value, {
    httpOnly: true,
    sameSite: "Strict",
    secure: !insecureAllowed(c.env),
    path: "/",
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  });
  return { expiresAt };
}

/** Ends the request's session (its row and its cookie); a missing one is fine. */
export async function endSession(c: Context<AppEnv>): Promise<void> {
  const value = getCookie(c, SESSION_COOKIE);
  if (value && value.length <= 100) {
    await registry(c.env)
      .prepare("DELETE FROM sessions WHERE id_hash = ?1")
      .bind(await sha256Hex(value))
      .run();
  }
  deleteCookie(c, SESSION_COOKIE, {
    path: "/",
    secure: !insecureAllowed(c.env),
    httpOnly: true,
    sameSite: "Strict",
  });
}
