// The floor of `npm run bench` (see wrangler.toml): for each event, the least DESIGN.md's architecture
// does, with every hop the app makes and none of its generality.
//
// - POST /v1/track: one D1 batch (contact upsert, event insert) before the answer; events that start a
//   workflow are dispatched after it (`waitUntil`) by starting that execution's Durable Object.
// - The Durable Object keeps its state in its own storage, runs the steps, holds one alarm for DELAY, and
//   mirrors its status to D1 (and marks the event dispatched) in one statement batch.
// - A WEBHOOK step queues a message with an id derived from the execution; the consumer claims a queue
//   batch's deliveries in one statement, POSTs each signed, and records their outcomes in one more.
//
// Two flows, named by the event: "bench.hook" (TRIGGER → WEBHOOK) and "bench.flow" (DELAY 1 s →
// CONDITION event.plan = "pro" → WEBHOOK); any other event starts nothing.
import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";

const FLOWS = new Set(["bench.hook", "bench.flow"]);

const UPSERT_CONTACT = `INSERT INTO contacts (id, email, data, created_at, updated_at) VALUES (?1, ?2, '{}', ?3, ?3)
  ON CONFLICT (email) DO UPDATE SET updated_at = excluded.updated_at RETURNING id`;
const INSERT_EVENT = `INSERT INTO events (id, contact_id, name, data, created_at, dispatched_at)
  VALUES (?1, (SELECT id FROM contacts WHERE email = ?2), ?3, ?4, ?5, ?6)`;

const app = new Hono();
app.get("/health", (c) => c.json({ ok: true }));
app.post("/v1/track", async (c) => {
  const body = await c.req.json();
  const now = Date.now();
  const eventId = `evt_${crypto.randomUUID()}`;
  const starts = FLOWS.has(body.event);
  const [contact] = await c.env.DB.batch([
    c.env.DB.prepare(UPSERT_CONTACT).bind(`ctc_${crypto.randomUUID()}`, body.email, now),
    c.env.DB.prepare(INSERT_EVENT).bind(
      eventId,
      body.email,
      body.event,
      JSON.stringify(body.data ?? {}),
      now,
      starts ? null : now,
    ),
  ]);
  const contactId = contact.results[0].id;
  if (starts) {
    const executionId = `exec_${eventId}`;
    const stub = c.env.EXECUTIONS.get(c.env.EXECUTIONS.idFromName(executionId));
    c.executionCtx.waitUntil(
      stub.start({
        executionId,
        eventId,
        flow: body.event,
        contact: { id: contactId, email: body.email },
        data: body.data ?? {},
      }),
    );
  }
  return c.json({ success: true, data: { contact: contactId, event: eventId, timestamp: new Date(now) } });
});

export class FloorExecution extends DurableObject {
  /** Starts the execution once; a second start (a retried dispatch) finds it stored and does nothing. */
  async start(init) {
    if (await this.ctx.storage.get("state")) return;
    const s = { ...init, status: "RUNNING", step: "trigger" };
    if (s.flow === "bench.flow") {
      s.status = "WAITING";
      s.step = "delay";
      await this.ctx.storage.put("state", s);
      await this.ctx.storage.setAlarm(Date.now() + 1000);
      await this.mirror(s, true);
      return;
    }
    await this.ctx.storage.put("state", s);
    await this.webhook(s);
    await this.mirror(s, true);
  }

  async alarm() {
    const s = await this.ctx.storage.get("state");
    if (s?.status !== "WAITING") return;
    if (s.data?.plan === "pro") await this.webhook(s);
    else {
      s.status = "COMPLETED";
      s.step = "condition";
      await this.ctx.storage.put("state", s);
    }
    await this.mirror(s, false);
  }

  async webhook(s) {
    await this.env.WEBHOOKS_QUEUE.send(
      {
        deliveryId: `dlv_${s.executionId}`,
        executionId: s.executionId,
        body: { contact: s.contact, event: s.data, execution: s.executionId },
      },
      { contentType: "json" },
    );
    s.status = "COMPLETED";
    s.step = "webhook";
    await this.ctx.storage.put("state", s);
  }

  async mirror(s, dispatched) {
    const db = this.env.DB;
    const now = Date.now();
    const statements = [
      db
        .prepare(
          `INSERT INTO executions (id, contact_id, status, step, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
           ON CONFLICT (id) DO UPDATE SET status = excluded.status, step = excluded.step, updated_at = excluded.updated_at`,
        )
        .bind(s.executionId, s.contact.id, s.status, s.step, now),
    ];
    if (dispatched) {
      statements.push(
        db
          .prepare("UPDATE events SET dispatched_at = ?2 WHERE id = ?1 AND dispatched_at IS NULL")
          .bind(s.eventId, now),
      );
    }
    await db.batch(statements);
  }
}

let signingKey = null;
async function sign(secret, id, timestamp, body) {
  if (!signingKey || signingKey.secret !== secret) {
    const raw = secret.startsWith("whsec_") ? secret.slice(6) : secret;
    const bytes = Uint8Array.from(atob(raw), (ch) => ch.charCodeAt(0));
    const key = await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    signingKey = { secret, key };
  }
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", signingKey.key, new TextEncoder().encode(`${id}.${timestamp}.${body}`)),
  );
  let bin = "";
  for (const b of mac) bin += String.fromCharCode(b);
  return `v1,${btoa(bin)}`;
}

async function consume(batch, env) {
  const db = env.DB;
  const now = Date.now();
  // Claim: a delivery already DELIVERED is not sent again (a redelivered message is acked).
  const claim = await db
    .prepare(
      `INSERT INTO deliveries (id, execution_id, status, updated_at)
       SELECT j.value ->> 0, j.value ->> 1, 'SENDING', ?2 FROM json_each(?1) AS j WHERE true
       ON CONFLICT (id) DO UPDATE SET status = 'SENDING', updated_at = excluded.updated_at
         WHERE deliveries.status != 'DELIVERED'
       RETURNING id`,
    )
    .bind(JSON.stringify(batch.messages.map((m) => [m.body.deliveryId, m.body.executionId])), now)
    .all();
  const claimed = new Set(claim.results.map((r) => r.id));
  const outcomes = await Promise.all(
    batch.messages.map(async (m) => {
      if (!claimed.has(m.body.deliveryId)) return null;
      const body = JSON.stringify(m.body.body);
      const timestamp = Math.floor(Date.now() / 1000);
      try {
        const res = await fetch(env.WEBHOOK_URL, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "webhook-id": m.body.deliveryId,
            "webhook-timestamp": String(timestamp),
            "webhook-signature": await sign(env.WEBHOOK_SECRET, m.body.deliveryId, timestamp, body),
          },
          body,
        });
        await res.text();
        return [m.body.deliveryId, res.ok ? "DELIVERED" : "FAILED", res.status];
      } catch {
        return [m.body.deliveryId, "FAILED", null];
      }
    }),
  );
  const done = outcomes.filter(Boolean);
  if (done.length > 0) {
    await db
      .prepare(
        `UPDATE deliveries SET status = j.value ->> 1, status_code = j.value ->> 2, updated_at = ?2
         FROM json_each(?1) AS j WHERE deliveries.id = j.value ->> 0`,
      )
      .bind(JSON.stringify(done), Date.now())
      .run();
  }
  batch.messages.forEach((m, i) => {
    if (outcomes[i]?.[1] === "FAILED") m.retry();
    else m.ack();
  });
}

export default { fetch: app.fetch, queue: consume };
