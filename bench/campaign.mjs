#!/usr/bin/env node
// `npm run bench:campaign`: a campaign to N local contacts (default 1,000,000), end to end: the app served
// by wrangler dev (the bench's copy), the contacts seeded straight into its local D1, the emails sent to the
// local SES of `npm start` (aws-ses-v2-local). It measures the phases a person waits through: the audience
// count, the fan-out (every recipient's email row made and handed to the emails queue), and the sending
// (every email rendered, sent to SES, recorded SENT with its `email.sent` event), sampling the campaign's
// counters every second. Where the time goes: each phase's rate, the workerd and SES processes' CPU time
// (from /proc), and the D1 file's size. Writes docs/benchmarks-campaign.json and the "Campaign to N
// contacts" section of docs/benchmarks.md (in place).
//
//   options: --contacts=N (default 1000000)  --timeout-minutes=M (default 240)
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { api } from "./lib/app-api.mjs";
import { opt } from "./lib/args.mjs";
import { appVars, benchConfig, descendants, freePort, root, seededState, startWorker } from "./lib/stack.mjs";
import { withCampaignSection } from "./report.mjs";

const N = Number(opt("contacts", 1_000_000));
const TIMEOUT_MS = Number(opt("timeout-minutes", 240)) * 60_000;
const t0 = performance.now();
const log = (m) => console.log(`[campaign ${Math.round((performance.now() - t0) / 1000)}s] ${m}`);
const HZ = 100; // clock ticks per second in /proc/<pid>/stat

/** CPU seconds (user + system) of a process and its descendants. */
function cpuSeconds(pid) {
  let ticks = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return ticks / HZ;
}

async function startSes() {
  const port = await freePort();
  const bin = path.join(root, "node_modules", ".bin", "aws-ses-v2-local");
  const child = spawn(bin, ["--host", "127.0.0.1", "--port", String(port)], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  for (const until = Date.now() + 20_000; ; ) {
    try {
      if ((await fetch(`${url}/health-check`)).ok) break;
    } catch {}
    if (Date.now() > until) throw new Error("local SES did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: child.pid, stop: () => child.kill("SIGTERM") };
}

const dbBytes = (persist) => {
  let total = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.includes("d1")) total += fs.statSync(p).size;
    }
  };
  walk(persist);
  return total;
};

async function main() {
  log(`seeding ${N.toLocaleString("en")} contacts`);
  const seedStart = performance.now();
  const { persist, project } = seededState("campaign", { contacts: N });
  const seedSeconds = (performance.now() - seedStart) / 1000;
  const ses = await startSes();
  const config = benchConfig();
  const stack = await startWorker({
    label: "campaign",
    config: config.file,
    persist,
    vars: { ...appVars, SES_ENDPOINT: ses.url, DEFAULT_FROM: "news@bench.example" },
  });
  const key = project.secretKey;
  try {
    const c = await api(stack, key, "POST", "/campaigns", {
      name: "Bench",
      subject: "News for {{ email }}",
      body: "<p>Hello {{ data.plan ?? 'friend' }}, this is the benchmark's campaign.</p>",
      from: "news@bench.example",
      audience: { type: "ALL" },
    });
    const t = performance.now();
    const count = await api(stack, key, "POST", "/campaigns/count", { audience: { type: "ALL" } });
    const countSeconds = (performance.now() - t) / 1000;
    log(`audience ${count.count} counted in ${countSeconds.toFixed(2)} s`);

    const cpu0 = { workerd: cpuSeconds(stack.pid), ses: cpuSeconds(ses.pid) };
    const sendStart = performance.now();
    await api(stack, key, "POST", `/campaigns/${c.id}/send`);
    const samples = [];
    let fannedOutAt = null;
    let cpuAtFanOut = null;
    let last;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      last = await api(stack, key, "GET", `/campaigns/${c.id}`);
      const at = (performance.now() - sendStart) / 1000;
      samples.push({ at: Number(at.toFixed(1)), ...last.stats, status: last.status });
      if (samples.length % 30 === 0)
        log(`${at.toFixed(0)} s: ${last.stats.recipients} made, ${last.stats.sent} sent (${last.status})`);
      if (last.fannedOut && fannedOutAt === null) {
        fannedOutAt = at;
        cpuAtFanOut = { workerd: cpuSeconds(stack.pid), ses: cpuSeconds(ses.pid) };
        log(`fanned out: ${last.stats.recipients} emails in ${at.toFixed(1)} s`);
      }
      if (last.status === "SENT" || last.status === "CANCELLED") break;
      if (performance.now() - sendStart > TIMEOUT_MS) {
        log("timed out");
        break;
      }
    }
    const totalSeconds = (performance.now() - sendStart) / 1000;
    const cpu1 = { workerd: cpuSeconds(stack.pid), ses: cpuSeconds(ses.pid) };
    const result = {
      at: new Date().toISOString(),
      contacts: N,
      audience: count.count,
      seedSeconds: Number(seedSeconds.toFixed(1)),
      countSeconds: Number(countSeconds.toFixed(2)),
      fanOutSeconds: fannedOutAt,
      totalSeconds: Number(totalSeconds.toFixed(1)),
      status: last.status,
      stats: last.stats,
      fanOutPerSecond: fannedOutAt ? Math.round(last.stats.recipients / fannedOutAt) : null,
      sentPerSecond: Math.round(last.stats.sent / totalSeconds),
      cpuSeconds: {
        workerdFanOut: cpuAtFanOut ? Number((cpuAtFanOut.workerd - cpu0.workerd).toFixed(1)) : null,
        workerdTotal: Number((cpu1.workerd - cpu0.workerd).toFixed(1)),
        ses: Number((cpu1.ses - cpu0.ses).toFixed(1)),
      },
      d1Bytes: dbBytes(persist),
      samples: samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 120)) === 0),
    };
    log(
      `done: ${result.status}, ${result.stats.sent} sent in ${result.totalSeconds} s (${result.sentPerSecond}/s); fan-out ${result.fanOutSeconds} s`,
    );
    const out = path.join(root, "docs", "benchmarks-campaign.json");
    fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    const md = path.join(root, "docs", "benchmarks.md");
    fs.writeFileSync(md, withCampaignSection(fs.readFileSync(md, "utf8")));
    log(`wrote ${path.relative(root, out)} and docs/benchmarks.md`);
  } finally {
    await stack.stop();
    ses.stop();
    config.remove();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
