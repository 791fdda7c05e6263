// A/B of one change: POST /v1/track, the working tree against a git revision, both served side by side
// the way `npm run bench` serves the app, in interleaved rounds with the no-op worker. Per round it prints
// each worker's requests per second and its CPU per request by process; the runtime process's CPU per
// request is the figure to compare (case 1 is bound by it), and the rounds show how much the machine moves
// between them. Migrations are the working tree's for both. `--event=hook` tracks an event that starts a
// TRIGGER → WEBHOOK workflow instead of one that starts nothing, `--event=flow` one that starts case 3's
// DELAY 1 s → CONDITION → WEBHOOK; with either, a round's CPU is counted until its webhooks have reached the
// loopback consumer.
//
//   npm run bench:ab -- [--base=REV] [--tree=REV] [--event=plain|hook|flow] [--rounds=5] [--round-ms=8000] [--concurrency=16]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { workflow } from "./lib/app-api.mjs";
import { opt } from "./lib/args.mjs";
import { startConsumer } from "./lib/consumer.mjs";
import { closeAgents, runLoad } from "./lib/load.mjs";
import { appVars, benchConfig, cpuMeter, quiet, root, seededState, startWorker } from "./lib/stack.mjs";

const BASE = opt("base", "HEAD");
/** The other side: the working tree, or with `--tree=REV` a second revision (ablations kept on branches). */
const TREE = opt("tree", null);
const ROUNDS = Number(opt("rounds", 5));
const ROUND_MS = Number(opt("round-ms", 8_000));
const CONCURRENCY = Number(opt("concurrency", 16));
const EVENT = opt("event", "plain");
/** `--engine=objects`: both sides' bench project on the objects engine (the shard engine is the default). */
const ENGINE = opt("engine", "shard");
/** `--shards=N`: on the shard engine, the project's shard count (1, the API's default, unless told). */
const SHARDS = Number(opt("shards", 1));
if (!["plain", "hook", "flow"].includes(EVENT))
  throw new Error(
    "--event is plain (no workflow), hook (workflow → webhook) or flow (DELAY 1 s → CONDITION → WEBHOOK)",
  );
/** Whether each tracked event ends in a webhook the round waits for. */
const HOOKED = EVENT !== "plain";
const consumer = await startConsumer();
const log = (msg) => console.log(`[ab] ${msg}`);

