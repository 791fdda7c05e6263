import { eq } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { writeProjectRow } from "../db/databases";
import { rotateKeys } from "../db/keys";
import { projects } from "../db/schema";
import { newSecret } from "../domain/crypto";
import { timeZoneField } from "../domain/schedule";
import { iso } from "../domain/shapes";
import type { Env } from "../env";
import { projectAuth } from "../http/auth";
import { parseJson } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { notFound } from "../http/errors";
import { MAX_RETENTION_DAYS, MIN_RETENTION_DAYS } from "../retention";
import { rescheduleProject } from "../schedules";
import { engineOf, shardNames, shardStub } from "../shard/routing";

const STATS_WINDOW_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * The last 30 days of email: sent (SES accepted), delivered, bounced (permanent only), complained, and
 * bounceRate = bounced / sent (0 when nothing was sent).
 */
async function stats(env: Env, projectId: string, now: number) {
  const row = await env.DB.prepare(
    `SELECT count(*) AS sent, count(delivered_at) AS delivered, count(bounced_at) AS bounced,
       count(complained_at) AS complained
     FROM emails WHERE project_id = ?1 AND sent_at >= ?2`,
  )
    .bind(projectId, now - STATS_WINDOW_MS)
    .first<{ sent: number; delivered: number; bounced: number; complained: number }>();
  const sent = row?.sent ?? 0;
  const bounced = row?.bounced ?? 0;
  return {
    sent,
    delivered: row?.delivered ?? 0,
    bounced,
    complained: row?.complained ?? 0,
    bounceRate: sent === 0 ? 0 : Math.round((bounced / sent) * 10_000) / 10_000,
  };
}

/** PATCH /project: the settings a project may change (one or both). */
export const patchProject = z
  .strictObject({
    retentionDays: z
      .number()
      .int()
      .min(MIN_RETENTION_DAYS)
      .max(MAX_RETENTION_DAYS)
      .describe("Days ended executions, their logs, finished deliveries, email bodies and events are kept")
      .optional(),
    timeZone: timeZoneField.describe("The IANA time zone schedule triggers are read in").optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: "Give at least one field", path: ["body"] });

async function showProject(env: Env, projectId: string) {
  const [p] = await db(env).select().from(projects).where(eq(projects.id, projectId));
  if (!p) throw notFound("Project");
  return {
    id: p.id,
    name: p.name,
    publicKeyPrefix: p.publicKeyPrefix,
    secretKeyPrefix: p.secretKeyPrefix,
    webhookSecret: p.webhookSecret,
    /** While a rotated secret still signs beside the new one: until when (else null). */
    previousWebhookSecretUntil:
      p.previousWebhookSecretUntil && p.previousWebhookSecretUntil > Date.now()
        ? iso(p.previousWebhookSecretUntil)
        : null,
    retentionDays: p.retentionDays,
    timeZone: p.timeZone,
    createdAt: iso(p.createdAt),
    stats: await stats(env, p.id, Date.now()),
  };
}

/** The old secret keeps signing beside the new one for this long. */
export const WEBHOOK_SECRET_OVERLAP_MS = 24 * 60 * 60 * 1000;

export const projectRoutes = new Hono<AppEnv>()
  .use(projectAuth())
  // New keys, shown once; the old ones (and the dashboard sessions made with the old secret key) stop at once.
  .post("/rotate-keys", async (c) => {
    const keys = await rotateKeys(c.env, c.get("project").id);
    c.get("log").info("project keys rotated");
    return c.json(keys);
  })
  .post("/rotate-webhook-secret", async (c) => {
    const webhookSecret = newSecret("whsec");
    const now = Date.now();
    await writeProjectRow(c.env, c.get("project").id, (d) =>
      d
        .prepare(
          `UPDATE projects SET previous_webhook_secret = webhook_secret, previous_webhook_secret_until = ?2,
             webhook_secret = ?3, updated_at = ?4 WHERE id = ?1`,
        )
        .bind(c.get("project").id, now + WEBHOOK_SECRET_OVERLAP_MS, webhookSecret, now),
    );
    // A shard keeps the secrets it signs with for a minute: each signs with both from its next post.
    const projectId = c.get("project").id;
    if ((await engineOf(c.env, projectId)) === "shard") {
      const told = await Promise.allSettled(
        (await shardNames(c.env, projectId)).map((name) => shardStub(c.env, name).forgetSecrets()),
      );
      const failed = told.filter((t) => t.status === "rejected").length;
      if (failed > 0)
        c.get("log").warn("shards not told of the rotation; they read it within a minute", { failed });
    }
    c.get("log").info("webhook secret rotated");
    return c.json({ webhookSecret, previousSecretValidUntil: iso(now + WEBHOOK_SECRET_OVERLAP_MS) });
  })
  .get("/", async (c) => c.json(await showProject(c.env, c.get("project").id)))
  .patch("/", async (c) => {
    const { data } = await parseJson(c, patchProject);
    const projectId = c.get("project").id;
    const now = Date.now();
    await writeProjectRow(c.env, projectId, (d) =>
      d
        .prepare(
          `UPDATE projects SET retention_days = coalesce(?2, retention_days), time_zone = coalesce(?3, time_zone),
             updated_at = ?4 WHERE id = ?1`,
        )
        .bind(projectId, data.retentionDays ?? null, data.timeZone ?? null, now),
    );
    // Enabled schedules' next times, in the new zone (a retried PATCH finds them again).
    if (data.timeZone) await rescheduleProject(c.env, projectId, data.timeZone, now);
    c.get("log").info("project settings changed", data);
    return c.json(await showProject(c.env, projectId));
  });
