/** `POST /v1/send`: validation, contacts, email rows, the emails queue, and Idempotency-Key. */
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { call, createProject, expectEnvelope, type TestProject, uniqueEmail } from "./helpers";

let p: TestProject;
let templateId: string;
let marketingId: string;
beforeAll(async () => {
  p = await createProject();
  const t = await call("POST", "/templates", {
    key: p.secretKey,
    body: {
      name: "Receipt",
      subject: "Receipt",
      body: "<p>Thanks</p>",
      from: "billing@example.com",
      type: "TRANSACTIONAL",
    },
  });
  expect(t.status).toBe(201);
  templateId = t.body.id;
  const m = await call("POST", "/templates", {
    key: p.secretKey,
    body: { name: "News", subject: "News", body: "<p>News</p>", from: "news@example.com" },
  });
  expect(m.status).toBe(201);
  marketingId = m.body.id;
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** `/v1/send` hands its emails to the queue with sendBatch; this records each message body. */
function captureBatches() {
  const sent: any[] = [];
  const spy = vi.spyOn(env.EMAILS_QUEUE, "sendBatch").mockImplementation(async (messages) => {
    for (const m of messages) sent.push(m.body);
    return {
      metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date(0) } },
    };
  });
  const single = vi.spyOn(env.EMAILS_QUEUE, "send").mockImplementation(async (body) => {
    sent.push(body);
    return {
      metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date(0) } },
    };
  });
  return { sent, spy, single };
}

const send = (body: unknown, opts: { key?: string; headers?: Record<string, string> } = {}) =>
  call("POST", "/v1/send", { key: opts.key ?? p.secretKey, body, headers: opts.headers });

function fieldsOf(res: { body: any }): string[] {
  return res.body.error.errors.map((e: { field: string }) => e.field);
}

const emailRow = (id: string) =>
  env.DB.prepare("SELECT * FROM emails WHERE id = ?1").bind(id).first<Record<string, any>>();

describe("POST /v1/send: bad bodies → 422 with the field, nothing stored or queued", () => {
  const ok = { to: "a@example.com", subject: "Hi", body: "Hello" };
  it.each([
    ["to missing", { subject: "Hi", body: "Hello" }, "to"],
    ["to not an email", { ...ok, to: "not-an-email" }, "to"],
    ["to object with a bad email", { ...ok, to: { name: "A", email: "nope" } }, "to"],
    ["to an array of 101", { ...ok, to: Array.from({ length: 101 }, (_, i) => `r${i}@example.com`) }, "to"],
    ["to an empty array", { ...ok, to: [] }, "to"],
    ["neither template nor subject+body", { to: "a@example.com" }, "template"],
    ["subject without body", { to: "a@example.com", subject: "Hi" }, "template"],
    ["body without subject", { to: "a@example.com", body: "Hi" }, "template"],
    ["template not a template id", { to: "a@example.com", template: "nope" }, "template"],
    [
      "headers with CRLF in a value",
      { ...ok, headers: { "X-Tag": "a\r\nBcc: evil@example.com" } },
      "headers",
    ],
    ["headers with LF in a value", { ...ok, headers: { "X-Tag": "a\nb" } }, "headers"],
    ["reserved header Subject", { ...ok, headers: { Subject: "other" } }, "headers"],
    ["reserved header bcc", { ...ok, headers: { bcc: "x@example.com" } }, "headers"],
    ["reserved header List-Unsubscribe", { ...ok, headers: { "List-Unsubscribe": "<x>" } }, "headers"],
    ["header name with a space", { ...ok, headers: { "X Tag": "v" } }, "headers"],
    ['type "text"', { ...ok, type: "text" }, "type"],
    ["from invalid", { ...ok, from: "nope" }, "from"],
    ["from object invalid", { ...ok, from: { name: "X", email: "nope" } }, "from"],
    ["reply invalid", { ...ok, reply: "nope" }, "reply"],
    ["unknown key", { ...ok, cc: "x@example.com" }, "body"],
    ["subscribed not a boolean", { ...ok, subscribed: "yes" }, "subscribed"],
  ])("%s", async (_label, body, field) => {
    const q = captureBatches();
    const before = await env.DB.prepare("SELECT count(*) AS n FROM emails WHERE project_id = ?1")
      .bind(p.id)
      .first<{ n: number }>();
    const res = await send(body);
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    const fields = fieldsOf(res);
    expect(
      fields.some((f) => f === field || f.startsWith(`${field}.`)),
      JSON.stringify(fields),
    ).toBe(true);
    expect(q.sent).toHaveLength(0);
    const after = await env.DB.prepare("SELECT count(*) AS n FROM emails WHERE project_id = ?1")
      .bind(p.id)
      .first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });

  it("an unknown template → field template, code unknown_template", async () => {
    const q = captureBatches();
    const res = await send({ to: "a@example.com", template: "tpl_doesnotexist" });
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(res.body.error.errors[0]).toMatchObject({ field: "template", code: "unknown_template" });
    expect(q.sent).toHaveLength(0);
  });

  it("another project's template is unknown here", async () => {
    const other = await createProject();
    captureBatches();
    const res = await send({ to: "a@example.com", template: templateId }, { key: other.secretKey });
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(res.body.error.errors[0]).toMatchObject({ field: "template", code: "unknown_template" });
  });

  it("a subject or body that does not parse → 422 invalid_template", async () => {
    captureBatches();
    const res = await send({ to: "a@example.com", subject: "Hi", body: "{% if x %}" });
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(res.body.error.errors[0]).toMatchObject({ field: "body", code: "invalid_template", line: 1 });
  });

  it("a public key → 403; no key → 401", async () => {
    const q = captureBatches();
    expectEnvelope(
      await send({ to: "a@example.com", subject: "s", body: "b" }, { key: p.publicKey }),
      403,
      "FORBIDDEN",
    );
    expectEnvelope(await call("POST", "/v1/send", { body: { to: "a@example.com" } }), 401, "MISSING_AUTH");
    expect(q.sent).toHaveLength(0);
  });

  it("a body that is not JSON → 400", async () => {
    const res = await call("POST", "/v1/send", {
      key: p.secretKey,
      raw: "[1,2]",
      headers: { "content-type": "application/json" },
    });
    expectEnvelope(res, 400, "INVALID_REQUEST_BODY");
  });
});

