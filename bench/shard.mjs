#!/usr/bin/env node
// `npm run bench:shard`: the shard prototype (bench/shard-worker, the engine design proposed for 2.3)
// measured as the app is, in one run: its cost per execution counted by the instrumented bindings
// (bench/lib/cost-instrument.js), its track rate against the no-op worker's and the app's, its executions
// of the DELAY flow against Cloudflare Workflows' and the app's, and event → webhook at low load. Writes
// docs/benchmarks-shard.json and the "The shard prototype" section of docs/benchmarks.md (in place).
//
//   options: --n=N --low-n=N (cost shapes, default 200 at concurrency 50, and 50 one at a time)
//            --rounds=R --seconds=S (track rounds, default 3 of 10 s at concurrency 16)
//            --executions=N[,N…] (default 5000,10000)  --shards=K (default wrangler.toml's)  --out=DIR
//            --reads=N (executions held while the reads are measured, default 10000)
//            --only=cost,reads,latency,track,executions (default all; the others are kept from the json)
//            --report (measure nothing: rewrite the section from the json)
import fs from "node:fs";
import path from "node:path";
import { workflow } from "./lib/app-api.mjs";
import { flag, opt } from "./lib/args.mjs";
import { startConsumer } from "./lib/consumer.mjs";
import { PRICES, priceShape, priceWorkflows } from "./lib/cost-report.mjs";
import {
  benchScript,
  counters,
  instrumentedCopy,
  perExecution,
  resetCounters,
  send,
  settle,
  trackReq,
  webhooks,
  writeResultJson,
} from "./lib/cost-run.mjs";
import { post, runLoad, summarize } from "./lib/load.mjs";
import { appVars, benchConfig, migratedState, quiet, root, seededState, startWorker } from "./lib/stack.mjs";
import { withShardSection } from "./report.mjs";

const OUT = path.resolve(root, opt("out", "docs"));
const N = Number(opt("n", 200));
const LOW_N = Number(opt("low-n", 50));
const ROUNDS = Number(opt("rounds", 3));
const SECONDS = Number(opt("seconds", 10));
const EXECUTIONS = String(opt("executions", "5000,10000")).split(",").map(Number);
const SHARDS = opt("shards", null);
const LOW_SAMPLES = 200;
const READS = Number(opt("reads", 10_000));
const ONLY = new Set(String(opt("only", "cost,reads,latency,track,executions")).split(","));

function writeReport() {
  const md = path.join(OUT, "benchmarks.md");
  fs.writeFileSync(md, withShardSection(fs.readFileSync(md, "utf8"), OUT));
}
if (flag("report")) {
  writeReport();
  process.exit(0);
}

const { log, cleanups, cleanup } = benchScript("shard");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round1 = (v) => Math.round(v * 10) / 10;
const ratio = (a, b) => Math.round((a / b) * 100) / 100;
const stat = (values) => {
  const s = summarize(values);
  return { n: s.n, p50: round1(s.p50), p90: round1(s.p90), p99: round1(s.p99), max: round1(s.max) };
};
const stacks = [];

/** A served worker; `dispose()` (also run on exit) stops it and runs `after` (its files removed). */
async function serve(label, opts, after = () => {}) {
  const s = await startWorker({ label, ...opts });
  stacks.push(s);
  let disposed = false;
  s.dispose = async () => {
    if (disposed) return;
    disposed = true;
    stacks.splice(stacks.indexOf(s), 1);
    await s.stop();
    after();
  };
  cleanups.push(s.dispose);
  return s;
}

/** The shard worker (instrumented or not) on a migrated state of its own. */
async function shardStack(label, consumer, secret, { instrumented = false } = {}) {
  const copy = instrumented ? instrumentedCopy("shard-worker", { Shard: "instrumentDurableObject" }) : null;
  const config = copy?.file ?? path.join(root, "bench/shard-worker/wrangler.toml");
  const persist = migratedState(label, { config });
  const vars = { WEBHOOK_URL: consumer.url, WEBHOOK_SECRET: secret, ...(SHARDS ? { SHARDS } : {}) };
  return serve(label, { config, persist, vars }, () => {
    fs.rmSync(persist, { recursive: true, force: true });
    copy?.remove();
  });
}

