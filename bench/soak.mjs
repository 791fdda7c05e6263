#!/usr/bin/env node
// The soak (opt-in, not part of npm test): N tracked events through the local stack (wrangler dev with
// its D1, Durable Objects, queues and cron handler; the local SES; a webhook consumer on loopback), into
// workflows that branch, delay, email and call webhooks. At the end, with the sweep run: events stored =
// tracked, executions and deliveries and emails = expected, nothing stuck; RSS of workerd sampled.
//
//   npm run soak -- --events 20000 [--concurrency 16] [--projects 20]
//
// Per project (events are spread over projects so the per-project rate limit, 1,000 tracks a minute,
// is not what is measured): workflow A on `soak.signup`: CONDITION event.plan = "pro" → yes: WEBHOOK;
// no: DELAY 2 s → WEBHOOK. Workflow B on `soak.purchase`: SEND_EMAIL → WEBHOOK. Even events are signups,
// odd are purchases, each for its own contact. Expected: executions = N, webhook deliveries = N,
// emails = ⌈N/2⌉ purchases, all ending DELIVERED / SENT / COMPLETED.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { benchConfig } from "./lib/stack.mjs";

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const EVENTS = flag("events", 2000);
const CONCURRENCY = flag("concurrency", 16);
const PROJECTS = flag("projects", Math.max(1, Math.min(50, Math.ceil(EVENTS / 2500))));
const SETTLE_MS = flag("settle-seconds", 600) * 1000;
const IDLE_MS = flag("idle-seconds", 0) * 1000;
const PROGRESS = flag("progress", 5000);
/** Tracks in this many bursts, each one left to drain before the next: memory is read at each end. */
const BURSTS = Math.max(1, flag("bursts", 1));
const root = path.resolve(import.meta.dirname, "..");
const bin = (n) => path.join(root, "node_modules", ".bin", n);
const ADMIN = "soak-admin-token";

const log = (...a) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** RSS (KiB) of every workerd process under `pid`. */
function workerdRss(pid) {
  const out = spawnSync("ps", ["-eo", "pid=,ppid=,rss=,comm="], { encoding: "utf8" }).stdout;
  const procs = out
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .map(([p, pp, rss, comm]) => ({ pid: Number(p), ppid: Number(pp), rss: Number(rss), comm }));
  const tree = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) {
      if (!tree.has(p.pid) && tree.has(p.ppid)) {
        tree.add(p.pid);
        grew = true;
      }
    }
  }
  return procs.filter((p) => tree.has(p.pid) && /workerd/.test(p.comm)).reduce((s, p) => s + p.rss, 0);
}

// --- the webhook consumer: counts requests and first successes per webhook-id ---------------------
const hookRequests = new Map();
const consumer = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    const id = String(req.headers["webhook-id"] ?? "");
    hookRequests.set(id, (hookRequests.get(id) ?? 0) + 1);
    res.writeHead(200).end("ok");
  });
});
const hookPort = await freePort();
await new Promise((r) => consumer.listen(hookPort, "127.0.0.1", r));

// --- the local SES ---------------------------------------------------------------------------------
const sesPort = await freePort();
const ses = spawn(bin("aws-ses-v2-local"), ["--host", "127.0.0.1", "--port", String(sesPort)], {
  stdio: "ignore",
});
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`http://127.0.0.1:${sesPort}/health-check`)).ok) break;
  } catch {}
  if (i > 200) throw new Error("local SES did not start");
  await sleep(100);
}

