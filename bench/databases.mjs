#!/usr/bin/env node
// `npm run bench:databases`: track and execution throughput with the projects in one D1 database and
// spread over two (src/db/databases.ts), side by side in one run. Writes docs/benchmarks-databases.json and
// the "Databases" section of docs/benchmarks.md (in place).
//
// One app (the bench's copy, rate limits raised) with DB and DB_2; four projects made through the admin
// API: two in DB ("one database"), and one in DB, one in DB_2 ("two databases"). Each round runs, for each
// layout, a plain track load and a track load whose event starts TRIGGER → WEBHOOK (to the loopback
// consumer), the requests alternating between the layout's two projects; the rounds interleave the
// layouts so that load from outside falls on both alike. Figures: requests answered per second, and for
// the workflow case executions per second (webhooks received over the time until the last arrived).
//
//   options: --rounds=N (default 3)  --seconds=S per case (default 8)  --concurrency=C (default 16)
import fs from "node:fs";
import path from "node:path";
import { api, workflow } from "./lib/app-api.mjs";
import { opt } from "./lib/args.mjs";
import { startConsumer } from "./lib/consumer.mjs";
import { closeAgents, runLoad } from "./lib/load.mjs";
import { appVars, benchConfig, migratedState, quiet, root, startWorker } from "./lib/stack.mjs";
import { withDatabasesSection } from "./report.mjs";

const ROUNDS = Number(opt("rounds", 3));
const SECONDS = Number(opt("seconds", 8));
const CONCURRENCY = Number(opt("concurrency", 16));
/** `--engine=objects`: the projects on the objects engine (on the shard engine, the default, otherwise). */
const ENGINE = String(opt("engine", "shard"));
const log = (m) => console.log(`[databases ${Math.round(performance.now() / 1000)}s] ${m}`);

/** A project made through the admin API (the bench's app runs with appVars' admin token). */
const admin = (stack, body) =>
  api(stack, appVars.ADMIN_TOKEN, "POST", "/admin/projects", { ...body, engine: ENGINE });

const track = (project, event, email) => ({
  path: "/v1/track",
  headers: { authorization: `Bearer ${project.publicKey}` },
  body: JSON.stringify({ event, email, data: { plan: "pro" } }),
});

async function runCase(stack, consumer, projects, event, tag) {
  await quiet([stack]);
  consumer.reset();
  const emails = [];
  const t0 = performance.now();
  const res = await runLoad(stack.base, {
    concurrency: CONCURRENCY,
    durationMs: SECONDS * 1000,
    maxRequests: Number.POSITIVE_INFINITY,
    make: (i) => {
      const email = `${tag}-${i}@databases.bench`;
      emails[i] = email;
      return track(projects[i % projects.length], event, email);
    },
  });
  const out = { requests: res.ok, errors: Object.fromEntries(res.errors), rps: round(res.rps) };
  if (event === "bench.hook") {
    const all = () => consumer.arrivals.size >= res.ok;
    await consumer.waitFor(all, 120_000);
    const last = Math.max(...consumer.arrivals.values());
    const seconds = (last - (Date.now() - (performance.now() - t0))) / 1000;
    out.executions = consumer.arrivals.size;
    out.executionsPerSecond = round(consumer.arrivals.size / seconds);
  }
  return out;
}

const round = (n) => Math.round(n * 10) / 10;

async function main() {
  const consumer = await startConsumer();
  const cfg = benchConfig();
  const persist = migratedState("databases");
  const app = await startWorker({ label: "databases", config: cfg.file, persist, vars: appVars });
  try {
    const layouts = {
      "one database": [
        await admin(app, { name: "one a", database: "DB" }),
        await admin(app, { name: "one b", database: "DB" }),
      ],
      "two databases": [
        await admin(app, { name: "two a", database: "DB" }),
        await admin(app, { name: "two b", database: "DB_2" }),
      ],
    };
    for (const projects of Object.values(layouts))
      for (const p of projects)
        await workflow(app, p, "bench.hook", [
          { type: "WEBHOOK", name: "Hook", config: { url: consumer.url } },
        ]);
    const results = {};
    for (let r = 1; r <= ROUNDS; r++) {
      for (const [layout, projects] of Object.entries(layouts)) {
        for (const event of ["bench.plain", "bench.hook"]) {
          const key = `${layout} / ${event === "bench.plain" ? "track, no workflow" : "track, workflow → webhook"}`;
          const res = await runCase(
            app,
            consumer,
            projects,
            event,
            `r${r}-${layout.replace(" ", "")}-${event}`,
          );
          results[key] = [...(results[key] ?? []), res];
          log(`${key}, round ${r}: ${JSON.stringify(res)}`);
        }
      }
    }
    const report = {
      at: new Date().toISOString(),
      params: { rounds: ROUNDS, seconds: SECONDS, concurrency: CONCURRENCY, engine: ENGINE },
      results,
    };
    fs.writeFileSync(
      path.join(root, "docs", "benchmarks-databases.json"),
      `${JSON.stringify(report, null, 2)}\n`,
    );
    const md = path.join(root, "docs", "benchmarks.md");
    fs.writeFileSync(md, withDatabasesSection(fs.readFileSync(md, "utf8")));
    log("wrote docs/benchmarks-databases.json and the Databases section of docs/benchmarks.md");
  } finally {
    await app.stop();
    cfg.remove();
    consumer.close();
    closeAgents();
    fs.rmSync(persist, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
