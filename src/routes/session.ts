/**
 * Dashboard sign-in (API.md "Dashboard sessions"): `POST /session` exchanges a project's secret key for
 * a session cookie, `GET /session` names the signed-in project, `DELETE /session` signs out, and
 * `GET /session/link/:token` spends a one-time sign-in link (made by `POST /admin/projects/:id/sign-in-links`).
 */
import { Hono } from "hono";
import { z } from "zod";
import { registry } from "../db/databases";
import { sha256Hex } from "../domain/crypto";
import type { SessionOut } from "../domain/responses";
import { iso } from "../domain/shapes";
import { parseJson } from "../http/body";
import type { AppEnv } from "../http/context";
import { ApiError } from "../http/errors";
import { assertSameOrigin, endSession, sessionOf, startSession } from "../http/session";

export const signInBody = z.strictObject({
  secretKey: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .regex(/^sk_/, "A project's secret key (sk_…); the public key cannot sign in"),
});

const noSession = () =>
  new ApiError(
    401,
    "INVALID_SESSION",
    "Not signed in, or the session ended (expired, signed out, keys rotated)",
  );

const show = (project: { id: string; name: string }, expiresAt: number): SessionOut => ({
  project: { id: project.id, name: project.name },
  expiresAt: iso(expiresAt) as string,
});

export const sessionRoutes = new Hono<AppEnv>()
  .post("/", async (c) => {
    // A sign-in posted from another site's page would sign the browser in to someone else's project.
    if (c.req.header("origin") !== undefined) assertSameOrigin(c);
    const { data } = await parseJson(c, signInBody);
    const keyHash = await sha256Hex(data.secretKey);
    const project = await registry(c.env)
      .prepare("SELECT id, name FROM projects WHERE secret_key_hash = ?1")
      .bind(keyHash)
      .first<{ id: string; name: string }>();
    if (!project) throw new ApiError(401, "INVALID_API_KEY", "Invalid API key");
    const { expiresAt } = await startSession(c, project.id, keyHash);
    c.get("log").info("dashboard session started", { projectId: project.id, via: "key" });
    c.header("Cache-Control", "no-store");
    return c.json(show(project, expiresAt), 201);
  })
  .get("/", async (c) => {
    const session = await sessionOf(c);
    if (!session) throw noSession();
    c.header("Cache-Control", "no-store");
    return c.json(show(session, session.expiresAt));
  })
  .delete("/", async (c) => {
    if (c.req.header("cookie") !== undefined) assertSameOrigin(c);
    await endSession(c);
    return c.body(null, 204);
  })
  .get("/link/:token", async (c) => {
    const token = c.req.param("token");
    c.header("Cache-Control", "no-store");
    c.header("Referrer-Policy", "no-referrer");
    if (token.length > 100) return c.redirect("/app/sign-in?error=link", 303);
    // Spent in the same statement that reads it: two clicks cannot both sign in.
    const link = await registry(c.env)
      .prepare(
        `DELETE FROM sign_in_links WHERE token_hash = ?1 AND expires_at > ?2
       RETURNING project_id AS projectId, key_hash AS keyHash`,
      )
      .bind(await sha256Hex(token), Date.now())
      .first<{ projectId: string; keyHash: string }>();
    const live =
      link &&
      (await registry(c.env)
        .prepare("SELECT 1 AS ok FROM projects WHERE id = ?1 AND secret_key_hash = ?2")
        .bind(link.projectId, link.keyHash)
        .first());
    if (!link || !live) return c.redirect("/app/sign-in?error=link", 303);
    await startSession(c, link.projectId, link.keyHash);
    c.get("log").info("dashboard session started", { projectId: link.projectId, via: "link" });
    return c.redirect("/app/", 303);
  });
