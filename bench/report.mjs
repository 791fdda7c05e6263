// docs/benchmarks.md from a run's results: the machine, the versions, the figures against their
// targets, the plot, an optional before/after table, and the hand-written notes of bench/notes.md.
import fs from "node:fs";
import path from "node:path";
import { costSection } from "./lib/cost-report.mjs";

const f = (v, unit = "") => (v === null || v === undefined || Number.isNaN(v) ? "–" : `${v}${unit}`);
const mark = (ok) => (ok === null ? "" : ok ? "✅" : "❌");
const check = (v, op, target) =>
  v === null || v === undefined ? null : op === ">=" ? v >= target : v <= target;

function row(cells) {
  return `| ${cells.join(" | ")} |`;
}

/** Case 1's rows: the key in the results, and the label. */
const TRACK_ROWS = [
  ["noop", "no-op Hono worker"],
  ["plain", "track, no workflow"],
  ["hook", "track, workflow → webhook"],
  ["floorPlain", "the floor, no workflow"],
  ["floorHook", "the floor, workflow → webhook"],
];

export function report(r, before) {
  const m = r.machine;
  const L = [];
  L.push("# Benchmarks");
  L.push("");
  L.push(
    "Written by `npm run bench` (`bench/run.mjs`); do not edit by hand (the notes at the end come from `bench/notes.md`).",
  );
  L.push(
    `${r.quick ? "**This is a `--quick` run: a smoke check, too short for its figures to mean much.** " : ""}Run ${r.startedAt}.`,
  );
  L.push("");
  L.push("Every figure below comes from one run on one machine, with the app, the no-op worker, the");
  L.push(
    "Workflows worker and the floor worker each served by its own wrangler dev server (workerd, local D1, Durable Objects and",
  );
  L.push("Queues) on 127.0.0.1, and a Node load generator and webhook consumer in the same process.");
  L.push(
    "The servers are the one `wrangler dev` runs, started through wrangler's API (`bench/lib/serve.mjs`)",
  );
  L.push("with two local-only features off for all four workers alike: the DevTools inspector and the Local");
  L.push("Explorer's trace collector (`X_LOCAL_OBSERVABILITY=false`); their local state is on tmpfs");
  L.push("(`/dev/shm`). Both features cost CPU on every log line or invocation, and a deployed worker has");
  L.push(
    "neither; one more round, at the end of case 1, serves the no-op worker and track as the `wrangler dev`",
  );
  L.push("command does by default, to show what they cost.");
  L.push(
    "The app is served from a copy of `src/` taken when the run starts, with the `[[ratelimits]]` limits",
  );
  L.push(
    'of `wrangler.toml` and `TRACK_LIMIT_PER_MINUTE` raised out of reach (the limiter is still called on every request it counts, and a shard still counts each plain track), and its `wrangler.toml` settings otherwise as shipped (`REQUEST_LOG = "errors"`).',
  );
  L.push(
    r.engine === "shard"
      ? `The app's bench project is on the shard engine with ${r.shards ?? 4} shard${r.shards === 1 ? "" : "s"}, as a new project is by default (docs/engine.md); \`--engine=objects\` measures the objects engine.`
      : "The app's bench project is on the objects engine (`--engine=objects`; a new project is on the shard engine by default).",
  );
  L.push("Other work shared the machine, so read the ratios measured side by side, not the absolute times.");
  L.push("");
  L.push("## Machine and versions");
  L.push("");
  L.push(row(["cpu", "cores", "memory", "os", "load average (start → end)", "node", "wrangler", "workerd"]));
  L.push(row(Array(8).fill("---")));
  L.push(
    row([
      m.cpu,
      m.cores,
      `${m.memoryGiB} GiB`,
      m.os,
      `${m.loadAverageAtStart.join(" ")} → ${(r.loadAverageAtEnd ?? []).join(" ")}`,
      m.node,
      m.wrangler,
      m.workerd,
    ]),
  );
  L.push("");
  L.push("## Summary against the targets");
  L.push("");
  L.push(row(["case", "figure", "target", ""]));
  L.push(row(["---", "---", "---", "---"]));
  const t = r.track;
  if (t) {
    L.push(
      row([
        "1. track, no workflow, vs no-op",
        `${f(t.ratio.plain, "×")} (${t.rps.plain} vs ${t.rps.noop} req/s)`,
        "≥ 0.5×",
        mark(check(t.ratio.plain, ">=", 0.5)),
      ]),
    );
    L.push(
      row([
        "1. track, workflow → webhook, vs no-op",
        `${f(t.ratio.hook, "×")} (${t.rps.hook} vs ${t.rps.noop} req/s)`,
        "≥ 0.3×",
        mark(check(t.ratio.hook, ">=", 0.3)),
      ]),
    );
    if (t.ratio.floorPlain != null) {
      L.push(
        row([
          "1. the floor (`bench/floor-worker`), no workflow / workflow → webhook, vs no-op",
          `${f(t.ratio.floorPlain, "×")} / ${f(t.ratio.floorHook, "×")} (${t.rps.floorPlain} / ${t.rps.floorHook} req/s)`,
          "(what the design allows here)",
          "",
        ]),
      );
    }
  }
  const lo = r.lowLoad;
  if (lo) {
    L.push(
      row([
        "2. event → webhook p50, low load",
        f(lo.eventToWebhook.p50, " ms"),
        "≤ 50 ms",
        mark(check(lo.eventToWebhook.p50, "<=", 50)),
      ]),
    );
    L.push(
      row([
        "2. event → webhook p99, low load",
        f(lo.eventToWebhook.p99, " ms"),
        "≤ 250 ms",
        mark(check(lo.eventToWebhook.p99, "<=", 250)),
      ]),
    );
  }
  if (t) {
    L.push(
      row([
        "2. event → webhook p50 / p99, saturation",
        `${f(t.saturation.eventToWebhook.p50, " ms")} / ${f(t.saturation.eventToWebhook.p99, " ms")}`,
        "(measured)",
        "",
      ]),
    );
  }
  const e = r.executions;
  const execRuns = e ? [e, ...(r.executionsMore ?? [])] : [];
  for (const x of execRuns) {
    const lost = x.workflows.missing ? `, Workflows lost ${x.workflows.missing}` : "";
    L.push(
      row([
        `3. ${x.app.executions} executions, this app vs Workflows`,
        `${f(x.ratio, "×")} (${x.app.perSecond} vs ${x.workflows.perSecond} per s${lost})`,
        "≥ 2×",
        mark(check(x.ratio, ">=", 2)),
      ]),
    );
    if (x.floor) {
      L.push(
        row([
          `3. ${x.floor.executions} executions, the floor vs Workflows`,
          `${f(x.floorRatio, "×")} (${x.floor.perSecond} vs ${x.workflows.perSecond} per s)`,
          "(what the design allows here)",
          "",
        ]),
      );
    }
  }
  const s = r.scale;
  if (s) {
    L.push(
      row([
        `4. track p50 at ${s.contacts.large.toLocaleString("en")} vs ${s.contacts.small.toLocaleString("en")} contacts`,
        `${f(s.track.ratioP50, "×")} (${s.track.large.p50} vs ${s.track.small.p50} ms)`,
        "≤ 1.25×",
        mark(check(s.track.ratioP50, "<=", 1.25)),
      ]),
    );
    L.push(
      row([
        `4. track p99 at ${s.contacts.large.toLocaleString("en")} vs ${s.contacts.small.toLocaleString("en")} contacts`,
        `${f(s.track.ratioP99, "×")} (${s.track.large.p99} vs ${s.track.small.p99} ms)`,
        "≤ 1.25×",
        mark(check(s.track.ratioP99, "<=", 1.25)),
      ]),
    );
    L.push(
      row([
        `4. resume 1 of ${s.resume.waitingIndexRows.toLocaleString("en")} waiting, p99 (track → its webhook)`,
        f(s.resume.toWebhook.p99, " ms"),
        "≤ 100 ms",
        mark(check(s.resume.toWebhook.p99, "<=", 100)),
      ]),
    );
    L.push(
      row([
        `4. segment backfill of ${s.backfill.contacts.toLocaleString("en")} contacts`,
        s.backfill.ready
          ? `${s.backfill.seconds} s (${s.backfill.contactsPerSecond} contacts/s)`
          : `not READY after ${s.backfill.seconds} s`,
        "(measured)",
        "",
      ]),
    );
  }
  L.push("");
  L.push("![Latency distributions](benchmarks.svg)");
  L.push("");
  L.push("Each curve is a CDF: the share of requests (or events) done within the latency on the x axis.");
  L.push("");

  if (t) {
    L.push("## 1. Track throughput");
    L.push("");
    L.push(
      `Closed loop, ${t.concurrency} connections with keep-alive, ${r.params.rounds} round(s) of ${r.params.roundMs / 1000} s per case, the cases interleaved (no-op, track, track with workflow, the floor without and with a workflow, in each round) so that load from outside falls on all of them alike, each starting once the stacks are idle (under 5% of a core over a second, waiting at most 2 minutes) so that it does not pay for the previous case's after-work (Durable Objects being evicted, queues draining). Every request is a new contact. "Workflow → webhook" means the event starts one workflow, TRIGGER → WEBHOOK to the loopback consumer; the request returns once the event is stored, its dispatch runs after the answer (\`ctx.waitUntil\`), and the consumer's deliveries are waited for after each round.`,
    );
    L.push("");
    L.push(
      row([
        "case",
        "req/s (all rounds)",
        "per round",
        "ratio to no-op per round",
        "p50",
        "p90",
        "p99",
        "max",
      ]),
    );
    L.push(row(Array(8).fill("---")));
    for (const [name, label] of TRACK_ROWS) {
      const lat = t.latency[name];
      if (!lat) continue;
      const ratios = name === "noop" ? "1" : t.ratio[`${name}PerRound`].join(", ");
      L.push(
        row([
          label,
          t.rps[name],
          t.rounds[name].map((x) => x.rps).join(", "),
          ratios,
          f(lat.p50, " ms"),
          f(lat.p90, " ms"),
          f(lat.p99, " ms"),
          f(lat.max, " ms"),
        ]),
      );
    }
    const errors = Object.entries(t.rounds).flatMap(([k, rs]) =>
      rs.flatMap((x) => Object.entries(x.errors).map(([m, n]) => `${k}: ${n} × ${m}`)),
    );
    L.push("");
    L.push(errors.length ? `Errors: ${errors.join("; ")}.` : "No request failed.");
    L.push("");
    if (t.ratio.floorPlain != null) {
      L.push(
        `**The floor.** \`bench/floor-worker\` is the least that DESIGN.md's architecture does for an event, with every hop the app makes and none of its generality: one D1 batch (contact upsert, event insert) before the answer; for an event that starts a workflow, after the answer, its execution's Durable Object (state in its own storage), the step's message on a queue, the execution's status mirrored to D1 with the event marked dispatched (one batch), and a consumer that claims a queue batch's deliveries in one statement, POSTs each signed and records the outcomes in one more. No validation, key check, rate limit, logging, re-entry rule, step log, templates or retries schedule. Served the same way, in the same rounds, it is what this runtime allows any implementation of the design: the app's figures are read against it. The app / floor, per round: no workflow ${t.ratio.plainToFloorPerRound.join(", ")}; workflow → webhook ${t.ratio.hookToFloorPerRound.join(", ")}.${t.floorMissing ? ` The floor's consumer missed ${t.floorMissing} webhooks.` : ""}`,
      );
      L.push("");
    }
    if (t.cpuMsPerRequest) {
      const cols = [...new Set(Object.values(t.cpuMsPerRequest).flatMap((c) => Object.keys(c)))];
      L.push(
        "**Where a request's CPU goes.** CPU time (user + system, from `/proc`) of each process over the rounds, divided by the requests answered; for the workflow case it runs until the round's webhooks have arrived, so it holds the whole execution and delivery. On 2 cores, the sum bounds the rate (2,000 ms of CPU a second), and so does the busiest thread: workerd's runtime process runs the worker, D1, the Durable Objects and the queues on one thread (1,000 ms a second), which is what bounds the app; the entry process is what bounds the no-op worker.",
      );
      L.push("");
      L.push(row(["case", ...cols, "sum"]));
      L.push(row(Array(cols.length + 2).fill("---")));
      for (const [name, label] of TRACK_ROWS) {
        const c = t.cpuMsPerRequest[name];
        if (!c) continue;
        const sum = Object.values(c).reduce((a, b) => a + b, 0);
        const ms = (v) => (v === undefined ? "–" : `${Math.round(v * 100) / 100} ms`);
        L.push(row([label, ...cols.map((k) => ms(c[k])), ms(sum)]));
      }
      L.push("");
    }
  }
  if (t?.devDefaults) {
    const d = t.devDefaults;
    const sum = (c) => `${Math.round(Object.values(c ?? {}).reduce((a, b) => a + b, 0) * 100) / 100} ms`;
    L.push(
      "**Served with `wrangler dev`'s defaults** (DevTools inspector and trace collector on, state on disk; one round each, a fresh app and no-op worker):",
    );
    L.push("");
    L.push(row(["case", "req/s", "ratio to no-op", "p50", "p99", "CPU per request, all processes"]));
    L.push(row(Array(6).fill("---")));
    for (const [name, label] of [
      ["noop", "no-op Hono worker"],
      ["plain", "track, no workflow"],
    ]) {
      L.push(
        row([
          label,
          d.rps[name],
          name === "noop" ? "1" : f(d.ratio, "×"),
          f(d.latency[name]?.p50, " ms"),
          f(d.latency[name]?.p99, " ms"),
          sum(d.cpuMsPerRequest[name]),
        ]),
      );
    }
    L.push("");
  }
  if (lo || t) {
    L.push("## 2. Event to webhook");
    L.push("");
    L.push(
      "From the moment the track request is sent to the moment the loopback consumer has the signed POST (its signature is verified).",
    );
    L.push("");
    L.push(row(["load", "n", "p50", "p90", "p99", "max", "missing"]));
    L.push(row(Array(7).fill("---")));
    if (lo)
      L.push(
        row([
          "low: one event at a time",
          lo.eventToWebhook.n,
          f(lo.eventToWebhook.p50, " ms"),
          f(lo.eventToWebhook.p90, " ms"),
          f(lo.eventToWebhook.p99, " ms"),
          f(lo.eventToWebhook.max, " ms"),
          lo.missing,
        ]),
      );
    if (t) {
      const sat = t.saturation.eventToWebhook;
      L.push(
        row([
          `saturation: the rounds of case 1 at concurrency ${t.concurrency}`,
          sat.n,
          f(sat.p50, " ms"),
          f(sat.p90, " ms"),
          f(sat.p99, " ms"),
          f(sat.max, " ms"),
          t.saturation.missing,
        ]),
      );
      L.push("");
      L.push(
        `At saturation the queue drained ${t.saturation.drainSeconds.join(", ")} s after each round's load stopped.`,
      );
    }
    if (lo) L.push(`The track request itself at low load: p50 ${lo.track.p50} ms, p99 ${lo.track.p99} ms.`);
    if (r.webhooksVerified)
      L.push(
        `Webhooks received ${r.webhooksVerified.received}, signature verified ${r.webhooksVerified.verified}.`,
      );
    L.push("");
  }
  if (e) {
    L.push("## 3. Execution throughput: this app vs Cloudflare Workflows");
    L.push("");
    L.push(
      `${execRuns.map((x) => x.app.executions).join(" and then ")} executions (each count with a Workflows worker of its own) of DELAY 1 s → CONDITION (event.plan = "pro") → WEBHOOK, started by HTTP requests at concurrency ${r.params.concurrency} (this app: \`POST /v1/track\`, one new contact each; Workflows: \`POST /start\` on \`bench/workflows-worker\`, which calls \`FLOW.create\`; its steps are \`step.sleep\`, \`step.do\` and a \`step.do\` that POSTs the signed webhook). Time is from the first request to the last webhook received; the bench waits until every webhook has arrived or none has for 60 s, and counts what has not arrived as missing. RSS is the sum over the workerd processes of each \`wrangler dev\`.`,
    );
    for (const x of execRuns) L.push(...execTable(x));
    L.push(
      "Files open: file descriptors held by the runtime workerd process once the case is over, and its limit (`RLIMIT_NOFILE`). Out-of-files errors: lines in which workerd reported `Too many open files` or `SQLITE_CANTOPEN` during the case.",
    );
    L.push("");
  }
  if (s) {
    L.push("## 4. Scale");
    L.push("");
    L.push(
      `Two more stacks, seeded directly (\`wrangler d1 execute DB --local --file\`, rows generated by a recursive CTE) with ${s.contacts.small.toLocaleString("en")} and ${s.contacts.large.toLocaleString("en")} contacts (seeding took ${s.seedSeconds.small} s and ${s.seedSeconds.large} s, migrations and start included). Track at concurrency ${s.track.concurrency}, the two stacks alternating; half the requests update a random seeded contact, half create one.`,
    );
    L.push("");
    L.push(row(["contacts", "req/s per round", "p50", "p90", "p99", "max"]));
    L.push(row(Array(6).fill("---")));
    L.push(
      row([
        s.contacts.small.toLocaleString("en"),
        s.track.rps.small.join(", "),
        f(s.track.small.p50, " ms"),
        f(s.track.small.p90, " ms"),
        f(s.track.small.p99, " ms"),
        f(s.track.small.max, " ms"),
      ]),
    );
    L.push(
      row([
        s.contacts.large.toLocaleString("en"),
        s.track.rps.large.join(", "),
        f(s.track.large.p50, " ms"),
        f(s.track.large.p90, " ms"),
        f(s.track.large.p99, " ms"),
        f(s.track.large.max, " ms"),
      ]),
    );
    L.push("");
    L.push(
      `**Resume one among many waiting.** The large stack's \`waits\` index holds ${s.resume.waitingIndexRows.toLocaleString("en")} rows for \`bench.resume\`: ${s.resume.realWaiting} real executions (TRIGGER → WAIT_FOR_EVENT → WEBHOOK, each its own Durable Object) and the rest seeded as index rows of executions that never hear from anyone. Each real one is resumed in turn by tracking \`bench.resume\` for its contact; the request answers once the event is stored and the resume runs after the answer, so the time that counts is the second row: from the request to the webhook the resumed execution sends.`,
    );
    L.push("");
    L.push(row(["", "n", "p50", "p90", "p99", "max"]));
    L.push(row(Array(6).fill("---")));
    L.push(
      row([
        "track request that resumes",
        s.resume.request.n,
        f(s.resume.request.p50, " ms"),
        f(s.resume.request.p90, " ms"),
        f(s.resume.request.p99, " ms"),
        f(s.resume.request.max, " ms"),
      ]),
    );
    L.push(
      row([
        "… until the webhook arrives",
        s.resume.toWebhook.n,
        f(s.resume.toWebhook.p50, " ms"),
        f(s.resume.toWebhook.p90, " ms"),
        f(s.resume.toWebhook.p99, " ms"),
        f(s.resume.toWebhook.max, " ms"),
      ]),
    );
    L.push("");
    L.push(
      `**Segment backfill.** \`POST /segments\` over all ${s.backfill.contacts.toLocaleString("en")} contacts of the large stack (1 in 10 match): ${s.backfill.ready ? `READY after ${s.backfill.seconds} s, ${s.backfill.contactsPerSecond} contacts/s` : `not READY after ${s.backfill.seconds} s (the bound)`}, ${s.backfill.members} members; workerd peak RSS ${s.backfill.rssPeakMiB} MiB.`,
    );
    L.push("");
  }
  if (before) L.push(...compare(before, r));
  L.push(...dashboardSection());
  L.push(...costSection());
  L.push(...databasesSection());
  L.push(...shardSection());
  L.push(...campaignSection());
  const notes = path.join(import.meta.dirname, "notes.md");
  if (fs.existsSync(notes)) L.push(fs.readFileSync(notes, "utf8").trim(), "");
  return `${L.join("\n")}\n`;
}

