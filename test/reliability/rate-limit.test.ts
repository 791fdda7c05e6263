/**
 * Per-project rate limits on /v1/track and /v1/send: the Workers rate-limiting binding of wrangler.toml
 * (TRACK_LIMITER, SEND_LIMITER), driven past its limit here through the worker and through the binding.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { call, createProject, expectEnvelope, uniqueEmail } from "../helpers";
import { appTables, snapshot } from "./fixtures";

/** The binding's windows are aligned to the clock: start well inside one. */
async function freshWindow() {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 8_000) await new Promise((r) => setTimeout(r, left + 50));
}

/** Takes a project's whole allowance from the binding itself; how many it granted. */
async function exhaust(limiter: RateLimit, key: string): Promise<number> {
  let granted = 0;
  for (let i = 0; i < 5_000; i++) {
    if (!(await limiter.limit({ key })).success) return granted;
    granted++;
  }
  throw new Error("the limiter never refused");
}

describe("rate limits", () => {
  it("/v1/send: the 101st request of a project in a minute is 429 with Retry-After; nothing stored; others unaffected", {
    timeout: 30_000,
  }, async () => {
    await freshWindow();
    const p = await createProject();
    const other = await createProject();
    // Bodies that fail validation cost nothing to store, and still count: the limit runs before the body.
    let answered = 0;
    for (let i = 0; i < 100; i++) {
      const res = await call("POST", "/v1/send", { key: p.secretKey, body: { to: "not-an-email" } });
      expect(res.status).toBe(422);
      answered++;
    }
    const tables = await appTables();
    const before = await snapshot(tables);
    const over = await call("POST", "/v1/send", {
      key: p.secretKey,
      body: { to: uniqueEmail(), subject: "s", body: "b" },
    });
    expectEnvelope(over, 429, "RATE_LIMIT_EXCEEDED");
    expect(over.headers.get("retry-after")).toBe("60");
    expect(await snapshot(tables)).toBe(before);
    // Another project has its own allowance.
    const fine = await call("POST", "/v1/send", { key: other.secretKey, body: { to: "not-an-email" } });
    expect(fine.status).toBe(422);
    // /v1/track has its own limiter: the same project may still track.
    const tracked = await call("POST", "/v1/track", {
      key: p.publicKey,
      body: { event: "e", email: uniqueEmail() },
    });
    expect(tracked.status).toBe(200);
    console.log(
      `[reliability] rate limit /v1/send: ${answered} answered, request ${answered + 1} → 429 Retry-After 60`,
    );
  });

  it("/v1/track: once the project's allowance is used, 429 for its public and secret keys alike", {
    // 1,000 calls to the limiter: past vitest's 5 s default on a busy 2-core machine (seen in a CI run).
    timeout: 30_000,
  }, async () => {
    await freshWindow();
    const p = await createProject();
    const granted = await exhaust(env.TRACK_LIMITER, p.id);
    expect(granted).toBe(1000); // wrangler.toml: simple = { limit = 1000, period = 60 }
    const tables = await appTables();
    const before = await snapshot(tables);
    for (const key of [p.publicKey, p.secretKey]) {
      const res = await call("POST", "/v1/track", { key, body: { event: "e", email: uniqueEmail() } });
      expectEnvelope(res, 429, "RATE_LIMIT_EXCEEDED");
      expect(res.headers.get("retry-after")).toBe("60");
    }
    // An idempotent repeat is refused too (it would do nothing, but it still costs a request).
    const idem = await call("POST", "/v1/track", {
      key: p.secretKey,
      headers: { "idempotency-key": "k" },
      body: { event: "e", email: uniqueEmail() },
    });
    expectEnvelope(idem, 429, "RATE_LIMIT_EXCEEDED");
    expect(await snapshot(tables)).toBe(before);
    // Auth comes first: a bad key is 401, not 429.
    expect(
      (await call("POST", "/v1/track", { key: "sk_nope", body: { event: "e", email: uniqueEmail() } }))
        .status,
    ).toBe(401);
  });

  it("a limiter that fails lets the request through (logged): a limit is no reason to lose an event", async () => {
    const p = await createProject();
    vi.spyOn(env.TRACK_LIMITER, "limit").mockRejectedValueOnce(new Error("limiter unavailable"));
    const res = await call("POST", "/v1/track", {
      key: p.secretKey,
      body: { event: "e", email: uniqueEmail() },
    });
    expect(res.status).toBe(200);
    vi.restoreAllMocks();
  });
});
