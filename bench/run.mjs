#!/usr/bin/env node
// `npm run bench`: measures the app on the local stack (wrangler dev: workerd, local D1, Durable
// Objects, Queues) against a no-op worker, against Cloudflare Workflows and against the floor worker
// (bench/floor-worker: the least DESIGN.md's architecture does per event), side by side in one run, and
// writes docs/benchmarks.md, docs/benchmarks.json and docs/benchmarks.svg.
//
//   npm run bench                  the full run (about 10 minutes on 2 cores)
//   npm run bench -- --quick       every case briefly: a smoke check (about 2 minutes)
//   options: --only=track,tooling,latency,executions,scale   --executions=N[,N…]   --contacts=N   --out=DIR
//            --rounds=N --round-ms=MS (case 1's rounds, for profiling one change against another)
//            --compare=FILE (a benchmarks.json of an earlier run: adds a before/after table)
//            --report (measure nothing: rewrite benchmarks.md from benchmarks.json and bench/notes.md)
//            --engine=objects (the app's bench project on the objects engine; by default on the shard
//            engine, as a new project is: docs/engine.md)  --shards=N (the shard engine's count, 1 unless told)
//
// Everything listens on 127.0.0.1; every load loop is bounded in count and time; every process
// started here is stopped at the end (also on Ctrl-C).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { api, workflow } from "./lib/app-api.mjs";
import { flag, opt } from "./lib/args.mjs";
import { startConsumer } from "./lib/consumer.mjs";
import { closeAgents, post, runLoad, summarize } from "./lib/load.mjs";
import { seededEmail } from "./lib/seed.mjs";
import {
  appVars,
  benchConfig,
  cpuMeter,
  migratedState,
  quiet,
  root,
  rssSampler,
  seededState,
  startWorker,
  wranglerBin,
} from "./lib/stack.mjs";
import { latencySvg } from "./lib/svg.mjs";

const QUICK = flag("quick");
const ONLY = new Set(opt("only", "track,tooling,latency,executions,scale").split(","));
const OUT = path.resolve(root, opt("out", "docs"));
/** `--engine=objects`: the app's bench project on the objects engine (the shard engine, the default, otherwise). */
const ENGINE = String(opt("engine", "shard"));
/** `--shards=N`: on the shard engine, the project's shard count (1, the API's default, unless told). */
const SHARDS = Number(opt("shards", 1));
const P = {
  concurrency: Number(opt("concurrency", 16)),
  rounds: Number(opt("rounds", QUICK ? 1 : 3)),
  roundMs: Number(opt("round-ms", QUICK ? 2_000 : 10_000)),
  maxPerRound: QUICK ? 2_000 : 50_000,
  warmup: QUICK ? 50 : 300,
  lowLoadSamples: QUICK ? 20 : 200,
  // A list: case 3 runs once for each count, each time with a fresh Workflows worker (see executions()).
  executions: String(opt("executions", QUICK ? 100 : 2_000))
    .split(",")
    .map((n) => {
      if (!/^[1-9]\d*$/.test(n)) throw new Error(`--executions takes counts separated by commas, not "${n}"`);
      return Number(n);
    }),
  scaleSmall: 1_000,
  scaleLarge: Number(opt("contacts", QUICK ? 20_000 : 1_000_000)),
  seededWaits: QUICK ? 2_000 : 100_000,
  realWaits: QUICK ? 20 : 300,
  scaleConcurrency: 4,
  drainMs: QUICK ? 60_000 : 300_000,
  backfillMs: QUICK ? 120_000 : 900_000,
};

const started = new Date();
const appConfig = benchConfig();
const stacks = [];
let consumer = null;
const log = (msg) => console.log(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0)}s] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function stopAll() {
  await Promise.all(stacks.splice(0).map((s) => s.stop().catch(() => {})));
  closeAgents();
  await consumer?.close();
  consumer = null;
  appConfig.remove();
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    log(`${sig}: stopping`);
    stopAll().finally(() => process.exit(130));
  });
}

async function start(opts) {
  const s = await startWorker(opts);
  stacks.push(s);
  return s;
}
async function stop(s, opts) {
  const i = stacks.indexOf(s);
  if (i >= 0) stacks.splice(i, 1);
  await s.stop(opts);
}

/**
 * The floor worker (`bench/floor-worker`: the least DESIGN.md's architecture does per event) on a migrated
 * state of its own, posting its webhooks to the consumer under the app's project secret.
 */
