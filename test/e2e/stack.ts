/**
 * Starts the worker the way `npm start` does (migrations, then `wrangler dev`), on a free loopback
 * port with its own state directory, for end-to-end tests run from Node.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");
const wrangler = path.join(root, "node_modules", ".bin", "wrangler");
export const E2E_ADMIN_TOKEN = "e2e-admin-token";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

export interface Stack {
  base: string;
  admin: (method: string, p: string, body?: unknown) => Promise<{ status: number; body: any }>;
  stop: () => Promise<void>;
  /**
   * SIGKILL to the whole `wrangler dev` process tree (wrangler and its workerd) with no chance to finish
   * anything: a crash. Only for a stack started with `persist` (its own process group); `startStack` again
   * on the same `persist` finds what it stored.
   */
  kill: () => Promise<void>;
  output: () => string;
}

/** The admin API of the worker at `base`, with the admin token the stacks are started with. */
export const adminClient =
  (base: string): Stack["admin"] =>
  async (method, p, body) => {
    const res = await fetch(`${base}${p}`, {
      method,
      headers: { authorization: `Bearer ${E2E_ADMIN_TOKEN}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };

export async function startStack(
  vars: Record<string, string> = {},
  opts: {
    port?: number;
    logFile?: string;
    /**
     * The state directory, the caller's (made, migrated when empty, and kept by `stop()`): a stack started
     * again on it after `kill()` runs on what the killed one stored. By default a directory of its own,
     * removed by `stop()`.
     */
    persist?: string;
  } = {},
): Promise<Stack> {
  const own = opts.persist === undefined;
  const persist = opts.persist ?? fs.mkdtempSync(path.join(os.tmpdir(), "plunk-edge-e2e-"));
  fs.mkdirSync(persist, { recursive: true });
  const migrated = fs.readdirSync(persist).length > 0;
  // Every projects' database of wrangler.toml (DB, DB_2, …).
  const toml = fs.readFileSync(path.join(root, "wrangler.toml"), "utf8");
  for (const [, binding] of migrated ? [] : toml.matchAll(/^binding = "(DB(?:_[0-9]+)?)"$/gm)) {
    const migrate = spawnSync(
      wrangler,
      ["d1", "migrations", "apply", binding as string, "--local", "--persist-to", persist],
      { cwd: root, env: { ...process.env, CI: "1" }, encoding: "utf8" },
    );
    if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}${migrate.stdout}`);
  }

  const port = opts.port ?? (await freePort());
  const inspector = await freePort();
  const allVars = {
    ENVIRONMENT: "development",
    ADMIN_TOKEN: E2E_ADMIN_TOKEN,
    SES_ACCESS_KEY_ID: "local",
    SES_SECRET_ACCESS_KEY: "local",
    ...vars,
  };
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector)];
  args.push("--persist-to", persist, "--show-interactive-dev-session=false");
  for (const [k, v] of Object.entries(allVars)) args.push("--var", `${k}:${v}`);
  // A stack on the caller's state runs as a process group of its own, for kill() to end all of it at once.
  const child: ChildProcess = spawn(wrangler, args, {
    cwd: root,
    env: { ...process.env, CI: "1" },
    detached: !own,
  });
  let out = "";
  const record = (d: Buffer) => {
    out += d;
    // Where another process can read it (a stack shared by test files: shared-setup.ts).
    if (opts.logFile) fs.appendFileSync(opts.logFile, d);
  };
  child.stdout?.on("data", record);
  child.stderr?.on("data", record);
  const base = `http://127.0.0.1:${port}`;
  const until = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited: ${out}`);
    try {
      const res = await fetch(`${base}/health`);
      if (res.ok) break;
    } catch {}
    if (Date.now() > until) throw new Error(`wrangler dev did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    base,
    output: () => out,
    admin: adminClient(base),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      if (own) fs.rmSync(persist, { recursive: true, force: true });
      else killGroup(child);
    },
    async kill() {
      if (own) throw new Error("kill() needs a stack started with `persist`");
      const exited = child.exitCode === null ? new Promise((r) => child.once("exit", r)) : null;
      killGroup(child);
      await exited;
      // Until workerd, the group's last process, is gone (and its port with it).
      const until = Date.now() + 10_000;
      while (groupAlive(child) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    },
  };
}

/** SIGKILL to a detached child's process group (itself and what it started), if any of it is left. */
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, "SIGKILL");
  } catch {}
}

function groupAlive(child: ChildProcess): boolean {
  try {
    if (child.pid) process.kill(-child.pid, 0);
    return true;
  } catch {
    return false;
  }
}
