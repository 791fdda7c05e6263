import { eq } from "drizzle-orm";
import { Hono } from "hono";
import { projects } from "../db/schema";
import { newSecret } from "../domain/crypto";
import { iso } from "../domain/shapes";
import { projectAuth } from "../http/auth";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { notFound } from "../http/errors";

/** The old secret keeps signing beside the new one for this long. */
export const WEBHOOK_SECRET_OVERLAP_MS = 24 * 60 * 60 * 1000;

export const projectRoutes = new Hono<AppEnv>()
  .use(projectAuth())
  .post("/rotate-webhook-secret", async (c) => {
    const webhookSecret = newSecret("whsec");
    const now = Date.now();
    await c.env.DB.prepare(
      `UPDATE projects SET previous_webhook_secret = webhook_secret, previous_webhook_secret_until = ?2,
         webhook_secret = ?3, updated_at = ?4 WHERE id = ?1`,
    )
      .bind(c.var.project.id, now + WEBHOOK_SECRET_OVERLAP_MS, webhookSecret, now)
      .run();
    c.var.log.info("webhook secret rotated");
    return c.json({ webhookSecret, previousSecretValidUntil: iso(now + WEBHOOK_SECRET_OVERLAP_MS) });
  })
  .get("/", async (c) => {
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