/** Cost of one shape: counters reset, `n` tracks at `concurrency`, every webhook in, the after-work settled. */
async function costShape(stack, consumer, shape, n, concurrency) {
  await settle(stack);
  await resetCounters(stack);
  const tag = `${shape}-${concurrency}-${Date.now()}`;
  const emails = Array.from({ length: n }, (_, i) => `${tag}-${i}@shard.bench`);
  const event = { plain: "bench.plain", hook: "bench.hook", delay: "bench.flow" }[shape];
  await send(stack.base, n, concurrency, (i) => trackReq({}, event, emails[i], { plan: "pro" }));
  const missing = shape === "plain" ? 0 : await webhooks(consumer, emails);
  const total = await settle(stack, { stableMs: 2500 });
  const per = perExecution(total, n);
  log(
    `cost ${shape} (n=${n}, c=${concurrency}): ${per.d1.statements} statements, ${per.d1.rowsWritten} D1 rows written, ${per.durableObjects.storage.alarmsSet} alarms set per execution; ${missing} missing`,
  );
  return { n, concurrency, missing, perExecution: per, cost: priceShape(per) };
}

async function cost(consumer, secret) {
  const stack = await shardStack("shard-cost", consumer, secret, { instrumented: true });
  await send(stack.base, 20, 4, (i) => trackReq({}, "bench.hook", `warm-${i}@shard.bench`, {}));
  const out = {};
  for (const shape of ["plain", "hook", "delay"]) {
    out[shape] = {
      load: await costShape(stack, consumer, shape, N, 50),
      low: await costShape(stack, consumer, shape, LOW_N, 1),
    };
  }
  const counts = await settle(stack);
  out.instrumentErrors = counts.errors;
  await stack.dispose();
  return out;
}

/**
 * Reads through pages: with READS executions held (bench.hook, COMPLETED once its webhook is in; a tenth
 * bench.flow for a free plan, COMPLETED at its condition; five per contact), the D1 rows each read of the
 * executions API reads, counted by the instrumented bindings, and its time (median of 5).
 */
async function reads(consumer, secret) {
  const stack = await shardStack("shard-reads", consumer, secret, { instrumented: true });
  const contacts = Math.max(1, Math.floor(READS / 5));
  const email = (i) => `r-${i % contacts}@reads.bench`;
  const hooks = [];
  await send(stack.base, READS, 50, (i) => {
    if (i % 10 === 9) return trackReq({}, "bench.flow", email(i), { plan: "free" });
    hooks.push(email(i));
    return trackReq({}, "bench.hook", email(i), { plan: "pro" });
  });
  const missing = await webhooks(consumer, [...new Set(hooks)]);
  await sleep(3_000); // the bench.flow delays (1 s) end
  await settle(stack, { stableMs: 2500 });
  const get = async (p) => {
    const res = await fetch(`${stack.base}${p}`);
    if (!res.ok) throw new Error(`${p}: HTTP ${res.status}`);
    return res.json();
  };
  const first = await get("/workflows/bench.hook/executions?limit=50");
  const calls = {
    "list, newest 50": "/workflows/bench.hook/executions?limit=50",
    "list, the next 50 (cursor)": `/workflows/bench.hook/executions?limit=50&cursor=${first.cursor}`,
    "list, status COMPLETED": "/workflows/bench.hook/executions?limit=50&status=COMPLETED",
    "list, status WAITING (none)": "/workflows/bench.hook/executions?limit=50&status=WAITING",
    "list, status FAILED (none: every page read)": "/workflows/bench.hook/executions?limit=50&status=FAILED",
    "one execution": `/executions/${first.data[20].id}`,
    "a contact's executions (5)": `/contacts/${encodeURIComponent(email(7))}/executions`,
  };
  const out = {};
  for (const [name, p] of Object.entries(calls)) {
    const times = [];
    let shape = null;
    for (let i = 0; i < 5; i++) {
      await resetCounters(stack);
      const t0 = performance.now();
      const body = await get(p);
      times.push(performance.now() - t0);
      const c = await counters(stack);
      shape = {
        rows: body.data ? body.data.length : 1,
        rowsRead: c.d1.rowsRead,
        statements: c.d1.statements,
      };
    }
    out[name] = { ...shape, ms: round1(summarize(times).p50) };
    log(`reads: ${name}: ${shape.rows} rows answered, ${shape.rowsRead} D1 rows read, ${out[name].ms} ms`);
  }
  await stack.dispose();
  return { executions: READS, contacts, missing, pageSize: 64, calls: out };
}

