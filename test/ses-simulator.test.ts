// SES's mailbox simulator, locally: an email to a simulator address is followed by SES's notifications,
// signed with the development certificate (src/dev/) and POSTed to the worker's own /webhooks/sns, which
// checks them like any SNS message. Here the worker's fetches of its own PUBLIC_URL are routed back into
// the worker (fetchSettled), SES is faked, and the queues are driven by hand (consume).

import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { signedNotification } from "../src/dev/ses-simulator";
import worker from "../src/index";
import {
  type Call,
  call,
  captureQueue,
  consume,
  createProject,
  expectEnvelope,
  fetchSettled,
} from "./helpers";
import { createWorkflow } from "./workflow-helpers";

const SELF = new URL(env.PUBLIC_URL).origin;
let posted: { url: string; body: any; status: number }[] = [];
let sesSends = 0;
let tamper: ((body: string) => string) | null = null;

beforeEach(() => {
  posted = [];
  sesSends = 0;
  tamper = null;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input as RequestInfo, init);
    if (req.url.startsWith(`${SELF}/`)) {
      // The worker calling itself: /webhooks/sns, and /dev/sns-cert.pem while verifying.
      let body = req.method === "POST" ? await req.text() : undefined;
      if (body !== undefined && tamper) body = tamper(body);
      const res = await fetchSettled(
        new Request(req.url, { method: req.method, headers: req.headers, body }),
      );
      if (req.url.endsWith("/webhooks/sns")) {
        posted.push({ url: req.url, body: JSON.parse(body ?? "null"), status: res.status });
      }
      return res;
    }
    if (req.url.includes("amazonaws.com/v2/email/outbound-emails")) {
      sesSends++;
      return Response.json({ MessageId: `ses-sim-${crypto.randomUUID()}` });
    }
    return new Response("no network in tests", { status: 599 });
  });
});
afterEach(() => vi.restoreAllMocks());

/** Holds what goes on the emails queue (send and sendBatch), and the webhooks queue. */
function holdEmails() {
  const sent: any[] = [];
  const metrics = {
    metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date(0) } },
  };
  vi.spyOn(env.EMAILS_QUEUE, "sendBatch").mockImplementation(async (messages) => {
    for (const m of messages) sent.push(m.body);
    return metrics;
  });
  vi.spyOn(env.EMAILS_QUEUE, "send").mockImplementation(async (body) => {
    sent.push(body);
    return metrics;
  });
  return sent;
}