/**
 * benchmarks.md with the section `heading` (re)written in place, before the notes, leaving the rest of
 * the file as the last full run wrote it: for the scripts that measure one thing (bench:dashboard, bench:cost).
 */
function withSection(markdown, heading, section) {
  const lines = markdown.split("\n");
  const start = lines.indexOf(heading);
  if (start >= 0) {
    const next = lines.findIndex((l, i) => i > start && l.startsWith("## "));
    lines.splice(start, (next < 0 ? lines.length : next) - start);
  }
  const notes = path.join(import.meta.dirname, "notes.md");
  const firstNote = fs.existsSync(notes) ? fs.readFileSync(notes, "utf8").trim().split("\n")[0] : undefined;
  const at = firstNote ? lines.indexOf(firstNote) : -1;
  lines.splice(at < 0 ? lines.length : at, 0, ...section);
  return lines.join("\n");
}

/** `npm run bench:dashboard`: only the "Dashboard" section. */
export const withDashboardSection = (markdown) => withSection(markdown, "## Dashboard", dashboardSection());

/** `npm run bench:cost`: only the "Cost per execution" section. */
export const withCostSection = (markdown) => withSection(markdown, "## Cost per execution", costSection());

/** `npm run bench:databases`: only the "Databases" section. */
export const withDatabasesSection = (markdown) => withSection(markdown, "## Databases", databasesSection());

