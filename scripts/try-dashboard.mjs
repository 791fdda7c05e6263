#!/usr/bin/env node
// Serves the built dashboard against a throwaway worker with sample data, for trying pages in a browser:
// `node scripts/try-dashboard.mjs [--port 8801]` starts `wrangler dev` on its own state, a webhook consumer
// on loopback, makes a project with a template and a sample workflow (TRIGGER → CONDITION → WEBHOOK /
// DELAY → SEND_EMAIL), tracks a few events, and prints `READY {json}` with a one-time sign-in URL and the
// keys. Ctrl-C stops it. Build the dashboard first: `npm run build:dashboard`.
import http from "node:http";
import path from "node:path";
import { startStack } from "../test/e2e/stack.ts";

// wrangler needs the Node 22 of node_modules/.bin (as under `npm run`), also when run as `node scripts/…`.
process.env.PATH = `${path.resolve(import.meta.dirname, "../node_modules/.bin")}:${process.env.PATH}`;

const portArg = process.argv.indexOf("--port");
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : undefined;

const consumer = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(req.url === "/fail" ? 500 : 200, { "content-type": "application/json" });
    res.end('{"ok":true}');
  });
});
await new Promise((r) => consumer.listen(0, "127.0.0.1", r));
const hook = `http://127.0.0.1:${consumer.address().port}`;

const stack = await startStack({ RETRY_DELAY_SCALE: "0.01" }, { port });
const { body: project } = await stack.admin("POST", "/admin/projects", { name: "Try the dashboard" });
const sk = async (method, p, body) => {
  const res = await fetch(`${stack.base}${p}`, {
    method,
    headers: { authorization: `Bearer ${project.secretKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(`${method} ${p} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
};
const template = await sk("POST", "/templates", {
  name: "Welcome",
  subject: "Welcome, {{ email }}",
  body: "<p>Hello {{ data.name ?? 'there' }}</p>",
  from: "hello@example.com",
  type: "TRANSACTIONAL",
});
await sk("PUT", "/workflows/wf_onboarding/definition", {
  id: "wf_onboarding",
  name: "Onboarding",
  description: "Pro sign-ups go to the CRM; everyone gets a welcome email after a short delay",
  eventName: "signup",
  enabled: true,
  allowReentry: true,
  steps: {
    is_pro: {
      type: "CONDITION",
      name: "Is pro?",
      config: { field: "event.plan", operator: "equals", value: "pro" },
    },
    crm: { type: "WEBHOOK", name: "Tell the CRM", config: { url: `${hook}/crm`, method: "POST" } },
    wait: { type: "DELAY", name: "Wait a bit", config: { amount: 5, unit: "seconds" } },
    welcome: { type: "SEND_EMAIL", name: "Welcome email", config: { templateId: template.id } },
  },
  transitions: [
    { from: "trigger", to: "is_pro" },
    { from: "is_pro", to: "crm", branch: "yes" },
    { from: "is_pro", to: "wait", branch: "no" },
    { from: "crm", to: "wait" },
    { from: "wait", to: "welcome" },
  ],
});
for (const [email, plan] of [
  ["ada@example.com", "pro"],
  ["grace@example.com", "free"],
]) {
  await fetch(`${stack.base}/v1/track`, {
    method: "POST",
    headers: { authorization: `Bearer ${project.publicKey}`, "content-type": "application/json" },
    body: JSON.stringify({ event: "signup", email, data: { plan } }),
  });
}
const { body: link } = await stack.admin("POST", `/admin/projects/${project.id}/sign-in-links`, {
  ttlSeconds: 86400,
});
console.log(
  `READY ${JSON.stringify({ base: stack.base, signIn: link.url, secretKey: project.secretKey, publicKey: project.publicKey, hook })}`,
);
const stop = async () => {
  consumer.close();
  await stack.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
