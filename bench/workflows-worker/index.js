// Case 3 of `npm run bench` with Cloudflare Workflows: sleep 1 s, evaluate the condition in a step,
// then POST a Standard Webhooks-signed body to the loopback consumer in a step (retried by Workflows).
import { WorkflowEntrypoint } from "cloudflare:workers";

function secretBytes(secret) {
  const raw = secret.startsWith("whsec_") ? secret.slice(6) : secret;
  return Uint8Array.from(atob(raw), (ch) => ch.charCodeAt(0));
}

async function sign(secret, id, timestamp, body) {
  const key = await crypto.subtle.importKey(
    "raw",
    secretBytes(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${timestamp}.${body}`)),
  );
  let bin = "";
  for (const b of mac) bin += String.fromCharCode(b);
  return `v1,${btoa(bin)}`;
}

export class BenchFlow extends WorkflowEntrypoint {
  async run(event, step) {
    const p = event.payload;
    await step.sleep("delay", "1 second");
    const yes = await step.do("condition", async () => p.data?.plan === "pro");
    if (!yes) return { result: "no" };
    await step.do(
      "webhook",
      { retries: { limit: 7, delay: "5 seconds", backoff: "exponential" } },
      async () => {
        const id = `wfd_${event.instanceId}`;
        const timestamp = Math.floor(Date.now() / 1000);
        const body = JSON.stringify({
          contact: { email: p.email },
          event: p.data,
          instance: event.instanceId,
        });
        const res = await fetch(this.env.WEBHOOK_URL, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "webhook-id": id,
            "webhook-timestamp": String(timestamp),
            "webhook-signature": await sign(this.env.WEBHOOK_SECRET, id, timestamp, body),
          },
          body,
        });
        await res.text();
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return { status: res.status };
      },
    );
    return { result: "yes" };
  }
}

export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    if (url.pathname === "/health") return Response.json({ ok: true });
    if (req.method === "POST" && url.pathname === "/start") {
      const body = await req.json();
      const instance = await env.FLOW.create({ params: { email: body.email, data: body.data ?? {} } });
      return Response.json({ success: true, data: { instance: instance.id } });
    }
    return Response.json({ success: false }, { status: 404 });
  },
};
