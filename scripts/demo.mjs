#!/usr/bin/env node
// `npm run demo` (with `npm start` running): a newcomer's first success in a minute. Starts a webhook
// consumer on loopback that verifies signatures, applies the sample workflow in examples/, tracks two
// sign-ups, and prints what arrives at the consumer and at the local SES.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Webhook } from "standardwebhooks";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const API = process.env.PLUNK_EDGE_URL ?? "http://127.0.0.1:8787";
const SES = process.env.SES_URL ?? "http://127.0.0.1:8005";
const projectFile = path.join(root, ".wrangler", "dev-project.json");

const say = (msg) => console.log(msg);
const fail = (msg) => {
  console.error(`demo: ${msg}`);
  process.exit(1);
};

async function api(method, p, key, body) {
  let res;
  try {
    res = await fetch(`${API}${p}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    fail(`cannot reach ${API}: start the stack with \`npm start\` first`);
  }
  const json = await res.json().catch(() => null);
  if (!res.ok) fail(`${method} ${p} answered ${res.status}: ${JSON.stringify(json?.error ?? json)}`);
  return json;
}

async function until(what, fn, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) fail(`nothing arrived for ${what} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main() {
  if (!fs.existsSync(projectFile)) fail("no development project yet: run `npm start` first");
  const { secretKey, publicKey } = JSON.parse(fs.readFileSync(projectFile, "utf8"));
  const project = await api("GET", "/project", secretKey);

  // 1. A webhook consumer on loopback that verifies every request.
  const verifier = new Webhook(project.webhookSecret);
  const arrivals = [];
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => {
      raw += d;
    });
    req.on("end", () => {
      let verified = false;
      try {
        verifier.verify(raw, req.headers);
        verified = true;
      } catch {}
      arrivals.push({ id: req.headers["webhook-id"], verified, body: JSON.parse(raw || "{}") });
      res.writeHead(verified ? 204 : 401).end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const hookUrl = `http://127.0.0.1:${server.address().port}/crm`;
  say(`1. Webhook consumer listening on ${hookUrl} (verifies Standard Webhooks signatures)`);

  // 2. A template, and the sample workflow applied as one definition.
  const template = await api("POST", "/templates", secretKey, {
    name: "Demo welcome",
    subject: 'Welcome, {{ name ?? "friend" }}!',
    body: '<p>Hi {{ name ?? "there" }}, thanks for joining on the {{ event.plan }} plan.</p>',
    from: "hello@example.com",
    fromName: "Plunk Edge demo",
    type: "TRANSACTIONAL",
  });
  const definition = JSON.parse(
    fs
      .readFileSync(path.join(root, "examples", "onboarding.json"), "utf8")
      .replaceAll("TEMPLATE_ID", template.id),
  );
  await api("PUT", `/workflows/${definition.id}/definition`, secretKey, definition);
  say(`2. Applied workflow ${definition.id}: CONDITION (pro?) → WEBHOOK → DELAY 5 s → SEND_EMAIL`);

  // 3. Two sign-ups, tracked with the public key as a browser would.
  const run = Date.now();
  const ada = `ada+${run}@example.com`;
  const bob = `bob+${run}@example.com`;
  for (const [email, name, plan] of [
    [ada, "Ada", "pro"],
    [bob, "Bob", "free"],
  ]) {
    await api("POST", "/v1/track", publicKey, {
      event: "demo.signup",
      email,
      data: { name, plan, webhookUrl: { value: hookUrl, persistent: false } },
    });
    say(`3. Tracked demo.signup for ${email} (${plan})`);
  }

  // 4. What arrives.
  const hook = await until("the webhook", async () => arrivals.find((a) => a.body?.contact?.email === ada));
  say(`4. Webhook ${hook.id} arrived, signature ${hook.verified ? "verified" : "NOT verified"}:`);
  say(`   ${JSON.stringify(hook.body)}`);
  const emails = await until("the emails", async () => {
    const store = await (await fetch(`${SES}/store`)).json().catch(() => ({ emails: [] }));
    const mine = store.emails.filter((e) => [ada, bob].some((to) => e.destination.to.includes(to)));
    return mine.length === 2 && mine;
  });
  for (const e of emails) say(`5. Email at the local SES for ${e.destination.to[0]}: "${e.subject}"`);
  say(`\nDone. Open ${SES} to read the emails, and try:`);
  say(`   curl -s "${API}/workflows/${definition.id}/executions" -H "Authorization: Bearer ${secretKey}"`);
  say(`   curl -s "${API}/webhook-deliveries" -H "Authorization: Bearer ${secretKey}"`);
  server.close();
}

main().catch((err) => fail(err.message));