/** `npm run bench:campaign`: only the "Campaign to N contacts" section. */
export const withCampaignSection = (markdown) =>
  withSection(markdown, "## Campaign to N contacts", campaignSection());

/** A campaign end to end (`npm run bench:campaign`, docs/benchmarks-campaign.json), if it has run. */
function campaignSection() {
  const file = path.join(import.meta.dirname, "..", "docs", "benchmarks-campaign.json");
  if (!fs.existsSync(file)) return [];
  const d = JSON.parse(fs.readFileSync(file, "utf8"));
  const n = (x) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en"));
  const sendSeconds = d.fanOutSeconds === null ? null : d.totalSeconds;
  const ms = (cpu, count) => (count ? ((1000 * cpu) / count).toFixed(2) : "–");
  return [
    "## Campaign to N contacts",
    "",
    `Measured by \`npm run bench:campaign -- --contacts=${d.contacts}\` (\`bench/campaign.mjs\`), ${d.at}: the app served by \`wrangler dev\` (the bench's copy), ${n(d.contacts)} subscribed contacts seeded straight into its local D1 (${d.seedSeconds} s, not part of the figures), the emails sent to the local SES of \`npm start\` (aws-ses-v2-local). One campaign to every subscribed contact, sent now; its counters sampled every second.`,
    "",
    "| phase | time | rate |",
    "| --- | --- | --- |",
    `| audience count (\`POST /campaigns/count\`) | ${d.countSeconds} s | ${n(d.audience)} contacts |`,
    `| fan-out: every recipient's email made and handed to the emails queue | ${n(d.fanOutSeconds)} s | ${n(d.fanOutPerSecond)} emails/s |`,
    `| end to end: sent to SES, recorded SENT with \`email.sent\` (status ${d.status}) | ${n(sendSeconds)} s | ${n(d.sentPerSecond)} emails/s |`,
    "",
    `Counters at the end: ${Object.entries(d.stats)
      .map(([k, v]) => `${k} ${n(v)}`)
      .join(
        ", ",
      )}. CPU time: workerd ${n(d.cpuSeconds.workerdFanOut)} s during the fan-out and ${n(d.cpuSeconds.workerdTotal)} s in all; the local SES ${n(d.cpuSeconds.ses)} s. Local D1 files at the end: ${(d.d1Bytes / 1024 / 1024).toFixed(0)} MB.`,
    "",
    `**Where the time goes.** The fan-out costs ${ms(d.cpuSeconds.workerdFanOut, d.stats.recipients)} ms of workerd CPU per email (a page of 500: one read of the audience, one insert of its emails with the cursor's move, five hand-overs of 100 to the queue). Sending costs ${ms(d.cpuSeconds.workerdTotal - (d.cpuSeconds.workerdFanOut ?? 0), d.stats.sent)} ms per email: the claim (which returns the row), one batch reading the contact, project, campaign and template, the render, the signed call to SES, and one batch storing SENT, \`email.sent\` and the counters. workerd used ${n(d.cpuSeconds.workerdTotal)} s of CPU in ${n(d.totalSeconds)} s: locally one runtime thread runs the worker, its queues and the D1 simulator, so that thread is the ceiling, and the rate is its CPU per email. On Cloudflare the emails queue's consumers run side by side (up to 250 invocations at once), and what serializes is the project's D1 database: three round trips and ten statements per email.`,
    "",
  ];
}

