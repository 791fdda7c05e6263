// The price table of `npm run bench:cost`, the $ per million executions computed from its counts, and the
// "Cost per execution" section of docs/benchmarks.md (bench/report.mjs's `withCostSection` places it).
import fs from "node:fs";
import path from "node:path";

/** Workers Paid list prices, $ per million units beyond what the plan includes. */
export const PRICES = {
  asOf: "2026-12-01",
  plan: "Workers Paid (usage beyond the included amounts; the $5/month minimum and the inclusions left out)",
  sources: [
    "https://developers.cloudflare.com/workers/platform/pricing/",
    "https://developers.cloudflare.com/d1/platform/pricing/",
    "https://developers.cloudflare.com/durable-objects/platform/pricing/",
    "https://developers.cloudflare.com/queues/platform/pricing/",
    "https://developers.cloudflare.com/workflows/reference/pricing/",
  ],
  perMillion: {
    workersRequests: 0.3,
    workersCpuMs: 0.02,
    d1RowsRead: 0.001,
    d1RowsWritten: 1.0,
    doRequests: 0.15,
    doGbS: 12.5,
    doRowsRead: 0.001,
    doRowsWritten: 1.0,
    queueOperations: 0.4,
  },
  /** GB a Durable Object is billed for while active (duration is wall time × this). */
  doMemoryGb: 0.128,
};

const LABELS = {
  workersRequests: "Workers requests (fetch, queue batches, cron)",
  d1RowsRead: "D1 rows read",
  d1RowsWritten: "D1 rows written",
  doRequests: "Durable Object requests (RPC calls, alarms)",
  doGbS: "Durable Object duration (GB-s)",
  doRowsRead: "Durable Object storage rows read",
  doRowsWritten: "Durable Object storage rows written (incl. alarms set)",
  queueOperations: "Queue operations (write + read + delete per message)",
};

const sum = (o) => Object.values(o ?? {}).reduce((a, b) => a + b, 0);
const r4 = (v) => Math.round(v * 10_000) / 10_000;

/** The billed quantities of one execution's counters (per execution), by price line. */
export function quantities(c) {
  const st = c.durableObjects.storage;
  const sent = sum(c.queues.sent);
  return {
    workersRequests: c.invocations.fetch + c.invocations.queue + c.invocations.scheduled,
    d1RowsRead: c.d1.rowsRead,
    d1RowsWritten: c.d1.rowsWritten,
    doRequests: sum(c.durableObjects.requests) + (c.durableObjects.entries.alarm ?? 0),
    doGbS: (c.durableObjects.activeMs / 1000) * PRICES.doMemoryGb,
    doRowsRead: st.rowsRead + st.sqlRowsRead,
    doRowsWritten: st.rowsWritten + st.sqlRowsWritten + st.alarmsSet,
    queueOperations: sent + c.queues.delivered + Math.max(0, c.queues.delivered - c.queues.retried),
  };
}

function priced(q) {
  const lines = {};
  let total = 0;
  for (const [k, qty] of Object.entries(q)) {
    const usd = qty * PRICES.perMillion[k];
    lines[k] = { perExecution: r4(qty), usdPerMillion: r4(usd) };
    total += usd;
  }
  const duration = lines.doGbS?.usdPerMillion ?? 0;
  return { lines, usdPerMillion: r4(total), usdPerMillionWithoutDuration: r4(total - duration) };
}

/** $ per million executions of an app shape, from its counters per execution. */
export function priceShape(c) {
  return priced(quantities(c));
}

/**
 * $ per million of the Workflows worker: its /start request and one Workflow invocation per instance (as
 * Workers requests); and the same with the D1 rows the app's plain track uses (the contact and the event
 * still stored in D1, as the app stores them).
 */
export function priceWorkflows(c, plain) {
  const q = quantities(c);
  q.workersRequests = c.invocations.fetch + c.workflows.created;
  const own = priced(q);
  const p = quantities(plain);
  const withD1 = priced({
    ...q,
    d1RowsRead: q.d1RowsRead + p.d1RowsRead,
    d1RowsWritten: q.d1RowsWritten + p.d1RowsWritten,
  });
  return { ...own, withAppTrackD1: withD1.usdPerMillion };
}

const row = (cells) => `| ${cells.join(" | ")} |`;
const n2 = (v) => (v === undefined || v === null ? "–" : String(Math.round(v * 100) / 100));
const usd = (v) => `$${v < 1 ? v.toFixed(3) : v.toFixed(2)}`;

