/** The `emails` queue consumer (fetch spied as SES), its DLQ consumer, and workflow email messages. */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { handleQueue } from "../src/queues";
import type { EmailMessage } from "../src/queues/messages";
import { call, consume, createProject, type TestProject, uniqueEmail } from "./helpers";

let p: TestProject;
let marketing: string;
let transactional: string;
beforeAll(async () => {
  p = await createProject();
  const m = await call("POST", "/templates", {
    key: p.secretKey,
    body: {
      name: "News",
      subject: "News for {{ name ?? 'you' }}",
      body: "<p>Hi {{ email }}</p><a href='{{ unsubscribeUrl }}'>unsubscribe</a>",
      from: "news@example.com",
      fromName: "News Team",
      type: "MARKETING",
    },
  });
  expect(m.status).toBe(201);
  marketing = m.body.id;
  const t = await call("POST", "/templates", {
    key: p.secretKey,
    body: {
      name: "Receipt",
      subject: "Receipt {{ event.order ?? 'none' }}",
      body: "<p>Order {{ event.order }}</p>",
      from: "billing@example.com",
      replyTo: "support@example.com",
      type: "TRANSACTIONAL",
    },
  });
  expect(t.status).toBe(201);
  transactional = t.body.id;
});
afterEach(() => {
  vi.restoreAllMocks();
});

interface SesCall {
  url: string;
  headers: Headers;
  body: any;
}

/** SES, faked: each call answers `answer(n)` (1-based); the default accepts with MessageId m-<n>. */
function ses(answer: (n: number) => Response = (n) => Response.json({ MessageId: `m-${n}` })) {
  const calls: SesCall[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const req = new Request(input as RequestInfo, init);
    calls.push({ url: req.url, headers: req.headers, body: JSON.parse(await req.text()) });
    return answer(calls.length);
  });
  return { calls, spy };
}

/** Queue only what /v1/send hands over, so nothing reaches the real consumer behind the test's back. */
function holdQueue() {
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
  vi.spyOn(env.WEBHOOKS_QUEUE, "send").mockImplementation(async () => metrics);
  return sent;
}

