// A V8 CPU profile of the app's worker under POST /v1/track load, taken through wrangler's inspector
// proxy (the one DevTools attaches to), written as a .cpuprofile (open it in Chrome DevTools'
// Performance panel or any speedscope-like viewer), with the functions that took the most self time
// printed. The inspector must be on to profile, so the worker runs slower than in `npm run bench`.
// Read the table for the worker's own JavaScript: D1, the Durable Objects and the queues run in other
// isolates on the same thread, and a native frame such as `fetch` also holds time spent in them.
//
//   npm run bench:profile -- [--event=plain|hook|flow] [--engine=objects|shard] [--ms=8000] [--out=.wrangler/track.cpuprofile] [--top=30]
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { workflow } from "./lib/app-api.mjs";
import { opt } from "./lib/args.mjs";
import { startConsumer } from "./lib/consumer.mjs";
import { closeAgents, runLoad } from "./lib/load.mjs";
import { appVars, benchConfig, descendants, quiet, root, seededState, startWorker } from "./lib/stack.mjs";

const EVENT = opt("event", "plain");
const MS = Number(opt("ms", 8_000));
const OUT = path.resolve(root, opt("out", `.wrangler/track-${EVENT}.cpuprofile`));
const TOP = Number(opt("top", 30));
/** `--engine=objects`: the bench project on the objects engine (the shard engine is the default). */
const ENGINE = opt("engine", "shard");
/** `--shards=N`: on the shard engine, the project's shard count (1, the API's default, unless told). */
const SHARDS = Number(opt("shards", 1));
if (!["plain", "hook", "flow"].includes(EVENT))
  throw new Error(
    "--event is plain (no workflow), hook (workflow → webhook) or flow (DELAY 1 s → CONDITION → WEBHOOK)",
  );

const config = benchConfig();
const { persist, project } = seededState("profile", { engine: ENGINE, shards: SHARDS });
const consumer = await startConsumer();
consumer.setSecret(project.webhookSecret);
const app = await startWorker({
  label: "profile",
  config: config.file,
  persist,
  inspector: true,
  vars: appVars,
});

try {
  if (EVENT === "hook") {
    await workflow(app, project, "bench.hook", [
      { type: "WEBHOOK", name: "Hook", config: { url: consumer.url } },
    ]);
  }
  if (EVENT === "flow") {
    // Case 3's flow (bench/run.mjs).
    await workflow(app, project, "bench.flow", [
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
      email: `prof-${n++}@profile.bench`,
      data: { plan: "pro" },
    }),
  });
  await runLoad(app.base, { concurrency: 8, durationMs: 5_000, maxRequests: 500, make });
  await quiet([app]);

  /** Wrangler's inspector proxy: the listening socket under this stack whose /json lists a `/ws` target. */
  async function inspectorUrl() {
    const pids = new Set([app.pid, ...descendants(app.pid)]);
    for (const line of execFileSync("ss", ["-ltnpH"], { encoding: "utf8" }).split("\n")) {
      const m = line.match(/127\.0\.0\.1:(\d+)\s.*pid=(\d+)/);
      if (!m || !pids.has(Number(m[2]))) continue;
      try {
        const targets = await (
          await fetch(`http://127.0.0.1:${m[1]}/json`, { signal: AbortSignal.timeout(1_000) })
        ).json();
        const url = Array.isArray(targets) ? targets[0]?.webSocketDebuggerUrl : null;
        if (url?.endsWith("/ws")) return url;
      } catch {}
    }
    throw new Error("wrangler's inspector proxy not found");
  }

  // The proxy refuses a WebSocket without an allowed Origin.
  const ws = new WebSocket(await inspectorUrl(), { headers: { Origin: "http://localhost" } });
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", () => reject(new Error("inspector WebSocket failed")));
  });
  let nextId = 0;
  const pending = new Map();
  ws.addEventListener("message", (e) => {
    const msg = JSON.parse(typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data));
    // The proxy answers some commands by echoing them (no result): any message with the id settles it.
    if (pending.has(msg.id)) {
      pending.get(msg.id)(msg.result ?? {});
      pending.delete(msg.id);
    }
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
      setTimeout(() => reject(new Error(`${method}: no answer`)), 30_000).unref();
    });

  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 100 });
  await send("Profiler.start");
  const received = consumer.stats.received;
  const res = await runLoad(app.base, {
    concurrency: 16,
    durationMs: MS,
    maxRequests: Number.POSITIVE_INFINITY,
    make,
  });
  if (EVENT !== "plain") await consumer.waitFor(() => consumer.stats.received >= received + res.ok, 60_000);
  const { profile } = await send("Profiler.stop");
  ws.close();
  if (!profile) throw new Error("Profiler.stop returned no profile");
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, JSON.stringify(profile));

  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id).callFrame;
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (["(idle)", "(program)"].includes(frame.functionName)) return;
    busy += ms;
    const key = `${frame.functionName || "(anonymous)"} ${frame.url.split("/").pop()}:${frame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + ms);
  });
  console.log(
    `${res.ok} requests in ${(MS / 1000).toFixed(0)} s (${res.rps.toFixed(0)} req/s with the profiler on)`,
  );
  console.log(
    `wrote ${path.relative(root, OUT)}; ${busy.toFixed(0)} ms sampled busy; self time per request:`,
  );
  for (const [key, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`${((ms / res.ok) * 1000).toFixed(0).padStart(6)} µs  ${key}`);
  }
} finally {
  await app.stop();
  fs.rmSync(persist, { recursive: true, force: true });
  config.remove();
  await consumer.close();
  closeAgents();
}
