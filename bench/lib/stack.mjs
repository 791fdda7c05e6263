// Starts `wrangler dev` from Node on a free loopback port with its own state directory and vars, the
// way test/e2e/stack.ts does, and measures the RSS of the workerd processes it runs.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { newProject, seedSql } from "./seed.mjs";

export const root = path.resolve(import.meta.dirname, "../..");
export const wranglerBin = path.join(root, "node_modules", ".bin", "wrangler");
/** The project's Node (22, from the `node` devDependency), which wrangler needs. */
export const nodeBin = path.join(root, "node_modules", ".bin", "node");

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/**
 * The vars the app is served with in the benchmarks: development mode, an admin token, retries without
 * delay, and a local SES address that answers nothing (no case sends email).
 */
export const appVars = {
  ENVIRONMENT: "development",
  ADMIN_TOKEN: "bench-admin-token",
  RETRY_DELAY_SCALE: "0",
  SES_ENDPOINT: "http://127.0.0.1:9",
  SES_ACCESS_KEY_ID: "local",
  SES_SECRET_ACCESS_KEY: "local",
};

/** Runs wrangler with the project's Node; throws with its output if it fails. */
export function wrangler(args, opts = {}) {
  const r = spawnSync(wranglerBin, args, {
    cwd: root,
    env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    timeout: opts.timeoutMs ?? 600_000,
  });
  if (r.status !== 0)
    throw new Error(`wrangler ${args.slice(0, 3).join(" ")} failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/**
 * Where the benchmarked workers keep their local state (D1, Durable Objects, queues): tmpfs when the
 * machine has one (/dev/shm), so that a commit does not wait for this machine's disk, which the no-op
 * worker never touches; `BENCH_STATE_DIR` overrides it. A served worker with `devDefaults` keeps its state
 * on disk, as `wrangler dev` does.
 */
export function stateRoot({ devDefaults = false } = {}) {
  if (process.env.BENCH_STATE_DIR) return process.env.BENCH_STATE_DIR;
  if (!devDefaults) {
    try {
      fs.accessSync("/dev/shm", fs.constants.W_OK);
      return "/dev/shm";
    } catch {}
  }
  return os.tmpdir();
}

/** A fresh state directory with the D1 migrations of `config` (the app's wrangler.toml by default) applied. */
export function migratedState(label, { devDefaults = false, config } = {}) {
  const persist = fs.mkdtempSync(path.join(stateRoot({ devDefaults }), `plunk-edge-bench-${label}-`));
  // Every projects' database of the config (the app's: DB and DB_2).
  const toml = fs.readFileSync(config ?? path.join(root, "wrangler.toml"), "utf8");
  for (const [, binding] of toml.matchAll(/^binding = "(DB(?:_[0-9]+)?)"$/gm)) {
    const args = ["d1", "migrations", "apply", binding, "--local", "--persist-to", persist];
    wrangler(config ? [...args, "--config", config] : args);
  }
  return persist;
}

/** A migrated state directory seeded with a new project (and `seed`'s contacts and waits), and that project. */
export function seededState(label, seed = {}, { devDefaults = false } = {}) {
  const persist = migratedState(label, { devDefaults });
  const project = newProject(label);
  const sql = seedSql(project, seed);
  d1File(persist, sql);
  fs.rmSync(path.dirname(sql), { recursive: true, force: true });
  return { persist, project };
}

/**
 * The app as it is when the run starts: `src/` and `durable-objects/` copied under `.wrangler/` (inside
 * the tree, so that packages resolve; ignored by git), with a wrangler.toml pointing there. `wrangler dev`
 * watches its sources and reloads on a change, so serving the live tree would let an edit made during
 * the run restart the worker mid-measurement. In that config every `[[ratelimits]]` limit is raised out
 * of reach, and so is `TRACK_LIMIT_PER_MINUTE` (a per-project limit would measure the limiter, not the app;
 * the limiter is still called on every request that the binding counts, and a shard still counts). The soak keeps the limits (`{ raiseLimits: false }`) and spreads its events over projects.
 * `from` takes src/, durable-objects/ and wrangler.toml from another tree (bench/ab.mjs: a git revision).
 */
export function benchConfig({ raiseLimits = true, from = root } = {}) {
  fs.mkdirSync(path.join(root, ".wrangler"), { recursive: true }); // not there yet in a fresh clone
  const dir = fs.mkdtempSync(path.join(root, ".wrangler", "bench-snapshot-"));
  for (const d of ["src", "durable-objects"]) {
    fs.cpSync(path.join(from, d), path.join(dir, d), { recursive: true });
  }
  const toml = fs
    .readFileSync(path.join(from, "wrangler.toml"), "utf8")
    .replace(/^main\s*=\s*"([^"]+)"/m, (_, p) => `main = ${JSON.stringify(path.join(dir, p))}`)
    // The dashboard's built assets stay where they are (a relative directory would resolve in the copy).
    .replace(/^directory\s*=\s*"([^"]+)"/m, (_, p) => `directory = ${JSON.stringify(path.join(root, p))}`)
    .replace(
      /^migrations_dir\s*=\s*"([^"]+)"/m,
      (_, p) => `migrations_dir = ${JSON.stringify(path.join(root, p))}`,
    )
    .replace(/(simple\s*=\s*\{\s*limit\s*=\s*)\d+/g, (m, head) => (raiseLimits ? `${head}1000000000` : m))
    .replace(/^(TRACK_LIMIT_PER_MINUTE\s*=\s*)"\d+"/m, (m, head) =>
      raiseLimits ? `${head}"1000000000"` : m,
    );
  const file = path.join(dir, "wrangler.toml");
  fs.writeFileSync(file, toml);
  return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Executes an SQL file against a stopped stack's local D1. */
export function d1File(persist, file) {
  wrangler(["d1", "execute", "DB", "--local", "--persist-to", persist, "--file", file, "--yes"], {
    timeoutMs: 1_800_000,
  });
}

/**
 * `wrangler dev` of `config` (the app's wrangler.toml by default), served by bench/lib/serve.mjs: wrangler's
 * own dev server, started through its API. Two things the `wrangler dev` command turns on by default cost
 * CPU and memory on every invocation and exist only locally, so they are off here, for every worker alike:
 * the DevTools inspector (every console line is serialised for DevTools, posted to wrangler's Node and kept
 * in a buffer that only an attached DevTools drains) and the Local Explorer's trace collector
 * (`X_LOCAL_OBSERVABILITY`: every invocation of the worker, its Durable Objects and its queue consumers
 * streams its spans and log lines into a SQLite Durable Object that is never evicted). `devDefaults: true`
 * serves it as the command does (both on, state on disk); `inspector: true` turns the inspector on alone (to
 * profile the worker with DevTools' protocol). `persist` may be given (already migrated or
 * seeded); it is removed on stop only if this call made it.
 */
export async function startWorker({
  label,
  config,
  persist,
  vars = {},
  devDefaults = false,
  inspector = devDefaults,
}) {
  const own = !persist;
  const dir = persist ?? fs.mkdtempSync(path.join(stateRoot({ devDefaults }), `plunk-edge-bench-${label}-`));
  const port = await freePort();
  const inspectorPort = await freePort();
  const opts = {
    config: config ?? path.join(root, "wrangler.toml"),
    port,
    persist: dir,
    vars,
    inspector,
    inspectorPort,
    logLevel: "warn",
  };
  const child = spawn(nodeBin, [path.join(import.meta.dirname, "serve.mjs"), JSON.stringify(opts)], {
    cwd: root,
    env: {
      ...process.env,
      CI: "1",
      WRANGLER_SEND_METRICS: "false",
      X_LOCAL_OBSERVABILITY: devDefaults ? "true" : "false",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let fdErrors = 0;
  const keep = (d) => {
    out = (out + d).slice(-20_000);
    fdErrors += String(d).match(/Too many open files|SQLITE_CANTOPEN/g)?.length ?? 0;
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const base = `http://127.0.0.1:${port}`;
  const until = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) {
      if (own) fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`wrangler dev (${label}) exited: ${out}`);
    }
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch {}
    if (Date.now() > until) {
      for (const pid of descendants(child.pid)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      child.kill("SIGKILL");
      if (own) fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`wrangler dev (${label}) did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    label,
    base,
    persist: dir,
    pid: child.pid,
    output: () => out,
    /** Summed RSS (bytes) of the workerd processes under this wrangler dev. */
    workerdRss: () => workerdRss(child.pid),
    /** Lines so far in which workerd said it could not open a file (out of file descriptors). */
    fdErrors: () => fdErrors,
    /** The runtime workerd's open file descriptors now, and its limit on them. */
    openFiles: () => openFiles(child.pid),
    async stop({ keepState = false } = {}) {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
        if (child.exitCode === null) {
          for (const pid of descendants(child.pid)) {
            try {
              process.kill(pid, "SIGKILL");
            } catch {}
          }
          child.kill("SIGKILL");
        }
      }
      if (own && !keepState) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readStat(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const ppid = Number(stat.slice(close + 2).split(" ")[1]);
    return { pid, comm, ppid };
  } catch {
    return null;
  }
}

/** Every process below `pid`, found through /proc. */
export function descendants(pid) {
  const all = fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map((d) => readStat(Number(d)))
    .filter(Boolean);
  const out = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift();
    for (const s of all) {
      if (s.ppid === p) {
        out.push(s.pid);
        queue.push(s.pid);
      }
    }
  }
  return out;
}

export function workerdRss(pid) {
  let total = 0;
  for (const d of descendants(pid)) {
    const s = readStat(d);
    if (!s || !/workerd/.test(s.comm)) continue;
    try {
      const m = fs.readFileSync(`/proc/${d}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
      if (m) total += Number(m[1]) * 1024;
    } catch {}
  }
  return total;
}