/** Track rounds: the no-op worker, the shard and the app, plain and with TRIGGER → WEBHOOK, interleaved. */
async function track(consumer, project, { noop, app, shard }) {
  const cases = {
    noop: [noop, "bench.plain"],
    shardPlain: [shard, "bench.plain"],
    shardHook: [shard, "bench.hook"],
    appPlain: [app, "bench.plain"],
    appHook: [app, "bench.hook"],
  };
  const rounds = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const missing = Object.fromEntries(Object.keys(cases).map((k) => [k, 0]));
  for (const [target, event] of Object.values(cases)) {
    await runLoad(target.base, {
      concurrency: 4,
      durationMs: 20_000,
      maxRequests: 200,
      make: (i) => trackReq(project, event, `warm-${event}-${target.label}-${i}@track.bench`, {}),
    });
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, [target, event]] of Object.entries(cases)) {
      await quiet(stacks);
      const emails = [];
      const res = await runLoad(target.base, {
        concurrency: 16,
        durationMs: SECONDS * 1000,
        maxRequests: Number.POSITIVE_INFINITY,
        // Lower case: the app stores emails lower-cased, and its webhooks carry them so.
        make: (i) =>
          trackReq(project, event, `r${r}-${name.toLowerCase()}-${i}@track.bench`, { plan: "pro" }),
        onDone: (i) => emails.push(`r${r}-${name.toLowerCase()}-${i}@track.bench`),
      });
      if (event === "bench.hook") missing[name] += await webhooks(consumer, emails, 120_000);
      rounds[name].push(round1(res.rps));
      log(`track ${name} round ${r + 1}: ${res.rps.toFixed(0)} req/s`);
    }
  }
  const mean = (xs) => round1(xs.reduce((a, b) => a + b, 0) / xs.length);
  const rps = Object.fromEntries(Object.entries(rounds).map(([k, v]) => [k, mean(v)]));
  const perRound = (name) => rounds[name].map((v, i) => ratio(v, rounds.noop[i]));
  return {
    concurrency: 16,
    seconds: SECONDS,
    rounds,
    rps,
    toNoop: Object.fromEntries(Object.keys(cases).map((k) => [k, perRound(k)])),
    missing,
  };
}

/** Case 3 of `npm run bench` for one count: the DELAY flow N times on Workflows, the shard and the app. */
async function executionsOf(N, consumer, project, { app, shard }) {
  const wfw = await serve("workflows", {
    config: path.join(root, "bench/workflows-worker/wrangler.toml"),
    vars: { WEBHOOK_URL: consumer.url, WEBHOOK_SECRET: project.webhookSecret },
  });
  const out = {};
  for (const [name, target] of [
    ["workflows", wfw],
    ["shard", shard],
    ["app", app],
  ]) {
    await sleep(2000);
    await quiet(stacks);
    const emails = Array.from({ length: N }, (_, i) => `x${N}-${name}-${i}@flow.bench`);
    const t0 = Date.now();
    const res = await runLoad(target.base, {
      concurrency: 16,
      durationMs: 600_000,
      maxRequests: N,
      make: (i) =>
        name === "workflows"
          ? { path: "/start", headers: {}, body: JSON.stringify({ email: emails[i], data: { plan: "pro" } }) }
          : trackReq(project, "bench.flow", emails[i], { plan: "pro" }),
    });
    const missing = await webhooks(consumer, emails, 60_000 + N * 50);
    const arrived = emails.map((e) => consumer.arrivals.get(e)).filter(Boolean);
    const seconds = (Math.max(...arrived) - t0) / 1000;
    out[name] = {
      started: res.ok,
      missing,
      seconds: round1(seconds),
      perSecond: round1(arrived.length / seconds),
    };
    log(`executions ${name}: ${N} in ${seconds.toFixed(1)} s (${out[name].perSecond}/s), ${missing} missing`);
  }
  await wfw.dispose();
  out.shardToWorkflows = ratio(out.shard.perSecond, out.workflows.perSecond);
  out.appToWorkflows = ratio(out.app.perSecond, out.workflows.perSecond);
  return { executions: N, ...out };
}