/** Throughput with one and two D1 databases (`npm run bench:databases`, docs/benchmarks-databases.json). */
function databasesSection() {
  const file = path.join(import.meta.dirname, "..", "docs", "benchmarks-databases.json");
  if (!fs.existsSync(file)) return [];
  const d = JSON.parse(fs.readFileSync(file, "utf8"));
  const mean = (xs) => Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10;
  const rows = Object.entries(d.results).map(([key, runs]) => {
    const rps = runs.map((r) => r.rps);
    const eps = runs.map((r) => r.executionsPerSecond).filter((x) => x !== undefined);
    return `| ${key} | ${mean(rps)} (${rps.join(", ")}) | ${eps.length ? `${mean(eps)} (${eps.join(", ")})` : "–"} |`;
  });
  return [
    "## Databases",
    "",
    `Measured by \`npm run bench:databases\` (\`bench/databases.mjs\`), ${d.at}: one app with the D1 bindings DB and DB_2, four projects made through the admin API (on the ${d.params.engine ?? "objects"} engine), two in DB ("one database") and one in each ("two databases"); ${d.params.rounds} rounds of ${d.params.seconds} s per case at concurrency ${d.params.concurrency}, the layouts interleaved, each request a new contact, alternating between the layout's two projects.`,
    "",
    "| layout / case | requests answered per second (per round) | executions per second, to the webhook (per round) |",
    "| --- | --- | --- |",
    ...rows,
    "",
    'Locally every D1 database is a SQLite file served by the one workerd runtime thread that also runs the worker, the Durable Objects and the queues (case 1\'s CPU table), so a second database cannot add capacity here: what these figures show is that spreading projects costs nothing per request. In production each D1 database is its own single-writer instance, so N databases carry about N times the statements per second (DESIGN.md, "Past one database").',
    "",
  ];
}

