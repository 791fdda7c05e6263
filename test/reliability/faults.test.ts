/**
 * Faults, counted. A webhook endpoint that fails half the time, times out (the 15 s timeout, faked as the
 * TimeoutError AbortSignal.timeout raises) or refuses connections; the queue redelivers until the consumer
 * acks; duplicate copies of messages arrive. A D1 error in the middle of a request. SES throttling.
 * (An alarm handler that throws, and a crash between storing an event and dispatching it, are in
 * test/engine.test.ts: "a thrown alarm" and "the cron sweep" / "the sweep finishes a dispatch cut short".)
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { handleQueue } from "../../src/queues";
import type { WebhookMessage } from "../../src/queues/messages";
import { MAX_ATTEMPTS } from "../../src/queues/webhooks";
import { call, createProject, type TestProject, uniqueEmail } from "../helpers";
import { appTables, envelopeProblem, snapshot } from "./fixtures";

afterEach(() => vi.restoreAllMocks());

let seq = 0;
/** One queue delivery of `bodies` as a batch; which were acked and which retried. */
async function deliver(queue: string, bodies: unknown[], attempts: number) {
  const msgs = bodies.map((body) => ({ id: `rel-${++seq}`, timestamp: new Date(), attempts, body }));
  const batch = createMessageBatch(queue, msgs);
  await handleQueue(batch, env);
  const result = await getQueueResult(batch, createExecutionContext());
  return msgs.map((m) => ({
    acked: result.explicitAcks.includes(m.id),
    retried: result.retryMessages.some((r) => r.msgId === m.id),
  }));
}

function hook(p: TestProject, i: number): WebhookMessage {
  return {
    kind: "webhook",
    deliveryId: `whd_rel${i}_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`,
    projectId: p.id,
    workflowId: "wf_rel",
    executionId: `exec_rel${i}`,
    stepId: "stp_rel",
    config: { url: "https://hooks.example.com/in", method: "POST" },
    vars: {
      contact: { email: "a@example.com", subscribed: true, data: {} },
      workflow: { id: "wf_rel", name: "Rel" },
      execution: { id: `exec_rel${i}`, startedAt: new Date().toISOString() },
      event: { i },
    },
  };
}

type Fault = "ok" | "500" | "503" | "timeout" | "refused" | "429";