/** The revision's src/, durable-objects/ and wrangler.toml, extracted into a temporary directory. */
function extract(rev) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plunk-edge-ab-"));
  const tar = spawnSync("git", ["archive", "--format=tar", rev, "src", "durable-objects", "wrangler.toml"], {
    cwd: root,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (tar.status !== 0) throw new Error(`git archive ${rev} failed: ${tar.stderr}`);
  const untar = spawnSync("tar", ["-x", "-C", dir], { input: tar.stdout });
  if (untar.status !== 0) throw new Error(`tar failed: ${untar.stderr}`);
  return dir;
}

async function appFrom(label, from) {
  const config = benchConfig({ from });
  const { persist, project } = seededState(label, { engine: ENGINE, shards: SHARDS });
  const stack = await startWorker({ label, config: config.file, persist, vars: appVars });
  if (EVENT === "hook") {
    await workflow(stack, project, "bench.hook", [
      { type: "WEBHOOK", name: "Hook", config: { url: consumer.url } },
    ]);
  }
  if (EVENT === "flow") {
    // Case 3's flow (bench/run.mjs).
    await workflow(stack, project, "bench.flow", [
      { type: "DELAY", name: "Wait a second", config: { amount: 1, unit: "seconds" } },
      { type: "CONDITION", name: "Pro?", config: { field: "event.plan", operator: "equals", value: "pro" } },
      { type: "WEBHOOK", name: "Hook", config: { url: consumer.url }, branch: "yes" },
    ]);
  }
  let n = 0;
  const make = () => ({
    path: "/v1/track",
    headers: { authorization: `Bearer ${project.publicKey}` },
    body: JSON.stringify({
      event: `bench.${EVENT}`,
      email: `ab-${label}-${n++}@ab.bench`,
      data: { plan: "pro" },
    }),
  });
  return {
    label,
    stack,
    make,
    async stop() {
      await stack.stop();
      fs.rmSync(persist, { recursive: true, force: true });
      config.remove();
    },
  };
}

const baseTree = extract(BASE);
log(
  `${BASE} against ${TREE ?? "the working tree"}, bench.${EVENT}: ${ROUNDS} rounds of ${ROUND_MS / 1000} s at concurrency ${CONCURRENCY}`,
);
const noopStack = await startWorker({
  label: "noop",
  config: path.join(root, "bench/noop-worker/wrangler.toml"),
});
const noop = {
  label: "no-op",
  stack: noopStack,
  make: () => ({ path: "/v1/track", headers: {}, body: JSON.stringify({ event: "bench.plain" }) }),
  stop: () => noopStack.stop(),
};
const base = await appFrom("base", baseTree);
const otherTree = TREE ? extract(TREE) : null;
const tree = await appFrom("tree", otherTree ?? root);
const workers = [noop, base, tree];
const stacks = workers.map((w) => w.stack);
for (const w of [base, tree]) {
  await runLoad(w.stack.base, { concurrency: 8, durationMs: 5_000, maxRequests: 500, make: w.make });
}
if (HOOKED) await consumer.waitFor(() => consumer.stats.received >= 1_000, 60_000);

const rows = new Map(workers.map((w) => [w.label, []]));
for (let r = 1; r <= ROUNDS; r++) {
  for (const w of workers) {
    await quiet(stacks);
    const meter = cpuMeter(w.stack);
    const before = consumer.stats.received;
    const res = await runLoad(w.stack.base, {
      concurrency: CONCURRENCY,
      durationMs: ROUND_MS,
      maxRequests: Number.POSITIVE_INFINITY,
      make: w.make,
    });
    if (HOOKED && w !== noop) {
      const arrived = await consumer.waitFor(() => consumer.stats.received - before >= res.ok, 120_000);
      if (!arrived)
        log(`round ${r} ${w.label}: ${res.ok - (consumer.stats.received - before)} webhooks missing`);
    }
    const cpu = meter.stop(res.ok);
    const failed = res.sent - res.ok;
    rows.get(w.label).push({ rps: res.rps, cpu, failed });
    log(
      `round ${r} ${w.label}: ${res.rps.toFixed(0)} req/s, runtime ${cpu["workerd runtime"]} ms, entry ${cpu["workerd entry"]} ms per request${failed ? `, ${failed} failed` : ""}`,
    );
  }
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
log("means over the rounds (runtime = CPU per request of workerd's runtime process):");
for (const [label, rs] of rows) {
  const rps = mean(rs.map((x) => x.rps));
  const rt = mean(rs.map((x) => x.cpu["workerd runtime"]));
  const ratio =
    label === "no-op" ? "" : `, ${(rps / mean(rows.get("no-op").map((x) => x.rps))).toFixed(2)}× the no-op`;
  log(`  ${label.padEnd(6)} ${rps.toFixed(0)} req/s${ratio}, runtime ${rt.toFixed(2)} ms`);
}
const perRound = rows
  .get("tree")
  .map((x, i) => x.cpu["workerd runtime"] / rows.get("base")[i].cpu["workerd runtime"]);
log(
  `${TREE ?? "working tree"} / ${BASE}, runtime CPU per request, by round: ${perRound.map((x) => x.toFixed(2)).join(", ")}`,
);

for (const w of workers) await w.stop();
fs.rmSync(baseTree, { recursive: true, force: true });
if (otherTree) fs.rmSync(otherTree, { recursive: true, force: true });
closeAgents();
await consumer.close();