/** The "Cost per execution" section, from docs/benchmarks-cost.json if `npm run bench:cost` has run. */
const docsFile = (name) => path.join(import.meta.dirname, "..", "..", "docs", name);

/** The engine a cost report measured, as the report names it. */
const engineOf = (d) =>
  d.params.engine === "shard"
    ? `the shard engine (the default), ${d.params.shards ?? 4} shard${d.params.shards === 1 ? "" : "s"}`
    : "the objects engine";

/** The same shapes on the objects engine (`npm run bench:cost -- --engine=objects`), if it has run. */
function objectsEngineCost(names) {
  const file = docsFile("benchmarks-cost-objects.json");
  if (!fs.existsSync(file)) return [];
  const o = JSON.parse(fs.readFileSync(file, "utf8"));
  const keys = Object.keys(names).filter((k) => o.shapes[k]);
  const cell = (m) =>
    `${n2(m.perExecution.d1.statements)} / ${n2(m.perExecution.d1.rowsWritten)} / ${usd(priceShape(m.perExecution).usdPerMillion)}`;
  return [
    `**On the objects engine** (\`npm run bench:cost -- --engine=objects\`, ${o.at}, \`docs/benchmarks-cost-objects.json\`): D1 statements / D1 rows written / $ per million executions.`,
    "",
    row(["", ...keys.map((k) => names[k])]),
    row(["---", ...keys.map(() => "---")]),
    row(["under load", ...keys.map((k) => cell(o.shapes[k].load))]),
    row(["low load", ...keys.map((k) => cell(o.shapes[k].low))]),
    "",
  ];
}