describe("webhooks under faults", () => {
  it("flaky, timing-out and refusing endpoints: every delivery ends DELIVERED or FAILED, one success per id", {
    timeout: 40_000,
  }, async () => {
    const p = await createProject();
    const N = 120;
    // Per delivery: what the endpoint does on each request, drawn by fast-check from a fixed seed.
    const plans = fc.sample(
      fc.array(fc.constantFrom<Fault>("ok", "500", "503", "timeout", "refused", "429"), {
        minLength: MAX_ATTEMPTS + 2,
        maxLength: MAX_ATTEMPTS + 2,
      }),
      { numRuns: N, seed: 42 },
    );
    // A third of the deliveries: an endpoint that never answers 2xx (every request fails).
    for (let i = 0; i < N; i += 3) plans[i] = (plans[i] as Fault[]).map((f) => (f === "ok" ? "refused" : f));
    const messages = plans.map((_, i) => hook(p, i));
    const byId = new Map(messages.map((m, i) => [m.deliveryId, plans[i] as Fault[]]));
    const requests = new Map<string, number>();
    const successes = new Map<string, number>();
    const faults: Record<string, number> = {};
    vi.spyOn(globalThis, "fetch").mockImplementation(async (_input, init) => {
      const id = (init?.headers as Record<string, string> | undefined)?.["webhook-id"] ?? "";
      const n = requests.get(id) ?? 0;
      requests.set(id, n + 1);
      const fault = (byId.get(id) as Fault[])[n] ?? "ok";
      faults[fault] = (faults[fault] ?? 0) + 1;
      switch (fault) {
        case "ok":
          successes.set(id, (successes.get(id) ?? 0) + 1);
          return new Response("ok");
        case "timeout":
          throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
        case "refused":
          throw new TypeError("Network connection lost: connect ECONNREFUSED");
        default:
          return new Response("no", { status: Number(fault) });
      }
    });

    // The queue: deliver in batches of 10, each with a duplicate copy of its first message; what is
    // retried comes round again with attempts + 1, until acked.
    let pending = messages.map((m) => ({ m, attempts: 1 }));
    let rounds = 0;
    let duplicates = 0;
    while (pending.length > 0 && rounds < MAX_ATTEMPTS + 3) {
      rounds++;
      const next: typeof pending = [];
      for (let i = 0; i < pending.length; i += 10) {
        const group = pending.slice(i, i + 10);
        const bodies = group.map((g) => g.m);
        const first = group[0];
        if (first) {
          bodies.push(first.m); // the same message twice in one batch (at-least-once delivery)
          duplicates++;
        }
        const out = await deliver("webhooks", bodies, group[0]?.attempts ?? 1);
        group.forEach((g, j) => {
          if (!out[j]?.acked) next.push({ m: g.m, attempts: g.attempts + 1 });
        });
      }
      pending = next.filter((x, i, all) => all.findIndex((y) => y.m.deliveryId === x.m.deliveryId) === i);
    }
    expect(pending).toHaveLength(0);

    const rows = await env.DB.prepare(
      `SELECT id, status, json_array_length(attempts) AS n FROM webhook_deliveries WHERE project_id = ?1`,
    )
      .bind(p.id)
      .all<{ id: string; status: string; n: number }>();
    expect(rows.results).toHaveLength(N);
    const status = { DELIVERED: 0, FAILED: 0, PENDING: 0 } as Record<string, number>;
    for (const r of rows.results) {
      status[r.status] = (status[r.status] ?? 0) + 1;
      expect(successes.get(r.id) ?? 0, r.id).toBe(r.status === "DELIVERED" ? 1 : 0);
      // Attempts logged = requests made: nothing sent off the record.
      expect(r.n, r.id).toBe(requests.get(r.id));
      if (r.status === "FAILED") expect(r.n).toBe(MAX_ATTEMPTS);
    }
    expect(status.PENDING).toBe(0);
    expect((status.DELIVERED ?? 0) + (status.FAILED ?? 0)).toBe(N);

    // FAILED ones are replayable; with the endpoint healthy, each is delivered exactly once more.
    const failed = rows.results.filter((r) => r.status === "FAILED");
    for (const r of failed) byId.set(r.id, ["ok"]);
    for (const r of failed) requests.set(r.id, 0);
    const replays: unknown[] = [];
    const sendSpy = vi.spyOn(env.WEBHOOKS_QUEUE, "send").mockImplementation(async (body) => {
      replays.push(body);
      return undefined as never;
    });
    for (const r of failed) {
      const res = await call("POST", `/webhook-deliveries/${r.id}/replay`, { key: p.secretKey });
      expect(res.status).toBe(202);
    }
    sendSpy.mockRestore();
    for (let i = 0; i < replays.length; i += 10) {
      const batch = replays.slice(i, i + 10);
      await deliver("webhooks", [...batch, ...batch], 1); // every replay message twice
    }
    for (const r of failed) expect(successes.get(r.id), r.id).toBe(1);
    const after = await env.DB.prepare(
      "SELECT count(*) AS n FROM webhook_deliveries WHERE project_id = ?1 AND status = 'DELIVERED'",
    )
      .bind(p.id)
      .first<{ n: number }>();
    expect(after?.n).toBe(N);
    const injected = Object.entries(faults)
      .filter(([k]) => k !== "ok")
      .reduce((s, [, v]) => s + v, 0);
    console.log(
      `[reliability] webhook faults: ${N} deliveries, ${rounds} queue rounds, ${duplicates + replays.length} duplicate messages, ${injected} faults injected ${JSON.stringify(faults)}; ended DELIVERED ${status.DELIVERED}, FAILED ${status.FAILED} (all replayed → DELIVERED), second successes 0, lost 0`,
    );
  });
});

describe("a D1 error in the middle of a request", () => {
  const requests = (p: TestProject, templateId: string) => [
    { method: "POST", path: "/v1/track", body: { event: "e", email: uniqueEmail(), data: { a: 1 } } },
    {
      method: "POST",
      path: "/v1/send",
      body: { to: [uniqueEmail(), uniqueEmail()], subject: "s", body: "b" },
    },
    { method: "POST", path: "/v1/send", body: { to: uniqueEmail(), template: templateId } },
    { method: "POST", path: "/contacts", body: { email: uniqueEmail(), subscribed: false } },
    {
      method: "PUT",
      path: `/workflows/wf_rel_${p.id.slice(-6)}/definition`,
      body: {
        id: `wf_rel_${p.id.slice(-6)}`,
        name: "d",
        eventName: "e",
        steps: { wait: { type: "DELAY", config: { amount: 1, unit: "hours" } } },
        transitions: [{ from: "trigger", to: "wait" }],
      },
    },
  ];

  it("batch() throws before running, or fails at its last statement: 500 envelope, nothing half-written", async () => {
    const p = await createProject();
    vi.spyOn(env.EMAILS_QUEUE, "sendBatch").mockResolvedValue(undefined as never);
    vi.spyOn(env.EMAILS_QUEUE, "send").mockResolvedValue(undefined as never);
    const tpl = await call("POST", "/templates", {
      key: p.secretKey,
      body: { name: "t", subject: "s", body: "b", from: "a@example.com" },
    });
    const tables = await appTables();
    const realBatch = env.DB.batch.bind(env.DB);
    let injected = 0;
    for (const mode of ["throw", "last-statement-fails"] as const) {
      for (const r of requests(p, tpl.body.id)) {
        const before = await snapshot(tables);
        const spy = vi.spyOn(env.DB, "batch").mockImplementationOnce(async (statements) => {
          injected++;
          if (mode === "throw") throw new Error("D1_ERROR: injected: Network connection lost");
          // The statements really run, then the last fails: D1 rolls the whole batch back.
          return realBatch([...statements, env.DB.prepare("INSERT INTO no_such_table VALUES (1)")]);
        });
        const res = await call(r.method, r.path, { key: p.secretKey, body: r.body });
        spy.mockRestore();
        expect(res.status, `${r.method} ${r.path} ${JSON.stringify(res.body)}`).toBe(500);
        expect(envelopeProblem(res)).toBeNull();
        expect(res.body.error.code).toBe("INTERNAL_SERVER_ERROR");
        expect(JSON.stringify(res.body)).not.toMatch(/no_such_table|injected|D1_ERROR/);
        expect(await snapshot(tables), `${mode}: ${r.method} ${r.path} left rows behind`).toBe(before);
        // The same request afterwards succeeds: nothing of the failed one stands in its way.
        const again = await call(r.method, r.path, { key: p.secretKey, body: r.body });
        expect(again.status, JSON.stringify(again.body)).toBeLessThan(300);
      }
    }
    console.log(`[reliability] D1 faults: ${injected} injected into request batches; half-written 0`);
  });
});