async function floorStack(project) {
  const config = path.join(root, "bench/floor-worker/wrangler.toml");
  const persist = migratedState("floor", { config });
  const stack = await start({
    label: "floor",
    config,
    persist,
    vars: { WEBHOOK_URL: consumer.url, WEBHOOK_SECRET: project.webhookSecret },
  });
  const stopAndClean = stack.stop;
  stack.stop = async () => {
    await stopAndClean();
    fs.rmSync(persist, { recursive: true, force: true });
  };
  return stack;
}

const trackReq = (project, event, email, data) => ({
  path: "/v1/track",
  headers: { authorization: `Bearer ${project.publicKey}` },
  body: JSON.stringify({ event, email, data }),
});

/** A migrated state dir seeded with a project (and contacts, waits), and the app served on it. */
async function appStack(label, seed = {}, { devDefaults = false } = {}) {
  const { persist, project } = seededState(
    label,
    { engine: ENGINE, shards: SHARDS, ...seed },
    { devDefaults },
  );
  const stack = await start({
    label,
    config: appConfig.file,
    persist,
    devDefaults,
    vars: appVars,
  });
  const stopAndClean = stack.stop;
  stack.stop = async () => {
    await stopAndClean();
    fs.rmSync(persist, { recursive: true, force: true });
  };
  return { stack, project };
}

const round1 = (v) => (Number.isFinite(v) ? Math.round(v * 10) / 10 : null);
const ratio = (a, b) => (Number.isFinite(a / b) ? Math.round((a / b) * 100) / 100 : null);
const stat = (values) => {
  const s = summarize(values);
  return { n: s.n, p50: round1(s.p50), p90: round1(s.p90), p99: round1(s.p99), max: round1(s.max) };
};
const errs = (m) => Object.fromEntries(m);
/** The mean over rounds of each process's CPU ms per request. */
const meanCpu = (rounds) => {
  const out = {};
  for (const r of rounds) for (const [k, v] of Object.entries(r)) out[k] = (out[k] ?? 0) + v / rounds.length;
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v * 100) / 100]));
};

/**
 * Waits until each email in `sent` (email → send time) has a webhook, for at most `ms`, or until none has
 * arrived for `stallMs` (what has not come by then is counted missing); returns the latencies.
 */
async function webhookLatencies(sent, ms, stallMs = 60_000) {
  const until = Date.now() + ms;
  let seen = consumer.stats.received;
  let lastChange = Date.now();
  while (Date.now() < until && Date.now() - lastChange < stallMs) {
    const all = await consumer.waitFor(
      () => [...sent.keys()].every((e) => consumer.arrivals.has(e)),
      Math.min(5_000, until - Date.now()),
    );
    if (all) break;
    if (consumer.stats.received !== seen) {
      seen = consumer.stats.received;
      lastChange = Date.now();
    }
  }
  const lat = [];
  let missing = 0;
  let last = 0;
  for (const [email, at] of sent) {
    const got = consumer.arrivals.get(email);
    if (got === undefined) missing++;
    else {
      lat.push(got - at);
      if (got > last) last = got;
    }
  }
  return { lat, missing, last };
}

// ---- cases --------------------------------------------------------------------------------------

const results = { params: P, quick: QUICK };
/** Keeps the figures so far on disk, so that a run cut short still leaves them. */
function savePartial() {
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, "benchmarks.json"), `${JSON.stringify(results, null, 2)}\n`);
}
const plots = {};

/** Case 1's cases: where each is served, and the event it tracks. */
const TRACK_CASES = {
  noop: { on: "noop", event: "bench.plain" },
  plain: { on: "app", event: "bench.plain" },
  hook: { on: "app", event: "bench.hook" },
  floorPlain: { on: "floor", event: "bench.plain" },
  floorHook: { on: "floor", event: "bench.hook" },
};
const HOOK_CASES = new Set(["hook", "floorHook"]);

