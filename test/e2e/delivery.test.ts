// Webhooks and emails end to end: wrangler dev, a real webhook consumer on loopback that verifies
// signatures with the standardwebhooks package, and the local SES server.
import Plunk from "@plunk/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Consumer,
  type LocalSes,
  type SesProxy,
  startConsumer,
  startLocalSes,
  startSesProxy,
  until,
} from "./local-servers";
import { sharedStack } from "./shared-stack";
import type { Stack } from "./stack";

let stack: Stack;
let ses: LocalSes;
let sesProxy: SesProxy;
let consumer: Consumer;
let project: { id: string; publicKey: string; secretKey: string; webhookSecret: string };
let scheduled: { id: string; due: number };

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${project.secretKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A workflow on `event`: TRIGGER → each step in order; enabled. */
async function workflow(event: string, steps: { type: string; name: string; config: unknown }[]) {
  const wf = await api("POST", "/workflows", { name: `wf ${event}`, eventName: event, enabled: true });
  expect(wf.status).toBe(201);
  let from = wf.body.steps[0].id;
  for (const s of steps) {
    const step = await api("POST", `/workflows/${wf.body.id}/steps`, s);
    expect(step.status, JSON.stringify(step.body)).toBe(201);
    const t = await api("POST", `/workflows/${wf.body.id}/transitions`, {
      fromStepId: from,
      toStepId: step.body.id,
    });
    expect(t.status).toBe(201);
    from = step.body.id;
  }
  return wf.body.id as string;
}

beforeAll(async () => {
  ses = await startLocalSes();
  sesProxy = await startSesProxy(ses.url);
  stack = await sharedStack({ SES_ENDPOINT: sesProxy.url, RETRY_DELAY_SCALE: "0" });
  const made = await stack.admin("POST", "/admin/projects", { name: "Delivery" });
  project = made.body;
  consumer = await startConsumer(project.webhookSecret);
  // The schedule test's workflow, made first: its minute comes while the other tests run.
  const wf = await api("POST", "/workflows", {
    name: "Every minute",
    schedule: { cron: "* * * * *" },
    enabled: true,
  });
  expect(wf.status, JSON.stringify(wf.body)).toBe(201);
  const hook = await api("POST", `/workflows/${wf.body.id}/steps`, {
    type: "WEBHOOK",
    name: "Report",
    config: { url: `${consumer.url}/hooks/schedule`, body: { at: "{{ event.scheduledAt }}" } },
  });
  expect(hook.status).toBe(201);
  const link = await api("POST", `/workflows/${wf.body.id}/transitions`, {
    fromStepId: wf.body.steps[0].id,
    toStepId: hook.body.id,
  });
  expect(link.status).toBe(201);
  scheduled = { id: wf.body.id, due: new Date(wf.body.schedule.nextRunAt).getTime() };
});

afterAll(async () => {
  if (process.env.E2E_DEBUG)
    console.error(
      stack
        ?.output()
        .split("\n")
        .filter((l) => /email|SES|error/i.test(l))
        .slice(-30)
        .join("\n"),
    );
  await consumer?.close();
  await stack?.stop();
  await sesProxy?.close();
  await ses?.stop();
});

describe("webhooks", () => {
  it("a workflow's webhook arrives signed, in the documented shape, and is logged DELIVERED", async () => {
    await workflow("signup", [
      {
        type: "WEBHOOK",
        name: "Hook",
        config: { url: `${consumer.url}/hooks/signup`, headers: { "x-plan": "{{ plan }}" } },
      },
    ]);
    const tr = await api("POST", "/v1/track", {
      event: "signup",
      email: "ada@example.com",
      data: { plan: "pro" },
    });
    expect(tr.status).toBe(200);
    const got = await until("the webhook", async () =>
      consumer.received.find((r) => r.path === "/hooks/signup"),
    );
    expect(got.verified).toBe(true);
    expect(got.headers["x-plan"]).toBe("pro");
    expect(got.id).toMatch(/^whd_/);
    expect(got.body).toEqual({
      contact: { email: "ada@example.com", subscribed: true, data: { plan: "pro" } },
      workflow: { id: expect.stringMatching(/^wf_/), name: "wf signup" },
      // exec_… on the objects engine, xpg_… on the shard engine (API.md, "Engines").
      execution: { id: expect.stringMatching(/^(exec|xpg)_/), startedAt: expect.any(String) },
      event: { plan: "pro" },
    });
    const delivery = await until("DELIVERED", async () => {
      const d = await api("GET", `/webhook-deliveries/${got.id}`);
      return d.body.status === "DELIVERED" && d.body;
    });
    expect(delivery.attempts).toHaveLength(1);
    expect(delivery.attempts[0]).toMatchObject({
      statusCode: 200,
      error: null,
      responseSnippet: "answer 200",
    });
  });

  it("a consumer that fails twice then succeeds gets one success and three attempts in the log", async () => {
    consumer.respond = (r, attempt) => ({ status: r.path === "/hooks/flaky" && attempt <= 2 ? 503 : 200 });
    await workflow("flaky", [
      { type: "WEBHOOK", name: "Hook", config: { url: `${consumer.url}/hooks/flaky` } },
    ]);
    await api("POST", "/v1/track", { event: "flaky", email: "flaky@example.com" });
    const delivery = await until(
      "three attempts",
      async () => {
        const list = await api("GET", "/webhook-deliveries?status=DELIVERED&limit=100");
        const hit = list.body.data.find((d: any) => d.url.endsWith("/hooks/flaky"));
        return hit && (await api("GET", `/webhook-deliveries/${hit.id}`)).body;
      },
      30_000,
    );
    expect(delivery.attempts.map((a: any) => a.statusCode)).toEqual([503, 503, 200]);
    const arrivals = consumer.received.filter((r) => r.path === "/hooks/flaky");
    expect(arrivals).toHaveLength(3);
    expect(new Set(arrivals.map((a) => a.id)).size).toBe(1); // the same webhook-id on every attempt
    expect(arrivals.every((a) => a.verified)).toBe(true);
  });

  it("a consumer that always fails ends FAILED after every try, and a replay delivers it", async () => {
    let down = true;
    consumer.respond = (r) => ({ status: r.path === "/hooks/down" && down ? 500 : 200 });
    await workflow("down", [
      { type: "WEBHOOK", name: "Hook", config: { url: `${consumer.url}/hooks/down` } },
    ]);
    await api("POST", "/v1/track", { event: "down", email: "down@example.com" });
    const failed = await until(
      "FAILED",
      async () => {
        const list = await api("GET", "/webhook-deliveries?status=FAILED&limit=100");
        return list.body.data.find((d: any) => d.url.endsWith("/hooks/down"));
      },
      80_000,
    );
    const detail = (await api("GET", `/webhook-deliveries/${failed.id}`)).body;
    expect(detail.attempts).toHaveLength(8);
    down = false;
    const replay = await api("POST", `/webhook-deliveries/${failed.id}/replay`);
    expect(replay.status).toBe(202);
    const delivered = await until("the replay", async () => {
      const d = (await api("GET", `/webhook-deliveries/${failed.id}`)).body;
      return d.status === "DELIVERED" && d;
    });
    expect(delivered.attempts).toHaveLength(9);
    expect(consumer.received.filter((r) => r.path === "/hooks/down" && r.verified)).toHaveLength(9);
  });

  it("410 Gone stops at once; a redirect is not followed", async () => {
    consumer.respond = (r) =>
      r.path === "/hooks/gone"
        ? { status: 410 }
        : r.path === "/hooks/moved"
          ? { status: 302, headers: { location: `${consumer.url}/hooks/elsewhere` } }
          : { status: 200 };
    await workflow("gone", [
      { type: "WEBHOOK", name: "Gone", config: { url: `${consumer.url}/hooks/gone` } },
      { type: "WEBHOOK", name: "Moved", config: { url: `${consumer.url}/hooks/moved` } },
    ]);
    await api("POST", "/v1/track", { event: "gone", email: "gone@example.com" });
    const list = await until(
      "both FAILED",
      async () => {
        const l = await api("GET", "/webhook-deliveries?status=FAILED&limit=100");
        const mine = l.body.data.filter((d: any) => /\/hooks\/(gone|moved)$/.test(d.url));
        return mine.length === 2 && mine;
      },
      80_000,
    );
    const gone = (await api("GET", `/webhook-deliveries/${list.find((d: any) => d.url.endsWith("gone")).id}`))
      .body;
    expect(gone.attempts).toHaveLength(1);
    expect(consumer.received.filter((r) => r.path === "/hooks/elsewhere")).toHaveLength(0);
  });

  it("after a secret rotation requests carry both signatures, and each verifies", async () => {
    consumer.respond = () => ({ status: 200 });
    const rotated = await api("POST", "/project/rotate-webhook-secret");
    expect(rotated.body.webhookSecret).toMatch(/^whsec_/);
    await workflow("rotated", [
      { type: "WEBHOOK", name: "Hook", config: { url: `${consumer.url}/hooks/rotated` } },
    ]);
    await api("POST", "/v1/track", { event: "rotated", email: "rot@example.com" });
    const got = await until("the webhook", async () =>
      consumer.received.find((r) => r.path === "/hooks/rotated"),
    );
    expect(String(got.headers["webhook-signature"]).split(" ")).toHaveLength(2);
    expect(got.verified).toBe(true); // with the old secret
    consumer.setSecret(rotated.body.webhookSecret);
    await api("POST", "/v1/track", { event: "rotated", email: "rot2@example.com" });
    const second = await until(
      "the second",
      async () => consumer.received.filter((r) => r.path === "/hooks/rotated")[1],
    );
    expect(second.verified).toBe(true); // with the new one
    project.webhookSecret = rotated.body.webhookSecret;
  });
});

describe("emails", () => {
  it("a workflow email arrives at SES with its variables rendered and unsubscribe headers", async () => {
    const tpl = await api("POST", "/templates", {
      name: "Welcome",
      subject: 'Hi {{ name ?? "there" }}',
      body: '<p>Plan {{ data.plan }}, event {{ event.source }}. <a href="{{ unsubscribeUrl }}">unsubscribe</a></p>',
      from: "hello@example.com",
      fromName: "Team",
    });
    expect(tpl.status).toBe(201);
    await workflow("welcome", [{ type: "SEND_EMAIL", name: "Mail", config: { templateId: tpl.body.id } }]);
    await api("POST", "/v1/track", {
      event: "welcome",
      email: "grace@example.com",
      data: { name: "Grace", plan: "team", source: { value: "ads", persistent: false } },
    });
    const sent = await until("the email at SES", async () =>
      (await ses.emails()).find((e) => e.destination.to.includes("grace@example.com")),
    );
    expect(sent.subject).toBe("Hi Grace");
    expect(sent.body.html).toContain("Plan team, event ads.");
    const unsubscribe = sent.headers.find((h: any) => h.name === "List-Unsubscribe").value as string;
    expect(sent.headers.find((h: any) => h.name === "List-Unsubscribe-Post").value).toBe(
      "List-Unsubscribe=One-Click",
    );
    const email = await until("SENT", async () => {
      const l = await api("GET", "/emails?status=SENT&limit=100");
      return l.body.data.find((e: any) => e.to === "grace@example.com");
    });
    expect(email.messageId).toBe(sent.messageId);
    // One-click unsubscribe, then a second marketing email is recorded NOT_SENT.
    const link = unsubscribe.slice(1, -1).replace(/^https?:\/\/[^/]+/, stack.base);
    expect((await fetch(link, { method: "POST", body: "List-Unsubscribe=One-Click" })).status).toBe(200);
    const contact = (await api("GET", `/contacts/${email.contactId}`)).body;
    expect(contact.subscribed).toBe(false);
    const forged = link.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
    expect((await fetch(forged, { method: "POST" })).status).toBe(404);
    await api("POST", "/workflows", { name: "again", eventName: "x" });
    const again = await workflow("welcome-again", [
      { type: "SEND_EMAIL", name: "Mail", config: { templateId: tpl.body.id } },
    ]);
    expect(again).toMatch(/^wf_/);
    await api("POST", "/v1/track", { event: "welcome-again", email: "grace@example.com" });
    await until("NOT_SENT", async () => {
      const l = await api("GET", "/emails?status=NOT_SENT&limit=100");
      return l.body.data.find(
        (e: any) => e.to === "grace@example.com" && e.error === "The contact is unsubscribed",
      );
    });
  });

  it("@plunk/node emails.send sends html and markdown bodies through SES", async () => {
    const plunk = new Plunk(project.secretKey, { baseUrl: `${stack.base}/v1/` });
    const html = (await plunk.emails.send({
      to: "lin@example.com",
      subject: "Receipt",
      body: "<b>Paid</b>",
    })) as any;
    expect(html.success).toBe(true);
    expect(html.data.emails[0].email).toMatch(/^eml_/);
    const md = (await plunk.emails.send({
      to: "lin@example.com",
      subject: "Notes",
      body: "# Title\n\n**bold**",
      type: "markdown",
    } as any)) as any;
    expect(md.success).toBe(true);
    const got = await until("both at SES", async () => {
      const all = (await ses.emails()).filter((e) => e.destination.to.includes("lin@example.com"));
      return all.length === 2 && all;
    });
    expect(got.find((e: any) => e.subject === "Receipt").body.html).toBe("<b>Paid</b>");
    expect(got.find((e: any) => e.subject === "Notes").body.html).toContain("<h1>Title</h1>");
    expect(got.find((e: any) => e.subject === "Notes").body.html).toContain("<strong>bold</strong>");
  });

  it("SES throttling is retried, and the email is sent once", async () => {
    const before = sesProxy.sends();
    sesProxy.throttleNext(2);
    const res = await api("POST", "/v1/send", {
      to: "throttled@example.com",
      subject: "Once",
      body: "<p>once</p>",
    });
    expect(res.status).toBe(200);
    const email = await until("SENT after throttling", async () => {
      const e = (await api("GET", `/emails/${res.body.data.emails[0].email}`)).body;
      return e.status === "SENT" && e;
    });
    expect(email.messageId).toBeTruthy();
    expect(sesProxy.sends() - before).toBe(1);
    const atSes = (await ses.emails()).filter((e) => e.destination.to.includes("throttled@example.com"));
    expect(atSes).toHaveLength(1);
  });
});

describe("schedules", () => {
  it("a schedule with no contact fires from the cron: its webhook arrives signed, with contact null, once", async () => {
    const { id, due } = scheduled;
    // The cron's handler, as `npm start` calls it, two passes at once each time (overlapping passes are
    // harmless): made in beforeAll, the schedule has been waiting for its minute while the tests above ran.
    const got = await until(
      "the scheduled webhook",
      async () => {
        if (Date.now() >= due) {
          const pass = () => fetch(`${stack.base}/cdn-cgi/handler/scheduled`).then((r) => r.text());
          await Promise.all([pass(), pass()]);
        }
        return consumer.received.find((r) => r.path === "/hooks/schedule");
      },
      75_000,
    );
    expect(got.verified).toBe(true);
    expect(got.body).toEqual({ at: new Date(due).toISOString() });
    const runs = await until("the run listed", async () => {
      const r = await api("GET", `/workflows/${id}/executions`);
      return r.body.data.length > 0 && r.body.data;
    });
    await api("PATCH", `/workflows/${id}`, { enabled: false });
    expect(runs[0]).toMatchObject({ contactId: null, status: "COMPLETED" });
    // One run for the due time, however many passes handed it over.
    const forDue = consumer.received.filter((r) => r.path === "/hooks/schedule" && r.body.at === got.body.at);
    expect(forDue).toHaveLength(1);
  }, 90_000);
});
