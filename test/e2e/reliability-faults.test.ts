// Reliability end to end: wrangler dev with its real queues, a webhook endpoint on loopback that fails
// half the time, answers slowly, hangs past the 15 s timeout, resets connections, or is not listening at
// all at first; SES throttling through the proxy; and the rate limit over HTTP.
import http from "node:http";
import type net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalSes, type SesProxy, startLocalSes, startSesProxy, until } from "./local-servers";
import { freePort, type Stack, startStack } from "./stack";

let stack: Stack;
let ses: LocalSes;
let sesProxy: SesProxy;
let project: { id: string; publicKey: string; secretKey: string; webhookSecret: string };

async function api(method: string, path: string, body?: unknown, key = project.secretKey) {
  const res = await fetch(`${stack.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

async function webhookWorkflow(event: string, url: string) {
  const wf = await api("POST", "/workflows", { name: `wf ${event}`, eventName: event, enabled: true });
  expect(wf.status).toBe(201);
  const step = await api("POST", `/workflows/${wf.body.id}/steps`, {
    type: "WEBHOOK",
    name: "hook",
    config: { url, method: "POST" },
  });
  expect(step.status, JSON.stringify(step.body)).toBe(201);
  const t = await api("POST", `/workflows/${wf.body.id}/transitions`, {
    fromStepId: wf.body.steps[0].id,
    toStepId: step.body.id,
  });
  expect(t.status).toBe(201);
  return wf.body.id as string;
}

/** An endpoint whose behaviour is chosen per request; counts requests and 2xx answers per webhook-id. */
function flakyServer(decide: (id: string, attempt: number) => "ok" | "500" | "slow" | "hang" | "reset") {
  const requests = new Map<string, number>();
  const successes = new Map<string, number>();
  const faults: Record<string, number> = {};
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const id = String(req.headers["webhook-id"] ?? "");
      const attempt = (requests.get(id) ?? 0) + 1;
      requests.set(id, attempt);
      const what = decide(id, attempt);
      faults[what] = (faults[what] ?? 0) + 1;
      const ok = () => {
        successes.set(id, (successes.get(id) ?? 0) + 1);
        res.writeHead(200).end("ok");
      };
      if (what === "ok") ok();
      else if (what === "500") res.writeHead(500).end("flaky");
      else if (what === "slow") setTimeout(ok, 2_000);
      else if (what === "hang") setTimeout(() => res.writeHead(200).end("too late"), 17_000);
      else req.socket.destroy();
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return {
    server,
    requests,
    successes,
    faults,
    listen: (port: number) => new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r())),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

beforeAll(async () => {
  ses = await startLocalSes();
  sesProxy = await startSesProxy(ses.url);
  stack = await startStack({ SES_ENDPOINT: sesProxy.url, RETRY_DELAY_SCALE: "0" });
  project = (await stack.admin("POST", "/admin/projects", { name: "Reliability" })).body;
});

afterAll(async () => {
  await stack?.stop();
  await sesProxy?.close();
  await ses?.stop();
});

describe("webhooks against a failing endpoint", () => {
  it("half fail, some slow, some hang past 15 s, some reset: all delivered once; refused connections recover", {
    timeout: 240_000,
  }, async () => {
    // Deterministic per delivery: the hash of its id picks its fault on the first two attempts.
    const pick = (id: string) => [...id].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7);
    // Two hangs at most: the local queue runs one consumer batch at a time (max_batch_timeout = 0 keeps
    // batches small), so each 15 s hang holds every delivery behind it; production runs batches concurrently.
    let hangs = 0;
    const flaky = flakyServer((id, attempt) => {
      if (attempt > 2) return "ok";
      const h = pick(id) % 10;
      if (attempt === 1 && h === 0 && hangs < 2) {
        hangs++;
        return "hang";
      }
      if (h < 5) return attempt === 1 ? "500" : "ok"; // half fail their first request
      if (h === 5) return "reset";
      if (h === 6) return "slow";
      return "ok";
    });
    const port = await freePort();
    await flaky.listen(port);
    // A second endpoint that is not listening yet: connections are refused until it starts.
    const laterPort = await freePort();
    const later = flakyServer(() => "ok");

    await webhookWorkflow("rel.hook", `http://127.0.0.1:${port}/in`);
    await webhookWorkflow("rel.later", `http://127.0.0.1:${laterPort}/in`);
    const N = 40;
    const M = 5;
    for (let i = 0; i < N; i++) {
      const res = await api(
        "POST",
        "/v1/track",
        { event: "rel.hook", email: `hook${i}@example.com` },
        project.publicKey,
      );
      expect(res.status).toBe(200);
    }
    for (let i = 0; i < M; i++) {
      expect(
        (await api("POST", "/v1/track", { event: "rel.later", email: `later${i}@example.com` })).status,
      ).toBe(200);
    }
    const list = async () => (await api("GET", "/webhook-deliveries?limit=100")).body.data as any[];
    // The refused ones fail for good (8 attempts at once, RETRY_DELAY_SCALE=0); then the endpoint comes up.
    const refused = await until(
      "refused deliveries to end FAILED",
      async () => {
        const ds = (await list()).filter((d) => d.url.includes(`:${laterPort}/`));
        return ds.length === M && ds.every((d) => d.status === "FAILED") && ds;
      },
      100_000,
    );
    await later.listen(laterPort);
    for (const d of refused)
      expect((await api("POST", `/webhook-deliveries/${d.id}/replay`)).status).toBe(202);

    const done = await until(
      "every delivery to end",
      async () => {
        const ds = await list();
        return ds.length === N + M && ds.every((d) => d.status !== "PENDING") && ds;
      },
      100_000,
    );
    const delivered = done.filter((d) => d.status === "DELIVERED").length;
    expect(delivered).toBe(N + M);
    for (const d of done) {
      const server = d.url.includes(`:${laterPort}/`) ? later : flaky;
      expect(server.successes.get(d.id) ?? 0, d.id).toBe(1);
    }
    // Nothing off the record: every id the endpoints saw is a listed delivery.
    const ids = new Set(done.map((d) => d.id));
    for (const id of [...flaky.requests.keys(), ...later.requests.keys()]) expect(ids.has(id)).toBe(true);
    const attempts = done.reduce((s, d) => s + d.attemptCount, 0);
    console.log(
      `[reliability:e2e] webhooks: ${N + M} deliveries, ${attempts} attempts logged, faults ${JSON.stringify(flaky.faults)}, ${M} × 8 refused connections then replayed; delivered ${delivered}, second successes 0, lost 0`,
    );
    await flaky.close();
    await later.close();
  });
});