describe("SES throttling", () => {
  it("429 and throttling errors are retried; every email is sent exactly once", {
    timeout: 30_000,
  }, async () => {
    const p = await createProject();
    const queued: { emailId: string }[] = [];
    vi.spyOn(env.EMAILS_QUEUE, "sendBatch").mockImplementation(async (msgs) => {
      for (const m of msgs) queued.push(m.body as { emailId: string });
      return undefined as never;
    });
    vi.spyOn(env.EMAILS_QUEUE, "send").mockResolvedValue(undefined as never);
    const N = 60;
    for (let i = 0; i < N; i += 20) {
      const to = Array.from({ length: 20 }, () => uniqueEmail("ses"));
      const res = await call("POST", "/v1/send", {
        key: p.secretKey,
        body: { to, subject: "s {{ email }}", body: "b" },
      });
      expect(res.status).toBe(200);
    }
    expect(queued).toHaveLength(N);
    // SES throttles the first 1-4 requests for each email (a 429, or a 400 ThrottlingException), then accepts.
    const throttleFor = new Map(queued.map((q, i) => [q.emailId, 1 + (i % 4)]));
    const calls = new Map<string, number>();
    const accepted = new Map<string, number>();
    let throttled = 0;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const req = input instanceof Request ? input : new Request(String(input), init);
      const body = JSON.parse(await req.text());
      const to = body.Destination.ToAddresses[0] as string;
      const n = (calls.get(to) ?? 0) + 1;
      calls.set(to, n);
      const row = await env.DB.prepare("SELECT id FROM emails WHERE to_email = ?1 AND project_id = ?2")
        .bind(to, p.id)
        .first<{ id: string }>();
      if (n <= (throttleFor.get(row?.id ?? "") ?? 0)) {
        throttled++;
        return n % 2
          ? new Response(JSON.stringify({ message: "Maximum sending rate exceeded." }), { status: 429 })
          : new Response(JSON.stringify({ __type: "ThrottlingException", message: "Rate exceeded" }), {
              status: 400,
            });
      }
      accepted.set(to, (accepted.get(to) ?? 0) + 1);
      return Response.json({ MessageId: `ses-${crypto.randomUUID()}` });
    });
    let pending = queued.map((b) => ({ b, attempts: 1 }));
    let rounds = 0;
    while (pending.length && rounds < 10) {
      rounds++;
      const next: typeof pending = [];
      for (let i = 0; i < pending.length; i += 10) {
        const group = pending.slice(i, i + 10);
        // Each message twice in its batch: a duplicate delivery must not send twice.
        const out = await deliver(
          "emails",
          [...group.map((g) => g.b), ...group.map((g) => g.b)],
          group[0]?.attempts ?? 1,
        );
        group.forEach((g, j) => {
          if (!out[j]?.acked || !out[j + group.length]?.acked)
            next.push({ b: g.b, attempts: g.attempts + 1 });
        });
      }
      pending = next;
    }
    expect(pending).toHaveLength(0);
    const rows = await env.DB.prepare("SELECT to_email, status, message_id FROM emails WHERE project_id = ?1")
      .bind(p.id)
      .all<{ to_email: string; status: string; message_id: string }>();
    expect(rows.results).toHaveLength(N);
    for (const r of rows.results) {
      expect(r.status).toBe("SENT");
      expect(accepted.get(r.to_email), r.to_email).toBe(1);
    }
    const sentEvents = await env.DB.prepare(
      "SELECT count(*) AS n FROM events WHERE project_id = ?1 AND name = 'email.sent'",
    )
      .bind(p.id)
      .first<{ n: number }>();
    expect(sentEvents?.n).toBe(N);
    console.log(
      `[reliability] SES throttling: ${N} emails, ${throttled} throttled answers injected, ${rounds} queue rounds with every message duplicated; sent ${N}, double sends 0`,
    );
  });
});
