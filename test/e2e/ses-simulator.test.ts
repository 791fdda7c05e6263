// The webhook guide's main example end to end, on the local SES mailbox simulator: wrangler dev (as npm
// start runs it), the local SES, and a webhook consumer on loopback. A workflow on `email.bounce` with a
// WEBHOOK step; an email to bounce@simulator.amazonses.com; the worker posts SES's Bounce notification,
// signed with its development certificate, to its own /webhooks/sns; the consumer gets the signed webhook.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Consumer, type LocalSes, startConsumer, startLocalSes, until } from "./local-servers";
import { sharedStack } from "./shared-stack";
import type { Stack } from "./stack";

let stack: Stack;
let ses: LocalSes;
let consumer: Consumer;
let project: { id: string; secretKey: string; webhookSecret: string };

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${project.secretKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

beforeAll(async () => {
  ses = await startLocalSes();
  // The project's shared stack (shared-setup.ts), whose PUBLIC_URL, where the worker posts its simulated
  // notifications and serves its dev certificate, is the worker itself.
  stack = await sharedStack({ SES_ENDPOINT: ses.url, RETRY_DELAY_SCALE: "0" });
  project = (await stack.admin("POST", "/admin/projects", { name: "Simulator" })).body;
  consumer = await startConsumer(project.webhookSecret);
});

afterAll(async () => {
  if (process.env.E2E_DEBUG) console.error(stack?.output().split("\n").slice(-60).join("\n"));
  await consumer?.close();
  await stack?.stop();
  await ses?.stop();
});

describe("SES mailbox simulator, end to end", () => {
  it("bounce@simulator.amazonses.com: a workflow on email.bounce delivers the guide's bounce payload to a webhook", async () => {
    const def = await api("PUT", "/workflows/wf_bounces/definition", {
      id: "wf_bounces",
      name: "Bounce Notifications",
      eventName: "email.bounce",
      enabled: true,
      steps: {
        notify: {
          type: "WEBHOOK",
          config: { url: `${consumer.url}/webhooks/plunk`, method: "POST" },
        },
      },
      transitions: [{ from: "trigger", to: "notify" }],
    });
    expect(def.status, JSON.stringify(def.body)).toBe(201);

    const sent = await api("POST", "/v1/send", {
      to: "bounce@simulator.amazonses.com",
      subject: "Welcome to Plunk",
      body: "<p>Hello</p>",
      from: { name: "Plunk Team", email: "hello@example.com" },
      subscribed: true,
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const emailId = sent.body.data.emails[0].email as string;

    const hook = await until("the bounce webhook", async () => consumer.received[0], 40_000);
    if (process.env.E2E_DEBUG) console.error(JSON.stringify({ headers: hook.headers, body: hook.body }));
    expect(hook.verified).toBe(true);
    expect(hook.path).toBe("/webhooks/plunk");
    const email = (await api("GET", `/emails/${emailId}`)).body;
    expect(email.status).toBe("BOUNCED");
    expect(hook.body).toMatchObject({
      contact: { email: "bounce@simulator.amazonses.com", subscribed: false },
      workflow: { id: "wf_bounces", name: "Bounce Notifications" },
      execution: { id: expect.any(String), startedAt: expect.any(String) },
      event: {
        emailId,
        subject: "Welcome to Plunk",
        from: "hello@example.com",
        fromName: "Plunk Team",
        messageId: email.messageId,
        templateId: null,
        campaignId: null,
        sourceType: "TRANSACTIONAL",
        bounceType: "Permanent",
        bouncedAt: email.bouncedAt,
      },
    });
    // The local SES really got the email; the simulated notification was the one SNS path.
    expect(
      (await ses.emails()).some((e) => JSON.stringify(e).includes("bounce@simulator.amazonses.com")),
    ).toBe(true);
    const cert = await fetch(`${stack.base}/dev/sns-cert.pem`);
    expect(cert.status).toBe(200);
    expect(await cert.text()).toContain("BEGIN CERTIFICATE");
  });
});