async function trackAndLatency(app, project, noop, floor) {
  await workflow(app, project, "bench.hook", [
    { type: "WEBHOOK", name: "Hook", config: { url: consumer.url } },
  ]);
  log("warming up");
  for (const [target, event] of [
    [noop, "warm"],
    [app, "bench.plain"],
    [app, "bench.hook"],
    [floor, "bench.plain"],
    [floor, "bench.hook"],
  ]) {
    await runLoad(target.base, {
      concurrency: 4,
      durationMs: 30_000,
      maxRequests: P.warmup,
      make: (i) => trackReq(project, event, `warm-${event}-${i}@load.bench`, { plan: "pro" }),
    });
  }
  await consumer.waitFor(() => consumer.stats.received >= 2 * P.warmup, 60_000);

  const names = Object.keys(TRACK_CASES);
  const byName = () => Object.fromEntries(names.map((n) => [n, []]));
  const cases = byName();
  const lat = byName();
  const cpu = byName();
  const hookE2e = [];
  let hookMissing = 0;
  let floorMissing = 0;
  const drainS = [];
  const quietS = [];
  if (ONLY.has("track")) {
    for (let r = 0; r < P.rounds; r++) {
      for (const name of names) {
        const target = { noop, app, floor }[TRACK_CASES[name].on];
        const event = TRACK_CASES[name].event;
        const sent = new Map();
        quietS.push(round1(await quiet(stacks)));
        const meter = cpuMeter(target);
        const res = await runLoad(target.base, {
          concurrency: P.concurrency,
          durationMs: P.roundMs,
          maxRequests: P.maxPerRound,
          make: (i) => trackReq(project, event, `r${r}-${name}-${i}@load.bench`, { plan: "pro" }),
          onDone: (i, at) => {
            if (HOOK_CASES.has(name)) sent.set(`r${r}-${name}-${i}@load.bench`, at);
          },
        });
        cases[name].push({
          rps: round1(res.rps),
          ok: res.ok,
          seconds: round1(res.seconds),
          errors: errs(res.errors),
        });
        lat[name].push(...res.latencies);
        log(
          `track ${name} round ${r + 1}: ${res.rps.toFixed(0)} req/s, ${res.ok} ok, ${res.errors.size} error kinds`,
        );
        if (!HOOK_CASES.has(name)) cpu[name].push(meter.stop(res.ok));
        else if (name === "floorHook") {
          const w = await webhookLatencies(sent, P.drainMs);
          cpu[name].push(meter.stop(res.ok));
          floorMissing += w.missing;
        } else {
          const t0 = Date.now();
          const w = await webhookLatencies(sent, P.drainMs);
          cpu[name].push(meter.stop(res.ok));
          hookE2e.push(...w.lat);
          hookMissing += w.missing;
          drainS.push(round1(Math.max(0, w.last - t0) / 1000));
          log(
            `  webhooks drained ${((w.last - t0) / 1000).toFixed(1)} s after the load stopped; ${w.missing} missing`,
          );
        }
      }
    }
    const total = (name) =>
      cases[name].reduce((a, c) => a + c.ok, 0) / cases[name].reduce((a, c) => a + c.seconds, 0);
    const perRound = (name, base = "noop") => cases[name].map((c, i) => ratio(c.rps, cases[base][i].rps));
    const each = (fn) => Object.fromEntries(names.map((n) => [n, fn(n)]));
    results.track = {
      concurrency: P.concurrency,
      rounds: cases,
      rps: each((n) => round1(total(n))),
      ratio: {
        ...Object.fromEntries(names.slice(1).map((n) => [n, ratio(total(n), total("noop"))])),
        plainPerRound: perRound("plain"),
        hookPerRound: perRound("hook"),
        floorPlainPerRound: perRound("floorPlain"),
        floorHookPerRound: perRound("floorHook"),
        // The app against the floor, round by round (the same load, moments apart).
        plainToFloorPerRound: perRound("plain", "floorPlain"),
        hookToFloorPerRound: perRound("hook", "floorHook"),
      },
      latency: each((n) => stat(lat[n])),
      cpuMsPerRequest: each((n) => meanCpu(cpu[n])),
      floorMissing,
      saturation: { eventToWebhook: stat(hookE2e), missing: hookMissing, drainSeconds: drainS },
      quietSeconds: quietS,
    };
    if (ONLY.has("tooling")) results.track.devDefaults = await devDefaultsRound();
    plots.noop = lat.noop;
    plots.plain = lat.plain;
    plots.hook = lat.hook;
    plots.floorPlain = lat.floorPlain;
    plots.floorHook = lat.floorHook;
    plots.satE2e = hookE2e;
  }

  if (ONLY.has("latency")) {
    log("event-to-webhook at low load");
    const e2e = [];
    const req = [];
    let missing = 0;
    for (let i = 0; i < P.lowLoadSamples; i++) {
      const email = `low-${i}@load.bench`;
      const at = Date.now();
      const res = await post(
        app.base,
        "/v1/track",
        trackReq(project, "bench.hook", email, { plan: "pro" }).headers,
        {
          event: "bench.hook",
          email,
          data: { plan: "pro" },
        },
      );
      req.push(res.ms);
      const ok = await consumer.waitFor(() => consumer.arrivals.has(email), 10_000);
      if (ok) e2e.push(consumer.arrivals.get(email) - at);
      else missing++;
      await sleep(20);
    }
    results.lowLoad = { samples: P.lowLoadSamples, eventToWebhook: stat(e2e), track: stat(req), missing };
    plots.lowE2e = e2e;
    log(`  p50 ${results.lowLoad.eventToWebhook.p50} ms, p99 ${results.lowLoad.eventToWebhook.p99} ms`);
  }
}