/** Samples a stack's workerd RSS every `ms` until stopped; reports the peak and the last sample. */
export function rssSampler(stack, ms = 250) {
  let peak = stack.workerdRss();
  let last = peak;
  const timer = setInterval(() => {
    last = stack.workerdRss();
    if (last > peak) peak = last;
  }, ms);
  return {
    stop() {
      clearInterval(timer);
      last = stack.workerdRss();
      if (last > peak) peak = last;
      return { peak, last };
    },
  };
}

/** Open file descriptors of the workerd runtime process under `pid`, and its soft limit (RLIMIT_NOFILE). */
export function openFiles(pid) {
  for (const d of descendants(pid)) {
    if (role(d) !== "workerd runtime") continue;
    try {
      const open = fs.readdirSync(`/proc/${d}/fd`).length;
      const m = fs.readFileSync(`/proc/${d}/limits`, "utf8").match(/Max open files\s+(\d+)/);
      return { open, limit: m ? Number(m[1]) : null };
    } catch {}
  }
  return { open: null, limit: null };
}

const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used, from /proc; 0 once it is gone. */
function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/**
 * What each process of a served worker does, by its command line: wrangler itself (Node: it relays the
 * worker's console output), workerd's entry (the socket the requests reach, and the dev proxy), and
 * workerd's runtime (the worker, its D1, Durable Objects and queues).
 */