// --- wrangler dev ----------------------------------------------------------------------------------
const persist = fs.mkdtempSync(path.join(os.tmpdir(), "plunk-edge-soak-"));
for (const binding of ["DB", "DB_2"]) {
  const migrate = spawnSync(
    bin("wrangler"),
    ["d1", "migrations", "apply", binding, "--local", "--persist-to", persist],
    { cwd: root, env: { ...process.env, CI: "1" }, encoding: "utf8" },
  );
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}`);
}
const port = await freePort();
const vars = {
  ENVIRONMENT: "development",
  ADMIN_TOKEN: ADMIN,
  SES_ACCESS_KEY_ID: "local",
  SES_SECRET_ACCESS_KEY: "local",
  SES_ENDPOINT: `http://127.0.0.1:${sesPort}`,
  RETRY_DELAY_SCALE: "0",
};
const devArgs = [
  "dev",
  "--ip",
  "127.0.0.1",
  "--port",
  String(port),
  "--inspector-port",
  String(await freePort()),
];
devArgs.push("--persist-to", persist, "--show-interactive-dev-session=false", "--log-level", "warn");
for (const [k, v] of Object.entries(vars)) devArgs.push("--var", `${k}:${v}`);
// Served from a copy of the sources taken now, so an edit to the tree during a long soak does not reload it.
const snapshot = benchConfig({ raiseLimits: false });
devArgs.push("--config", snapshot.file);
const dev = spawn(bin("wrangler"), devArgs, { cwd: root, env: { ...process.env, CI: "1" } });
let devOut = "";
dev.stdout.on("data", (d) => {
  devOut = (devOut + d).slice(-20_000);
});
dev.stderr.on("data", (d) => {
  devOut = (devOut + d).slice(-20_000);
});
const base = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/health`)).ok) break;
  } catch {}
  if (dev.exitCode !== null || i > 400) throw new Error(`wrangler dev did not start: ${devOut}`);
  await sleep(250);
}

const rss = [];
const sampler = setInterval(() => rss.push({ t: Date.now(), kib: workerdRss(dev.pid) }), 2000);

let exitCode = 1;
try {
  exitCode = await run();
} catch (err) {
  console.error(err);
  console.error(devOut.slice(-3000));
} finally {
  clearInterval(sampler);
  dev.kill("SIGTERM");
  ses.kill("SIGTERM");
  consumer.close();
  await sleep(1000);
  if (dev.exitCode === null) dev.kill("SIGKILL");
  fs.rmSync(persist, { recursive: true, force: true });
  snapshot.remove();
}
process.exit(exitCode);

async function api(key, method, p, body) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${base}${p}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status === 429 && attempt < 20) {
      await sleep(Number(res.headers.get("retry-after") ?? "1") * 1000);
      continue;
    }
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }
}

async function must(res, status, what) {
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Counts straight from the local D1 (wrangler d1 execute on the same state directory). */
function d1(sql) {
  const out = spawnSync(
    bin("wrangler"),
    ["d1", "execute", "DB", "--local", "--persist-to", persist, "--json", "--command", sql],
    { cwd: root, env: { ...process.env, CI: "1" }, encoding: "utf8" },
  );
  if (out.status !== 0) throw new Error(`d1 execute failed: ${out.stderr}`);
  return JSON.parse(out.stdout)[0].results;
}

async function setup() {
  const projects = [];
  for (let i = 0; i < PROJECTS; i++) {
    const res = await fetch(`${base}/admin/projects`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: `Soak ${i}` }),
    });
    const p = await res.json();
    const sk = p.secretKey;
    const tpl = await must(
      await api(sk, "POST", "/templates", {
        name: "Receipt",
        subject: "Thanks {{ data.name ?? 'there' }}",
        body: "<p>Order {{ event.order }}</p>",
        from: "shop@example.com",
        type: "TRANSACTIONAL",
      }),
      201,
      "template",
    );
    const hook = `http://127.0.0.1:${hookPort}/in`;
    const a = await must(
      await api(sk, "POST", "/workflows", { name: "A", eventName: "soak.signup", enabled: false }),
      201,
      "wf A",
    );
    const step = async (wf, body) =>
      (await must(await api(sk, "POST", `/workflows/${wf}/steps`, body), 201, "step")).id;
    const edge = async (wf, fromStepId, toStepId, branch) =>
      must(
        await api(sk, "POST", `/workflows/${wf}/transitions`, {
          fromStepId,
          toStepId,
          ...(branch ? { branch } : {}),
        }),
        201,
        "edge",
      );
    const cond = await step(a.id, {
      type: "CONDITION",
      name: "pro?",
      config: { field: "event.plan", operator: "equals", value: "pro" },
    });
    const hookPro = await step(a.id, {
      type: "WEBHOOK",
      name: "pro hook",
      config: { url: hook, method: "POST" },
    });
    const delay = await step(a.id, { type: "DELAY", name: "wait", config: { amount: 2, unit: "seconds" } });
    const hookFree = await step(a.id, {
      type: "WEBHOOK",
      name: "free hook",
      config: { url: hook, method: "POST" },
    });
    await edge(a.id, a.steps[0].id, cond);
    await edge(a.id, cond, hookPro, "yes");
    await edge(a.id, cond, delay, "no");
    await edge(a.id, delay, hookFree);
    await must(await api(sk, "PATCH", `/workflows/${a.id}`, { enabled: true }), 200, "enable A");
    const b = await must(
      await api(sk, "POST", "/workflows", { name: "B", eventName: "soak.purchase", enabled: false }),
      201,
      "wf B",
    );
    const email = await step(b.id, { type: "SEND_EMAIL", name: "receipt", config: { templateId: tpl.id } });
    const hookB = await step(b.id, { type: "WEBHOOK", name: "crm", config: { url: hook, method: "POST" } });
    await edge(b.id, b.steps[0].id, email);
    await edge(b.id, email, hookB);
    await must(await api(sk, "PATCH", `/workflows/${b.id}`, { enabled: true }), 200, "enable B");
    projects.push(p);
  }
  return projects;
}

