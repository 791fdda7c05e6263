// SES notifications through SNS, signed the way SNS signs them, with the tests' own certificate
// (test/fixtures), trusted through SNS_DEV_CERT_ORIGIN (development and tests only).
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type SnsMessage, spkiFromPem, stringToSign } from "../src/integrations/sns";
import otherCert from "./fixtures/other-cert.pem?raw";
import cert from "./fixtures/sns-test-cert.pem?raw";
import keyPem from "./fixtures/sns-test-key.pkcs8.pem?raw";
import { call, captureQueue, createProject, type TestProject, uniqueEmail } from "./helpers";

const CERT_URL = "http://sns-certs.test/SimpleNotificationService-test.pem";
const OTHER_CERT_URL = "http://sns-certs.test/other.pem";
const TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events";
let fetches: string[] = [];

beforeEach(() => {
  fetches = [];
  const real = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url.startsWith("http://sns-certs.test/") || url.includes("amazonaws.com")) {
      fetches.push(url);
      if (url === CERT_URL) return new Response(cert);
      if (url === OTHER_CERT_URL) return new Response(otherCert);
      if (url.includes("Action=ConfirmSubscription")) return new Response("<ConfirmSubscriptionResponse/>");
      return new Response("not found", { status: 404 });
    }
    return real(input, init);
  });
});
afterEach(() => vi.restoreAllMocks());

async function sign(m: Omit<SnsMessage, "Signature">, version: "1" | "2" = "2"): Promise<SnsMessage> {
  const der = Uint8Array.from(atob(keyPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "")), (c) =>
    c.charCodeAt(0),
  );
  const key = await crypto.subtle.importKey(
    "pkcs8",
    der,
    { name: "RSASSA-PKCS1-v1_5", hash: version === "1" ? "SHA-1" : "SHA-256" },
    false,
    ["sign"],
  );
  const full = { ...m, SignatureVersion: version, Signature: "" } as SnsMessage;
  const sig = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    key,
    new TextEncoder().encode(stringToSign(full)),
  );
  return { ...full, Signature: btoa(String.fromCharCode(...new Uint8Array(sig))) };
}

function notification(message: unknown, id = crypto.randomUUID()): Omit<SnsMessage, "Signature"> {
  return {
    Type: "Notification",
    MessageId: id,
    TopicArn: TOPIC,
    Message: JSON.stringify(message),
    Timestamp: new Date().toISOString(),
    SignatureVersion: "2",
    SigningCertURL: CERT_URL,
  };
}

const post = (m: unknown) =>
  call("POST", "/webhooks/sns", { body: m, headers: { "x-amz-sns-message-type": "Notification" } });

