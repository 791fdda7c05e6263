import { eq } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { projects } from "../db/schema";
import { keyPrefix, newSecret, sha256Hex } from "../domain/crypto";
import { newId } from "../domain/ids";
import { iso } from "../domain/shapes";
import { adminAuth } from "../http/auth";
import { parseJson, parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { notFound } from "../http/errors";
import { afterCursor, listQuery, newestFirst, toPage } from "../http/pagination";
import { randomToken, SIGN_IN_LINK_TTL_MS } from "../http/session";

export const createProject = z.object({ name: z.string().trim().min(1).max(100) });

export const createSignInLink = z.strictObject({
  ttlSeconds: z
    .number()
    .int()
    .min(60)
    .max(SIGN_IN_LINK_TTL_MS.max / 1000)
    .default(SIGN_IN_LINK_TTL_MS.default / 1000),
});

async function newKeys() {
  const publicKey = newSecret("pk");
  const secretKey = newSecret("sk");
  return {
    publicKey,
    secretKey,
    hashes: {
      publicKeyHash: await sha256Hex(publicKey),
      secretKeyHash: await sha256Hex(secretKey),
      publicKeyPrefix: keyPrefix(publicKey),
      secretKeyPrefix: keyPrefix(secretKey),
    },
  };
}

const showProject = (p: typeof projects.$inferSelect) => ({
  id: p.id,
  name: p.name,
  publicKeyPrefix: p.publicKeyPrefix,
  secretKeyPrefix: p.secretKeyPrefix,
  createdAt: iso(p.createdAt),
});

export const adminRoutes = new Hono<AppEnv>()
  .use(adminAuth)
  .post("/projects", async (c) => {
    const { data } = await parseJson(c, createProject);
    const now = Date.now();
    const id = newId("prj", now);
    const keys = await newKeys();
    const webhookSecret = newSecret("whsec");
    await db(c.env)
      .insert(projects)
      .values({
        id,
        name: data.name,
        ...keys.hashes,
        webhookSecret,
        signingSecret: newSecret("sk").slice(3),
        createdAt: now,
        updatedAt: now,
      });
    c.get("log").info("project created", { projectId: id });
    return c.json(
      {
        id,
        name: data.name,
        publicKey: keys.publicKey,
        secretKey: keys.secretKey,
        webhookSecret,
        createdAt: iso(now),
      },
      201,
    );
  })
  .get("/projects", async (c) => {
    const q = parseQuery(c, listQuery);
    const rows = await db(c.env)
      .select()
      .from(projects)
      .where(afterCursor(projects.createdAt, projects.id, q.cursor))
      .orderBy(...newestFirst(projects.createdAt, projects.id))
      .limit(q.limit + 1);
    return c.json(toPage(rows, q.limit, (r) => r.createdAt, showProject));
  })
  .post("/projects/:id/rotate-keys", async (c) => {
    const keys = await newKeys();
    const updated = await db(c.env)
      .update(projects)
      .set({ ...keys.hashes, updatedAt: Date.now() })
      .where(eq(projects.id, c.req.param("id")))
      .returning({ id: projects.id });
    if (updated.length === 0) throw notFound("Project", "PROJECT_NOT_FOUND");
    c.get("log").info("project keys rotated", { projectId: c.req.param("id") });
    return c.json({ publicKey: keys.publicKey, secretKey: keys.secretKey });
  })
  .post("/projects/:id/sign-in-links", async (c) => {
    const { data } = await parseJson(c, createSignInLink);
    const [project] = await db(c.env)
      .select({ id: projects.id, keyHash: projects.secretKeyHash })
      .from(projects)
      .where(eq(projects.id, c.req.param("id")));
    if (!project) throw notFound("Project", "PROJECT_NOT_FOUND");
    const token = randomToken();
    const now = Date.now();
    const expiresAt = now + data.ttlSeconds * 1000;
    await c.env.DB.prepare(
      `INSERT INTO sign_in_links (token_hash, project_id, key_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)`,
    )
      .bind(await sha256Hex(token), project.id, project.keyHash, now, expiresAt)
      .run();
    c.get("log").info("sign-in link made", { projectId: project.id });
    const url = `${new URL(c.req.url).origin}/session/link/${token}`;
    return c.json({ url, expiresAt: iso(expiresAt) }, 201);
  });
