/**
 * Campaigns: validation, the audience's count, the fan-out through the segments queue (pages, a crash in
 * the middle, duplicate deliveries, a lost message), the emails with campaignId and sourceType CAMPAIGN,
 * their counters from the consumer, SES's notifications and the unsubscribe link, schedule and cancel.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type CampaignPageMessage,
  FANOUT_PAGE,
  fireDueCampaigns,
  messageBudget,
  STALLED_MS,
} from "../src/campaigns";
import { createLogger } from "../src/log";
import { applySesEvent } from "../src/routes/sns";
import {
  call,
  captureQueue,
  consume,
  consumeBatch,
  createProject,
  expectEnvelope,
  type TestProject,
  uniqueEmail,
} from "./helpers";

const log = createLogger({ test: "campaigns" });
const metrics = {
  metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date(0) } },
};

afterEach(() => {
  vi.restoreAllMocks();
  messageBudget.ms = 10_000;
});

/** Holds what the fan-out hands to the queues, to be delivered by the test. */
function holdQueues() {
  const pages = captureQueue(env.SEGMENTS_QUEUE as Queue<unknown>);
  const resumed: unknown[] = [];
  vi.spyOn(env.SEGMENTS_QUEUE, "sendBatch").mockImplementation(async (ms) => {
    for (const m of ms) resumed.push(m.body);
    return metrics;
  });
  const emails: { emailId: string }[] = [];
  vi.spyOn(env.EMAILS_QUEUE, "sendBatch").mockImplementation(async (ms) => {
    for (const m of ms) emails.push(m.body as { emailId: string });
    return metrics;
  });
  vi.spyOn(env.EMAILS_QUEUE, "send").mockImplementation(async () => metrics);
  return { pages: pages.sent as CampaignPageMessage[], resumed, emails };
}

/** SES, faked: accepts each email with MessageId cm-<n>; returns the recipients. */
function ses() {
  const to: string[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const req = new Request(input as RequestInfo, init);
    const body = JSON.parse(await req.text());
    to.push(body.Destination.ToAddresses[0]);
    return Response.json({ MessageId: `cm-${crypto.randomUUID()}` });
  });
  return to;
}

async function contacts(p: TestProject, n: number, data: Record<string, unknown> = {}, subscribed = true) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await call("POST", "/contacts", {
      key: p.secretKey,
      body: { email: uniqueEmail("cmp"), subscribed, data },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    ids.push(res.body.id);
  }
  return ids;
}

