/**
 * Analytics from counters kept as things happen: events by name (the cron's rollup from a cursor, once
 * each however many passes run), emails (counted with their events), executions (the step counters'
 * `$start` / `$end:<status>`), the window's validation.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DAY_MS, ROLLUP_GRACE_MS, ROLLUP_PAGE, rollupEvents } from "../src/analytics";
import { idFloor } from "../src/domain/ids";
import { createLogger } from "../src/log";
import { applySesEvent } from "../src/routes/sns";
import { call, consumeBatch, createProject, expectEnvelope, type TestProject, uniqueEmail } from "./helpers";

const log = createLogger({ test: "analytics" });
afterEach(() => vi.restoreAllMocks());

const today = () => new Date().toISOString().slice(0, 10);
const analytics = async (p: TestProject, query = "") =>
  (await call("GET", `/analytics${query}`, { key: p.secretKey })).body;
/** The counters of the last day of the window (today by default). */
const last = (xs: number[]) => xs[xs.length - 1];

async function track(p: TestProject, email: string, event: string, subscribed?: boolean) {
  const res = await call("POST", "/v1/track", {
    key: p.publicKey,
    body: { email, event, ...(subscribed === undefined ? {} : { subscribed }) },
  });
  expect(res.status).toBe(200);
}

describe("analytics", () => {
  it("counts events by name and contacts' subscriptions, once each however many passes run", async () => {
    const p = await createProject();
    const a = uniqueEmail();
    await track(p, a, "signup");
    await track(p, a, "purchase");
    await track(p, a, "purchase", false);
    await track(p, uniqueEmail(), "purchase");
    // Nothing yet: the rollup runs from the cron, and leaves the last minute to the next pass.
    expect((await analytics(p)).events).toEqual([]);
    await rollupEvents(env, log, Date.now());
    expect((await analytics(p)).events).toEqual([]);
    const later = Date.now() + ROLLUP_GRACE_MS + 1;
    // Two passes at once, then a third.
    await Promise.all([rollupEvents(env, log, later), rollupEvents(env, log, later)]);
    await rollupEvents(env, log, later);
    const body = await analytics(p);
    expect(body.days).toHaveLength(30);
    expect(body.to).toBe(today());
    const byName = Object.fromEntries(body.events.map((e: any) => [e.name, e.total]));
    expect(byName).toEqual({ purchase: 3, signup: 1, "contact.unsubscribed": 1 });
    expect(body.events[0]).toMatchObject({ name: "purchase", total: 3 });
    expect(last(body.events[0].daily)).toBe(3);
    expect(last(body.contacts.unsubscribed)).toBe(1);
    expect(last(body.contacts.subscribed)).toBe(0);
    // A later event is counted by the next pass, and only it.
    await track(p, a, "signup", true);
    await rollupEvents(env, log, Date.now() + ROLLUP_GRACE_MS + 1);
    const again = await analytics(p);
    expect(Object.fromEntries(again.events.map((e: any) => [e.name, e.total]))).toEqual({
      purchase: 3,
      signup: 2,
      "contact.unsubscribed": 1,
      "contact.subscribed": 1,
    });
  });

  it("counts a project's history over several passes, a page at a time", async () => {
    const p = await createProject();
    const old = Date.now() - 3 * DAY_MS;
    const n = ROLLUP_PAGE + 50;
    // Time-ordered ids three days old, written straight to D1.
    const ids = Array.from({ length: n }, (_, i) => `${idFloor("evt", old)}${String(i).padStart(16, "0")}`);
    await env.DB.prepare(
      `INSERT INTO events (id, project_id, contact_id, name, data, created_at, dispatched_at)
       SELECT value, ?1, 'ctc_x', 'old', '{}', ?2, ?2 FROM json_each(?3)`,
    )
      .bind(p.id, old, JSON.stringify(ids))
      .run();
    const now = Date.now() + ROLLUP_GRACE_MS + 1;
    let passes = 0;
    let total = 0;
    for (;;) {
      const counted = await rollupEvents(env, log, now);
      if (counted === 0) break;
      total += counted;
      passes++;
    }
    expect(passes).toBeGreaterThanOrEqual(2);
    const body = await analytics(p);
    const old3 = body.events.find((e: any) => e.name === "old");
    expect(old3.total).toBe(n);
    expect(old3.daily[old3.daily.length - 4]).toBe(n);
    expect(total).toBeGreaterThanOrEqual(n);
  });

  it("counts emails with their events: sent, delivered, first opens; a replayed notification once", async () => {
    const p = await createProject();
    vi.spyOn(globalThis, "fetch").mockImplementation(async () =>
      Response.json({ MessageId: `an-${crypto.randomUUID()}` }),
    );
    vi.spyOn(env.EMAILS_QUEUE, "send").mockResolvedValue(undefined as never);
    const sent = await call("POST", "/v1/send", {
      key: p.secretKey,
      body: { to: [uniqueEmail(), uniqueEmail()], subject: "Hi", body: "<p>Hi</p>", subscribed: true },
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const ids = sent.body.data.emails.map((e: any) => ({ kind: "email-send", emailId: e.email }));
    await consumeBatch("emails", ids);
    await consumeBatch("emails", ids); // redelivered: nothing twice
    const [first] = (
      await env.DB.prepare("SELECT message_id FROM emails WHERE project_id = ?1 ORDER BY id")
        .bind(p.id)
        .all<{ message_id: string }>()
    ).results;
    const at = Date.now();
    for (const [sns, e] of [
      ["an-1", { kind: "delivery", messageId: first?.message_id, at }],
      ["an-2", { kind: "open", messageId: first?.message_id, at }],
      ["an-3", { kind: "open", messageId: first?.message_id, at: at + 5 }],
    ] as const) {
      await applySesEvent(env, `${p.id}-${sns}`, e as any);
      await applySesEvent(env, `${p.id}-${sns}`, e as any);
    }
    // A bounce SES saw ten minutes ago, notified only now: its unsubscription is counted by the rollup.
    const second = (
      await env.DB.prepare("SELECT message_id FROM emails WHERE project_id = ?1 ORDER BY id DESC LIMIT 1")
        .bind(p.id)
        .first<{ message_id: string }>()
    )?.message_id;
    await rollupEvents(env, log, Date.now() + ROLLUP_GRACE_MS + 1);
    await applySesEvent(env, `${p.id}-an-4`, {
      kind: "bounce",
      messageId: second ?? "",
      at: Date.now() - 600_000,
      bounceType: "Permanent",
    });
    await rollupEvents(env, log, Date.now() + ROLLUP_GRACE_MS + 1);
    const body = await analytics(p);
    expect(last(body.contacts.unsubscribed)).toBe(1);
    expect(last(body.emails.bounced)).toBe(1);
    expect({
      sent: last(body.emails.sent),
      delivered: last(body.emails.delivered),
      opened: last(body.emails.opened),
      clicked: last(body.emails.clicked),
    }).toEqual({ sent: 2, delivered: 1, opened: 1, clicked: 0 });
  });

  it("counts executions started and ended by status, per workflow", async () => {
    const p = await createProject();
    const wf = await call("POST", "/workflows", {
      key: p.secretKey,
      body: { name: "Welcome", eventName: "welcome", enabled: true },
    });
    await track(p, uniqueEmail(), "welcome");
    await track(p, uniqueEmail(), "welcome");
    await vi.waitUntil(async () => {
      const runs = await call("GET", `/workflows/${wf.body.id}/executions`, { key: p.secretKey });
      return runs.body.data.length === 2 && runs.body.data.every((r: any) => r.status === "COMPLETED");
    });
    const body = await analytics(p);
    expect(body.executions).toHaveLength(1);
    const w = body.executions[0];
    expect(w).toMatchObject({ workflowId: wf.body.id, name: "Welcome" });
    expect(last(w.started)).toBe(2);
    expect(last(w.ended.COMPLETED)).toBe(2);
    expect(last(w.ended.FAILED)).toBe(0);
    // The workflow's own step stats are unchanged by the analytics' keys.
    const stats = await call("GET", `/workflows/${wf.body.id}/stats`, { key: p.secretKey });
    expect(stats.body.steps.map((s: any) => s.stepId)).toEqual([wf.body.steps[0].id]);
  });

  it("refuses a window that is not one", async () => {
    const p = await createProject();
    expectEnvelope(
      await call("GET", "/analytics?from=2026-02-01&to=2026-01-01", { key: p.secretKey }),
      422,
      "VALIDATION_ERROR",
    );
    expectEnvelope(
      await call("GET", "/analytics?from=2020-01-01&to=2026-01-01", { key: p.secretKey }),
      422,
      "VALIDATION_ERROR",
    );
    expectEnvelope(
      await call("GET", "/analytics?from=yesterday", { key: p.secretKey }),
      422,
      "VALIDATION_ERROR",
    );
    const one = await analytics(p, "?from=2026-01-01&to=2026-01-01");
    expect(one.days).toEqual(["2026-01-01"]);
    expect(one.emails.sent).toEqual([0]);
  });
});