/** The dashboard's figures (`npm run bench:dashboard`, docs/benchmarks-dashboard.json), if it has run. */
function dashboardSection() {
  const file = path.join(import.meta.dirname, "..", "docs", "benchmarks-dashboard.json");
  if (!fs.existsSync(file)) return [];
  const d = JSON.parse(fs.readFileSync(file, "utf8"));
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  const L = [
    "## Dashboard",
    "",
    `Measured by \`npm run bench:dashboard\` (\`bench/dashboard.mjs\`), ${d.at}: the build's bytes, and the editor drawing a workflow in Chromium (the binary of @sparticuz/chromium, headless) against wrangler dev on this machine.`,
    "",
    "| figure | measured | target |  |",
    "| --- | --- | --- | --- |",
    row([
      "first load (index.html + the JS and CSS it links), gzipped",
      `${kb(d.firstLoad.total.gzip)} (${kb(d.firstLoad.total.raw)} raw)`,
      "≤ 250 KB",
      d.firstLoad.total.gzip <= 250 * 1024 ? "✅" : "❌",
    ]),
    row([
      `a ${d.draw250.steps}-step workflow laid out and drawn (JSON arrived → frame after it is drawn)`,
      `median ${d.draw250.median} ms (${d.draw250.min}–${d.draw250.max} over ${d.draw250.rounds.length} loads), of which the dagre layout ${d.draw250.layoutMedian} ms; ${d.draw250.stepsInPage} steps in view rendered, all ${d.draw250.steps} in the minimap`,
      "≤ 500 ms",
      d.draw250.median <= 500 ? "✅" : "❌",
    ]),
    "",
    "| file | loaded | raw | gzipped |",
    "| --- | --- | --- | --- |",
    ...d.firstLoad.initial.map((f) => row([`\`${f.file}\``, "first", kb(f.raw), kb(f.gzip)])),
    ...d.firstLoad.lazy.map((f) => row([`\`${f.file}\``, "when needed", kb(f.raw), kb(f.gzip)])),
    "",
    "What got there, measured the same way on 2026-12-01: the pages that draw graphs (React Flow, dagre) became chunks of",
    "their own, loaded when first opened (first load 221 KB → 101 KB gzipped); with every one of the 250 steps",
    "and their placeholders in the page, the draw took a median 541 ms (492–622 over 7 loads), of which the layout",
    "about 100 ms (dagre's tight-tree ranker and a depth-first order instead of its crossing-reduction sweeps, which",
    "a workflow, mostly a tree, does not need); rendering only the steps in view (React Flow's",
    "`onlyRenderVisibleElements`, above 120 nodes, where the editor opens on the trigger rather than fitting the whole",
    "graph) took it under the target. A workflow small enough to be read whole renders every step.",
    "",
  ];
  return L;
}

