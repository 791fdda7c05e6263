/** `Idempotency-Key` on POST /v1/track: one effect per key and body, the first answer replayed for 24 h. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createProject, expectEnvelope, fetchSettled, type TestProject, uniqueEmail } from "./helpers";

const eventCount = async (projectId: string) =>
  (
    await env.DB.prepare("SELECT count(*) AS n FROM events WHERE project_id = ?1")
      .bind(projectId)
      .first<{ n: number }>()
  )?.n;

const contactCount = async (projectId: string) =>
  (
    await env.DB.prepare("SELECT count(*) AS n FROM contacts WHERE project_id = ?1")
      .bind(projectId)
      .first<{ n: number }>()
  )?.n;

const track = (p: TestProject, body: unknown, key?: string) =>
  call("POST", "/v1/track", {
    key: p.publicKey,
    body,
    headers: key === undefined ? {} : { "idempotency-key": key },
  });

/** The answer's raw bytes, to compare replays byte for byte. */
async function trackRaw(p: TestProject, body: unknown, key: string) {
  const res = await fetchSettled(
    new Request("http://worker.test/v1/track", {
      method: "POST",
      headers: {
        authorization: `Bearer ${p.secretKey}`,
        "content-type": "application/json",
        "idempotency-key": key,
      },
      body: JSON.stringify(body),
    }),
  );
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe("Idempotency-Key", () => {
  it("replays the first answer for the same key and body, and stores one event", async () => {
    const p = await createProject();
    const body = { event: "order", email: uniqueEmail(), data: { total: 10 } };
    const first = await track(p, body, "order-1");
    expect(first.status).toBe(200);
    const second = await track(p, body, "order-1");
    const third = await track(p, body, "order-1");
    expect(second.status).toBe(first.status);
    expect(second.body).toEqual(first.body);
    expect(third.body).toEqual(first.body);
    expect(second.headers.get("content-type")).toMatch(/^application\/json/);
    expect(second.headers.get("x-request-id")).toBeTruthy();
    expect(await eventCount(p.id)).toBe(1);
    expect(await contactCount(p.id)).toBe(1);
    const stored = await env.DB.prepare("SELECT id FROM events WHERE project_id = ?1")
      .bind(p.id)
      .first<{ id: string }>();
    expect(stored?.id).toBe(first.body.data.event);
  });

  it("keeps the CORS headers on a replay to a browser", async () => {
    const p = await createProject();
    const body = { event: "web", email: uniqueEmail() };
    const headers = { "idempotency-key": "web-1", origin: "https://shop.example" };
    const first = await call("POST", "/v1/track", { key: p.publicKey, body, headers });
    const again = await call("POST", "/v1/track", { key: p.publicKey, body, headers });
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("replays the answer byte for byte", async () => {
    const p = await createProject();
    const body = { event: "bytes", email: uniqueEmail() };
    const first = await trackRaw(p, body, "bytes-1");
    const again = await trackRaw(p, body, "bytes-1");
    expect(again.status).toBe(first.status);
    expect(again.text).toBe(first.text);
  });

  it("does not replay a status change twice", async () => {
    const p = await createProject();
    const email = uniqueEmail();
    await track(p, { event: "a", email });
    const body = { event: "unsub", email, subscribed: false };
    await track(p, body, "unsub-1");
    await track(p, body, "unsub-1");
    const names = await env.DB.prepare("SELECT name FROM events WHERE project_id = ?1 ORDER BY name")
      .bind(p.id)
      .all<{ name: string }>();
    expect(names.results.map((r) => r.name)).toEqual(["a", "contact.unsubscribed", "unsub"]);
  });

  it("refuses the same key with a different body with 409 IDEMPOTENCY_KEY_REUSED, doing nothing", async () => {
    const p = await createProject();
    const email = uniqueEmail();
    const first = await track(p, { event: "order", email, data: { total: 10 } }, "k-409");
    expect(first.status).toBe(200);
    const other = await track(p, { event: "order", email, data: { total: 11 } }, "k-409");
    expectEnvelope(other, 409, "IDEMPOTENCY_KEY_REUSED");
    const otherEmail = await track(p, { event: "order", email: uniqueEmail(), data: { total: 10 } }, "k-409");
    expectEnvelope(otherEmail, 409, "IDEMPOTENCY_KEY_REUSED");
    expect(await eventCount(p.id)).toBe(1);
    expect(await contactCount(p.id)).toBe(1);
    const contact = await call("GET", `/contacts/${first.body.data.contact}`, { key: p.secretKey });
    expect(contact.body.data).toEqual({ total: 10 });
    // The first body still replays.
    const again = await track(p, { event: "order", email, data: { total: 10 } }, "k-409");
    expect(again.body).toEqual(first.body);
  });

  it("answers 10 concurrent requests with one key with one event and equal answers", async () => {
    const p = await createProject();
    const body = { event: "burst", email: uniqueEmail("burst"), data: { n: 1 } };
    const answers = await Promise.all(Array.from({ length: 10 }, () => track(p, body, "burst-key")));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.body).toEqual(answers[0]?.body);
    }
    expect(await eventCount(p.id)).toBe(1);
    expect(await contactCount(p.id)).toBe(1);
  });

  it("does not hold requests without a key to one event", async () => {
    const p = await createProject();
    const body = { event: "plain", email: uniqueEmail() };
    await track(p, body);
    await track(p, body);
    expect(await eventCount(p.id)).toBe(2);
  });

  it("treats different keys as different requests", async () => {
    const p = await createProject();
    const body = { event: "k", email: uniqueEmail() };
    const a = await track(p, body, "key-a");
    const b = await track(p, body, "key-b");
    expect(a.body.data.event).not.toBe(b.body.data.event);
    expect(await eventCount(p.id)).toBe(2);
  });

  it("is case-sensitive in the key", async () => {
    const p = await createProject();
    const body = { event: "k", email: uniqueEmail() };
    await track(p, body, "Key");
    await track(p, body, "key");
    expect(await eventCount(p.id)).toBe(2);
  });

  it("accepts keys of 1 and 255 printable characters", async () => {
    const p = await createProject();
    const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i))
      .join("")
      .trim();
    for (const key of ["k", "k".repeat(255), printable]) {
      const res = await track(p, { event: "ok", email: uniqueEmail() }, key);
      expect(res.status).toBe(200);
    }
    expect(await eventCount(p.id)).toBe(3);
  });

  it.each([
    ["256 characters", "k".repeat(256)],
    ["empty", ""],
    ["a tab", "a\tb"],
    ["a non-ASCII character", "clé"],
    ["a DEL", "a\x7fb"],
  ])("refuses a key with %s with 422 and stores nothing", async (_what, key) => {
    const p = await createProject();
    const res = await track(p, { event: "bad-key", email: uniqueEmail() }, key);
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(res.body.error.errors[0].field).toBe("Idempotency-Key");
    expect(await eventCount(p.id)).toBe(0);
    expect(await contactCount(p.id)).toBe(0);
  });

  it("keeps keys per project: one key in two projects makes two independent events", async () => {
    const a = await createProject();
    const b = await createProject();
    const email = uniqueEmail();
    const inA = await track(a, { event: "shared", email }, "shared-key");
    const inB = await track(b, { event: "shared", email }, "shared-key");
    expect(inA.status).toBe(200);
    expect(inB.status).toBe(200);
    expect(inB.body.data.event).not.toBe(inA.body.data.event);
    expect(inB.body.data.contact).not.toBe(inA.body.data.contact);
    expect(await eventCount(a.id)).toBe(1);
    expect(await eventCount(b.id)).toBe(1);
    // A different body under the same key in another project is not a reuse either.
    const c = await createProject();
    const inC = await track(c, { event: "other", email: uniqueEmail() }, "shared-key");
    expect(inC.status).toBe(200);
    // And each project still replays its own answer.
    expect((await track(b, { event: "shared", email }, "shared-key")).body).toEqual(inB.body);
  });

  it("forgets a key after 24 hours: the same request is then new", async () => {
    const p = await createProject();
    const body = { event: "daily", email: uniqueEmail() };
    const first = await track(p, body, "day-key");
    const dayAgo = Date.now() - 24 * 60 * 60 * 1000 - 60_000;
    const updated = await env.DB.prepare(
      "UPDATE idempotency_keys SET created_at = ?1 WHERE project_id = ?2 AND key = ?3",
    )
      .bind(dayAgo, p.id, "day-key")
      .run();
    expect(updated.meta.changes).toBe(1);

    const second = await track(p, body, "day-key");
    expect(second.status).toBe(200);
    expect(second.body.data.event).not.toBe(first.body.data.event);
    expect(await eventCount(p.id)).toBe(2);
    // The new answer is the one replayed from now on.
    const third = await track(p, body, "day-key");
    expect(third.body).toEqual(second.body);
    expect(await eventCount(p.id)).toBe(2);
  });

  it("forgets an expired key even when the new request has a different body", async () => {
    const p = await createProject();
    await track(p, { event: "old", email: uniqueEmail() }, "reused-later");
    await env.DB.prepare("UPDATE idempotency_keys SET created_at = ?1 WHERE project_id = ?2")
      .bind(Date.now() - 25 * 60 * 60 * 1000, p.id)
      .run();
    const res = await track(p, { event: "new", email: uniqueEmail() }, "reused-later");
    expect(res.status).toBe(200);
    expect(await eventCount(p.id)).toBe(2);
  });

  it("still holds a key just under 24 hours old", async () => {
    const p = await createProject();
    const body = { event: "almost", email: uniqueEmail() };
    const first = await track(p, body, "almost-key");
    await env.DB.prepare("UPDATE idempotency_keys SET created_at = ?1 WHERE project_id = ?2")
      .bind(Date.now() - 23 * 60 * 60 * 1000, p.id)
      .run();
    const again = await track(p, body, "almost-key");
    expect(again.body).toEqual(first.body);
    expect(await eventCount(p.id)).toBe(1);
  });

  it("does not record a refused request: after a 422 the key is still free", async () => {
    const p = await createProject();
    const bad = await track(p, { event: "email.sent", email: uniqueEmail() }, "after-422");
    expectEnvelope(bad, 422, "VALIDATION_ERROR");
    const good = await track(p, { event: "fine", email: uniqueEmail() }, "after-422");
    expect(good.status).toBe(200);
    expect(await eventCount(p.id)).toBe(1);
  });
});