/** POST /v1/send to `to`, then the emails consumer sends it (SES faked): the email id and what it queued. */
async function sendTo(sk: string, to: string) {
  const emailsQueue = holdEmails();
  const res = await call("POST", "/v1/send", {
    key: sk,
    body: {
      to,
      subject: "Welcome to Plunk",
      body: "<p>Hi</p>",
      subscribed: true,
      from: { name: "Plunk Team", email: "hello@example.com" },
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const emailId = res.body.data.emails[0].email as string;
  const contactId = res.body.data.emails[0].contact.id as string;
  const first = emailsQueue.shift();
  expect(first).toEqual({ kind: "email-send", emailId, db: "DB" });
  expect(await consume("emails", first)).toMatchObject({ acked: true });
  return { emailId, contactId, queued: emailsQueue };
}

const events = async (sk: string, contactId: string) =>
  (await call("GET", `/contacts/${contactId}/events?limit=100`, { key: sk })).body.data as any[];

describe("SES mailbox simulator: bounce@simulator.amazonses.com through the real /webhooks/sns", () => {
  it("a Permanent bounce, signed with the dev certificate: email.bounce with the guide's payload and emailId, the contact unsubscribed, a workflow on email.bounce started", async () => {
    const p = await createProject();
    const webhooks = captureQueue(env.WEBHOOKS_QUEUE);
    const wf = await createWorkflow(p.secretKey, {
      eventName: "email.bounce",
      name: "Bounce Notifications",
      steps: {
        hook: { type: "WEBHOOK", config: { url: "https://api.example.com/webhooks/plunk", method: "POST" } },
      },
      edges: [["trigger", "hook"]],
    });
    const { emailId, contactId, queued } = await sendTo(p.secretKey, "bounce@simulator.amazonses.com");
    expect(sesSends).toBe(1);
    const email = (await call("GET", `/emails/${emailId}`, { key: p.secretKey })).body;
    expect(email.status).toBe("SENT");

    // The simulator queued SES's notification for after the send.
    expect(queued).toHaveLength(1);
    const sim = queued[0];
    expect(sim).toMatchObject({
      kind: "ses-simulate",
      emailId,
      notifications: [{ kind: "bounce", bounceSubType: "General", snsMessageId: expect.any(String) }],
    });
    expect(await consume("emails", sim)).toMatchObject({ acked: true, retried: false });

    // What went to /webhooks/sns: an SNS Notification signed (v2) with the cert at the worker's own origin.
    expect(posted).toHaveLength(1);
    const sns = posted[0]?.body;
    expect(posted[0]?.status).toBe(200);
    expect(sns).toMatchObject({
      Type: "Notification",
      MessageId: sim.notifications[0].snsMessageId,
      SignatureVersion: "2",
      SigningCertURL: `${SELF}/dev/sns-cert.pem`,
    });
    expect(JSON.parse(sns.Message)).toMatchObject({
      eventType: "Bounce",
      mail: { messageId: email.messageId, destination: ["bounce@simulator.amazonses.com"] },
      bounce: {
        bounceType: "Permanent",
        bounceSubType: "General",
        bouncedRecipients: [{ emailAddress: "bounce@simulator.amazonses.com", action: "failed" }],
      },
    });

    const after = (await call("GET", `/emails/${emailId}`, { key: p.secretKey })).body;
    expect(after.status).toBe("BOUNCED");
    expect((await call("GET", `/contacts/${contactId}`, { key: p.secretKey })).body.subscribed).toBe(false);
    const evs = await events(p.secretKey, contactId);
    const bounce = evs.find((e) => e.name === "email.bounce");
    expect(bounce.data).toEqual({
      emailId,
      subject: "Welcome to Plunk",
      from: "hello@example.com",
      fromName: "Plunk Team",
      messageId: email.messageId,
      templateId: null,
      campaignId: null,
      sourceType: "TRANSACTIONAL",
      bounceType: "Permanent",
      bouncedAt: after.bouncedAt,
    });
    expect(evs.find((e) => e.name === "contact.unsubscribed").data).toEqual({ reason: "bounce" });
    expect(evs.find((e) => e.name === "email.sent").data).toMatchObject({ emailId });

    // The workflow on email.bounce ran its WEBHOOK step with the bounce as `event`.
    const hook = webhooks.sent.find((m) => m.workflowId === wf.id);
    expect(hook).toBeDefined();
    expect(hook.vars.event).toEqual(bounce.data);
    expect(hook.vars.workflow).toEqual({ id: wf.id, name: "Bounce Notifications" });
    expect(hook.vars.contact).toMatchObject({ email: "bounce@simulator.amazonses.com", subscribed: false });
  });

  it("a retried notification (the same queue message, the same MessageId) changes nothing twice", async () => {
    const p = await createProject();
    const webhooks = captureQueue(env.WEBHOOKS_QUEUE);
    await createWorkflow(p.secretKey, {
      eventName: "email.bounce",
      steps: { hook: { type: "WEBHOOK", config: { url: "https://api.example.com/hooks", method: "POST" } } },
      edges: [["trigger", "hook"]],
    });
    const { contactId, queued } = await sendTo(p.secretKey, "bounce+retry@simulator.amazonses.com");
    const sim = queued[0];
    await consume("emails", sim);
    await consume("emails", sim, 2);
    expect(posted.map((x) => x.status)).toEqual([200, 200]);
    expect(posted[0]?.body.MessageId).toBe(posted[1]?.body.MessageId);
    const evs = await events(p.secretKey, contactId);
    expect(evs.filter((e) => e.name === "email.bounce")).toHaveLength(1);
    expect(evs.filter((e) => e.name === "contact.unsubscribed")).toHaveLength(1);
    expect(webhooks.sent).toHaveLength(1);
  });

  it("a tampered notification is refused by the signature check (403) and changes nothing", async () => {
    const p = await createProject();
    const { emailId, contactId, queued } = await sendTo(p.secretKey, "bounce@simulator.amazonses.com");
    tamper = (body) => body.replace("Permanent", "Transient");
    expect(await consume("emails", queued[0])).toMatchObject({ acked: true, retried: false });
    expect(posted.map((x) => x.status)).toEqual([403]);
    expect((await call("GET", `/emails/${emailId}`, { key: p.secretKey })).body.status).toBe("SENT");
    expect((await call("GET", `/contacts/${contactId}`, { key: p.secretKey })).body.subscribed).toBe(true);
    // A notification signed with the dev key but claiming SNS's own certificate URL is refused too.
    tamper = null;
    const forged = await signedNotification(env, crypto.randomUUID(), { eventType: "Bounce" });
    const res = await call("POST", "/webhooks/sns", {
      body: { ...forged, SigningCertURL: "https://evil.example.com/dev/sns-cert.pem" },
    });
    expectEnvelope(res, 403, "INVALID_SIGNATURE");
  });

  it("complaint@: Delivery then Complaint; the contact unsubscribed with reason complaint", async () => {
    const p = await createProject();
    const { emailId, contactId, queued } = await sendTo(p.secretKey, "complaint@simulator.amazonses.com");
    expect(queued[0].notifications.map((n: any) => n.kind)).toEqual(["delivery", "complaint"]);
    await consume("emails", queued[0]);
    expect(posted.map((x) => [JSON.parse(x.body.Message).eventType, x.status])).toEqual([
      ["Delivery", 200],
      ["Complaint", 200],
    ]);
    const e = (await call("GET", `/emails/${emailId}`, { key: p.secretKey })).body;
    expect(e.status).toBe("COMPLAINED");
    expect(e.deliveredAt).not.toBeNull();
    const evs = await events(p.secretKey, contactId);
    expect(evs.find((x) => x.name === "email.delivery").data).toMatchObject({
      emailId,
      deliveredAt: e.deliveredAt,
    });
    expect(evs.find((x) => x.name === "email.complaint").data).toMatchObject({
      emailId,
      complainedAt: e.complainedAt,
    });
    expect(evs.find((x) => x.name === "contact.unsubscribed").data).toEqual({ reason: "complaint" });
  });

  it("success@ and ooto@ are delivered; suppressionlist@ bounces (OnAccountSuppressionList); other addresses get nothing", async () => {
    const p = await createProject();
    for (const box of ["success", "ooto"]) {
      const { emailId, queued } = await sendTo(p.secretKey, `${box}@simulator.amazonses.com`);
      expect(queued[0].notifications.map((n: any) => n.kind)).toEqual(["delivery"]);
      await consume("emails", queued[0]);
      expect((await call("GET", `/emails/${emailId}`, { key: p.secretKey })).body.status).toBe("DELIVERED");
    }
    const s = await sendTo(p.secretKey, "suppressionlist@simulator.amazonses.com");
    await consume("emails", s.queued[0]);
    expect(JSON.parse(posted.at(-1)?.body.Message).bounce).toMatchObject({
      bounceType: "Permanent",
      bounceSubType: "OnAccountSuppressionList",
    });
    expect((await call("GET", `/emails/${s.emailId}`, { key: p.secretKey })).body.status).toBe("BOUNCED");
    const plain = await sendTo(p.secretKey, "someone@example.com");
    expect(plain.queued).toEqual([]);
  });

  it("in production an email to a simulator address gets no notifications", async () => {
    const p = await createProject();
    const { emailId } = await sendTo(p.secretKey, "success@simulator.amazonses.com");
    const row = await env.DB.prepare("SELECT id FROM emails WHERE id = ?1").bind(emailId).first();
    expect(row).not.toBeNull();
    const { queueSimulatorNotifications } = await import("../src/dev/ses-simulator");
    const q = captureQueue(env.EMAILS_QUEUE);
    const log = {
      info() {},
      warn() {},
      error() {},
      child() {
        return log;
      },
    } as any;
    await queueSimulatorNotifications({ ...env, ENVIRONMENT: "production" }, log, {
      id: emailId,
      to: "success@simulator.amazonses.com",
    });
    expect(q.sent).toEqual([]);
  });
});

describe("POST /dev/ses/simulate", () => {
  const simulate = (sk: string, body: unknown): Promise<Call> =>
    call("POST", "/dev/ses/simulate", { key: sk, body });

  it("opens and clicks: 202 with the SNS MessageId; each goes through /webhooks/sns; the first makes email.open / email.click with emailId", async () => {
    const p = await createProject();
    const { emailId, contactId } = await sendTo(p.secretKey, "success@simulator.amazonses.com");
    const emailsQueue = holdEmails();
    const open = await simulate(p.secretKey, { emailId, kind: "open" });
    expect(open.status).toBe(202);
    expect(open.body).toEqual({ emailId, kind: "open", messageId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const click = await simulate(p.secretKey, {
      emailId,
      kind: "click",
      link: "https://example.com/pricing",
    });
    expect(click.status).toBe(202);
    const open2 = await simulate(p.secretKey, { emailId, kind: "open" });
    expect(open2.body.messageId).not.toBe(open.body.messageId);
    expect(emailsQueue).toHaveLength(3);
    for (const m of emailsQueue) await consume("emails", m);
    expect(posted.map((x) => x.body.MessageId)).toEqual([
      open.body.messageId,
      click.body.messageId,
      open2.body.messageId,
    ]);
    const e = (await call("GET", `/emails/${emailId}`, { key: p.secretKey })).body;
    expect(e).toMatchObject({ opens: 2, clicks: 1 });
    const evs = await events(p.secretKey, contactId);
    expect(evs.filter((x) => x.name === "email.open")).toHaveLength(1);
    expect(evs.find((x) => x.name === "email.open").data).toMatchObject({ emailId, isFirstOpen: true });
    expect(evs.find((x) => x.name === "email.click").data).toMatchObject({
      emailId,
      link: "https://example.com/pricing",
      isFirstClick: true,
    });
  });

  it("a bounce by hand: the same MessageId as the mailbox's own, so it happens once", async () => {
    const p = await createProject();
    const { emailId, contactId } = await sendTo(p.secretKey, "someone@example.com");
    const emailsQueue = holdEmails();
    const a = await simulate(p.secretKey, { emailId, kind: "bounce" });
    const b = await simulate(p.secretKey, { emailId, kind: "bounce" });
    expect(a.status).toBe(202);
    expect(b.body.messageId).toBe(a.body.messageId);
    for (const m of emailsQueue) await consume("emails", m);
    expect((await call("GET", `/emails/${emailId}`, { key: p.secretKey })).body.status).toBe("BOUNCED");
    expect((await events(p.secretKey, contactId)).filter((x) => x.name === "email.bounce")).toHaveLength(1);
  });

  it("refuses bad input with the envelope and field errors", async () => {
    const p = await createProject();
    const other = await createProject();
    const { emailId } = await sendTo(p.secretKey, "someone@example.com");
    const emailsQueue = holdEmails();

    const unknownKind = await simulate(p.secretKey, { emailId, kind: "explode" });
    expectEnvelope(unknownKind, 422, "VALIDATION_ERROR");
    expect(unknownKind.body.error.errors).toEqual([expect.objectContaining({ field: "kind" })]);

    const linkNotClick = await simulate(p.secretKey, { emailId, kind: "open", link: "https://example.com/" });
    expectEnvelope(linkNotClick, 422, "VALIDATION_ERROR");
    expect(linkNotClick.body.error.errors).toEqual([
      expect.objectContaining({ field: "link", code: "not_allowed" }),
    ]);

    const noEmail = await simulate(p.secretKey, { kind: "open" });
    expectEnvelope(noEmail, 422, "VALIDATION_ERROR");
    expect(noEmail.body.error.errors).toEqual([expect.objectContaining({ field: "emailId" })]);

    const foreign = await simulate(other.secretKey, { emailId, kind: "open" });
    expectEnvelope(foreign, 404, "EMAIL_NOT_FOUND");
    expect(foreign.body.error.errors).toEqual([
      expect.objectContaining({ field: "emailId", code: "not_found" }),
    ]);

    // An email SES never accepted (queued, not sent): no message id.
    const queuedOnly = await call("POST", "/v1/send", {
      key: p.secretKey,
      body: { to: "later@example.com", subject: "s", body: "b" },
    });
    const unsent = queuedOnly.body.data.emails[0].email as string;
    emailsQueue.length = 0;
    const noMessageId = await simulate(p.secretKey, { emailId: unsent, kind: "delivery" });
    expectEnvelope(noMessageId, 409, "EMAIL_NOT_SENT");
    expect(noMessageId.body.error.errors).toEqual([
      expect.objectContaining({ field: "emailId", code: "not_sent" }),
    ]);

    expectEnvelope(
      await call("POST", "/dev/ses/simulate", { body: { emailId, kind: "open" } }),
      401,
      "MISSING_AUTH",
    );
    expect(emailsQueue).toEqual([]);
  });
});

describe("/dev/* outside development", () => {
  it("every /dev route is 404 NOT_FOUND in production, with or without a key", async () => {
    const p = await createProject();
    const prod = { ...env, ENVIRONMENT: "production" };
    const ask = async (
      method: string,
      path: string,
      headers: Record<string, string> = {},
      body?: unknown,
    ) => {
      const res = await worker.fetch(
        new Request(`http://worker.test${path}`, {
          method,
          headers: { "content-type": "application/json", ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
        prod,
        { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext,
      );
      return { status: res.status, headers: res.headers, body: await res.json() } as Call;
    };
    expectEnvelope(await ask("GET", "/dev/sns-cert.pem"), 404, "NOT_FOUND");
    expectEnvelope(
      await ask(
        "POST",
        "/dev/ses/simulate",
        { authorization: `Bearer ${p.secretKey}` },
        { emailId: "eml_x", kind: "open" },
      ),
      404,
      "NOT_FOUND",
    );
    expectEnvelope(await ask("POST", "/dev/ses/simulate", {}, {}), 404, "NOT_FOUND");
    expectEnvelope(await ask("GET", "/dev/anything"), 404, "NOT_FOUND");
    // In development and tests the certificate is served.
    const dev = await call("GET", "/dev/sns-cert.pem");
    expect(dev.status).toBe(200);
    expect(String(dev.body)).toContain("BEGIN CERTIFICATE");
  });

  it("production does not trust the worker's own origin for SNS certificates", async () => {
    const { isTrustedSnsUrl } = await import("../src/integrations/sns");
    const url = `${SELF}/dev/sns-cert.pem`;
    expect(isTrustedSnsUrl(url, { environment: "development", selfOrigin: env.PUBLIC_URL })).toBe(true);
    expect(isTrustedSnsUrl(url, { environment: "test", selfOrigin: env.PUBLIC_URL })).toBe(true);
    expect(isTrustedSnsUrl(url, { environment: "production", selfOrigin: env.PUBLIC_URL })).toBe(false);
    expect(
      isTrustedSnsUrl("http://other.test/x.pem", { environment: "development", selfOrigin: env.PUBLIC_URL }),
    ).toBe(false);
  });
});
