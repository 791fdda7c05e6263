/** Auth by the admin token, a public key or a secret key (API.md "Conventions"). */
import { eq } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import { projects } from "../db/schema";
import { sha256Hex, timingSafeEqualString } from "../domain/crypto";
import type { AppEnv } from "./context";
import { db } from "./db";
import { ApiError } from "./errors";

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

/**
 * Project routes: a secret key, or with `allowPublic` a public key too. Keys are looked up by their
 * SHA-256 hash, so the stored value is never compared with the key itself.
 */
export const projectAuth = (opts: { allowPublic?: boolean } = {}) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const key = bearer(c.req.header("authorization"));
    const keyType = key.startsWith("pk_") ? "public" : key.startsWith("sk_") ? "secret" : null;
    if (!keyType) throw invalid();
    const hash = await sha256Hex(key);
    const column = keyType === "public" ? projects.publicKeyHash : projects.secretKeyHash;
    const [project] = await db(c.env)
      .select({ id: projects.id, name: projects.name, hash: column })
      .from(projects)
      .where(eq(column, hash))
      .limit(1);
    if (!project || !(await timingSafeEqualString(project.hash, hash))) throw invalid();
    if (keyType === "public" && !opts.allowPublic) {
      throw forbidden("A public key can only track events; use the secret key");
    }
    c.set("project", { id: project.id, name: project.name, keyType });
    c.set("log", c.var.log.child({ projectId: project.id }));
    await next();
  });
