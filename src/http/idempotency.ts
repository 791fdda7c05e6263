/**
 * `Idempotency-Key` (API.md): the key's row is written in the same D1 batch as the effects it guards,
 * as the batch's last statement. A repeat makes that insert fail on the primary key, which rolls the whole
 * batch back; the first answer is then read and returned. No pending state exists, so a crash never
 * leaves a key stuck.
 */
import type { Context } from "hono";
import { sha256Hex } from "../domain/crypto";
import type { Env } from "../env";
import { ApiError, conflict, fieldError } from "./errors";

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
const PRINTABLE = /^[\x20-\x7e]{1,255}$/;

export interface Idempotency {
  projectId: string;
  route: string;
  key: string;
  requestHash: string;
  now: number;
}

export async function readIdempotency(
  c: Context,
  projectId: string,
  route: string,
  rawBody: string,
  now: number,
): Promise<Idempotency | null> {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return null;
  if (!PRINTABLE.test(key)) {
    throw fieldError(
      "Idempotency-Key",
      "Must be 1-255 printable ASCII characters",
      "invalid_idempotency_key",
    );
  }
  return { projectId, route, key, requestHash: await sha256Hex(rawBody), now };
}

/** First in the batch: forget this key if its 24 hours have passed. */
export function expireKey(env: Pick<Env, "DB">, idem: Idempotency): D1PreparedStatement {
  return env.DB.prepare(
    "DELETE FROM idempotency_keys WHERE project_id = ?1 AND route = ?2 AND key = ?3 AND created_at < ?4",
  ).bind(idem.projectId, idem.route, idem.key, idem.now - IDEMPOTENCY_TTL_MS);
}

/**
 * Last in the batch: record the answer. `bodySql` is an SQL expression (it may read rows the batch wrote);
 * its parameters follow the five of this statement (`?6` on).
 */
export function recordKey(
  env: Pick<Env, "DB">,
  idem: Idempotency,
  status: number,
  bodySql: string,
  bodyParams: unknown[],
): D1PreparedStatement {
  return env.DB.prepare(
    `INSERT INTO idempotency_keys (project_id, route, key, request_hash, status_code, response_body, created_at)
     VALUES (?1, ?2, ?3, ?4, ${status}, ${bodySql}, ?5)`,
  ).bind(idem.projectId, idem.route, idem.key, idem.requestHash, idem.now, ...bodyParams);
}

export function isKeyTaken(err: unknown): boolean {
  return err instanceof Error && /UNIQUE constraint failed: idempotency_keys/.test(err.message);
}

/** After a batch refused for the key: the first answer again, or 409 when the body differs. */
export async function replay(env: Pick<Env, "DB">, idem: Idempotency): Promise<Response> {
  const row = await env.DB.prepare(
    "SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE project_id = ?1 AND route = ?2 AND key = ?3",
  )
    .bind(idem.projectId, idem.route, idem.key)
    .first<{ request_hash: string; status_code: number; response_body: string }>();
  if (!row) throw new ApiError(409, "CONFLICT", "The request conflicted with another one; try again");
  if (row.request_hash !== idem.requestHash) {
    throw conflict("This Idempotency-Key was used with a different request body", "IDEMPOTENCY_KEY_REUSED");
  }
  return new Response(row.response_body, {
    status: row.status_code,
    headers: { "content-type": "application/json", "idempotent-replayed": "true" },
  });
}