export function costSection() {
  const file = docsFile("benchmarks-cost.json");
  if (!fs.existsSync(file)) return [];
  const d = JSON.parse(fs.readFileSync(file, "utf8"));
  const S = d.shapes;
  const W = d.workflows;
  const names = {
    plain: "(a) `POST /v1/track`, no workflow",
    hook: "(b) TRIGGER → WEBHOOK",
    delay: "(c) TRIGGER → DELAY 1 s → CONDITION → WEBHOOK",
    wait: "(d) TRIGGER → WAIT_FOR_EVENT → WEBHOOK (+ the awaited event)",
  };
  const keys = Object.keys(names).filter((k) => S[k]);
  const col = (f) => keys.map((k) => f(S[k].load.perExecution, S[k]));
  const L = [
    "## Cost per execution",
    "",
    `Measured by \`npm run bench:cost\` (\`bench/cost.mjs\`), ${d.at}, on ${engineOf(d)}: the bench's copy of the app served by wrangler dev with its bindings instrumented in that copy (\`bench/lib/cost-instrument.js\`: a generated entry wraps the worker's handlers, its D1, Durable Object, queue and Workflow bindings, the Durable Object class and its storage; the counters are read on a bench-only route of the copy, never in \`src/\`). Each shape: counters reset, ${d.params.n} executions tracked at concurrency ${d.params.concurrency}, every webhook received by the consumer, the after-work settled (counters unchanged for 1.5 s), the counters divided by ${d.params.n}. Each execution is a new contact's first event. "Low load" is the same with ${d.params.lowN} executions tracked one at a time.`,
    "",
    "Commands: `npm run bench:cost` (options `--n=200 --low-n=50 --concurrency=50`); `npm run bench:cost -- --report` rewrites this section from `docs/benchmarks-cost.json`.",
    "",
    "**Counts per execution** (under load unless said):",
    "",
    row(["count", ...keys.map((k) => names[k]), "Workflows (delay flow)"]),
    row(["---", ...keys.map(() => "---"), "---"]),
    row(["D1 statements", ...col((c) => n2(c.d1.statements)), n2(W.perExecution.d1.statements)]),
    row(["D1 statements, low load", ...keys.map((k) => n2(S[k].low.perExecution.d1.statements)), "–"]),
    row([
      "D1 round trips (a batch is one)",
      ...col((c) => n2(c.d1.roundTrips)),
      n2(W.perExecution.d1.roundTrips),
    ]),
    row(["D1 round trips, low load", ...keys.map((k) => n2(S[k].low.perExecution.d1.roundTrips)), "–"]),
    row([
      "D1 rows read (`meta.rows_read`)",
      ...col((c) => n2(c.d1.rowsRead)),
      n2(W.perExecution.d1.rowsRead),
    ]),
    row([
      "D1 rows written (`meta.rows_written`)",
      ...col((c) => n2(c.d1.rowsWritten)),
      n2(W.perExecution.d1.rowsWritten),
    ]),
    row(["D1 rows written, low load", ...keys.map((k) => n2(S[k].low.perExecution.d1.rowsWritten)), "–"]),
    row([
      "DO requests (RPC calls by method; alarms)",
      ...col(
        (c) =>
          [
            ...Object.entries(c.durableObjects.requests).map(([m, v]) => `${m} ${n2(v)}`),
            ...(c.durableObjects.entries.alarm ? [`alarm ${n2(c.durableObjects.entries.alarm)}`] : []),
          ].join(", ") || "0",
      ),
      "not visible",
    ]),
    row([
      "DO storage calls",
      ...col(
        (c) =>
          Object.entries(c.durableObjects.storage.calls)
            .map(([m, v]) => `${m} ${n2(v)}`)
            .join(", ") || "0",
      ),
      "not visible",
    ]),
    row([
      "DO storage rows read / written",
      ...col(
        (c) =>
          `${n2(c.durableObjects.storage.rowsRead + c.durableObjects.storage.sqlRowsRead)} / ${n2(c.durableObjects.storage.rowsWritten + c.durableObjects.storage.sqlRowsWritten)}`,
      ),
      "not visible",
    ]),
    row(["DO alarms set", ...col((c) => n2(c.durableObjects.storage.alarmsSet)), "not visible"]),
    row(["DO wall time inside a call (ms)", ...col((c) => n2(c.durableObjects.activeMs)), "not visible"]),
    row([
      "queue messages sent",
      ...col(
        (c) =>
          Object.entries(c.queues.sent)
            .map(([q, v]) => `${q} ${n2(v)}`)
            .join(", ") || "0",
      ),
      n2(Object.values(W.perExecution.queues.sent).reduce((a, b) => a + b, 0)),
    ]),
    row([
      "queue messages delivered (retried)",
      ...col((c) => `${n2(c.queues.delivered)} (${n2(c.queues.retried)})`),
      "–",
    ]),
    row([
      "Worker invocations: fetch / queue batches",
      ...col((c) => `${n2(c.invocations.fetch)} / ${n2(c.invocations.queue)}`),
      `${n2(W.perExecution.invocations.fetch)} / –`,
    ]),
    row([
      "Workflows: instances created / `run` calls / step calls / step callbacks run / sleeps",
      ...keys.map(() => "–"),
      (({ created, runs, stepCalls, stepExecutions, sleeps }) =>
        [created, runs, stepCalls, stepExecutions, sleeps].map(n2).join(" / "))(W.perExecution.workflows),
    ]),
    row([
      "local workerd CPU ms (not billed CPU; includes local D1/DO/queues)",
      ...keys.map((k) => n2(S[k].load.localCpuMsPerExecution["workerd runtime"])),
      n2(W.localCpuMsPerExecution["workerd runtime"]),
    ]),
    "",
    `**$ per million executions** at list prices (${d.prices.plan}; prices as of ${d.prices.asOf}):`,
    "",
    row(["price line", "$ per million units", ...keys.map((k) => names[k]), "Workflows (delay flow)"]),
    row(["---", "---", ...keys.map(() => "---"), "---"]),
  ];
  for (const [k, label] of Object.entries(LABELS)) {
    L.push(
      row([
        label,
        usd(d.prices.perMillion[k]),
        ...keys.map((s) => usd(S[s].cost.lines[k].usdPerMillion)),
        ["doRequests", "doGbS", "doRowsRead", "doRowsWritten"].includes(k)
          ? "not visible"
          : usd(W.cost.lines[k].usdPerMillion),
      ]),
    );
  }
  L.push(
    row([
      "**total**",
      "",
      ...keys.map((s) => `**${usd(S[s].cost.usdPerMillion)}**`),
      `**${usd(W.cost.usdPerMillion)}**; with the app's plain-track D1 rows (contact and event in D1): **${usd(W.cost.withAppTrackD1)}**`,
    ]),
    row([
      "total without DO duration",
      "",
      ...keys.map((s) => usd(S[s].cost.usdPerMillionWithoutDuration)),
      usd(W.cost.usdPerMillionWithoutDuration),
    ]),
    "",
  );
  L.push(...objectsEngineCost(names));
  if (d.sweep?.perRun) {
    const s = d.sweep.perRun;
    L.push(
      `**The cron sweep** (once a minute whatever the traffic, so a fixed cost, not per execution): one idle run measured here made ${n2(s.d1.statements)} D1 statements in ${n2(s.d1.roundTrips)} round trips, ${n2(s.d1.rowsRead)} rows read, ${n2(s.d1.rowsWritten)} written: ${usd(d.sweep.cost.usdPerMillion)} per million runs, i.e. ${usd((d.sweep.cost.usdPerMillion * 43_200) / 1e6)} a month (43,200 runs).`,
      "",
    );
  } else if (d.sweep?.error) L.push(`**The cron sweep** could not be run: ${d.sweep.error}`, "");
  L.push(
    "**The issue's earlier figures, for comparison** (estimated, not counted): plain track 2 statements, 7 rows written, ≈$7.4/M; TRIGGER → WEBHOOK 14 statements, 32 rows written, ≈$38/M; the DELAY flow 16 statements, 43 rows written, ≈$55/M; Workflows ≈$8–9/M for the DELAY flow with the contact and event still in D1.",
    "",
    "**Prices.** Workers requests $0.30/M, CPU $0.02/M CPU-ms; D1 rows read $0.001/M, written $1.00/M; Durable Objects requests $0.15/M (RPC calls and alarm invocations), duration $12.50/M GB-s, SQLite storage rows read $0.001/M, written $1.00/M; Queues $0.40/M operations (a message written, read and deleted is 3); Workflows billed as Workers requests + CPU + storage. These are the lead's figures, checked on 2026-12-01 against the Workflows, Durable Objects and Queues pricing pages where the search tool had them (the Workers, Workflows, DO request/duration and Queues figures agree); the D1 and DO storage row prices were not re-checked. Sources: " +
      d.prices.sources.map((u) => `<${u}>`).join(", ") +
      ".",
    "",
    "**Assumptions and what is not counted.**",
    "",
    "- Every Worker invocation (fetch, queue batch, cron) is priced as one Workers request; every Durable Object stub method call (an RPC session) and every alarm run as one DO request. The inclusions of the plan (10 M requests, 25 B D1 rows read, 50 M written, 1 M DO requests, 400,000 GB-s, 1 M queue operations a month) are left out: these are marginal prices.",
    `- DO duration: ${d.prices.doMemoryGb * 1000} MB × the wall time an object spends inside a call (an RPC method or its alarm; overlapping calls on one object counted once), measured locally. An object between calls (waiting for its alarm) is idle and can hibernate, so it is not billed; the local wall time includes local D1 and queue latency, which differ in production. The totals are also given without it.`,
    "- DO storage: the app uses the KV API of a SQLite-backed object; a key read is counted as a row read, a key put or deleted as a row written, and a `setAlarm` as a row written. Rows in SQLite's indexes and the object's internal metadata are not visible.",
    "- Queue operations: one write per message sent, one read per delivery, one delete per delivery not retried (messages are under 64 KB). Dead-letter queues: none was used in these runs.",
    "- CPU time is not counted: workerd does not report an invocation's CPU time locally, and the local process's CPU (the last row of the counts) includes the simulated D1, Durable Objects and queues. Storage (GB-month of D1, DO and Workflows) is not per execution and is left out.",
    "- Cloudflare Workflows: its step calls run inside Cloudflare's engine (locally an internal Durable Object miniflare provides), so its requests, storage rows and alarms are not visible. Counted: the worker's fetches (/start), instances created, `run` calls (one per resumption: each wake-up replays `run`), step calls and step callbacks actually executed, sleeps. Priced: one Workers request for /start plus one Workflow invocation per instance (the pricing page bills \"Workflow invocations\"; whether each resumption after a sleep counts is not said there). The bench's Workflows worker keeps nothing in D1 and sends no queue message; the \"with the app's plain-track D1 rows\" figure adds what the app's own plain track writes to D1 (the contact and the event), for a like-for-like comparison.",
  );
  const rawUncounted = keys.map((k) => S[k].load.perExecution.d1.rawWithoutMeta ?? 0);
  L.push(
    `- D1 \`raw()\` calls whose rows could not be counted (the local binding has no \`query()\` without the d1_binding_jsrpc flag, and \`raw()\` returns no meta): ${rawUncounted.map(n2).join(", ")} per execution in shapes ${keys.map((k) => `(${names[k][1]})`).join(", ")}.`,
  );
  if (d.instrumentErrors?.length) L.push(`- Instrumentation notes: ${d.instrumentErrors.join("; ")}`);
  L.push("");
  return L;
}
