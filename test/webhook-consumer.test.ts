/** The `webhooks` queue consumer (fetch spied as the endpoint), its DLQ consumer, and the delivery routes. */
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { WebhookMessage } from "../src/queues/messages";
import { MAX_ATTEMPTS } from "../src/queues/webhooks";
import {
  call,
  captureQueue,
  consume,
  consumeBatch,
  createProject,
  expectEnvelope,
  type TestProject,
} from "./helpers";

let p: TestProject;
beforeAll(async () => {
  p = await createProject();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const newDeliveryId = () => `whd_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;

function message(project: TestProject, over: Partial<WebhookMessage> = {}): WebhookMessage {
  return {
    kind: "webhook",
    deliveryId: newDeliveryId(),
    projectId: project.id,
    workflowId: "wf_hooks",
    executionId: "exec_hooks",
    stepId: "stp_hooks",
    config: { url: "https://hooks.example.com/in", method: "POST" },
    vars: {
      contact: { email: "ada@example.com", subscribed: true, data: { name: "Ada", plan: "pro" } },
      workflow: { id: "wf_hooks", name: "Bounce Notifications" },
      execution: { id: "exec_hooks", startedAt: "2026-01-15T10:30:00.000Z" },
      event: { source: "test" },
    },
    ...over,
  };
}

interface Sent {
  url: string;
  init: RequestInit & { headers: Record<string, string> };
}

/** The worker's outbound fetch, answered by `answer` (a Response, or a function that may throw). */
function endpoint(answer: (n: number) => Response | Promise<Response>) {
  const sent: Sent[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    sent.push({ url: String(input), init: init as Sent["init"] });
    return answer(sent.length);
  });
  return { sent, spy };
}

async function delivery(project: TestProject, id: string) {
  const res = await call("GET", `/webhook-deliveries/${id}`, { key: project.secretKey });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

describe("webhook consumer: the request", () => {
  it("sends one signed POST whose signature verifies with standardwebhooks, default body shape", async () => {
    const { sent } = endpoint(() => new Response("ok", { status: 200 }));
    const m = message(p);
    const before = Math.floor(Date.now() / 1000);
    const out = await consume("webhooks", m);
    expect(out).toMatchObject({ acked: true, retried: false });
    expect(sent).toHaveLength(1);
    const req = sent[0] as Sent;
    expect(req.url).toBe("https://hooks.example.com/in");
    expect(req.init.method).toBe("POST");
    expect(req.init.redirect).toBe("manual");
    const h = req.init.headers;
    expect(h["content-type"]).toBe("application/json");
    expect(h["webhook-id"]).toBe(m.deliveryId);
    const ts = Number(h["webhook-timestamp"]);
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(h["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);

    const payload = req.init.body as string;
    const verified = new Webhook(p.webhookSecret).verify(payload, {
      "webhook-id": h["webhook-id"] as string,
      "webhook-timestamp": h["webhook-timestamp"] as string,
      "webhook-signature": h["webhook-signature"] as string,
    });
    expect(verified).toEqual(JSON.parse(payload));
    expect(JSON.parse(payload)).toEqual({
      contact: { email: "ada@example.com", subscribed: true, data: { name: "Ada", plan: "pro" } },
      workflow: { id: "wf_hooks", name: "Bounce Notifications" },
      execution: { id: "exec_hooks", startedAt: "2026-01-15T10:30:00.000Z" },
      event: { source: "test" },
    });
    // A tampered body does not verify.
    expect(() =>
      new Webhook(p.webhookSecret).verify(payload.replace("Ada", "Eve"), {
        "webhook-id": h["webhook-id"] as string,
        "webhook-timestamp": h["webhook-timestamp"] as string,
        "webhook-signature": h["webhook-signature"] as string,
      }),
    ).toThrow();

    const d = await delivery(p, m.deliveryId);
    expect(d).toMatchObject({
      id: m.deliveryId,
      workflowId: "wf_hooks",
      executionId: "exec_hooks",
      stepId: "stp_hooks",
      url: "https://hooks.example.com/in",
      method: "POST",
      status: "DELIVERED",
    });
    expect(d.attempts).toHaveLength(1);
    expect(d.attempts[0]).toMatchObject({ statusCode: 200, error: null, responseSnippet: "ok" });
    expect(typeof d.attempts[0].durationMs).toBe("number");
    expect(new Date(d.attempts[0].at).toISOString()).toBe(d.attempts[0].at);
  });

  it("the signature is also the HMAC-SHA256 of id.timestamp.body under the secret's bytes", async () => {
    const { sent } = endpoint(() => new Response(null, { status: 204 }));
    const m = message(p);
    await consume("webhooks", m);
    const h = (sent[0] as Sent).init.headers;
    const key = await crypto.subtle.importKey(
      "raw",
      Uint8Array.from(atob(p.webhookSecret.slice("whsec_".length)), (c) => c.charCodeAt(0)),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = new Uint8Array(
      await crypto.subtle.sign(
        "HMAC",
        key,
        new TextEncoder().encode(
          `${h["webhook-id"]}.${h["webhook-timestamp"]}.${(sent[0] as Sent).init.body}`,
        ),
      ),
    );
    expect(h["webhook-signature"]).toBe(`v1,${btoa(String.fromCharCode(...mac))}`);
    expect((await delivery(p, m.deliveryId)).status).toBe("DELIVERED");
  });

  it("a custom body has its Liquid strings rendered; header values are rendered; webhook-* and content-type stay", async () => {
    const { sent } = endpoint(() => new Response("{}", { status: 201 }));
    const m = message(p, {
      config: {
        url: "https://hooks.example.com/{{ workflow.id }}?plan={{ data.plan }}",
        method: "PUT",
        headers: {
          "X-Name": "{{ name }} <{{ email }}>",
          "X-Fallback": '{{ missing ?? "none" }}',
          "webhook-id": "whd_forged",
          "Webhook-Signature": "v1,forged",
          "webhook-timestamp": "1",
          "Content-Type": "text/plain",
        },
        body: {
          text: "Hello {{ name }} from {{ workflow.name }}",
          nested: { items: ["{{ email }}", 42, true, null], event: "{{ event.source }}" },
          count: 7,
        },
      },
    });
    const out = await consume("webhooks", m);
    expect(out.acked).toBe(true);
    expect(sent).toHaveLength(1);
    const req = sent[0] as Sent;
    expect(req.url).toBe("https://hooks.example.com/wf_hooks?plan=pro");
    expect(req.init.method).toBe("PUT");
    expect(JSON.parse(req.init.body as string)).toEqual({
      text: "Hello Ada from Bounce Notifications",
      nested: { items: ["ada@example.com", 42, true, null], event: "test" },
      count: 7,
    });
    const h = req.init.headers;
    expect(h["x-name"]).toBe("Ada <ada@example.com>");
    expect(h["x-fallback"]).toBe("none");
    expect(h["webhook-id"]).toBe(m.deliveryId);
    expect(h["webhook-signature"]).not.toContain("forged");
    expect(Number(h["webhook-timestamp"])).toBeGreaterThan(1_700_000_000);
    expect(h["content-type"]).toBe("application/json");
    // No second spelling of a signed header slipped through.
    const names = Object.keys(h).map((n) => n.toLowerCase());
    expect(new Set(names).size).toBe(names.length);
    new Webhook(p.webhookSecret).verify(req.init.body as string, {
      "webhook-id": h["webhook-id"] as string,
      "webhook-timestamp": h["webhook-timestamp"] as string,
      "webhook-signature": h["webhook-signature"] as string,
    });
    const d = await delivery(p, m.deliveryId);
    expect(d.status).toBe("DELIVERED");
    expect(d.url).toBe("https://hooks.example.com/wf_hooks?plan=pro");
  });

  it("a rotated secret: both signatures are sent and each verifies", async () => {
    const q = await createProject();
    const rotated = await call("POST", "/project/rotate-webhook-secret", { key: q.secretKey });
    expect(rotated.status).toBe(200);
    const { sent } = endpoint(() => new Response("ok"));
    await consume("webhooks", message(q));
    const h = (sent[0] as Sent).init.headers;
    expect((h["webhook-signature"] as string).split(" ")).toHaveLength(2);
    for (const secret of [q.webhookSecret, rotated.body.webhookSecret as string]) {
      new Webhook(secret).verify((sent[0] as Sent).init.body as string, {
        "webhook-id": h["webhook-id"] as string,
        "webhook-timestamp": h["webhook-timestamp"] as string,
        "webhook-signature": h["webhook-signature"] as string,
      });
    }
  });
});

describe("webhook consumer: outcomes and retries", () => {
  it("a second message with the same deliveryId after success fetches nothing", async () => {
    const { sent } = endpoint(() => new Response("ok"));
    const m = message(p);
    expect((await consume("webhooks", m)).acked).toBe(true);
    expect(sent).toHaveLength(1);
    const again = await consume("webhooks", m, 1);
    expect(again).toMatchObject({ acked: true, retried: false });
    expect(sent).toHaveLength(1);
    expect((await delivery(p, m.deliveryId)).attempts).toHaveLength(1);
  });

  it("500 is retried after ~5 s on attempt 1 and ~300 s on attempt 2", async () => {
    const { sent } = endpoint(() => new Response("boom", { status: 500 }));
    const m = message(p);
    const first = await consume("webhooks", m, 1);
    expect(first.acked).toBe(false);
    expect(first.retried).toBe(true);
    expect(first.delaySeconds).toBeGreaterThanOrEqual(4);
    expect(first.delaySeconds).toBeLessThanOrEqual(6);
    let d = await delivery(p, m.deliveryId);
    expect(d.status).toBe("PENDING");
    expect(d.attempts).toHaveLength(1);
    expect(d.attempts[0]).toMatchObject({ statusCode: 500, error: "HTTP 500", responseSnippet: "boom" });
    expect(d.nextAttemptAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);

    const second = await consume("webhooks", m, 2);
    expect(second.retried).toBe(true);
    expect(second.delaySeconds).toBeGreaterThanOrEqual(270);
    expect(second.delaySeconds).toBeLessThanOrEqual(330);
    expect(sent).toHaveLength(2);
    d = await delivery(p, m.deliveryId);
    expect(d.status).toBe("PENDING");
    expect(d.attempts).toHaveLength(2);
    // The delivery says when its next attempt is due: the retry's own delay after the attempt.
    const due = Date.parse(d.nextAttemptAt) - Date.parse(d.attempts[1].at);
    expect(due).toBeGreaterThanOrEqual((second.delaySeconds as number) * 1000 - 100);
    expect(due).toBeLessThanOrEqual((second.delaySeconds as number) * 1000 + 5_000);
    expect(d.attempts[1].nextAttemptAt).toBe(d.nextAttemptAt);
    // Same id on every retry.
    expect(sent.map((s) => s.init.headers["webhook-id"])).toEqual([m.deliveryId, m.deliveryId]);
  });

  it("the jitter stays within ±10% of the schedule", async () => {
    endpoint(() => new Response("boom", { status: 503 }));
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const out = await consume("webhooks", message(p), 1);
      delays.push(out.delaySeconds as number);
    }
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(4);
      expect(d).toBeLessThanOrEqual(6);
    }
  });

  it("Retry-After: 120 is honoured", async () => {
    endpoint(() => new Response("slow down", { status: 429, headers: { "retry-after": "120" } }));
    const m = message(p);
    const out = await consume("webhooks", m);
    expect(out.retried).toBe(true);
    expect(out.delaySeconds).toBeGreaterThanOrEqual(120);
    expect(out.delaySeconds).toBeLessThanOrEqual(43_200);
    expect((await delivery(p, m.deliveryId)).status).toBe("PENDING");
  });

  it("410 Gone fails at once and is acked", async () => {
    const { sent } = endpoint(() => new Response("gone", { status: 410 }));
    const m = message(p);
    const out = await consume("webhooks", m);
    expect(out).toMatchObject({ acked: true, retried: false });
    const d = await delivery(p, m.deliveryId);
    expect(d.status).toBe("FAILED");
    expect(d.attempts).toHaveLength(1);
    expect(d.attempts[0].statusCode).toBe(410);
    // A later copy of the message sends nothing.
    await consume("webhooks", m, 2);
    expect(sent).toHaveLength(1);
  });

  it("302 is not followed and counts as a failure", async () => {
    const { sent } = endpoint(
      () => new Response(null, { status: 302, headers: { location: "http://127.0.0.1/admin" } }),
    );
    const m = message(p);
    const out = await consume("webhooks", m);
    expect(out.retried).toBe(true);
    expect(sent).toHaveLength(1);
    expect((sent[0] as Sent).init.redirect).toBe("manual");
    const d = await delivery(p, m.deliveryId);
    expect(d.status).toBe("PENDING");
    expect(d.attempts[0].statusCode).toBe(302);
    expect(d.attempts[0].error).toMatch(/not followed/);
  });

  it("a fetch that throws (network) is retried", async () => {
    endpoint(() => {
      throw new TypeError("connection refused");
    });
    const m = message(p);
    const out = await consume("webhooks", m);
    expect(out).toMatchObject({ acked: false, retried: true });
    expect(out.delaySeconds).toBeGreaterThanOrEqual(4);
    expect(out.delaySeconds).toBeLessThanOrEqual(6);
    const d = await delivery(p, m.deliveryId);
    expect(d.status).toBe("PENDING");
    expect(d.attempts[0]).toMatchObject({ statusCode: null });
    expect(d.attempts[0].error).toMatch(/Network error: connection refused/);
  });

  it(`after ${MAX_ATTEMPTS} attempts the delivery is FAILED and acked`, async () => {
    expect(MAX_ATTEMPTS).toBe(8);
    const { sent } = endpoint(() => new Response("no", { status: 500 }));
    const m = message(p);
    const expected = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
    for (let i = 1; i < MAX_ATTEMPTS; i++) {
      const out = await consume("webhooks", m, i);
      expect(out.retried, `attempt ${i}`).toBe(true);
      const base = expected[i - 1] as number;
      expect(out.delaySeconds).toBeGreaterThanOrEqual(Math.floor(base * 0.9));
      expect(out.delaySeconds).toBeLessThanOrEqual(Math.min(Math.ceil(base * 1.1), 43_200));
    }
    const last = await consume("webhooks", m, MAX_ATTEMPTS);
    expect(last).toMatchObject({ acked: true, retried: false });
    expect(sent).toHaveLength(MAX_ATTEMPTS);
    const d = await delivery(p, m.deliveryId);
    expect(d.status).toBe("FAILED");
    expect(d.attempts).toHaveLength(MAX_ATTEMPTS);
    // Listed among the failed.
    const failed = await call("GET", "/webhook-deliveries?status=FAILED&limit=100", { key: p.secretKey });
    expect(failed.body.data.map((x: { id: string }) => x.id)).toContain(m.deliveryId);
  });

  it("a message for a project that does not exist fails without a request", async () => {
    const { sent } = endpoint(() => new Response("ok"));
    const m = message(p, { projectId: "prj_gone" });
    const out = await consume("webhooks", m);
    expect(out.acked).toBe(true);
    expect(sent).toHaveLength(0);
    const row = await env.DB.prepare("SELECT status FROM webhook_deliveries WHERE id = ?1")
      .bind(m.deliveryId)
      .first<{ status: string }>();
    expect(row?.status).toBe("FAILED");
  });
});

describe("webhook consumer: a batch of messages", () => {
  it("is claimed in one round trip and recorded in one more, each message with its own outcome", async () => {
    const byUrl: Record<string, Response> = {
      "https://hooks.example.com/ok": new Response("ok"),
      "https://hooks.example.com/busy": new Response("busy", { status: 503 }),
      "https://hooks.example.com/gone": new Response("gone", { status: 410 }),
    };
    const sent: Sent[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      sent.push({ url: String(input), init: init as Sent["init"] });
      return (byUrl[String(input)] ?? new Response("ok")).clone();
    });
    const msgs = [
      message(p, { config: { url: "https://hooks.example.com/ok", method: "POST" } }),
      message(p, { config: { url: "https://hooks.example.com/busy", method: "POST" } }),
      message(p, { config: { url: "https://hooks.example.com/gone", method: "POST" } }),
      message(p, { config: { url: "https://hooks.example.com/ok", method: "POST" } }),
    ];
    const batch = vi.spyOn(env.DB, "batch");
    const prepare = vi.spyOn(env.DB, "prepare");
    const out = await consumeBatch("webhooks", msgs);
    // Two round trips for the four: the claims (2 statements each: the record, and the claim that also
    // reads the project's secrets), then the attempts (1 each).
    expect(batch).toHaveBeenCalledTimes(2);
    expect(batch.mock.calls.map((c) => c[0].length)).toEqual([8, 4]);
    expect(prepare).toHaveBeenCalledTimes(12);
    expect(sent).toHaveLength(4);
    expect(out.map((o) => (o.acked ? "ack" : o.retried ? "retry" : "none"))).toEqual([
      "ack",
      "retry",
      "ack",
      "ack",
    ]);
    expect(out[1]?.delaySeconds).toBeGreaterThanOrEqual(4);
    expect(out[1]?.delaySeconds).toBeLessThanOrEqual(6);
    vi.restoreAllMocks();
    const statuses = [];
    for (const m of msgs) {
      const d = await delivery(p, m.deliveryId);
      expect(d.attempts).toHaveLength(1);
      statuses.push(d.status);
    }
    expect(statuses).toEqual(["DELIVERED", "PENDING", "FAILED", "DELIVERED"]);
  });

  it("the same delivery twice in one batch is sent once; the second copy waits for the lease", async () => {
    const { sent } = endpoint(() => new Response("ok"));
    const m = message(p);
    const out = await consumeBatch("webhooks", [m, m]);
    expect(sent).toHaveLength(1);
    expect(out[0]).toMatchObject({ acked: true, retried: false });
    // The first copy's lease was taken in the same transaction: the second is retried after it.
    expect(out[1]).toMatchObject({ acked: false, retried: true, delaySeconds: 30 });
    vi.restoreAllMocks();
    expect((await delivery(p, m.deliveryId)).status).toBe("DELIVERED");
  });

  it("a message that fails its claim does not hold the others back: they are claimed one by one", async () => {
    const { sent } = endpoint(() => new Response("ok"));
    const good = [message(p), message(p)];
    // A message D1 refuses (a value it cannot bind): the batch's one transaction fails with it.
    const bad = { ...message(p), workflowId: undefined } as unknown as WebhookMessage;
    const out = await consumeBatch("webhooks", [good[0], bad, good[1]]);
    expect(sent.map((s) => s.init.headers["webhook-id"]).sort()).toEqual(
      good.map((g) => g.deliveryId).sort(),
    );
    expect(out.map((o) => o.acked)).toEqual([true, false, true]);
    expect(out[1]).toMatchObject({ retried: true, delaySeconds: 5 });
    vi.restoreAllMocks();
    for (const g of good) expect((await delivery(p, g.deliveryId)).status).toBe("DELIVERED");
  });

  it("when the batch record fails, each attempt is recorded alone; one that cannot be is retried, and its retry sends once more under the same id", async () => {
    const { sent } = endpoint(() => new Response("ok"));
    const msgs = [message(p), message(p), message(p)];
    const [m0, m1, m2] = msgs as [WebhookMessage, WebhookMessage, WebhookMessage];
    const realBatch = env.DB.batch.bind(env.DB);
    const realPrepare = env.DB.prepare.bind(env.DB);
    let calls = 0;
    vi.spyOn(env.DB, "batch").mockImplementation(async (statements) => {
      calls++;
      if (calls === 2) throw new Error("injected D1 failure");
      return realBatch(statements);
    });
    // The third message's attempt cannot be recorded on its own either.
    vi.spyOn(env.DB, "prepare").mockImplementation((sql) => {
      const st = realPrepare(sql);
      if (!sql.startsWith("UPDATE webhook_deliveries SET attempts")) return st;
      const bind = st.bind.bind(st);
      st.bind = (...values: unknown[]) => {
        const bound = bind(...values);
        if (values[0] === m2.deliveryId) bound.run = async () => Promise.reject(new Error("injected"));
        return bound;
      };
      return st;
    });
    const out = await consumeBatch("webhooks", msgs);
    expect(sent).toHaveLength(3);
    expect(out.map((o) => o.acked)).toEqual([true, true, false]);
    expect(out[2]).toMatchObject({ retried: true, delaySeconds: 5 });
    vi.restoreAllMocks();
    expect((await delivery(p, m0.deliveryId)).status).toBe("DELIVERED");
    expect((await delivery(p, m1.deliveryId)).status).toBe("DELIVERED");
    const third = await delivery(p, m2.deliveryId);
    expect(third.status).toBe("PENDING");
    expect(third.attempts).toHaveLength(0);
    // Its lease still holds: the retry waits for it, then sends again with the same webhook-id.
    const { sent: again } = endpoint(() => new Response("ok"));
    expect(await consume("webhooks", m2, 2)).toMatchObject({ retried: true, delaySeconds: 30 });
    expect(again).toHaveLength(0);
    await env.DB.prepare("UPDATE webhook_deliveries SET lease_until = 0 WHERE id = ?1")
      .bind(m2.deliveryId)
      .run();
    expect(await consume("webhooks", m2, 3)).toMatchObject({ acked: true });
    expect(again.map((s) => s.init.headers["webhook-id"])).toEqual([m2.deliveryId]);
    expect((await delivery(p, m2.deliveryId)).status).toBe("DELIVERED");
  });
});

describe("webhook DLQ consumer", () => {
  it("marks a PENDING delivery FAILED and acks", async () => {
    endpoint(() => new Response("no", { status: 500 }));
    const m = message(p);
    await consume("webhooks", m);
    expect((await delivery(p, m.deliveryId)).status).toBe("PENDING");
    const out = await consume("webhooks-dlq", m);
    expect(out).toMatchObject({ acked: true, retried: false });
    expect((await delivery(p, m.deliveryId)).status).toBe("FAILED");
  });

  it("leaves a DELIVERED delivery alone", async () => {
    endpoint(() => new Response("ok"));
    const m = message(p);
    await consume("webhooks", m);
    await consume("webhooks-dlq", m);
    expect((await delivery(p, m.deliveryId)).status).toBe("DELIVERED");
  });
});

describe("replay", () => {
  it("202, a new generation on the queue; it sends again, and an old-generation message sends nothing", async () => {
    const { sent } = endpoint((n) => new Response(n === 1 ? "gone" : "ok", { status: n === 1 ? 410 : 200 }));
    const m = message(p);
    await consume("webhooks", m);
    expect((await delivery(p, m.deliveryId)).status).toBe("FAILED");

    const queue = captureQueue(env.WEBHOOKS_QUEUE);
    const res = await call("POST", `/webhook-deliveries/${m.deliveryId}/replay`, { key: p.secretKey });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: m.deliveryId, status: "PENDING", replays: 1 });
    expect(queue.sent).toEqual([
      { kind: "webhook-replay", deliveryId: m.deliveryId, generation: 1, projectId: m.projectId },
    ]);

    // The old generation's message (a retry still in the queue) sends nothing.
    const stale = await consume("webhooks", m, 2);
    expect(stale).toMatchObject({ acked: true, retried: false });
    expect(sent).toHaveLength(1);

    const replayed = await consume("webhooks", queue.sent[0]);
    expect(replayed).toMatchObject({ acked: true, retried: false });
    expect(sent).toHaveLength(2);
    expect((sent[1] as Sent).init.headers["webhook-id"]).toBe(m.deliveryId);
    const d = await delivery(p, m.deliveryId);
    expect(d.status).toBe("DELIVERED");
    expect(d.attempts).toHaveLength(2);
    expect(d.attempts.map((a: { generation: number }) => a.generation)).toEqual([0, 1]);

    // The same replay message again: already delivered, nothing sent.
    await consume("webhooks", queue.sent[0], 2);
    expect(sent).toHaveLength(2);
  });

  it("a replayed delivery restarts the retry schedule at ~5 s", async () => {
    endpoint(() => new Response("no", { status: 500 }));
    const m = message(p);
    await consume("webhooks", m, 1);
    await consume("webhooks", m, 2);
    await consume("webhooks-dlq", m);
    const queue = captureQueue(env.WEBHOOKS_QUEUE);
    expect(
      (await call("POST", `/webhook-deliveries/${m.deliveryId}/replay`, { key: p.secretKey })).status,
    ).toBe(202);
    const out = await consume("webhooks", queue.sent[0]);
    expect(out.retried).toBe(true);
    expect(out.delaySeconds).toBeGreaterThanOrEqual(4);
    expect(out.delaySeconds).toBeLessThanOrEqual(6);
  });

  it("another project's delivery is 404", async () => {
    endpoint(() => new Response("ok"));
    const m = message(p);
    await consume("webhooks", m);
    const other = await createProject();
    const queue = captureQueue(env.WEBHOOKS_QUEUE);
    expectEnvelope(
      await call("POST", `/webhook-deliveries/${m.deliveryId}/replay`, { key: other.secretKey }),
      404,
      "DELIVERY_NOT_FOUND",
    );
    expect(queue.sent).toHaveLength(0);
    expectEnvelope(
      await call("GET", `/webhook-deliveries/${m.deliveryId}`, { key: other.secretKey }),
      404,
      "DELIVERY_NOT_FOUND",
    );
    expectEnvelope(
      await call("GET", "/webhook-deliveries/whd_nope", { key: p.secretKey }),
      404,
      "DELIVERY_NOT_FOUND",
    );
    const list = await call("GET", "/webhook-deliveries?limit=100", { key: other.secretKey });
    expect(list.body.data).toEqual([]);
  });
});

describe("GET /webhook-deliveries", () => {
  it("filters by status, workflowId and executionId; GET one has the attempts", async () => {
    const q = await createProject();
    endpoint((n) => new Response("x", { status: n === 2 ? 500 : 200 }));
    const a = message(q, { workflowId: "wf_a", executionId: "exec_a1" });
    const b = message(q, { workflowId: "wf_a", executionId: "exec_a2" });
    const c = message(q, { workflowId: "wf_b", executionId: "exec_b1" });
    await consume("webhooks", a); // 200
    await consume("webhooks", b); // 500: PENDING
    await consume("webhooks", c); // 200
    const ids = async (query: string) => {
      const res = await call("GET", `/webhook-deliveries${query}`, { key: q.secretKey });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.data.map((d: { id: string }) => d.id).sort();
    };
    expect(await ids("")).toEqual([a.deliveryId, b.deliveryId, c.deliveryId].sort());
    expect(await ids("?status=PENDING")).toEqual([b.deliveryId]);
    expect(await ids("?status=DELIVERED")).toEqual([a.deliveryId, c.deliveryId].sort());
    expect(await ids("?status=FAILED")).toEqual([]);
    expect(await ids("?workflowId=wf_a")).toEqual([a.deliveryId, b.deliveryId].sort());
    expect(await ids("?executionId=exec_b1")).toEqual([c.deliveryId]);
    expect(await ids("?workflowId=wf_a&status=DELIVERED")).toEqual([a.deliveryId]);
    expectEnvelope(
      await call("GET", "/webhook-deliveries?status=LOST", { key: q.secretKey }),
      422,
      "VALIDATION_ERROR",
    );

    const page = await call("GET", "/webhook-deliveries?limit=2", { key: q.secretKey });
    expect(page.body.data).toHaveLength(2);
    expect(page.body.hasMore).toBe(true);
    const rest = await call(
      "GET",
      `/webhook-deliveries?limit=2&cursor=${encodeURIComponent(page.body.cursor)}`,
      {
        key: q.secretKey,
      },
    );
    expect(rest.body.data).toHaveLength(1);
    expect(rest.body.hasMore).toBe(false);
    expect([...page.body.data, ...rest.body.data].map((d: { id: string }) => d.id).sort()).toEqual(
      [a.deliveryId, b.deliveryId, c.deliveryId].sort(),
    );

    const one = await delivery(q, b.deliveryId);
    expect(one.attempts).toHaveLength(1);
    expect(one.attempts[0]).toMatchObject({ statusCode: 500, error: "HTTP 500" });
    expect(one.attempts[0]).toHaveProperty("durationMs");
    expect(one.attempts[0]).toHaveProperty("at");
  });
});
