#!/usr/bin/env node
// `npm start`: the whole system on this machine. Applies the local D1 migrations, starts a local SES v2
// server (127.0.0.1:8005) and `wrangler dev` (127.0.0.1:8787, ENVIRONMENT=development), makes sure a
// development project exists and prints its keys and a link that signs straight in to its dashboard, builds
// the dashboard (and rebuilds it on change), and runs the cron sweep every minute.
// Ctrl-C stops all of it.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);
const HOST = "127.0.0.1";
const PORT = Number(process.env.PORT ?? 8787);
const SES_PORT = Number(process.env.SES_PORT ?? 8005);
const BASE = `http://${HOST}:${PORT}`;
const CRON_PERIOD_MS = 60_000;
const DEV_PROJECT_FILE = path.join(root, ".wrangler", "dev-project.json");
const children = [];

function log(msg) {
  console.log(`[start] ${msg}`);
}

function readDevVars() {
  const file = path.join(root, ".dev.vars");
  if (!fs.existsSync(file)) {
    fs.copyFileSync(path.join(root, ".dev.vars.example"), file);
    log("created .dev.vars from .dev.vars.example");
  }
  const vars = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const m = line.match(/^\s*([A-Z0-9_]+)\s*=\s*(.*)\s*$/);
    if (m) vars[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
  }
  return vars;
}

function run(name, args) {
  const child = spawn(bin(name), args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  children.push(child);
  child.on("exit", (code, signal) => {
    if (!stopping) {
      log(`${name} exited (${signal ?? code}); stopping`);
      stop(1);
    }
  });
  return child;
}

let stopping = false;
function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  setTimeout(() => process.exit(code), 1500).unref();
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));
process.on("SIGHUP", () => stop(0));
// If whatever started us (npm) goes away without passing a signal on, stop too.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) stop(0);
}, 1000).unref();

async function waitFor(url, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${ms / 1000} s`);
}

async function api(method, urlPath, key, body) {
  const res = await fetch(`${BASE}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  return { status: res.status, body: json };
}

/** The development project: reuse the saved one, re-key a lost one, or make one. */
async function ensureDevProject(adminToken) {
  if (fs.existsSync(DEV_PROJECT_FILE)) {
    const saved = JSON.parse(fs.readFileSync(DEV_PROJECT_FILE, "utf8"));
    const check = await api("GET", "/project", saved.secretKey);
    if (check.status === 200) return { ...saved, webhookSecret: check.body.webhookSecret };
  }
  const list = await api("GET", "/admin/projects?limit=100", adminToken);
  if (list.status !== 200) throw new Error(`GET /admin/projects answered ${list.status}: check ADMIN_TOKEN`);
  let project = list.body.data.find((p) => p.name === "Development");
  if (project) {
    const keys = await api("POST", `/admin/projects/${project.id}/rotate-keys`, adminToken);
    project = { id: project.id, name: project.name, ...keys.body };
    project.webhookSecret = (await api("GET", "/project", project.secretKey)).body.webhookSecret;
    log("re-keyed the existing development project (its saved keys were lost)");
  } else {
    const made = await api("POST", "/admin/projects", adminToken, { name: "Development" });
    if (made.status !== 201) throw new Error(`creating the development project answered ${made.status}`);
    project = made.body;
    log("created the development project");
  }
  fs.mkdirSync(path.dirname(DEV_PROJECT_FILE), { recursive: true });
  fs.writeFileSync(
    DEV_PROJECT_FILE,
    JSON.stringify({ id: project.id, publicKey: project.publicKey, secretKey: project.secretKey }, null, 2),
  );
  return project;
}

