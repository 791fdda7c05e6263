/** The webhook delivery log and replay (API.md "Project resources"). */
import { and, eq, type SQL } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { type WebhookDelivery, webhookDeliveries } from "../db/schema";
import type { DeliveryOut } from "../domain/responses";
import { iso } from "../domain/shapes";
import type { Env } from "../env";
import { projectAuth } from "../http/auth";
import { parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { notFound } from "../http/errors";
import { afterCursor, listQuery, newestFirst, toPage } from "../http/pagination";
import type { Attempt } from "../queues/webhooks";
import { pagedDeliveries, pagedDelivery } from "../shard/reads";
import { engineOf, shardStub } from "../shard/routing";

export const listDeliveries = listQuery.extend({
  status: z.enum(["PENDING", "DELIVERED", "FAILED"]).optional(),
  workflowId: z.string().max(100).optional(),
  executionId: z.string().max(100).optional(),
});

const showDelivery = (d: WebhookDelivery, withAttempts: boolean): DeliveryOut => {
  const attempts = JSON.parse(d.attempts) as Attempt[];
  return {
    id: d.id,
    workflowId: d.workflowId,
    executionId: d.executionId,
    stepId: d.stepId,
    url: d.url,
    method: d.method,
    status: d.status as DeliveryOut["status"],
    attemptCount: attempts.length,
    nextAttemptAt: d.status === "PENDING" ? (attempts.at(-1)?.nextAttemptAt ?? null) : null,
    replays: d.generation,
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
    ...(withAttempts ? { attempts } : {}),
  };
};

async function shardDelivery(env: Env, projectId: string, id: string) {
  const d = await pagedDelivery(env, projectId, id);
  if (!d) throw notFound("Webhook delivery", "DELIVERY_NOT_FOUND");
  return d;
}

async function loadDelivery(env: Env, projectId: string, id: string): Promise<WebhookDelivery> {
  const [row] = await db(env)
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.projectId, projectId), eq(webhookDeliveries.id, id)));
  if (!row) throw notFound("Webhook delivery", "DELIVERY_NOT_FOUND");
  return row;
}

export const deliveryRoutes = new Hono<AppEnv>()
  .use(projectAuth())
  .get("/", async (c) => {
    const q = parseQuery(c, listDeliveries);
    if ((await engineOf(c.env, c.get("project").id)) === "shard")
      return c.json(await pagedDeliveries(c.env, c.get("project").id, q));
    const filters: (SQL | undefined)[] = [
      eq(webhookDeliveries.projectId, c.get("project").id),
      afterCursor(webhookDeliveries.createdAt, webhookDeliveries.id, q.cursor),
    ];
    if (q.status) filters.push(eq(webhookDeliveries.status, q.status));
    if (q.workflowId) filters.push(eq(webhookDeliveries.workflowId, q.workflowId));
    if (q.executionId) filters.push(eq(webhookDeliveries.executionId, q.executionId));
    const rows = await db(c.env)
      .select()
      .from(webhookDeliveries)
      .where(and(...filters))
      .orderBy(...newestFirst(webhookDeliveries.createdAt, webhookDeliveries.id))
      .limit(q.limit + 1);
    return c.json(
      toPage(
        rows,
        q.limit,
        (r) => r.createdAt,
        (r) => showDelivery(r, false),
      ),
    );
  })
  .get("/:id", async (c) => {
    if ((await engineOf(c.env, c.get("project").id)) === "shard") {
      const { owner: _, ...d } = await shardDelivery(c.env, c.get("project").id, c.req.param("id"));
      return c.json(d);
    }
    return c.json(showDelivery(await loadDelivery(c.env, c.get("project").id, c.req.param("id")), true));
  })
  .post("/:id/replay", async (c) => {
    if ((await engineOf(c.env, c.get("project").id)) === "shard") {
      // The execution's shard posts it again (a new generation), once the change is stored.
      const d = await shardDelivery(c.env, c.get("project").id, c.req.param("id"));
      if (!(await shardStub(c.env, d.owner).replay(d.executionId, d.id)))
        throw notFound("Webhook delivery", "DELIVERY_NOT_FOUND");
      const { owner: _, ...after } = await shardDelivery(c.env, c.get("project").id, d.id);
      return c.json(after, 202);
    }
    const d = await loadDelivery(c.env, c.get("project").id, c.req.param("id"));
    // A new generation: queue messages of the old one are stale and send nothing.
    const row = await c.env.DB.prepare(
      `UPDATE webhook_deliveries SET generation = generation + 1, status = 'PENDING', lease_until = NULL, updated_at = ?2
       WHERE id = ?1 RETURNING generation`,
    )
      .bind(d.id, Date.now())
      .first<{ generation: number }>();
    const generation = (row as { generation: number }).generation;
    await c.env.WEBHOOKS_QUEUE.send(
      { kind: "webhook-replay", deliveryId: d.id, generation, projectId: c.get("project").id },
      { contentType: "json" },
    );
    c.get("log").info("webhook replay queued", { deliveryId: d.id, generation });
    return c.json(showDelivery(await loadDelivery(c.env, c.get("project").id, d.id), true), 202);
  });