/** Event → webhook one at a time: the group commit must add no wait when idle. */
async function lowLoad(consumer, shard) {
  const e2e = [];
  let missing = 0;
  for (let i = 0; i < LOW_SAMPLES; i++) {
    const email = `low-${i}@shard.bench`;
    const at = Date.now();
    await post(shard.base, "/v1/track", {}, JSON.stringify({ event: "bench.hook", email, data: {} }));
    if (await consumer.waitFor(() => consumer.arrivals.has(email), 10_000))
      e2e.push(consumer.arrivals.get(email) - at);
    else missing++;
    await sleep(20);
  }
  return { eventToWebhook: stat(e2e), missing };
}

/** The served parts: low-load latency, track rounds and executions, each against the app (and no-op, Workflows). */
async function throughput(consumer, project, persist, measured) {
  log("throughput: the no-op worker, the shard worker and the app");
  const appConfig = benchConfig();
  cleanups.push(() => appConfig.remove());
  const app = await serve("app", { config: appConfig.file, persist, vars: appVars });
  await workflow(app, project, "bench.hook", [
    { type: "WEBHOOK", name: "Hook", config: { url: consumer.url } },
  ]);
  await workflow(app, project, "bench.flow", [
    { type: "DELAY", name: "Wait a second", config: { amount: 1, unit: "seconds" } },
    { type: "CONDITION", name: "Pro?", config: { field: "event.plan", operator: "equals", value: "pro" } },
    { type: "WEBHOOK", name: "Hook", config: { url: consumer.url }, branch: "yes" },
  ]);
  const noop = await serve("noop", { config: path.join(root, "bench/noop-worker/wrangler.toml") });
  const shard = await shardStack("shard", consumer, project.webhookSecret);

  if (ONLY.has("latency")) {
    measured.lowLoad = await lowLoad(consumer, shard);
    const l = measured.lowLoad.eventToWebhook;
    log(`low load: event → webhook p50 ${l.p50} ms, p99 ${l.p99} ms`);
  }
  if (ONLY.has("track")) measured.track = await track(consumer, project, { noop, app, shard });
  if (ONLY.has("executions")) {
    measured.executions = [];
    for (const n of EXECUTIONS)
      measured.executions.push(await executionsOf(n, consumer, project, { app, shard }));
  }
}

async function main() {
  const consumer = await startConsumer();
  cleanups.push(() => consumer.close());
  const { persist, project } = seededState("shard-app");
  cleanups.push(() => fs.rmSync(persist, { recursive: true, force: true }));
  consumer.setSecret(project.webhookSecret);

  const json = path.join(OUT, "benchmarks-shard.json");
  const kept = fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, "utf8")) : {};
  const measured = {};
  if (ONLY.has("cost")) {
    log("cost: the instrumented shard worker");
    measured.cost = await cost(consumer, project.webhookSecret);
  }

  if (ONLY.has("reads")) {
    log(`reads: the instrumented shard worker holding ${READS} executions`);
    measured.reads = await reads(consumer, project.webhookSecret);
  }
  const served = ["latency", "track", "executions"].some((k) => ONLY.has(k));
  if (served) await throughput(consumer, project, persist, measured);

  const appCost = JSON.parse(fs.readFileSync(path.join(root, "docs", "benchmarks-cost.json"), "utf8"));
  const costs = measured.cost ?? kept.cost;
  const result = {
    ...kept,
    ...measured,
    at: new Date().toISOString(),
    /** When each part was last measured (the others are kept from the json). */
    measuredAt: {
      ...kept.measuredAt,
      ...Object.fromEntries([...ONLY].map((k) => [k, new Date().toISOString()])),
    },
    params: { n: N, lowN: LOW_N, rounds: ROUNDS, seconds: SECONDS, shards: SHARDS ?? "wrangler.toml" },
    prices: PRICES,
    appCost: Object.fromEntries(
      ["plain", "hook", "delay"].map((s) => {
        const { load, low, cost } = appCost.shapes[s];
        return [
          s,
          {
            at: appCost.at,
            load: { perExecution: load.perExecution, cost },
            low: { perExecution: low.perExecution, cost: priceShape(low.perExecution) },
          },
        ];
      }),
    ),
    workflowsCost: {
      at: appCost.at,
      ...priceWorkflows(appCost.workflows.perExecution, costs.plain.load.perExecution),
    },
  };
  writeResultJson(json, result);
  writeReport();
  log(
    `wrote ${path.relative(root, path.join(OUT, "benchmarks-shard.json"))} and the section of benchmarks.md`,
  );
}

try {
  await main();
} finally {
  await cleanup();
}