/**
 * One round of the no-op worker and of track without a workflow, both served as the `wrangler dev` command
 * serves them (DevTools inspector and Local Explorer trace collector on, state on disk): what the local
 * tooling alone costs, beside the figures of the rounds above.
 */
async function devDefaultsRound() {
  log("track served with wrangler dev's defaults (inspector, trace collector, state on disk)");
  const { stack: app, project } = await appStack("app-dev", {}, { devDefaults: true });
  const noop = await start({
    label: "noop-dev",
    config: "bench/noop-worker/wrangler.toml",
    devDefaults: true,
  });
  const out = { rps: {}, cpuMsPerRequest: {}, latency: {} };
  for (const [name, target] of [
    ["noop", noop],
    ["plain", app],
  ]) {
    await runLoad(target.base, {
      concurrency: 4,
      durationMs: 30_000,
      maxRequests: P.warmup,
      make: (i) => trackReq(project, "bench.plain", `dev-warm-${i}@load.bench`, { plan: "pro" }),
    });
    await quiet(stacks);
    const meter = cpuMeter(target);
    const res = await runLoad(target.base, {
      concurrency: P.concurrency,
      durationMs: P.roundMs,
      maxRequests: P.maxPerRound,
      make: (i) => trackReq(project, "bench.plain", `dev-${name}-${i}@load.bench`, { plan: "pro" }),
    });
    out.rps[name] = round1(res.rps);
    out.cpuMsPerRequest[name] = meter.stop(res.ok);
    out.latency[name] = stat(res.latencies);
    log(`  ${name}: ${res.rps.toFixed(0)} req/s`);
  }
  out.ratio = ratio(out.rps.plain, out.rps.noop);
  await stop(noop);
  await stop(app);
  return out;
}

/**
 * Case 3 for each count of `P.executions`. Each count gets a Workflows worker of its own: locally its
 * instances are never evicted and hold their files open, so a second count on the same worker would start
 * out of file descriptors (notes, item 13). The app and the floor keep serving (their objects are evicted
 * once idle). The first count's figures are `results.executions`; the others' are `results.executionsMore`.
 */
async function executions(app, project, floor) {
  await workflow(app, project, "bench.flow", [
    { type: "DELAY", name: "Wait a second", config: { amount: 1, unit: "seconds" } },
    { type: "CONDITION", name: "Pro?", config: { field: "event.plan", operator: "equals", value: "pro" } },
    { type: "WEBHOOK", name: "Hook", config: { url: consumer.url }, branch: "yes" },
  ]);
  const runs = [];
  for (const N of P.executions) {
    const wfw = await start({
      label: "workflows",
      config: "bench/workflows-worker/wrangler.toml",
      vars: { WEBHOOK_URL: consumer.url, WEBHOOK_SECRET: project.webhookSecret },
    });
    runs.push(await executionsOf(N, app, project, wfw, floor, runs.length === 0));
    await stop(wfw);
  }
  results.executions = runs[0];
  results.executionsMore = runs.slice(1);
}