describe("SES throttling end to end", () => {
  it("the local SES throttles 8 sends: every email is SENT once", { timeout: 40_000 }, async () => {
    const before = (await ses.emails()).length;
    sesProxy.throttleNext(8);
    const to = Array.from({ length: 12 }, (_, i) => `ses${i}-${Date.now()}@example.com`);
    const res = await api("POST", "/v1/send", { to, subject: "Hello", body: "<p>Hi</p>" });
    expect(res.status).toBe(200);
    const ids = res.body.data.emails.map((e: any) => e.email as string);
    await until(
      "all SENT",
      async () => {
        const rows = await Promise.all(ids.map((id: string) => api("GET", `/emails/${id}`)));
        return rows.every((r) => r.body.status === "SENT");
      },
      35_000,
    );
    const stored = (await ses.emails()).slice(before);
    expect(stored).toHaveLength(12);
    const recipients = stored.map((e: any) => JSON.stringify(e.destination ?? e.to ?? e));
    for (const addr of to) expect(recipients.filter((r) => r.includes(addr))).toHaveLength(1);
    console.log(`[reliability:e2e] SES: 12 emails, 8 throttled (429), sent 12, double sends 0`);
  });
});

describe("rate limit over HTTP (wrangler dev runs the binding)", () => {
  it("the 101st /v1/send of a project within its minute is 429 with Retry-After", {
    timeout: 30_000,
  }, async () => {
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 10_000) await new Promise((r) => setTimeout(r, left + 100));
    const p = (await stack.admin("POST", "/admin/projects", { name: "Limited" })).body;
    const statuses: number[] = [];
    for (let i = 0; i < 101; i++) {
      statuses.push((await api("POST", "/v1/send", { to: "not-an-email" }, p.secretKey)).status);
    }
    expect(statuses.slice(0, 100).every((s) => s === 422)).toBe(true);
    const last = await api("POST", "/v1/send", { to: "not-an-email" }, p.secretKey);
    expect(last.status).toBe(429);
    expect(last.body.error.code).toBe("RATE_LIMIT_EXCEEDED");
    expect(last.headers.get("retry-after")).toBe("60");
    expect(statuses[100]).toBe(429);
  });
});
