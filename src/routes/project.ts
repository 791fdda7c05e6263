import { eq } from "drizzle-orm";
import { Hono } from "hono";
import { projects } from "../db/schema";
import { iso } from "../domain/shapes";
import { projectAuth } from "../http/auth";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { notFound } from "../http/errors";

export const projectRoutes = new Hono<AppEnv>().use(projectAuth()).get("/", async (c) => {
  const [p] = await db(c.env).select().from(projects).where(eq(projects.id, c.var.project.id));
  if (!p) throw notFound("Project");
  return c.json({
    id: p.id,
    name: p.name,
    publicKeyPrefix: p.publicKeyPrefix,
    secretKeyPrefix: p.secretKeyPrefix,
    webhookSecret: p.webhookSecret,
    createdAt: iso(p.createdAt),
  });
});