async function run() {
  const projects = await setup();
  log(`stack up on ${base}; ${PROJECTS} projects; tracking ${EVENTS} events with ${CONCURRENCY} in flight`);
  const started = Date.now();
  let next = 0;
  let ok = 0;
  const failures = {};
  const latencies = [];
  async function worker(end) {
    for (;;) {
      const i = next++;
      if (i >= end) {
        next = end;
        return;
      }
      const p = projects[i % projects.length];
      const purchase = i % 2 === 1;
      const t0 = performance.now();
      const res = await api(p.publicKey, "POST", "/v1/track", {
        event: purchase ? "soak.purchase" : "soak.signup",
        email: `soak${i}@example.com`,
        data: purchase ? { order: `o${i}`, name: `N${i}` } : { plan: i % 4 === 0 ? "pro" : "free" },
      });
      latencies.push(performance.now() - t0);
      if (res.status === 200) ok++;
      else failures[res.status] = (failures[res.status] ?? 0) + 1;
      if (i > 0 && i % PROGRESS === 0) {
        const mib = Math.round((rss.at(-1)?.kib ?? 0) / 1024);
        log(`${i} tracked (${Math.round(i / ((Date.now() - started) / 1000))}/s); workerd RSS ${mib} MiB`);
      }
    }
  }
  const nowMiB = () => Math.round((rss.at(-1)?.kib ?? 0) / 1024);
  /** Waits until everything the first `n` events set off has ended (or the settle time has passed). */
  async function settle(n) {
    const want = { executions: n, deliveries: n, emails: Math.floor(n / 2) };
    const from = Date.now();
    let counts;
    for (;;) {
      await sleep(5000);
      counts = d1(
        `SELECT (SELECT count(*) FROM executions) AS executions,
                (SELECT count(*) FROM executions WHERE status = 'COMPLETED') AS completed,
                (SELECT count(*) FROM webhook_deliveries) AS deliveries,
                (SELECT count(*) FROM webhook_deliveries WHERE status = 'DELIVERED') AS delivered,
                (SELECT count(*) FROM emails) AS emails,
                (SELECT count(*) FROM emails WHERE status = 'SENT') AS sent`,
      )[0];
      log(`settling: ${JSON.stringify(counts)}`);
      const done =
        counts.completed === want.executions &&
        counts.delivered === want.deliveries &&
        counts.sent === want.emails;
      if (done || Date.now() - from > SETTLE_MS) break;
    }
    return (Date.now() - from) / 1000;
  }
  const bursts = [];
  let trackMs = 0;
  let settleSeconds = 0;
  for (let b = 0; b < BURSTS; b++) {
    const end = Math.round((EVENTS * (b + 1)) / BURSTS);
    const from = next;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(end)));
    trackMs += Date.now() - t0;
    const atEnd = nowMiB();
    settleSeconds = await settle(end);
    bursts.push({
      burst: b + 1,
      events: end - from,
      trackSeconds: Number(((Date.now() - t0) / 1000 - settleSeconds).toFixed(1)),
      settleSeconds: Number(settleSeconds.toFixed(1)),
      rssAtTrackEndMiB: atEnd,
      rssSettledMiB: nowMiB(),
    });
    if (BURSTS > 1) log(`burst ${b + 1}/${BURSTS}: ${JSON.stringify(bursts.at(-1))}`);
  }
  const trackSeconds = trackMs / 1000;
  latencies.sort((x, y) => x - y);
  const pct = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]);
  log(
    `tracked ${ok}/${EVENTS} in ${trackSeconds.toFixed(1)} s (${Math.round(ok / trackSeconds)}/s); p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; failures ${JSON.stringify(failures)}`,
  );

  const purchases = Math.floor(EVENTS / 2);
  const expected = { executions: EVENTS, deliveries: EVENTS, emails: purchases };

  // Idle: nothing sent; RSS keeps being sampled, to tell memory held by work from memory kept.
  const idleFrom = rss.length;
  if (IDLE_MS > 0) {
    log(`idle for ${IDLE_MS / 1000} s`);
    for (let waited = 0; waited < IDLE_MS; waited += 30_000) {
      await sleep(Math.min(30_000, IDLE_MS - waited));
      log(`idle: workerd RSS ${Math.round((rss.at(-1)?.kib ?? 0) / 1024)} MiB`);
    }
  }
  // The sweep, as the cron would run it; then look for anything stuck.
  const sweep = await fetch(`${base}/cdn-cgi/handler/scheduled`);
  await sleep(3000);
  const final = d1(
    `SELECT (SELECT count(*) FROM events WHERE name IN ('soak.signup', 'soak.purchase')) AS tracked_stored,
            (SELECT count(*) FROM events WHERE name = 'email.sent') AS email_sent_events,
            (SELECT count(*) FROM events WHERE dispatched_at IS NULL) AS undispatched,
            (SELECT count(*) FROM contacts) AS contacts,
            (SELECT count(*) FROM executions) AS executions,
            (SELECT count(*) FROM executions WHERE status = 'COMPLETED') AS completed,
            (SELECT count(*) FROM executions WHERE status IN ('RUNNING', 'WAITING')) AS active,
            (SELECT count(*) FROM executions WHERE status = 'FAILED') AS exec_failed,
            (SELECT count(*) FROM webhook_deliveries) AS deliveries,
            (SELECT count(*) FROM webhook_deliveries WHERE status = 'DELIVERED') AS delivered,
            (SELECT count(*) FROM webhook_deliveries WHERE status = 'PENDING') AS pending,
            (SELECT count(*) FROM emails) AS emails,
            (SELECT count(*) FROM emails WHERE status = 'SENT') AS sent,
            (SELECT count(*) FROM emails WHERE status IN ('QUEUED', 'SENDING')) AS email_stuck`,
  )[0];
  const sesStored = ((await (await fetch(`http://127.0.0.1:${sesPort}/store`)).json()).emails ?? []).length;
  const secondHooks = [...hookRequests.values()].filter((n) => n > 1).length;
  const kib = rss.map((s) => s.kib).filter((k) => k > 0);
  const third = Math.max(1, Math.floor(kib.length / 3));
  const mib = (k) => Math.round(k / 1024);
  const memory = kib.length
    ? {
        samples: kib.length,
        firstMiB: mib(kib[0]),
        peakMiB: mib(Math.max(...kib)),
        lastMiB: mib(kib[kib.length - 1]),
        firstThirdAvgMiB: mib(kib.slice(0, third).reduce((s, k) => s + k, 0) / third),
        lastThirdAvgMiB: mib(kib.slice(-third).reduce((s, k) => s + k, 0) / third),
        ...(IDLE_MS > 0
          ? {
              idleSeconds: IDLE_MS / 1000,
              atIdleStartMiB: mib(rss[idleFrom]?.kib ?? 0),
              atIdleEndMiB: mib(rss.at(-1)?.kib ?? 0),
            }
          : {}),
      }
    : null;
  const checks = {
    "events stored = tracked": final.tracked_stored === ok && ok === EVENTS,
    "executions = expected, all COMPLETED":
      final.executions === expected.executions && final.completed === expected.executions,
    "deliveries = expected, all DELIVERED":
      final.deliveries === expected.deliveries && final.delivered === expected.deliveries,
    "emails = expected, all SENT, one email.sent each":
      final.emails === expected.emails &&
      final.sent === expected.emails &&
      final.email_sent_events === expected.emails,
    "SES received each email once": sesStored === expected.emails,
    "webhook consumer saw each id once": hookRequests.size === expected.deliveries && secondHooks === 0,
    "nothing stuck after the sweep":
      final.active === 0 && final.pending === 0 && final.email_stuck === 0 && final.undispatched === 0,
    "the sweep ran": sweep.ok,
  };
  const report = {
    events: EVENTS,
    projects: PROJECTS,
    concurrency: CONCURRENCY,
    trackSeconds: Number(trackSeconds.toFixed(1)),
    tracksPerSecond: Math.round(ok / trackSeconds),
    latencyMs: {
      p50: pct(0.5),
      p90: pct(0.9),
      p99: pct(0.99),
      max: Math.round(latencies[latencies.length - 1]),
    },
    settleSeconds: Number(settleSeconds.toFixed(1)),
    bursts,
    final,
    sesStored,
    webhookIds: hookRequests.size,
    secondWebhookRequests: secondHooks,
    memory,
    checks,
  };
  console.log(JSON.stringify(report, null, 2));
  const failed = Object.entries(checks).filter(([, v]) => !v);
  if (failed.length) {
    log(`FAILED: ${failed.map(([k]) => k).join("; ")}`);
    return 1;
  }
  log("all checks held; losses 0");
  return 0;
}