async function main() {
  const vars = readDevVars();
  const adminToken = vars.ADMIN_TOKEN;
  if (!adminToken) throw new Error("ADMIN_TOKEN is missing from .dev.vars");

  // Every projects' database of wrangler.toml (DB, DB_2, …; src/db/databases.ts).
  const toml = fs.readFileSync(path.join(root, "wrangler.toml"), "utf8");
  for (const [, binding] of toml.matchAll(/^binding = "(DB(?:_[0-9]+)?)"$/gm)) {
    log(`applying local D1 migrations to ${binding}`);
    const migrate = spawnSync(bin("wrangler"), ["d1", "migrations", "apply", binding, "--local"], {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, CI: "1" },
    });
    if (migrate.status !== 0) throw new Error(`wrangler d1 migrations apply ${binding} failed`);
  }

  // The dashboard is served from its build (dashboard/dist, Workers Static Assets): build it once now, then
  // rebuild on every change while this runs (wrangler dev picks the new files up).
  log("building the dashboard");
  const build = spawnSync(
    bin("vite"),
    ["build", "--config", "dashboard/vite.config.ts", "--logLevel", "warn"],
    {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
    },
  );
  if (build.status !== 0) throw new Error("the dashboard's build failed");
  // The API reference's files (/docs), beside the dashboard's.
  const docs = spawnSync(process.execPath, [path.join(root, "scripts", "build-docs-assets.mjs")], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (docs.status !== 0) throw new Error("copying the API reference's files failed");
  run("vite", ["build", "--config", "dashboard/vite.config.ts", "--watch", "--logLevel", "warn"]);

  log(`starting the local SES on http://${HOST}:${SES_PORT}`);
  run("aws-ses-v2-local", ["--host", HOST, "--port", String(SES_PORT)]);

  log(`starting wrangler dev on ${BASE}`);
  const devArgs = [
    "dev",
    "--ip",
    HOST,
    "--port",
    String(PORT),
    "--var",
    "ENVIRONMENT:development",
    "--var",
    `SES_ENDPOINT:http://${HOST}:${SES_PORT}`,
    "--var",
    `PUBLIC_URL:${BASE}`,
    "--show-interactive-dev-session=false",
  ];
  const certOrigin = process.env.SNS_DEV_CERT_ORIGIN ?? vars.SNS_DEV_CERT_ORIGIN;
  if (certOrigin) devArgs.push("--var", `SNS_DEV_CERT_ORIGIN:${certOrigin}`);
  run("wrangler", devArgs);

  await waitFor(`${BASE}/health`, 120_000);
  await waitFor(`http://${HOST}:${SES_PORT}/`, 30_000);
  const project = await ensureDevProject(adminToken);
  // A one-time link (24 h) that signs straight in to the development project's dashboard.
  const link = await api("POST", `/admin/projects/${project.id}/sign-in-links`, adminToken, {
    ttlSeconds: 86400,
  });
  if (link.status !== 201) throw new Error(`making the dashboard's sign-in link answered ${link.status}`);

  // wrangler dev does not fire cron triggers by itself.
  setInterval(() => {
    fetch(`${BASE}/cdn-cgi/handler/scheduled`).catch((err) => log(`cron sweep failed: ${err.message}`));
  }, CRON_PERIOD_MS);

  console.log(`
  Plunk Edge is running.

    Dashboard     ${link.body.url}
                  (a one-time link that signs in to the development project; later, ${BASE}/app/
                  with the secret key below)
    API           ${BASE}            (reference: ${BASE}/docs, document: ${BASE}/openapi.json)
    Local SES     http://${HOST}:${SES_PORT}   (the emails sent)
    Admin token   ${adminToken}

  Development project ${project.id}
    public key      ${project.publicKey}
    secret key      ${project.secretKey}
    webhook secret  ${project.webhookSecret}

  Try it:
    curl -s ${BASE}/v1/track -H 'Authorization: Bearer ${project.publicKey}' \\
      -H 'Content-Type: application/json' -d '{"event":"signup","email":"ada@example.com"}'

  Ctrl-C stops everything.
`);
}

main().catch((err) => {
  console.error(`[start] ${err.message}`);
  stop(1);
});