async function executionsOf(N, app, project, wfw, floor, plot) {
  const out = {};
  for (const [name, target] of [
    ["app", app],
    ["workflows", wfw],
    ["floor", floor],
  ]) {
    await sleep(2000);
    await quiet(stacks);
    const before = target.workerdRss();
    const sampler = rssSampler(target);
    const sent = new Map();
    const fdErrorsBefore = target.fdErrors();
    const t0 = Date.now();
    const res = await runLoad(target.base, {
      concurrency: P.concurrency,
      durationMs: 600_000,
      maxRequests: N,
      make: (i) =>
        name !== "workflows"
          ? trackReq(project, "bench.flow", `x${N}-${name}-${i}@flow.bench`, { plan: "pro" })
          : {
              path: "/start",
              headers: {},
              body: JSON.stringify({ email: `x${N}-${name}-${i}@flow.bench`, data: { plan: "pro" } }),
            },
      onDone: (i, at) => sent.set(`x${N}-${name}-${i}@flow.bench`, at),
    });
    const startedS = (Date.now() - t0) / 1000;
    const w = await webhookLatencies(sent, P.drainMs + N * 50);
    const mem = sampler.stop();
    const files = target.openFiles();
    const totalS = (w.last - t0) / 1000;
    out[name] = {
      executions: N,
      started: res.ok,
      startErrors: errs(res.errors),
      startSeconds: round1(startedS),
      lastWebhookSeconds: round1(totalS),
      perSecond: round1(w.lat.length / totalS),
      missing: w.missing,
      startToWebhook: stat(w.lat),
      rssBeforeMiB: round1(before / 2 ** 20),
      rssPeakMiB: round1(mem.peak / 2 ** 20),
      rssAfterMiB: round1(mem.last / 2 ** 20),
      openFilesAfter: files.open,
      openFilesLimit: files.limit,
      fdErrors: target.fdErrors() - fdErrorsBefore,
    };
    if (plot) plots[`exec-${name}`] = w.lat;
    log(
      `executions ${name}: ${N} in ${totalS.toFixed(1)} s (${out[name].perSecond}/s), ${w.missing} missing, peak RSS ${out[name].rssPeakMiB} MiB, ${files.open} of ${files.limit} files open, ${out[name].fdErrors} out-of-files errors`,
    );
  }
  out.ratio = ratio(out.app.perSecond, out.workflows.perSecond);
  out.floorRatio = ratio(out.floor.perSecond, out.workflows.perSecond);
  out.appToFloor = ratio(out.app.perSecond, out.floor.perSecond);
  return out;
}