/** A project, a contact and a SENT email with an SES message id. */
async function sentEmail(p?: TestProject) {
  const project = p ?? (await createProject());
  const email = uniqueEmail("ses");
  const tr = await call("POST", "/v1/track", { key: project.secretKey, body: { event: "seed", email } });
  const contactId = tr.body.data.contact as string;
  const emailId = `eml_${crypto.randomUUID().replace(/-/g, "")}`;
  const messageId = `ses-${crypto.randomUUID()}`;
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO emails (id, project_id, contact_id, source_type, type, status, to_email, from_email, from_name, subject,
       message_id, sent_at, created_at, updated_at)
     VALUES (?1, ?2, ?3, 'TRANSACTIONAL', 'TRANSACTIONAL', 'SENT', ?4, 'hello@example.com', 'Team', 'Welcome', ?5, ?6, ?6, ?6)`,
  )
    .bind(emailId, project.id, contactId, email, messageId, now)
    .run();
  return { project, contactId, emailId, messageId, email };
}

const ses = (eventType: string, messageId: string, extra: Record<string, unknown> = {}) => ({
  eventType,
  mail: { messageId, timestamp: new Date().toISOString() },
  ...extra,
});

const getEmail = async (s: Awaited<ReturnType<typeof sentEmail>>) =>
  (await call("GET", `/emails/${s.emailId}`, { key: s.project.secretKey })).body;
const events = async (s: Awaited<ReturnType<typeof sentEmail>>) =>
  (await call("GET", `/contacts/${s.contactId}/events?limit=100`, { key: s.project.secretKey })).body
    .data as any[];
const contact = async (s: Awaited<ReturnType<typeof sentEmail>>) =>
  (await call("GET", `/contacts/${s.contactId}`, { key: s.project.secretKey })).body;

describe("POST /webhooks/sns: SES events", () => {
  it("a Delivery marks the email DELIVERED and stores email.delivery with the guide's payload", async () => {
    const s = await sentEmail();
    const res = await post(
      await sign(
        notification(ses("Delivery", s.messageId, { delivery: { timestamp: "2026-01-15T10:30:05.000Z" } })),
      ),
    );
    expect(res.status).toBe(200);
    expect(await getEmail(s)).toMatchObject({ status: "DELIVERED", deliveredAt: "2026-01-15T10:30:05.000Z" });
    const ev = (await events(s)).find((e) => e.name === "email.delivery");
    expect(ev.data).toEqual({
      emailId: s.emailId,
      subject: "Welcome",
      from: "hello@example.com",
      fromName: "Team",
      messageId: s.messageId,
      templateId: null,
      campaignId: null,
      sourceType: "TRANSACTIONAL",
      deliveredAt: "2026-01-15T10:30:05.000Z",
    });
  });

  it("opens and clicks count every time, and emit email.open / email.click on the first only", async () => {
    const s = await sentEmail();
    for (let i = 0; i < 3; i++) await post(await sign(notification(ses("Open", s.messageId, { open: {} }))));
    for (let i = 0; i < 2; i++) {
      await post(
        await sign(
          notification(ses("Click", s.messageId, { click: { link: "https://example.com/pricing" } })),
        ),
      );
    }
    expect(await getEmail(s)).toMatchObject({ opens: 3, clicks: 2 });
    const evs = await events(s);
    expect(evs.filter((e) => e.name === "email.open")).toHaveLength(1);
    const click = evs.filter((e) => e.name === "email.click");
    expect(click).toHaveLength(1);
    expect(evs.find((e) => e.name === "email.open").data).toMatchObject({ emailId: s.emailId });
    expect(click[0].data).toMatchObject({
      emailId: s.emailId,
      link: "https://example.com/pricing",
      clicks: 1,
      isFirstClick: true,
    });
  });

  it("a permanent bounce marks the email BOUNCED and unsubscribes the contact with reason bounce", async () => {
    const s = await sentEmail();
    await post(await sign(notification(ses("Bounce", s.messageId, { bounce: { bounceType: "Permanent" } }))));
    expect((await getEmail(s)).status).toBe("BOUNCED");
    expect((await contact(s)).subscribed).toBe(false);
    const evs = await events(s);
    expect(evs.find((e) => e.name === "email.bounce").data).toMatchObject({
      emailId: s.emailId,
      bounceType: "Permanent",
      bouncedAt: expect.any(String),
    });
    expect(evs.find((e) => e.name === "contact.unsubscribed").data).toEqual({ reason: "bounce" });
  });

  it("a bounce or complaint of an email to a SEND_EMAIL's CUSTOM recipient unsubscribes no one", async () => {
    for (const [type, extra, status] of [
      ["Bounce", { bounce: { bounceType: "Permanent" } }, "BOUNCED"],
      ["Complaint", { complaint: {} }, "COMPLAINED"],
    ] as const) {
      const s = await sentEmail();
      await env.DB.prepare("UPDATE emails SET to_email = 'manager@example.com' WHERE id = ?1")
        .bind(s.emailId)
        .run();
      await post(await sign(notification(ses(type, s.messageId, extra))));
      expect((await getEmail(s)).status).toBe(status);
      expect((await contact(s)).subscribed).toBe(true);
      const evs = await events(s);
      expect(evs.some((e) => e.name.startsWith("email."))).toBe(true);
      expect(evs.find((e) => e.name === "contact.unsubscribed")).toBeUndefined();
    }
  });

  it("a transient bounce only records the event", async () => {
    const s = await sentEmail();
    await post(await sign(notification(ses("Bounce", s.messageId, { bounce: { bounceType: "Transient" } }))));
    expect((await getEmail(s)).status).toBe("SENT");
    expect((await contact(s)).subscribed).toBe(true);
    const evs = await events(s);
    expect(evs.find((e) => e.name === "email.bounce").data).toMatchObject({
      bounceType: "Transient",
      transientBounce: true,
    });
    expect(evs.find((e) => e.name === "contact.unsubscribed")).toBeUndefined();
  });

  it("a complaint marks the email COMPLAINED and unsubscribes with reason complaint", async () => {
    const s = await sentEmail();
    await post(
      await sign(
        notification({ notificationType: "Complaint", mail: { messageId: s.messageId }, complaint: {} }),
      ),
    );
    expect((await getEmail(s)).status).toBe("COMPLAINED");
    expect((await contact(s)).subscribed).toBe(false);
    expect((await events(s)).find((e) => e.name === "contact.unsubscribed").data).toEqual({
      reason: "complaint",
    });
  });

  it("SignatureVersion 1 (SHA1withRSA) verifies too", async () => {
    const s = await sentEmail();
    const res = await post(await sign(notification(ses("Delivery", s.messageId)), "1"));
    expect(res.status).toBe(200);
    expect((await getEmail(s)).status).toBe("DELIVERED");
  });

  it("a replayed notification (same MessageId) changes nothing twice", async () => {
    const s = await sentEmail();
    const m = await sign(notification(ses("Open", s.messageId)));
    expect((await post(m)).status).toBe(200);
    expect((await post(m)).status).toBe(200);
    expect((await getEmail(s)).opens).toBe(1);
  });

  it("a notification for an unknown message id is acknowledged and changes nothing", async () => {
    const res = await post(await sign(notification(ses("Delivery", "ses-unknown"))));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, handled: false });
  });
});

describe("POST /webhooks/sns: what is refused", () => {
  it("a forged signature, an altered message and an unsigned one are 403 and change nothing", async () => {
    const s = await sentEmail();
    const signed = await sign(
      notification(ses("Bounce", s.messageId, { bounce: { bounceType: "Permanent" } })),
    );
    const forged = { ...signed, Signature: btoa("x".repeat(256)) };
    const altered = { ...signed, Message: signed.Message.replace("Permanent", "Transient") };
    const { Signature: _s, ...unsigned } = signed;
    for (const m of [forged, altered]) {
      const res = await post(m);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("INVALID_SIGNATURE");
    }
    expect((await post(unsigned)).status).toBe(422);
    expect((await getEmail(s)).status).toBe("SENT");
    expect((await contact(s)).subscribed).toBe(true);
  });

  it("a certificate from any other host, or a message signed by another key, is refused", async () => {
    const s = await sentEmail();
    for (const url of [
      "https://evil.example.com/SimpleNotificationService.pem",
      "http://sns.us-east-1.amazonaws.com/cert.pem",
      "https://sns.us-east-1.amazonaws.com.evil.com/cert.pem",
      "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
    ]) {
      const res = await post(
        await sign({ ...notification(ses("Delivery", s.messageId)), SigningCertURL: url }),
      );
      expect(res.status).toBe(403);
    }
    expect(fetches.filter((f) => !f.startsWith("http://sns-certs.test/"))).toEqual([]);
    const wrongKey = await sign({
      ...notification(ses("Delivery", s.messageId)),
      SigningCertURL: OTHER_CERT_URL,
    });
    expect((await post(wrongKey)).status).toBe(403);
    expect((await getEmail(s)).status).toBe("SENT");
  });

  it("confirms a subscription by fetching its SubscribeURL, only on an SNS host", async () => {
    const base = {
      Type: "SubscriptionConfirmation" as const,
      MessageId: crypto.randomUUID(),
      TopicArn: TOPIC,
      Message: "You have chosen to subscribe",
      Timestamp: new Date().toISOString(),
      SignatureVersion: "2",
      SigningCertURL: CERT_URL,
      Token: "tok",
    };
    const good = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=tok";
    const res = await post(await sign({ ...base, SubscribeURL: good }));
    expect(res.status).toBe(200);
    expect(fetches).toContain(good);
    const bad = await post(
      await sign({ ...base, SubscribeURL: "https://evil.example.com/?Action=ConfirmSubscription" }),
    );
    expect(bad.status).toBe(403);
    expect(fetches.some((f) => f.includes("evil"))).toBe(false);
  });

  it("reads the public key out of a certificate", () => {
    expect(spkiFromPem(cert).byteLength).toBeGreaterThan(250);
  });
});

describe("system events drive workflows", () => {
  it("a workflow on email.bounce branches on event.bounceType and calls a webhook for hard bounces", async () => {
    const { sent } = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const sk = p.secretKey;
    const wf = await call("POST", "/workflows", {
      key: sk,
      body: { name: "Bounces", eventName: "email.bounce", enabled: true },
    });
    const cond = await call("POST", `/workflows/${wf.body.id}/steps`, {
      key: sk,
      body: {
        type: "CONDITION",
        name: "Hard?",
        config: { field: "event.bounceType", operator: "equals", value: "Permanent" },
      },
    });
    const hook = await call("POST", `/workflows/${wf.body.id}/steps`, {
      key: sk,
      body: { type: "WEBHOOK", name: "Notify", config: { url: "https://example.com/bounces" } },
    });
    await call("POST", `/workflows/${wf.body.id}/transitions`, {
      key: sk,
      body: { fromStepId: wf.body.steps[0].id, toStepId: cond.body.id },
    });
    await call("POST", `/workflows/${wf.body.id}/transitions`, {
      key: sk,
      body: { fromStepId: cond.body.id, toStepId: hook.body.id, branch: "yes" },
    });
    const soft = await sentEmail(p);
    await post(
      await sign(notification(ses("Bounce", soft.messageId, { bounce: { bounceType: "Transient" } }))),
    );
    expect(sent).toHaveLength(0);
    const hard = await sentEmail(p);
    await post(
      await sign(notification(ses("Bounce", hard.messageId, { bounce: { bounceType: "Permanent" } }))),
    );
    expect(sent).toHaveLength(1);
    expect(sent[0].vars.event).toMatchObject({ bounceType: "Permanent", messageId: hard.messageId });
    expect(sent[0].vars.contact.email).toBe(hard.email);
    const runs = await call("GET", `/workflows/${wf.body.id}/executions`, { key: sk });
    expect(runs.body.data.map((e: any) => e.status)).toEqual(["COMPLETED", "COMPLETED"]);
  });

  it("an execution waiting for email.open resumes when the open arrives", async () => {
    const p = await createProject();
    const sk = p.secretKey;
    const s = await sentEmail(p);
    const wf = await call("POST", "/workflows", {
      key: sk,
      body: { name: "Wait open", eventName: "nudge", enabled: true },
    });
    const wait = await call("POST", `/workflows/${wf.body.id}/steps`, {
      key: sk,
      body: { type: "WAIT_FOR_EVENT", name: "Opened?", config: { eventName: "email.open", timeout: 86400 } },
    });
    const done = await call("POST", `/workflows/${wf.body.id}/steps`, {
      key: sk,
      body: { type: "UPDATE_CONTACT", name: "Mark", config: { data: { engaged: true } } },
    });
    await call("POST", `/workflows/${wf.body.id}/transitions`, {
      key: sk,
      body: { fromStepId: wf.body.steps[0].id, toStepId: wait.body.id },
    });
    await call("POST", `/workflows/${wf.body.id}/transitions`, {
      key: sk,
      body: { fromStepId: wait.body.id, toStepId: done.body.id, branch: "event" },
    });
    await call("POST", "/v1/track", { key: sk, body: { event: "nudge", email: s.email } });
    const before = await call("GET", `/workflows/${wf.body.id}/executions`, { key: sk });
    expect(before.body.data[0].status).toBe("WAITING");
    await post(await sign(notification(ses("Open", s.messageId))));
    const after = await call("GET", `/workflows/${wf.body.id}/executions/${before.body.data[0].id}`, {
      key: sk,
    });
    expect(after.body.status).toBe("COMPLETED");
    expect(after.body.context.event).toMatchObject({ isFirstOpen: true, messageId: s.messageId });
    expect((await contact(s)).data).toMatchObject({ engaged: true });
  });
});

describe("inbound email and topics", () => {
  const received = (from: string, id = `inbound-${crypto.randomUUID()}`) => ({
    notificationType: "Received",
    content: "From: Jane <x>\r\n\r\nhello",
    mail: {
      timestamp: "2026-01-15T10:30:00.000Z",
      source: from,
      messageId: id,
      destination: ["support@yourdomain.test"],
      commonHeaders: {
        from: [`Jane Smith <${from}>`],
        to: ["support@yourdomain.test"],
        subject: "Re: Your question",
      },
    },
    receipt: {
      timestamp: "2026-01-15T10:30:00.000Z",
      processingTimeMillis: 142,
      recipients: ["support@yourdomain.test"],
      spamVerdict: { status: "PASS" },
      virusVerdict: { status: "PASS" },
      spfVerdict: { status: "PASS" },
      dkimVerdict: { status: "GRAY" },
      dmarcVerdict: { status: "PASS" },
    },
  });

  it("an SES Received notification stores email.received for the sender, with the guide's verdicts", async () => {
    const p = await createProject();
    const from = uniqueEmail("Sender");
    const m = await sign(notification(received(from)));
    const res = await call("POST", `/webhooks/sns?project=${p.id}`, { body: m });
    expect(res.status).toBe(200);
    const list = await call("GET", `/contacts?search=${encodeURIComponent(from.toLowerCase())}`, {
      key: p.secretKey,
    });
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0].subscribed).toBe(false);
    const evs = (await call("GET", `/contacts/${list.body.data[0].id}/events`, { key: p.secretKey })).body
      .data;
    expect(evs).toHaveLength(1);
    expect(evs[0]).toMatchObject({
      name: "email.received",
      data: {
        from,
        fromHeader: `Jane Smith <${from}>`,
        to: "support@yourdomain.test",
        subject: "Re: Your question",
        recipients: ["support@yourdomain.test"],
        hasContent: true,
        spamVerdict: "PASS",
        dkimVerdict: "GRAY",
        processingTimeMillis: 142,
      },
    });
    // The same notification again changes nothing.
    expect((await call("POST", `/webhooks/sns?project=${p.id}`, { body: m })).status).toBe(200);
    expect(
      (await call("GET", `/contacts/${list.body.data[0].id}/events`, { key: p.secretKey })).body.data,
    ).toHaveLength(1);
  });

  it("an inbound notification without a known project is refused", async () => {
    const m = await sign(notification(received(uniqueEmail())));
    expect((await call("POST", "/webhooks/sns", { body: m })).status).toBe(422);
    expect((await call("POST", "/webhooks/sns?project=prj_nope", { body: m })).status).toBe(404);
  });

  it("with SNS_TOPIC_ARNS set, a validly signed message from another topic is refused", async () => {
    const s = await sentEmail();
    const before = env.SNS_TOPIC_ARNS;
    (env as { SNS_TOPIC_ARNS?: string }).SNS_TOPIC_ARNS = "arn:aws:sns:us-east-1:123456789012:ours";
    try {
      const res = await post(await sign(notification(ses("Delivery", s.messageId))));
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("UNKNOWN_TOPIC");
      expect((await getEmail(s)).status).toBe("SENT");
    } finally {
      (env as { SNS_TOPIC_ARNS?: string }).SNS_TOPIC_ARNS = before;
    }
  });
});

describe("GET /project stats", () => {
  it("counts the last 30 days: sent, delivered, permanent bounces, complaints, and the bounce rate", async () => {
    const p = await createProject();
    const a = await sentEmail(p);
    const b = await sentEmail(p);
    const c = await sentEmail(p);
    const d = await sentEmail(p);
    await post(await sign(notification(ses("Delivery", a.messageId))));
    await post(await sign(notification(ses("Bounce", b.messageId, { bounce: { bounceType: "Permanent" } }))));
    await post(await sign(notification(ses("Bounce", c.messageId, { bounce: { bounceType: "Transient" } }))));
    await post(await sign(notification(ses("Complaint", d.messageId))));
    const old = await sentEmail(p);
    await env.DB.prepare("UPDATE emails SET sent_at = ?2 WHERE id = ?1")
      .bind(old.emailId, Date.now() - 31 * 86_400_000)
      .run();
    const res = await call("GET", "/project", { key: p.secretKey });
    expect(res.body.stats).toEqual({ sent: 4, delivered: 1, bounced: 1, complained: 1, bounceRate: 0.25 });
  });
});