async function campaign(p: TestProject, body: Record<string, unknown> = {}) {
  const res = await call("POST", "/campaigns", {
    key: p.secretKey,
    body: { name: "December news", subject: "Hi {{ data.name ?? 'there' }}", body: "<p>News</p>", ...body },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const get = async (p: TestProject, id: string) =>
  (await call("GET", `/campaigns/${id}`, { key: p.secretKey })).body;

const campaignEmails = async (id: string) =>
  (
    await env.DB.prepare(
      "SELECT id, contact_id, status, source_type, campaign_id FROM emails WHERE campaign_id = ?1",
    )
      .bind(id)
      .all<{ id: string; contact_id: string; status: string; source_type: string; campaign_id: string }>()
  ).results;

describe("campaigns API", () => {
  it("refuses what cannot be sent, with the field named", async () => {
    const p = await createProject();
    const bad = async (body: Record<string, unknown>) =>
      (await call("POST", "/campaigns", { key: p.secretKey, body: { name: "X", ...body } })).body.error;
    expect((await bad({})).errors.map((e: any) => e.field)).toEqual(["subject", "body"]);
    expect((await bad({ subject: "Hi {{", body: "x" })).errors[0]).toMatchObject({
      field: "subject",
      code: "invalid_template",
    });
    expect((await bad({ templateId: "tpl_nope" })).errors[0].field).toBe("templateId");
    expect(
      (await bad({ subject: "s", body: "b", audience: { type: "SEGMENT", segmentId: "seg_nope" } })).errors[0]
        .field,
    ).toBe("audience.segmentId");
    expect((await bad({ subject: "s", body: "b", audience: { type: "EVERYONE" } })).errors[0].field).toMatch(
      /^audience/,
    );
    const c = await campaign(p);
    expect(c).toMatchObject({
      status: "DRAFT",
      audience: { type: "ALL" },
      stats: { recipients: 0, sent: 0 },
    });
    const other = await createProject();
    expectEnvelope(
      await call("GET", `/campaigns/${c.id}`, { key: other.secretKey }),
      404,
      "CAMPAIGN_NOT_FOUND",
    );
    const past = await call("POST", `/campaigns/${c.id}/schedule`, {
      key: p.secretKey,
      body: { at: "2020-01-01T00:00:00Z" },
    });
    expect(past.body.error.errors[0]).toMatchObject({ field: "at", code: "in_the_past" });
    const nonsense = await call("POST", `/campaigns/${c.id}/schedule`, {
      key: p.secretKey,
      body: { at: "tomorrow" },
    });
    expect(nonsense.body.error.errors[0]).toMatchObject({ field: "at", code: "invalid_time" });
    expectEnvelope(await call("POST", `/campaigns/${c.id}/cancel`, { key: p.secretKey }), 409, "CONFLICT");
  });

  it("counts the audience's subscribed contacts: all, a segment, a filter", async () => {
    const p = await createProject();
    await contacts(p, 3, { plan: "pro" });
    await contacts(p, 2, { plan: "free" });
    await contacts(p, 1, { plan: "pro" }, false);
    const seg = await call("POST", "/segments", {
      key: p.secretKey,
      body: { name: "Pro", type: "STATIC" },
    });
    const count = async (audience: unknown) =>
      (await call("POST", "/campaigns/count", { key: p.secretKey, body: { audience } })).body;
    expect(await count({ type: "ALL" })).toEqual({ count: 5, complete: true });
    expect(await count({ type: "SEGMENT", segmentId: seg.body.id })).toEqual({ count: 0, complete: true });
    expect(
      await count({
        type: "FILTER",
        filter: { match: "all", filters: [{ field: "contact.data.plan", operator: "equals", value: "pro" }] },
      }),
    ).toEqual({ count: 3, complete: true });
  });
});

describe("sending", () => {
  it("fans out a page at a time, each subscribed contact emailed once, through a crash and duplicate deliveries", async () => {
    const p = await createProject();
    const subscribed = await contacts(p, 0);
    // Three pages of subscribed contacts (the pages count those), written straight to D1; every tenth unsubscribed.
    const now = Date.now();
    const n = FANOUT_PAGE * 3 + 37;
    const rows = Array.from({ length: n }, (_, i) => ({
      id: `ctc_cmp${String(i).padStart(5, "0")}`,
      email: `fan${i}-${p.id}@example.com`,
      subscribed: i % 10 === 0 ? 0 : 1,
    }));
    await env.DB.prepare(
      `INSERT INTO contacts (id, project_id, email, subscribed, data, created_at, updated_at)
         SELECT value ->> 'id', ?1, value ->> 'email', value ->> 'subscribed', '{}', ?2, ?2 FROM json_each(?3)`,
    )
      .bind(p.id, now, JSON.stringify(rows))
      .run();
    subscribed.push(...rows.filter((r) => r.subscribed).map((r) => r.id));
    const c = await campaign(p);
    const q = holdQueues();
    // One page a message, so that each page's delivery can be seen.
    messageBudget.ms = 0;
    const sent = await call("POST", `/campaigns/${c.id}/send`, { key: p.secretKey });
    expect(sent.status).toBe(202);
    expect(sent.body.status).toBe("SENDING");
    expectEnvelope(await call("POST", `/campaigns/${c.id}/send`, { key: p.secretKey }), 409, "CONFLICT");
    expectEnvelope(
      await call("PATCH", `/campaigns/${c.id}`, { key: p.secretKey, body: { name: "Y" } }),
      409,
      "CONFLICT",
    );
    const [first] = q.pages;
    expect(first).toMatchObject({ kind: "campaign-page", campaignId: c.id });

    // The first page, delivered twice at once: one of them works it.
    await Promise.all([consume("segments", first), consume("segments", first)]);
    expect((await campaignEmails(c.id)).length).toBe(FANOUT_PAGE);
    expect(q.pages.length).toBe(2);
    expect((await get(p, c.id)).stats.recipients).toBe(FANOUT_PAGE);

    // The second page's message is lost: the sweep finds the campaign stalled and sends it again.
    await fireDueCampaigns(env, log, Date.now());
    expect(q.resumed).toEqual([]);
    await env.DB.prepare("UPDATE campaigns SET updated_at = updated_at - ?2 WHERE id = ?1")
      .bind(c.id, STALLED_MS + 1)
      .run();
    await fireDueCampaigns(env, log, Date.now());
    expect(q.resumed).toEqual([{ kind: "campaign-page", db: env.DATABASE, campaignId: c.id }]);
    // That page crashes between its batch and the queue: its emails are made, their hand-over lost.
    vi.mocked(env.EMAILS_QUEUE.sendBatch).mockImplementationOnce(async () => {
      throw new Error("queue down");
    });
    const outcome = await consume("segments", q.resumed[0]);
    expect(outcome.retried).toBe(true);
    expect((await campaignEmails(c.id)).length).toBe(FANOUT_PAGE * 2);
    // Its retry goes on from the cursor: the third and last page.
    await consume("segments", q.resumed[0]);
    const made = await campaignEmails(c.id);
    expect(made.length).toBe(subscribed.length);
    expect(new Set(made.map((e) => e.contact_id))).toEqual(new Set(subscribed));
    expect(made.every((e) => e.source_type === "CAMPAIGN" && e.status === "QUEUED")).toBe(true);
    const after = await get(p, c.id);
    expect(after).toMatchObject({
      status: "SENDING",
      fannedOut: true,
      stats: { recipients: subscribed.length },
    });

    // The emails the lost hand-over held are handed over by the sweep (QUEUED too long); here, all at once.
    const to = ses();
    const ids = made.map((e) => ({ kind: "email-send", emailId: e.id, db: env.DATABASE }));
    for (let i = 0; i < ids.length; i += 100) await consumeBatch("emails", ids.slice(i, i + 100));
    // And again (a redelivery): nothing twice.
    await consumeBatch("emails", ids.slice(0, 50));
    expect(to.length).toBe(subscribed.length);
    expect(new Set(to).size).toBe(subscribed.length);
    const done = await get(p, c.id);
    expect(done).toMatchObject({
      status: "SENT",
      stats: { recipients: subscribed.length, sent: subscribed.length, skipped: 0 },
    });
    expect(done.finishedAt).not.toBeNull();
    const ev = await env.DB.prepare(
      "SELECT data FROM events WHERE project_id = ?1 AND name = 'email.sent' LIMIT 1",
    )
      .bind(p.id)
      .first<{ data: string }>();
    expect(JSON.parse(ev?.data ?? "{}")).toMatchObject({ campaignId: c.id, sourceType: "CAMPAIGN" });
  }, 60_000);

  it("one message goes on through the pages within its budget", async () => {
    const p = await createProject();
    const now = Date.now();
    const rows = Array.from({ length: FANOUT_PAGE * 2 + 1 }, (_, i) => ({
      id: `ctc_bud${String(i).padStart(5, "0")}`,
      email: `bud${i}-${p.id}@example.com`,
    }));
    await env.DB.prepare(
      `INSERT INTO contacts (id, project_id, email, subscribed, data, created_at, updated_at)
       SELECT value ->> 'id', ?1, value ->> 'email', 1, '{}', ?2, ?2 FROM json_each(?3)`,
    )
      .bind(p.id, now, JSON.stringify(rows))
      .run();
    const c = await campaign(p);
    const q = holdQueues();
    await call("POST", `/campaigns/${c.id}/send`, { key: p.secretKey });
    await consume("segments", q.pages[0]);
    expect(q.pages).toHaveLength(1);
    expect(q.emails).toHaveLength(rows.length);
    expect(await get(p, c.id)).toMatchObject({ fannedOut: true, stats: { recipients: rows.length } });
  });

  it("counts SES's notifications and the unsubscribe link once each; a segment's audience", async () => {
    const p = await createProject();
    const ids = await contacts(p, 3);
    const seg = await call("POST", "/segments", { key: p.secretKey, body: { name: "Two", type: "STATIC" } });
    const emailsOf = await Promise.all(
      ids.map(
        async (id) => (await call("GET", `/contacts/${id}`, { key: p.secretKey })).body.email as string,
      ),
    );
    await call("POST", `/segments/${seg.body.id}/members`, {
      key: p.secretKey,
      body: { emails: emailsOf.slice(0, 2) },
    });
    const c = await campaign(p, {
      audience: { type: "SEGMENT", segmentId: seg.body.id },
      body: "<a href='{{ unsubscribeUrl }}'>unsubscribe</a>",
    });
    const q = holdQueues();
    await call("POST", `/campaigns/${c.id}/send`, { key: p.secretKey });
    await consume("segments", q.pages[0]);
    expect(q.emails.length).toBe(2);
    ses();
    await consumeBatch("emails", q.emails);
    const rows = await env.DB.prepare("SELECT id, message_id, contact_id FROM emails WHERE campaign_id = ?1")
      .bind(c.id)
      .all<{ id: string; message_id: string; contact_id: string }>();
    expect(rows.results.map((r) => r.contact_id).sort()).toEqual(ids.slice(0, 2).sort());
    const listed = await call("GET", `/emails?campaignId=${c.id}`, { key: p.secretKey });
    expect(listed.body.data.map((e: any) => e.campaignId)).toEqual([c.id, c.id]);
    expect((await call("GET", "/emails?campaignId=cmp_other", { key: p.secretKey })).body.data).toEqual([]);
    const [a, b] = rows.results as unknown as [
      { message_id: string; contact_id: string },
      { message_id: string },
    ];
    const at = Date.now();
    for (const [sns, e] of [
      ["n1", { kind: "delivery", messageId: a.message_id, at }],
      ["n2", { kind: "open", messageId: a.message_id, at }],
      ["n3", { kind: "open", messageId: a.message_id, at: at + 1 }],
      ["n4", { kind: "click", messageId: a.message_id, at, link: "https://x.test" }],
      ["n5", { kind: "bounce", messageId: b.message_id, at, bounceType: "Permanent" }],
    ] as const) {
      await applySesEvent(env, sns, e);
      await applySesEvent(env, sns, e); // SNS redelivers: nothing twice
    }
    // The unsubscribe link of the campaign's email names the campaign.
    const sentBody = await env.DB.prepare("SELECT signing_secret FROM projects WHERE id = ?1")
      .bind(p.id)
      .first();
    expect(sentBody).not.toBeNull();
    const { contactLinks } = await import("../src/queues/variables");
    const links = await contactLinks(env, (sentBody as any).signing_secret, p.id, a.contact_id, c.id);
    const path = new URL(links.unsubscribeUrl).pathname + new URL(links.unsubscribeUrl).search;
    expect(path).toContain(`?campaign=${c.id}`);
    await call("POST", path, {});
    await call("POST", path, {});
    expect((await get(p, c.id)).stats).toEqual({
      recipients: 2,
      sent: 2,
      skipped: 0,
      delivered: 1,
      opened: 1,
      clicked: 1,
      bounced: 1,
      complained: 0,
      unsubscribed: 2,
    });
  });

  it("schedules in a time zone, starts when due, and a cancel stops what is not sent yet", async () => {
    const p = await createProject();
    await contacts(p, 3);
    const c = await campaign(p);
    const sched = await call("POST", `/campaigns/${c.id}/schedule`, {
      key: p.secretKey,
      body: { at: "2099-07-01T09:00", timeZone: "Europe/Berlin" },
    });
    expect(sched.body).toMatchObject({
      status: "SCHEDULED",
      scheduledAt: "2099-07-01T07:00:00.000Z",
      timeZone: "Europe/Berlin",
    });
    const q = holdQueues();
    await fireDueCampaigns(env, log, Date.now());
    expect(q.pages.filter((m) => m.campaignId === c.id)).toEqual([]);
    await fireDueCampaigns(env, log, Date.parse("2099-07-01T07:00:00Z"));
    expect(q.pages.filter((m) => m.campaignId === c.id)).toHaveLength(1);
    expect((await get(p, c.id)).status).toBe("SENDING");
    await consume(
      "segments",
      q.pages.find((m) => m.campaignId === c.id),
    );
    expect(q.emails.length).toBe(3);
    const to = ses();
    await consumeBatch("emails", q.emails.slice(0, 1));
    const cancel = await call("POST", `/campaigns/${c.id}/cancel`, { key: p.secretKey });
    expect(cancel.body.status).toBe("CANCELLED");
    await consumeBatch("emails", q.emails.slice(1));
    expect(to.length).toBe(1);
    const rows = await campaignEmails(c.id);
    expect(rows.map((r) => r.status).sort()).toEqual(["NOT_SENT", "NOT_SENT", "SENT"]);
    expect(await get(p, c.id)).toMatchObject({ status: "CANCELLED", stats: { sent: 1, skipped: 2 } });
    expectEnvelope(await call("POST", `/campaigns/${c.id}/send`, { key: p.secretKey }), 409, "CONFLICT");
    expectEnvelope(await call("DELETE", `/campaigns/${c.id}`, { key: p.secretKey }), 409, "CONFLICT");
  });

  it("sends a test to an address, rendered with a chosen contact, and stores nothing", async () => {
    const p = await createProject();
    const [id] = await contacts(p, 1, { name: "Ada" });
    const c = await campaign(p);
    let sesBody: any;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      sesBody = JSON.parse(await new Request(input as RequestInfo, init).text());
      return Response.json({ MessageId: "test-1" });
    });
    const res = await call("POST", `/campaigns/${c.id}/test`, {
      key: p.secretKey,
      body: { to: "Me@Example.com", contactId: id },
    });
    expect(res.body).toEqual({ to: "me@example.com", subject: "Hi Ada", messageId: "test-1" });
    expect(sesBody.Destination.ToAddresses).toEqual(["me@example.com"]);
    expect(await campaignEmails(c.id)).toEqual([]);
    expect((await get(p, c.id)).status).toBe("DRAFT");
    expectEnvelope(
      await call("POST", `/campaigns/${c.id}/test`, {
        key: p.secretKey,
        body: { to: "me@example.com", contactId: "ctc_nope" },
      }),
      404,
      "CONTACT_NOT_FOUND",
    );
    vi.mocked(globalThis.fetch).mockImplementation(async () =>
      Response.json({ message: "Email address not verified" }, { status: 400 }),
    );
    expectEnvelope(
      await call("POST", `/campaigns/${c.id}/test`, { key: p.secretKey, body: { to: "me@example.com" } }),
      502,
      "SEND_FAILED",
    );
  });
});