describe("POST /v1/send: success", () => {
  it("one recipient: Plunk's answer, a QUEUED row, one message on the queue, a new contact unsubscribed", async () => {
    const q = captureBatches();
    const to = uniqueEmail("one");
    const res = await send({ to: `  ${to.toUpperCase()} `, subject: "Hi {{ email }}", body: "<p>Hello</p>" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.success).toBe(true);
    expect(res.body.data.emails).toHaveLength(1);
    const out = res.body.data.emails[0];
    expect(out.contact.email).toBe(to);
    expect(out.contact.id).toMatch(/^ctc_/);
    expect(out.email).toMatch(/^eml_/);
    expect(new Date(res.body.data.timestamp).toISOString()).toBe(res.body.data.timestamp);

    expect(q.sent).toEqual([{ kind: "email-send", emailId: out.email, db: "DB" }]);

    const list = await call("GET", `/emails?contactId=${out.contact.id}`, { key: p.secretKey });
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({
      id: out.email,
      contactId: out.contact.id,
      status: "QUEUED",
      sourceType: "TRANSACTIONAL",
      templateId: null,
      subject: "Hi {{ email }}",
      messageId: null,
    });
    const one = await call("GET", `/emails/${out.email}`, { key: p.secretKey });
    expect(one.body).toMatchObject({ id: out.email, status: "QUEUED" });
    const queued = await call("GET", "/emails?status=QUEUED&limit=100", { key: p.secretKey });
    expect(queued.body.data.map((e: { id: string }) => e.id)).toContain(out.email);

    const contact = await call("GET", `/contacts/${out.contact.id}`, { key: p.secretKey });
    expect(contact.body).toMatchObject({ email: to, subscribed: false });
  });

  it("an array of addresses and {name, email} objects: one email and one message each", async () => {
    const q = captureBatches();
    const a = uniqueEmail("arr");
    const b = uniqueEmail("arr");
    const c = uniqueEmail("arr");
    const res = await send({
      to: [a, { name: "Bee", email: b }, { email: c }],
      subject: "S",
      body: "B",
      from: { name: "Sender", email: "sender@example.com" },
      reply: "reply@example.com",
      headers: { "X-Campaign": "spring" },
      data: { plan: "pro" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const out = res.body.data.emails as { contact: { id: string; email: string }; email: string }[];
    expect(out.map((e) => e.contact.email)).toEqual([a, b, c]);
    expect(new Set(out.map((e) => e.email)).size).toBe(3);
    expect(new Set(out.map((e) => e.contact.id)).size).toBe(3);
    expect(q.sent).toEqual(out.map((e) => ({ kind: "email-send", emailId: e.email, db: "DB" })));
    for (const e of out) {
      const row = await emailRow(e.email);
      expect(row).toMatchObject({
        project_id: p.id,
        contact_id: e.contact.id,
        to_email: e.contact.email,
        status: "QUEUED",
        source_type: "TRANSACTIONAL",
        type: "TRANSACTIONAL",
        from_email: "sender@example.com",
        from_name: "Sender",
        reply_to: "reply@example.com",
        subject: "S",
        body: "B",
      });
      expect(JSON.parse(row?.headers)).toEqual({ "X-Campaign": "spring" });
      expect(JSON.parse(row?.data)).toEqual({ plan: "pro" });
    }
  });

  it("100 recipients are accepted", async () => {
    const q = captureBatches();
    const res = await send({
      to: Array.from({ length: 100 }, () => uniqueEmail("hundred")),
      subject: "S",
      body: "B",
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data.emails).toHaveLength(100);
    expect(q.sent).toHaveLength(100);
  });

  it("an existing contact keeps its status unless subscribed is given", async () => {
    captureBatches();
    const email = uniqueEmail("existing");
    const made = await call("POST", "/contacts", { key: p.secretKey, body: { email, subscribed: true } });
    expect(made.status).toBe(201);
    const id = made.body.id as string;

    await send({ to: email, subject: "S", body: "B" });
    expect((await call("GET", `/contacts/${id}`, { key: p.secretKey })).body.subscribed).toBe(true);

    const res = await send({ to: email, subject: "S", body: "B", subscribed: false });
    expect(res.body.data.emails[0].contact.id).toBe(id);
    expect((await call("GET", `/contacts/${id}`, { key: p.secretKey })).body.subscribed).toBe(false);
    const events = await call("GET", `/contacts/${id}/events?limit=100`, { key: p.secretKey });
    expect(events.body.data.map((e: { name: string }) => e.name)).toContain("contact.unsubscribed");

    await send({ to: email, subject: "S", body: "B" });
    expect((await call("GET", `/contacts/${id}`, { key: p.secretKey })).body.subscribed).toBe(false);
  });

  it("a new contact with subscribed: true is subscribed", async () => {
    captureBatches();
    const res = await send({ to: uniqueEmail("subbed"), subject: "S", body: "B", subscribed: true });
    const c = await call("GET", `/contacts/${res.body.data.emails[0].contact.id}`, { key: p.secretKey });
    expect(c.body.subscribed).toBe(true);
  });

  it("a markdown body is stored as HTML", async () => {
    captureBatches();
    const res = await send({
      to: uniqueEmail("md"),
      subject: "S",
      body: "# Title\n\nSome **bold** text and a [link](https://example.com).",
      type: "markdown",
    });
    expect(res.status).toBe(200);
    const row = await emailRow(res.body.data.emails[0].email);
    expect(row?.body).toContain("<h1>Title</h1>");
    expect(row?.body).toContain("<strong>bold</strong>");
    expect(row?.body).toContain('<a href="https://example.com">link</a>');
    expect(row?.body).not.toContain("**");
  });

  it("an html body is stored as given", async () => {
    captureBatches();
    const res = await send({ to: uniqueEmail("html"), subject: "S", body: "# not a title", type: "html" });
    expect((await emailRow(res.body.data.emails[0].email))?.body).toBe("# not a title");
  });

  it("a template: the row names it and takes its type", async () => {
    const q = captureBatches();
    const res = await send({ to: uniqueEmail("tpl"), template: templateId });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const row = await emailRow(res.body.data.emails[0].email);
    expect(row).toMatchObject({ template_id: templateId, type: "TRANSACTIONAL", status: "QUEUED" });
    const m = await send({ to: uniqueEmail("tpl"), template: marketingId });
    const mrow = await emailRow(m.body.data.emails[0].email);
    expect(mrow).toMatchObject({ template_id: marketingId, type: "MARKETING" });
    expect(q.sent).toHaveLength(2);
    const api = await call("GET", `/emails/${m.body.data.emails[0].email}`, { key: p.secretKey });
    expect(api.body.templateId).toBe(marketingId);
  });
});

describe("POST /v1/send: Idempotency-Key", () => {
  it("a repeat returns the same body and queues nothing more", async () => {
    const q = captureBatches();
    const key = `send-${crypto.randomUUID()}`;
    const body = { to: [uniqueEmail("idem"), uniqueEmail("idem")], subject: "S", body: "B" };
    const first = await send(body, { headers: { "Idempotency-Key": key } });
    expect(first.status).toBe(200);
    expect(q.sent).toHaveLength(2);
    const second = await send(body, { headers: { "Idempotency-Key": key } });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(q.sent).toHaveLength(2);
    const rows = await env.DB.prepare(
      "SELECT count(*) AS n FROM emails WHERE project_id = ?1 AND to_email IN (?2, ?3)",
    )
      .bind(p.id, body.to[0], body.to[1])
      .first<{ n: number }>();
    expect(rows?.n).toBe(2);

    const reused = await send({ ...body, subject: "Other" }, { headers: { "Idempotency-Key": key } });
    expectEnvelope(reused, 409, "IDEMPOTENCY_KEY_REUSED");
    expect(q.sent).toHaveLength(2);
  });

  it("without a key, a repeat sends again", async () => {
    const q = captureBatches();
    const body = { to: uniqueEmail("noidem"), subject: "S", body: "B" };
    const a = await send(body);
    const b = await send(body);
    expect(a.body.data.emails[0].email).not.toBe(b.body.data.emails[0].email);
    expect(q.sent).toHaveLength(2);
  });
});