async function scale() {
  log(`seeding ${P.scaleSmall} and ${P.scaleLarge} contacts (+${P.seededWaits} waits) into two stacks`);
  const t0 = Date.now();
  const small = await appStack("s1k", { contacts: P.scaleSmall });
  const seedSmallS = (Date.now() - t0) / 1000;
  const t1 = Date.now();
  const large = await appStack("s1m", { contacts: P.scaleLarge, waits: P.seededWaits });
  const seedLargeS = (Date.now() - t1) / 1000;
  const out = {
    contacts: { small: P.scaleSmall, large: P.scaleLarge },
    seedSeconds: { small: round1(seedSmallS), large: round1(seedLargeS) },
  };

  // Track latency, alternating between the two stacks: half the requests for a seeded contact,
  // half for a new one.
  const lat = { small: [], large: [] };
  const rps = { small: [], large: [] };
  // Contacts the cases below add to the large stack, for the backfill's count.
  let createdLarge = 0;
  for (const { stack: target, project: p } of [small, large]) {
    const warm = await runLoad(target.base, {
      concurrency: 2,
      durationMs: 30_000,
      maxRequests: P.warmup,
      make: (i) => trackReq(p, "bench.scale", `warm-${i}@scale.bench`, {}),
    });
    if (target === large.stack) createdLarge += warm.ok;
  }
  for (let r = 0; r < P.rounds; r++) {
    for (const [name, { stack, project }, n] of [
      ["small", small, P.scaleSmall],
      ["large", large, P.scaleLarge],
    ]) {
      const res = await runLoad(stack.base, {
        concurrency: P.scaleConcurrency,
        durationMs: P.roundMs,
        maxRequests: P.maxPerRound,
        make: (i) =>
          trackReq(
            project,
            "bench.scale",
            i % 2 === 0 ? seededEmail(1 + Math.floor(Math.random() * n)) : `r${r}-new-${i}@scale.bench`,
            { seen: i },
          ),
        onDone: (i) => {
          if (name === "large" && i % 2 === 1) createdLarge++;
        },
      });
      lat[name].push(...res.latencies);
      rps[name].push(round1(res.rps));
      log(`scale track ${name} round ${r + 1}: ${res.rps.toFixed(0)} req/s`);
    }
  }
  out.track = {
    concurrency: P.scaleConcurrency,
    rps,
    small: stat(lat.small),
    large: stat(lat.large),
  };
  out.track.ratioP50 = ratio(out.track.large.p50, out.track.small.p50);
  out.track.ratioP99 = ratio(out.track.large.p99, out.track.small.p99);
  plots.scaleSmall = lat.small;
  plots.scaleLarge = lat.large;

  // Resuming one execution among many waiting: real executions WAITING for "bench.resume", beside
  // the seeded index rows of the others.
  const { stack, project } = large;
  consumer.setSecret(project.webhookSecret);
  await workflow(stack, project, "bench.enroll", [
    { type: "WAIT_FOR_EVENT", name: "Wait", config: { eventName: "bench.resume", timeout: 86_400 } },
    { type: "WEBHOOK", name: "Hook", config: { url: consumer.url }, branch: "event" },
  ]);
  const firstReal = P.seededWaits + 1;
  const emails = Array.from({ length: P.realWaits }, (_, i) => seededEmail(firstReal + i));
  const enroll = await runLoad(stack.base, {
    concurrency: 8,
    durationMs: 300_000,
    maxRequests: emails.length,
    make: (i) => trackReq(project, "bench.enroll", emails[i], {}),
  });
  const resumeReq = [];
  const resumeE2e = [];
  let missing = 0;
  for (const email of emails) {
    const at = Date.now();
    const res = await post(stack.base, "/v1/track", trackReq(project, "bench.resume", email).headers, {
      event: "bench.resume",
      email,
    });
    if (res.status === 200) resumeReq.push(res.ms);
    if (await consumer.waitFor(() => consumer.arrivals.has(email), 10_000))
      resumeE2e.push(consumer.arrivals.get(email) - at);
    else missing++;
  }
  out.resume = {
    waitingIndexRows: P.seededWaits + enroll.ok,
    realWaiting: enroll.ok,
    request: stat(resumeReq),
    toWebhook: stat(resumeE2e),
    missing,
  };
  plots.resume = resumeE2e;
  log(`resume: request p99 ${out.resume.request.p99} ms, to webhook p99 ${out.resume.toWebhook.p99} ms`);

  // A segment over the large stack: 1 contact in 10 matches; time until backfill is READY.
  const b0 = Date.now();
  const seg = await api(stack, project.secretKey, "POST", "/segments", {
    name: "Pro plan",
    condition: { match: "all", filters: [{ field: "contact.data.plan", operator: "equals", value: "pro" }] },
  });
  let ready = null;
  const sampler = rssSampler(stack);
  while (Date.now() - b0 < P.backfillMs) {
    const s = await api(stack, project.secretKey, "GET", `/segments/${seg.id}`);
    if (s.backfill === "READY") {
      ready = s;
      break;
    }
    await sleep(500);
  }
  const mem = sampler.stop();
  const backfillS = (Date.now() - b0) / 1000;
  const count = await api(stack, project.secretKey, "GET", `/segments/${seg.id}`);
  // The enrolled contacts were seeded ones; the scale rounds created the others.
  const contacts = P.scaleLarge + createdLarge;
  out.backfill = {
    contacts,
    ready: Boolean(ready),
    seconds: round1(backfillS),
    contactsPerSecond: round1(contacts / backfillS),
    members: count.memberCount ?? null,
    rssPeakMiB: round1(mem.peak / 2 ** 20),
  };
  log(
    `backfill: ${ready ? "READY" : "not ready"} after ${backfillS.toFixed(1)} s, ${out.backfill.members} members`,
  );
  results.scale = out;
  await stop(small.stack);
  await stop(large.stack);
}

// ---- the report ---------------------------------------------------------------------------------

