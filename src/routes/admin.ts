import { eq } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import {
  databaseForNewProject,
  databaseNames,
  databaseOf,
  projectEnv,
  REGISTRY_BINDING,
} from "../db/databases";
import { newKeys, rotateKeys } from "../db/keys";
import { projects } from "../db/schema";
import { newSecret, sha256Hex } from "../domain/crypto";
import { newId } from "../domain/ids";
import { iso } from "../domain/shapes";
import { adminAuth } from "../http/auth";
import { parseJson, parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { fieldError, notFound } from "../http/errors";
import { afterCursor, listQuery, newestFirst, toPage } from "../http/pagination";
import { randomToken, SIGN_IN_LINK_TTL_MS } from "../http/session";
import { DEFAULT_SHARDS, MAX_SHARDS } from "../shard/routing";

export const createProject = z.object({
  name: z.string().trim().min(1).max(100),
  /** The D1 binding to hold the project (one of wrangler.toml's DB, DB_2, …); by default the emptiest. */
  database: z
    .string()
    .regex(/^DB(_[0-9]+)?$/, "A D1 binding of wrangler.toml: DB, DB_2, …")
    .optional(),
  /**
   * Where its executions run: `shard` (the default: a project's contacts split over shard objects, which
   * store the executions their events start in pages, docs/engine.md) or `objects` (one Durable Object each,
   * the default before; still supported, and what existing projects keep). Chosen at creation, never changed.
   */
  engine: z.enum(["objects", "shard"]).default("shard"),
  /**
   * On the shard engine: how many shards its contacts are split over (1 by default, docs/engine.md,
   * "Shards per project"). Chosen at creation, never changed.
   */
  shards: z.number().int().min(1).max(MAX_SHARDS).optional(),
});

export const createSignInLink = z.strictObject({
  ttlSeconds: z
    .number()
    .int()
    .min(60)
    .max(SIGN_IN_LINK_TTL_MS.max / 1000)
    .default(SIGN_IN_LINK_TTL_MS.default / 1000),
});

const showProject = (p: typeof projects.$inferSelect) => ({
  id: p.id,
  name: p.name,
  publicKeyPrefix: p.publicKeyPrefix,
  secretKeyPrefix: p.secretKeyPrefix,
  database: p.database,
  engine: p.engine,
  ...(p.engine === "shard" ? { shards: p.shards } : {}),
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
    const names = databaseNames(c.env);
    if (data.database && !names.includes(data.database)) {
      throw fieldError(
        "database",
        `No D1 binding ${data.database} here; there are ${names.join(", ")}`,
        "invalid",
      );
    }
    if (data.shards !== undefined && data.engine !== "shard")
      throw fieldError("shards", "Only a project on the shard engine has shards", "invalid");
    const shards = data.engine === "shard" ? (data.shards ?? DEFAULT_SHARDS) : 1;
    const database = data.database ?? (await databaseForNewProject(c.env));
    const row = {
      id,
      name: data.name,
      database,
      engine: data.engine,
      shards,
      ...keys.hashes,
      webhookSecret,
      signingSecret: newSecret("sk").slice(3),
      createdAt: now,
      updatedAt: now,
    };
    // The project's own copy first: a registry row always has its copy (a retry makes a new project).
    if (database !== REGISTRY_BINDING) await db(projectEnv(c.env, database)).insert(projects).values(row);
    await db(c.env).insert(projects).values(row);
    c.get("log").info("project created", { projectId: id, database });
    return c.json(
      {
        id,
        name: data.name,
        publicKey: keys.publicKey,
        secretKey: keys.secretKey,
        webhookSecret,
        database,
        engine: data.engine,
        ...(data.engine === "shard" ? { shards } : {}),
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
    const id = c.req.param("id");
    if (!(await databaseOf(c.env, id))) throw notFound("Project", "PROJECT_NOT_FOUND");
    const keys = await rotateKeys(c.env, id);
    c.get("log").info("project keys rotated", { projectId: id });
    return c.json(keys);
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