/** One count's table of case 3: this app, Workflows and the floor, and their ratios. */
function execTable(e) {
  const L = ["", `**${e.app.executions} executions.**`, ""];
  L.push(
    row([
      "",
      "started",
      "all started after",
      "last webhook after",
      "executions/s",
      "start → webhook p50",
      "p99",
      "missing",
      "RSS before",
      "RSS peak",
      "RSS after",
      "files open after (limit)",
      "out-of-files errors",
    ]),
  );
  L.push(row(Array(13).fill("---")));
  for (const [k, label] of [
    ["app", "this app"],
    ["workflows", "Cloudflare Workflows"],
    ["floor", "the floor (`bench/floor-worker`)"],
  ]) {
    const x = e[k];
    if (!x) continue;
    L.push(
      row([
        label,
        x.started,
        `${x.startSeconds} s`,
        `${x.lastWebhookSeconds} s`,
        x.perSecond,
        f(x.startToWebhook.p50, " ms"),
        f(x.startToWebhook.p99, " ms"),
        x.missing,
        `${x.rssBeforeMiB} MiB`,
        `${x.rssPeakMiB} MiB`,
        `${x.rssAfterMiB} MiB`,
        x.openFilesAfter == null ? "—" : `${x.openFilesAfter} (${x.openFilesLimit})`,
        x.fdErrors ?? "—",
      ]),
    );
  }
  L.push("");
  L.push(
    `Throughput ratio (this app / Workflows): **${e.ratio}×**.${e.floor ? ` The floor / Workflows: ${e.floorRatio}×; this app / the floor: ${e.appToFloor}×.` : ""}`,
  );
  L.push("");
  return L;
}