function machine() {
  const cpus = os.cpus();
  const v = (args) => {
    try {
      return execFileSync(args[0], args.slice(1), { encoding: "utf8", env: { ...process.env, CI: "1" } })
        .trim()
        .split("\n")
        .pop();
    } catch {
      return "unknown";
    }
  };
  return {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: round1(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((x) => round1(x)),
    node: process.version,
    wrangler: v([wranglerBin, "--version"]),
    workerd: v([path.join(root, "node_modules", ".bin", "workerd"), "--version"]),
  };
}

function readCompare() {
  const f = opt("compare", null);
  if (!f) return null;
  return JSON.parse(fs.readFileSync(path.resolve(f), "utf8"));
}

async function main() {
  if (flag("report")) {
    // Only re-renders benchmarks.md from the benchmarks.json of the last run (after editing notes.md).
    const last = JSON.parse(fs.readFileSync(path.join(OUT, "benchmarks.json"), "utf8"));
    const { report } = await import("./report.mjs");
    fs.writeFileSync(path.join(OUT, "benchmarks.md"), report(last, readCompare()));
    appConfig.remove();
    log(`rewrote ${path.relative(root, OUT)}/benchmarks.md from benchmarks.json`);
    return;
  }
  results.machine = machine();
  results.startedAt = started.toISOString();
  results.engine = ENGINE;
  results.shards = SHARDS;
  log(`machine: ${results.machine.cpu}, ${results.machine.cores} cores; ${QUICK ? "quick" : "full"} run`);
  consumer = await startConsumer();

  if (ONLY.has("track") || ONLY.has("latency") || ONLY.has("executions")) {
    log("starting the app, the no-op worker, the Workflows worker and the floor worker");
    const { stack: app, project } = await appStack("app");
    consumer.setSecret(project.webhookSecret);
    const noop = await start({ label: "noop", config: "bench/noop-worker/wrangler.toml" });
    const floor = await floorStack(project);
    if (ONLY.has("track") || ONLY.has("latency")) await trackAndLatency(app, project, noop, floor);
    savePartial();
    if (ONLY.has("executions")) await executions(app, project, floor);
    savePartial();
    results.webhooksVerified = { received: consumer.stats.received, verified: consumer.stats.verified };
    await stop(noop);
    await stop(floor);
    await stop(app);
  }
  if (ONLY.has("scale")) await scale();
  results.finishedAt = new Date().toISOString();
  results.loadAverageAtEnd = os.loadavg().map((x) => round1(x));
  await stopAll();

  // The figures first: should the plot fail, they are on disk already.
  fs.mkdirSync(OUT, { recursive: true });
  const { report } = await import("./report.mjs");
  fs.writeFileSync(path.join(OUT, "benchmarks.json"), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(OUT, "benchmarks.md"), report(results, readCompare()));
  const svg = latencySvg(
    [
      {
        title: `POST /v1/track at concurrency ${P.concurrency}`,
        series: [
          { label: "no-op worker", values: plots.noop ?? [] },
          { label: "track, no workflow", values: plots.plain ?? [] },
          { label: "track, workflow → webhook", values: plots.hook ?? [] },
          { label: "floor, no workflow", values: plots.floorPlain ?? [] },
          { label: "floor, workflow → webhook", values: plots.floorHook ?? [] },
        ],
      },
      {
        title: "Event → signed webhook received",
        series: [
          { label: "low load (one at a time)", values: plots.lowE2e ?? [] },
          { label: `saturation (concurrency ${P.concurrency})`, values: plots.satE2e ?? [] },
        ],
      },
      {
        title: `${P.executions[0]} executions: start request → webhook`,
        series: [
          { label: "this app (DO + alarm + queue)", values: plots["exec-app"] ?? [] },
          { label: "Cloudflare Workflows", values: plots["exec-workflows"] ?? [] },
          { label: "floor (bench/floor-worker)", values: plots["exec-floor"] ?? [] },
        ],
      },
      {
        title: "Scale: POST /v1/track latency",
        series: [
          { label: `${P.scaleSmall.toLocaleString("en")} contacts`, values: plots.scaleSmall ?? [] },
          { label: `${P.scaleLarge.toLocaleString("en")} contacts`, values: plots.scaleLarge ?? [] },
          { label: "resume 1 of many waiting (to its webhook)", values: plots.resume ?? [] },
        ],
      },
    ].filter((p) => p.series.some((s) => s.values.length > 0)),
  );
  fs.writeFileSync(path.join(OUT, "benchmarks.svg"), svg);
  log(`wrote ${path.relative(root, OUT)}/benchmarks.md, benchmarks.json, benchmarks.svg`);
}

main().catch(async (err) => {
  console.error(err);
  for (const s of stacks) console.error(`--- ${s.label} output (tail) ---\n${s.output().slice(-3000)}`);
  await stopAll();
  process.exit(1);
});