function role(pid) {
  let cmd = "";
  try {
    cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {}
  if (/workerd/.test(cmd))
    return /--socket-addr=entry=127\.0\.0\.1:0\b/.test(cmd) ? "workerd runtime" : "workerd entry";
  if (/wrangler-dist\/cli\.js|bench\/lib\/serve\.mjs/.test(cmd)) return "wrangler (node)";
  return null;
}

/**
 * Starts counting the CPU a stack's processes and this process use; `stop(n)` gives milliseconds of CPU
 * per request for each (n requests), so the cost of a request can be told apart by where it is spent.
 */
export function cpuMeter(stack) {
  const pids = [stack.pid, ...descendants(stack.pid)].filter((p) => role(p));
  const before = new Map(pids.map((p) => [p, cpuSeconds(p)]));
  const self = process.cpuUsage();
  return {
    stop(n) {
      const out = {};
      for (const p of pids) {
        const r = role(p);
        out[r] = (out[r] ?? 0) + (cpuSeconds(p) - before.get(p)) * 1000;
      }
      const own = process.cpuUsage(self);
      out["bench (load generator, consumer)"] = (own.user + own.system) / 1000;
      return Object.fromEntries(Object.entries(out).map(([k, ms]) => [k, Math.round((ms / n) * 100) / 100]));
    },
  };
}

/**
 * Waits until the stacks' processes are idle: less than `idleMs` of CPU in each `windowMs` (all processes
 * together), so that a round does not pay for the previous round's after-work (Durable Objects being
 * evicted, queues draining). Gives up after `maxMs`; returns the seconds waited.
 */
export async function quiet(stacks, { windowMs = 1000, idleMs = 50, maxMs = 120_000 } = {}) {
  const t0 = Date.now();
  const pids = () => stacks.flatMap((s) => [s.pid, ...descendants(s.pid)]);
  for (;;) {
    const before = new Map(pids().map((p) => [p, cpuSeconds(p)]));
    await new Promise((r) => setTimeout(r, windowMs));
    let used = 0;
    for (const [p, s] of before) {
      const now = cpuSeconds(p);
      if (now > 0) used += (now - s) * 1000; // a process gone since (0) is not counted
    }
    if (used < idleMs || Date.now() - t0 > maxMs) return (Date.now() - t0) / 1000;
  }
}