const cpuSum = (c) => (c ? Math.round(Object.values(c).reduce((x, y) => x + y, 0) * 10) / 10 : null);

function compare(b, a) {
  const L = [
    "## Before and after",
    "",
    `Before: the run of ${b.startedAt} (${b.engine === "shard" ? "shard" : "objects"} engine); after: this run (${a.engine === "shard" ? "shard" : "objects"} engine). Each is one run with its own side-by-side baseline.`,
    "",
  ];
  L.push(row(["figure", "before", "after"]));
  L.push(row(["---", "---", "---"]));
  const pairs = [
    ["track, no workflow / no-op", (r) => r.track?.ratio.plain, "×"],
    ["track, workflow → webhook / no-op", (r) => r.track?.ratio.hook, "×"],
    ["track, no workflow / no-op, with wrangler dev's defaults", (r) => r.track?.devDefaults?.ratio, "×"],
    ["track, no workflow p50", (r) => r.track?.latency.plain.p50, " ms"],
    ["track, workflow → webhook p50", (r) => r.track?.latency.hook.p50, " ms"],
    ["event → webhook p50, low load", (r) => r.lowLoad?.eventToWebhook.p50, " ms"],
    ["event → webhook p99, low load", (r) => r.lowLoad?.eventToWebhook.p99, " ms"],
    ["event → webhook p50, saturation", (r) => r.track?.saturation.eventToWebhook.p50, " ms"],
    ["the floor, no workflow / no-op", (r) => r.track?.ratio.floorPlain, "×"],
    ["the floor, workflow → webhook / no-op", (r) => r.track?.ratio.floorHook, "×"],
    ["executions: this app / Workflows", (r) => r.executions?.ratio, "×"],
    ["executions: the floor / Workflows", (r) => r.executions?.floorRatio, "×"],
    ["executions run", (r) => r.executions?.app.executions, ""],
    ["executions/s, this app", (r) => r.executions?.app.perSecond, ""],
    ["executions/s, Workflows", (r) => r.executions?.workflows.perSecond, ""],
    [
      "track, no workflow: CPU per request, all processes",
      (r) => cpuSum(r.track?.cpuMsPerRequest?.plain),
      " ms",
    ],
    ["track, workflow → webhook: CPU per request", (r) => cpuSum(r.track?.cpuMsPerRequest?.hook), " ms"],
    ["track p99, large / small contacts", (r) => r.scale?.track.ratioP99, "×"],
    ["resume p99 (request)", (r) => r.scale?.resume.request.p99, " ms"],
    ["resume p99 (to the webhook)", (r) => r.scale?.resume.toWebhook.p99, " ms"],
    ["segment backfill", (r) => r.scale?.backfill.seconds, " s"],
  ];
  for (const [label, get, unit] of pairs) L.push(row([label, f(get(b), unit), f(get(a), unit)]));
  L.push("");
  return L;
}

/** `npm run bench:shard`: only the "The shard prototype" section (from `dir`'s benchmarks-shard.json). */
export const withShardSection = (markdown, dir) =>
  withSection(markdown, "## The shard prototype", shardSection(dir));