async function sendOne(body: Record<string, unknown>, project = p) {
  const sent = holdQueue();
  const res = await call("POST", "/v1/send", { key: project.secretKey, body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(sent).toHaveLength(1);
  vi.restoreAllMocks();
  const out = res.body.data.emails[0];
  return { emailId: out.email as string, contactId: out.contact.id as string, message: sent[0] };
}

async function email(id: string, project = p) {
  const res = await call("GET", `/emails/${id}`, { key: project.secretKey });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

const headerMap = (body: any): Record<string, string> =>
  Object.fromEntries(
    (body.Content.Simple.Headers as { Name: string; Value: string }[]).map((h) => [h.Name, h.Value]),
  );

describe("email consumer: sending", () => {
  it("a queued /v1/send email → SENT with the messageId, one signed SES call, an email.sent event", async () => {
    const to = uniqueEmail("sent");
    const { emailId, contactId, message } = await sendOne({
      to,
      subject: "Hello {{ email }}",
      body: "<p>Hi {{ plan ?? 'friend' }}</p>",
      from: { name: "Ada", email: "ada@example.com" },
      reply: "reply@example.com",
      headers: { "X-Campaign": "spring" },
    });
    expect(message).toEqual({ kind: "email-send", emailId, db: "DB" });
    const s = ses(() => Response.json({ MessageId: "m-1" }));
    const out = await consume("emails", message);
    expect(out).toMatchObject({ acked: true, retried: false });
    expect(s.calls).toHaveLength(1);

    const req = s.calls[0] as SesCall;
    expect(req.url).toBe("https://email.us-east-1.amazonaws.com/v2/email/outbound-emails");
    expect(req.headers.get("authorization")).toMatch(
      /^AWS4-HMAC-SHA256 Credential=.*\/us-east-1\/ses\/aws4_request/,
    );
    expect(req.headers.get("x-amz-date")).toMatch(/^\d{8}T\d{6}Z$/);
    expect(req.body).toMatchObject({
      FromEmailAddress: '"Ada" <ada@example.com>',
      Destination: { ToAddresses: [to] },
      ReplyToAddresses: ["reply@example.com"],
      Content: {
        Simple: {
          Subject: { Data: `Hello ${to}` },
          Body: { Html: { Data: "<p>Hi friend</p>" } },
        },
      },
    });
    const headers = headerMap(req.body);
    expect(headers["X-Campaign"]).toBe("spring");
    // /v1/send without a template is TRANSACTIONAL: no unsubscribe headers.
    expect(headers["List-Unsubscribe"]).toBeUndefined();
    expect(headers["List-Unsubscribe-Post"]).toBeUndefined();

    const e = await email(emailId);
    expect(e).toMatchObject({ status: "SENT", messageId: "m-1", error: null, subject: `Hello ${to}` });
    expect(new Date(e.sentAt).toISOString()).toBe(e.sentAt);

    const events = await call("GET", `/contacts/${contactId}/events?limit=100`, { key: p.secretKey });
    const sent = events.body.data.filter((ev: { name: string }) => ev.name === "email.sent");
    expect(sent).toHaveLength(1);
    expect(sent[0].data).toEqual({
      emailId,
      subject: `Hello ${to}`,
      from: "ada@example.com",
      fromName: "Ada",
      messageId: "m-1",
      templateId: null,
      campaignId: null,
      sourceType: "TRANSACTIONAL",
      sentAt: e.sentAt,
    });
  });

  it("a second message for the same email makes no SES call", async () => {
    const { emailId, contactId, message } = await sendOne({
      to: uniqueEmail("twice"),
      subject: "S",
      body: "B",
    });
    const s = ses();
    await consume("emails", message);
    const again = await consume("emails", message, 2);
    expect(again).toMatchObject({ acked: true, retried: false });
    expect(s.calls).toHaveLength(1);
    expect((await email(emailId)).status).toBe("SENT");
    const n = await env.DB.prepare(
      "SELECT count(*) AS n FROM events WHERE name = 'email.sent' AND contact_id = ?1",
    )
      .bind(contactId)
      .first<{ n: number }>();
    expect(n?.n).toBe(1);
  });

  it("the same message twice in one batch sends once", async () => {
    const { emailId, message } = await sendOne({ to: uniqueEmail("batch"), subject: "S", body: "B" });
    const s = ses();
    const batch = createMessageBatch("emails", [
      { id: "dup-1", timestamp: new Date(), attempts: 1, body: message },
      { id: "dup-2", timestamp: new Date(), attempts: 1, body: message },
    ]);
    const ctx = createExecutionContext();
    await handleQueue(batch, env);
    await getQueueResult(batch, ctx);
    expect(s.calls).toHaveLength(1);
    expect((await email(emailId)).status).toBe("SENT");
  });

  it.each([429, 503])(
    "SES %i → back to QUEUED and retried with a delay; a later success sends once",
    async (status) => {
      const { emailId, message } = await sendOne({
        to: uniqueEmail(`ses${status}`),
        subject: "S",
        body: "B",
      });
      const s = ses((n) =>
        n === 1
          ? new Response(JSON.stringify({ message: "Maximum sending rate exceeded." }), { status })
          : Response.json({ MessageId: "m-later" }),
      );
      const first = await consume("emails", message, 1);
      expect(first).toMatchObject({ acked: false, retried: true });
      expect(first.delaySeconds).toBeGreaterThan(0);
      const queued = await email(emailId);
      expect(queued.status).toBe("QUEUED");
      expect(queued.error).toContain(`SES ${status}`);

      const second = await consume("emails", message, 2);
      expect(second).toMatchObject({ acked: true, retried: false });
      expect(s.calls).toHaveLength(2);
      const e = await email(emailId);
      expect(e).toMatchObject({ status: "SENT", messageId: "m-later", error: null });

      await consume("emails", message, 3);
      expect(s.calls).toHaveLength(2);
    },
  );

  it("SES Retry-After is honoured in the retry delay", async () => {
    const { message } = await sendOne({ to: uniqueEmail("retryafter"), subject: "S", body: "B" });
    ses(() => new Response("throttled", { status: 429, headers: { "retry-after": "90" } }));
    const out = await consume("emails", message, 1);
    expect(out.retried).toBe(true);
    expect(out.delaySeconds).toBeGreaterThanOrEqual(90);
  });

  it("SES unreachable (fetch throws) → QUEUED and retried", async () => {
    const { emailId, message } = await sendOne({ to: uniqueEmail("down"), subject: "S", body: "B" });
    vi.spyOn(globalThis, "fetch").mockRejectedValue(new TypeError("network down"));
    const out = await consume("emails", message, 1);
    expect(out.retried).toBe(true);
    const e = await email(emailId);
    expect(e.status).toBe("QUEUED");
    expect(e.error).toMatch(/SES unreachable/);
  });

  it("SES 400 → FAILED, acked, and never sent again", async () => {
    const { emailId, message } = await sendOne({ to: uniqueEmail("bad"), subject: "S", body: "B" });
    const s = ses(
      () => new Response(JSON.stringify({ message: "Email address is not verified." }), { status: 400 }),
    );
    const out = await consume("emails", message);
    expect(out).toMatchObject({ acked: true, retried: false });
    const e = await email(emailId);
    expect(e.status).toBe("FAILED");
    expect(e.error).toContain("SES 400");
    expect(e.error).toContain("not verified");
    await consume("emails", message, 2);
    expect(s.calls).toHaveLength(1);
  });
});

describe("email consumer: MARKETING and TRANSACTIONAL", () => {
  it("a MARKETING template email to an unsubscribed contact → NOT_SENT with the reason, no SES call", async () => {
    // /v1/send creates a new contact unsubscribed.
    const { emailId, contactId, message } = await sendOne({ to: uniqueEmail("unsub"), template: marketing });
    const contact = await call("GET", `/contacts/${contactId}`, { key: p.secretKey });
    expect(contact.body.subscribed).toBe(false);
    const s = ses();
    const out = await consume("emails", message);
    expect(out).toMatchObject({ acked: true, retried: false });
    expect(s.calls).toHaveLength(0);
    const e = await email(emailId);
    expect(e.status).toBe("NOT_SENT");
    expect(e.error).toMatch(/unsubscribed/);
    const events = await call("GET", `/contacts/${contactId}/events?limit=100`, { key: p.secretKey });
    expect(events.body.data.map((ev: { name: string }) => ev.name)).not.toContain("email.sent");
  });

  it("a MARKETING email carries List-Unsubscribe (a link that works) and List-Unsubscribe-Post", async () => {
    const to = uniqueEmail("mkt");
    const { emailId, contactId, message } = await sendOne({ to, template: marketing, subscribed: true });
    const s = ses();
    await consume("emails", message);
    expect(s.calls).toHaveLength(1);
    const req = s.calls[0] as SesCall;
    const headers = headerMap(req.body);
    expect(headers["List-Unsubscribe-Post"]).toBe("List-Unsubscribe=One-Click");
    const m = (headers["List-Unsubscribe"] as string).match(/^<(https?:\/\/[^>]+\/unsubscribe\/([^>]+))>$/);
    expect(m).not.toBeNull();
    expect(req.body.FromEmailAddress).toBe('"News Team" <news@example.com>');
    expect(req.body.Content.Simple.Subject.Data).toBe("News for you");
    // The body's {{ unsubscribeUrl }} is the same link.
    expect(req.body.Content.Simple.Body.Html.Data).toContain(m?.[1] as string);
    expect(req.body.Content.Simple.Body.Html.Data).toContain(`Hi ${to}`);
    expect((await email(emailId)).status).toBe("SENT");

    // One-click: the link's token unsubscribes this contact.
    const res = await call("POST", `/unsubscribe/${m?.[2]}`);
    expect(res.status).toBe(200);
    expect((await call("GET", `/contacts/${contactId}`, { key: p.secretKey })).body.subscribed).toBe(false);
  });

  it("a TRANSACTIONAL template is sent to an unsubscribed contact, without List-Unsubscribe", async () => {
    const { emailId, message } = await sendOne({
      to: uniqueEmail("tx"),
      template: transactional,
      subscribed: false,
    });
    const s = ses();
    await consume("emails", message);
    expect(s.calls).toHaveLength(1);
    const req = s.calls[0] as SesCall;
    const headers = headerMap(req.body);
    expect(headers["List-Unsubscribe"]).toBeUndefined();
    expect(headers["List-Unsubscribe-Post"]).toBeUndefined();
    expect(req.body.ReplyToAddresses).toEqual(["support@example.com"]);
    expect(req.body.FromEmailAddress).toBe("billing@example.com");
    const e = await email(emailId);
    expect(e).toMatchObject({ status: "SENT", templateId: transactional });
  });
});

describe("email consumer: /v1/send values", () => {
  it("the request's data are template variables at the top level, over the contact's data", async () => {
    const to = uniqueEmail("vars");
    const made = await call("POST", "/contacts", {
      key: p.secretKey,
      body: { email: to, data: { firstName: "Old", plan: "free" } },
    });
    expect(made.status).toBe(201);
    const { message } = await sendOne({
      to,
      subject: "Welcome {{ firstName }}!",
      body: "<p>{{ firstName }} on {{ plan }} at {{ companyName }} / {{ data.companyName }} ({{ email }})</p>",
      data: { firstName: "Sarah", companyName: "Acme Inc" },
    });
    const s = ses();
    await consume("emails", message);
    const req = s.calls[0] as SesCall;
    expect(req.body.Content.Simple.Subject.Data).toBe("Welcome Sarah!");
    expect(req.body.Content.Simple.Body.Html.Data).toBe(
      `<p>Sarah on free at Acme Inc / Acme Inc (${to})</p>`,
    );
  });

  it("with a template, the request's subject, body, from, name and reply override the template's", async () => {
    const { message } = await sendOne({
      to: uniqueEmail("override"),
      template: transactional,
      subject: "Custom subject",
      from: "custom@example.com",
      name: "Custom Name",
      reply: "custom-reply@example.com",
    });
    const s = ses();
    await consume("emails", message);
    const req = s.calls[0] as SesCall;
    expect(req.body.Content.Simple.Subject.Data).toBe("Custom subject");
    // The body was not given: the template's.
    expect(req.body.Content.Simple.Body.Html.Data).toBe("<p>Order </p>");
    expect(req.body.FromEmailAddress).toBe('"Custom Name" <custom@example.com>');
    expect(req.body.ReplyToAddresses).toEqual(["custom-reply@example.com"]);
  });

  it("with a template and nothing else, the template's values are used", async () => {
    const { message } = await sendOne({ to: uniqueEmail("tpldefaults"), template: transactional });
    const s = ses();
    await consume("emails", message);
    const req = s.calls[0] as SesCall;
    expect(req.body.Content.Simple.Subject.Data).toBe("Receipt none");
    expect(req.body.FromEmailAddress).toBe("billing@example.com");
    expect(req.body.ReplyToAddresses).toEqual(["support@example.com"]);
  });

  it("without from or template, DEFAULT_FROM sends", async () => {
    const { message } = await sendOne({ to: uniqueEmail("deffrom"), subject: "S", body: "B" });
    const s = ses();
    await consume("emails", message);
    expect((s.calls[0] as SesCall).body.FromEmailAddress).toBe(env.DEFAULT_FROM);
  });
});

describe("emails DLQ consumer", () => {
  it("marks a QUEUED email FAILED", async () => {
    const { emailId, message } = await sendOne({ to: uniqueEmail("dlq"), subject: "S", body: "B" });
    const s = ses();
    const out = await consume("emails-dlq", message);
    expect(out).toMatchObject({ acked: true, retried: false });
    expect(s.calls).toHaveLength(0);
    const e = await email(emailId);
    expect(e.status).toBe("FAILED");
    expect(e.error).toBeTruthy();
    // A late copy on the main queue does not send it.
    await consume("emails", message, 2);
    expect(s.calls).toHaveLength(0);
  });

  it("leaves a SENT email alone", async () => {
    const { emailId, message } = await sendOne({ to: uniqueEmail("dlqsent"), subject: "S", body: "B" });
    ses();
    await consume("emails", message);
    await consume("emails-dlq", message);
    expect((await email(emailId)).status).toBe("SENT");
  });
});

describe("workflow EmailMessage (kind email)", () => {
  async function workflowMessage(templateId: string, subscribed: boolean) {
    const address = uniqueEmail("wfmail");
    const contact = await call("POST", "/contacts", {
      key: p.secretKey,
      body: { email: address, subscribed, data: { name: "Grace" } },
    });
    expect(contact.status).toBe(201);
    const m: EmailMessage = {
      kind: "email",
      emailId: `eml_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`,
      projectId: p.id,
      workflowId: "wf_mail",
      executionId: `exec_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`,
      stepId: "stp_mail",
      contactId: contact.body.id,
      templateId,
      event: { order: "A-17" },
    };
    return { m, address };
  }

  it("creates its row once even when delivered twice, and sends once", async () => {
    const { m, address } = await workflowMessage(transactional, true);
    const s = ses();
    const first = await consume("emails", m);
    expect(first.acked).toBe(true);
    const second = await consume("emails", m, 2);
    expect(second.acked).toBe(true);
    expect(s.calls).toHaveLength(1);
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM emails WHERE id = ?1")
      .bind(m.emailId)
      .first<{ n: number }>();
    expect(rows?.n).toBe(1);
    const e = await email(m.emailId);
    expect(e).toMatchObject({
      status: "SENT",
      sourceType: "WORKFLOW",
      templateId: transactional,
      workflowExecutionId: m.executionId,
      contactId: m.contactId,
      subject: "Receipt A-17",
    });
    expect((s.calls[0] as SesCall).body.Destination.ToAddresses).toEqual([address]);
    expect((s.calls[0] as SesCall).body.Content.Simple.Body.Html.Data).toBe("<p>Order A-17</p>");
    const events = await call("GET", `/contacts/${m.contactId}/events?limit=100`, { key: p.secretKey });
    const sent = events.body.data.filter((ev: { name: string }) => ev.name === "email.sent");
    expect(sent).toHaveLength(1);
    expect(sent[0].data).toMatchObject({
      emailId: m.emailId,
      templateId: transactional,
      sourceType: "WORKFLOW",
      campaignId: null,
    });
  });

  it("the same message twice in one batch makes one row and one send", async () => {
    const { m } = await workflowMessage(transactional, true);
    const s = ses();
    const batch = createMessageBatch("emails", [
      { id: "wf-1", timestamp: new Date(), attempts: 1, body: m },
      { id: "wf-2", timestamp: new Date(), attempts: 1, body: m },
    ]);
    const ctx = createExecutionContext();
    await handleQueue(batch, env);
    await getQueueResult(batch, ctx);
    expect(s.calls).toHaveLength(1);
    expect((await email(m.emailId)).status).toBe("SENT");
  });

  it("a MARKETING workflow email to an unsubscribed contact is NOT_SENT", async () => {
    const { m } = await workflowMessage(marketing, false);
    const s = ses();
    await consume("emails", m);
    expect(s.calls).toHaveLength(0);
    const e = await email(m.emailId);
    expect(e.status).toBe("NOT_SENT");
    expect(e.error).toMatch(/unsubscribed/);
  });

  it("a CUSTOM recipient gets the email about the contact, without the contact's unsubscribe headers", async () => {
    const { m, address } = await workflowMessage(marketing, true);
    const manager = uniqueEmail("manager");
    const s = ses();
    await consume("emails", {
      ...m,
      event: { managerEmail: manager.toUpperCase() },
      recipient: "{{ event.managerEmail }}",
    });
    expect(s.calls).toHaveLength(1);
    const req = s.calls[0] as SesCall;
    expect(req.body.Destination.ToAddresses).toEqual([manager]);
    // The body is about the contact: its variables are the contact's.
    expect(req.body.Content.Simple.Body.Html.Data).toContain(`Hi ${address}`);
    expect(headerMap(req.body)["List-Unsubscribe"]).toBeUndefined();
    const e = await email(m.emailId);
    expect(e).toMatchObject({ status: "SENT", contactId: m.contactId, to: manager });
    // email.sent is the contact's event, as every workflow email's.
    const events = await call("GET", `/contacts/${m.contactId}/events?limit=100`, { key: p.secretKey });
    expect(events.body.data.filter((ev: { name: string }) => ev.name === "email.sent")).toHaveLength(1);
  });

  it("a CUSTOM recipient follows the contact's marketing rule: NOT_SENT when the contact is unsubscribed", async () => {
    const { m } = await workflowMessage(marketing, false);
    const s = ses();
    await consume("emails", { ...m, recipient: "boss@example.com" });
    expect(s.calls).toHaveLength(0);
    expect(await email(m.emailId)).toMatchObject({ status: "NOT_SENT", to: "boss@example.com" });
  });

  it("a CUSTOM recipient that renders to no address → FAILED with what it rendered, no send", async () => {
    const { m } = await workflowMessage(transactional, true);
    const s = ses();
    const out = await consume("emails", { ...m, event: {}, recipient: "{{ event.managerEmail }}" });
    expect(out.acked).toBe(true);
    expect(s.calls).toHaveLength(0);
    const e = await email(m.emailId);
    expect(e.status).toBe("FAILED");
    expect(e.error).toBe('The recipient is "", not an email address');
  });

  it("a template that no longer exists → FAILED, no send", async () => {
    const { m } = await workflowMessage("tpl_gone", true);
    const s = ses();
    const out = await consume("emails", m);
    expect(out.acked).toBe(true);
    expect(s.calls).toHaveLength(0);
    const e = await email(m.emailId);
    expect(e.status).toBe("FAILED");
    expect(e.error).toMatch(/template/);
  });
});