function shardSection(dir = path.join(import.meta.dirname, "..", "docs")) {
  const file = path.join(dir, "benchmarks-shard.json");
  if (!fs.existsSync(file)) return [];
  const d = JSON.parse(fs.readFileSync(file, "utf8"));
  const names = {
    plain: "plain `/v1/track`",
    hook: "TRIGGER → WEBHOOK",
    delay: "TRIGGER → DELAY 1 s → CONDITION → WEBHOOK",
  };
  const targets = { plain: "≤ 4 rows", hook: "≤ $6", delay: "≤ $10" };
  const cell = (m) => {
    const p = m.perExecution;
    const st = p.durableObjects.storage;
    const doRows = Math.round((st.rowsWritten + st.sqlRowsWritten + st.alarmsSet) * 100) / 100;
    return `${p.d1.statements} / ${p.d1.rowsWritten} / ${doRows} / **$${m.cost.usdPerMillion.toFixed(2)}**`;
  };
  const costRows = Object.keys(names).map(
    (s) =>
      `| ${names[s]} | ${cell(d.appCost[s].load)} | ${cell(d.cost[s].load)} | ${cell(d.appCost[s].low)} | ${cell(d.cost[s].low)} | ${targets[s]} |`,
  );
  const t = d.track;
  const trackRows = [
    ["no-op worker", "noop"],
    ["shard, no workflow", "shardPlain"],
    ["shard, workflow → webhook", "shardHook"],
    ["app, no workflow", "appPlain"],
    ["app, workflow → webhook", "appHook"],
  ].map(
    ([label, k]) =>
      `| ${label} | ${t.rps[k]} (${t.rounds[k].join(", ")}) | ${t.toNoop[k].join(", ")} | ${t.missing[k]} |`,
  );
  const execRows = d.executions.map(
    (x) =>
      `| ${x.executions} | ${x.workflows.perSecond} (${x.workflows.missing}) | ${x.shard.perSecond} (${x.shard.missing}) | ${x.app.perSecond} (${x.app.missing}) | **${x.shardToWorkflows}×** | ${x.appToWorkflows}× |`,
  );
  const low = d.lowLoad.eventToWebhook;
  const r = d.reads;
  const readRows = r
    ? Object.entries(r.calls).map(
        ([name, c]) => `| ${name} | ${c.rows} | ${c.rowsRead} | ${c.statements} | ${c.ms} |`,
      )
    : [];
  const readsPart = r
    ? [
        `**Reads through pages** (what the executions API would run on pages: \`GET /workflows/:wf/executions?status&cursor\`, \`GET /executions/:id\`, a contact's executions), with ${r.executions.toLocaleString("en")} executions held (${r.contacts.toLocaleString("en")} contacts, 5 each; a tenth of another workflow), pages of ${r.pageSize} executions of one workflow: D1 rows read counted by the instrumented bindings (\`json_each\`'s rows count as read), the median time of 5.`,
        "",
        "| read | rows answered | D1 rows read | statements | ms |",
        "| --- | --- | --- | --- | --- |",
        ...readRows,
        "",
      ]
    : [];
  return [
    "## The shard prototype",
    "",
    `Measured by \`npm run bench:shard\` (\`bench/shard.mjs\`)${
      d.measuredAt
        ? ` (${Object.entries(d.measuredAt)
            .map(([k, at]) => `${k} ${at}`)
            .join(", ")})`
        : `, ${d.at}`
    }. \`bench/shard-worker\` is the engine design proposed for 2.3, written as plainly as the floor worker: each track goes to its contact's shard object (${d.params.shards === "wrangler.toml" ? "4 per project" : `${d.params.shards} per project`}), which commits in groups (what arrived during its previous commit goes in the next, one D1 batch: contacts upserted, events inserted, execution pages written, three statements at most) and answers once committed; an event and the executions it starts are stored in one transaction, so nothing marks it dispatched later; executions are held in memory and stored as pages (a D1 row of up to 64 executions of one workflow, rewritten when one changes; an execution's id names its page); DELAY is one alarm per shard for its earliest timer, WEBHOOK a POST from the shard with its outcome in the next commit. No validation, auth, re-entry rule, templates or step log.`,
    "",
    `**Cost per execution** (counted by the instrumented bindings, priced as in "Cost per execution"): D1 statements / D1 rows written / Durable Object rows written (alarms included) / $ per million. Under load: ${d.params.n} tracks at concurrency 50; at low load: ${d.params.lowN} one at a time. The app's columns are the last \`npm run bench:cost\` (${d.appCost.hook.at}).`,
    "",
    "| shape | app, under load | shard, under load | app, low load | shard, low load | target |",
    "| --- | --- | --- | --- | --- | --- |",
    ...costRows,
    "",
    `**Track rate**, ${t.rounds.noop.length} rounds of ${t.seconds} s at concurrency ${t.concurrency}, the cases interleaved, every request a new contact: requests answered per second (per round), and per round against the no-op worker; webhooks missing after the rounds.`,
    "",
    "| case | req/s (per round) | / no-op, per round | webhooks missing |",
    "| --- | --- | --- | --- |",
    ...trackRows,
    "",
    "**Executions of the DELAY flow** (case 3: N starts at concurrency 16, throughput = webhooks received over the time to the last), each count with a fresh Workflows worker, side by side in one run: executions per second (missing).",
    "",
    "| N | Workflows | shard | app | shard / Workflows | app / Workflows |",
    "| --- | --- | --- | --- | --- | --- |",
    ...execRows,
    "",
    `**Event → webhook at low load** (the shard, ${low.n} events one at a time): p50 ${low.p50} ms, p90 ${low.p90} ms, p99 ${low.p99} ms, max ${low.max} ms${d.lowLoad.missing ? `; ${d.lowLoad.missing} missing` : ""}.`,
    "",
    ...readsPart,
  ];
}
