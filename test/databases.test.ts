/**
 * Projects in several D1 databases (src/db/databases.ts): a project is placed in one when it is created,
 * and everything of it (contacts, events, workflows, executions, deliveries, emails) is written there and
 * nowhere else, through every entry point: requests, the execution's object and its alarm, the queues'
 * consumers, /webhooks/sns, unsubscribe links and the cron sweep. The registry (DB) keeps the projects.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { databaseForNewProject } from "../src/db/databases";
import { unsubscribeToken } from "../src/domain/unsubscribe";
import { createLogger } from "../src/log";
import { sweep } from "../src/sweep";
import {
  ADMIN,
  call,
  captureQueue,
  consume,
  createProject,
  expectEnvelope,
  fetchSettled,
  type TestProject,
  uniqueEmail,
} from "./helpers";
import { createWorkflow, listExecutions, runAlarm, track } from "./workflow-helpers";

afterEach(() => vi.restoreAllMocks());
const log = createLogger({ test: "databases" });

const count = (db: D1Database, sql: string, ...params: unknown[]) =>
  db
    .prepare(sql)
    .bind(...params)
    .first<{ n: number }>()
    .then((r) => r?.n ?? 0);

/** Rows of project `p` in each database, by table. */
async function rowsOf(p: TestProject) {
  const tables = ["contacts", "events", "executions", "webhook_deliveries", "emails", "workflows"];
  const out: Record<string, { DB: number; DB_2: number }> = {};
  for (const t of tables) {
    out[t] = {
      DB: await count(env.DB, `SELECT count(*) AS n FROM ${t} WHERE project_id = ?1`, p.id),
      DB_2: await count(env.DB_2, `SELECT count(*) AS n FROM ${t} WHERE project_id = ?1`, p.id),
    };
  }
  return out;
}

describe("placement", () => {
  it("puts a new project in the database holding the fewest, records it, and says which", async () => {
    const expected = await databaseForNewProject(env);
    const res = await call("POST", "/admin/projects", { key: ADMIN, body: { name: "Placed" } });
    expect(res.status).toBe(201);
    expect(res.body.database).toBe(expected);
    const registry = await env.DB.prepare("SELECT database FROM projects WHERE id = ?1")
      .bind(res.body.id)
      .first<{ database: string }>();
    expect(registry?.database).toBe(expected);
    // The project's own database has its copy of the row (its keys, for the writes held against them).
    const own = expected === "DB_2" ? env.DB_2 : env.DB;
    expect(await count(own, "SELECT count(*) AS n FROM projects WHERE id = ?1", res.body.id)).toBe(1);
    // And then the other one is the emptier (or they are even).
    const counts = await env.DB.prepare(
      "SELECT database, count(*) AS n FROM projects GROUP BY database",
    ).all<{
      database: string;
      n: number;
    }>();
    const by = new Map(counts.results.map((r) => [r.database, r.n]));
    const next = await databaseForNewProject(env);
    expect(by.get(next) ?? 0).toBeLessThanOrEqual(Math.min(by.get("DB") ?? 0, by.get("DB_2") ?? 0));
  });

  it("takes a database by name, and refuses one that is not bound with 422 on `database`", async () => {
    const p = await createProject("In DB_2", { database: "DB_2" });
    expect(p).toMatchObject({ database: "DB_2" });
    for (const database of ["DB_9", "OTHER", "db_2", 2]) {
      const res = await call("POST", "/admin/projects", { key: ADMIN, body: { name: "x", database } });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors[0].field).toBe("database");
    }
    const listed = await call("GET", "/admin/projects?limit=100", { key: ADMIN });
    expect(listed.body.data.find((x: { id: string }) => x.id === p.id)).toMatchObject({ database: "DB_2" });
  });
});

describe("a project in DB_2", () => {
  it("writes its contacts, events, workflows, executions and deliveries there only, through alarm and queue", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject("Second", { database: "DB_2" });
    const wf = await createWorkflow(p.secretKey, {
      eventName: "signup",
      steps: {
        wait: { type: "DELAY", config: { amount: 1, unit: "hours" } },
        hook: { type: "WEBHOOK", config: { url: "https://example.com/hook" } },
      },
      edges: [
        ["trigger", "wait"],
        ["wait", "hook"],
      ],
    });
    const t = await track(p.publicKey, "signup", uniqueEmail("db2"), { plan: "pro" });
    const [waiting] = await listExecutions(p.secretKey, wf.id);
    expect(waiting.status).toBe("WAITING");
    expect(await runAlarm(waiting.id)).toBe(true);
    expect(hooks.sent).toHaveLength(1);
    vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response("ok"));
    expect(await consume("webhooks", hooks.sent[0])).toMatchObject({ acked: true });

    const [done] = await listExecutions(p.secretKey, wf.id);
    expect(done.status).toBe("COMPLETED");
    const deliveries = await call("GET", `/webhook-deliveries?executionId=${done.id}`, { key: p.secretKey });
    expect(deliveries.body.data).toHaveLength(1);
    expect(deliveries.body.data[0].status).toBe("DELIVERED");
    expect(await rowsOf(p)).toEqual({
      contacts: { DB: 0, DB_2: 1 },
      events: { DB: 0, DB_2: 1 },
      executions: { DB: 0, DB_2: 1 },
      webhook_deliveries: { DB: 0, DB_2: 1 },
      emails: { DB: 0, DB_2: 0 },
      workflows: { DB: 0, DB_2: 1 },
    });
    // Reads come from there too.
    const contact = await call("GET", `/contacts/${t.contact}`, { key: p.secretKey });
    expect(contact.body).toMatchObject({ id: t.contact, data: { plan: "pro" } });
    const stats = await call("GET", `/workflows/${wf.id}/stats`, { key: p.secretKey });
    expect(stats.body.steps.find((s: { stepId: string }) => s.stepId === wf.steps.hook)).toMatchObject({
      passed: 1,
      completed: 1,
    });
  });

  it("is another project's 404 from DB, and DB's from it", async () => {
    const a = await createProject("A", { database: "DB" });
    const b = await createProject("B", { database: "DB_2" });
    const ta = await track(a.secretKey, "x", uniqueEmail());
    const tb = await track(b.secretKey, "x", uniqueEmail());
    expectEnvelope(
      await call("GET", `/contacts/${tb.contact}`, { key: a.secretKey }),
      404,
      "CONTACT_NOT_FOUND",
    );
    expectEnvelope(
      await call("GET", `/contacts/${ta.contact}`, { key: b.secretKey }),
      404,
      "CONTACT_NOT_FOUND",
    );
    expect((await call("GET", `/contacts/${tb.contact}`, { key: b.secretKey })).status).toBe(200);
  });

  it("rotating its keys refuses the old key at once, also for a track this isolate knew the key of", async () => {
    const p = await createProject("Rotated", { database: "DB_2" });
    expect((await track(p.publicKey, "x", uniqueEmail())).contact).toBeTruthy();
    const rotated = await call("POST", `/admin/projects/${p.id}/rotate-keys`, { key: ADMIN });
    expect(rotated.status).toBe(200);
    const email = uniqueEmail("after-rotation");
    const res = await call("POST", "/v1/track", { key: p.publicKey, body: { event: "x", email } });
    expectEnvelope(res, 401, "INVALID_API_KEY");
    expect(await count(env.DB_2, "SELECT count(*) AS n FROM contacts WHERE email = ?1", email)).toBe(0);
    const fresh = await call("POST", "/v1/track", {
      key: rotated.body.publicKey,
      body: { event: "x", email },
    });
    expect(fresh.status).toBe(200);
    expect(await count(env.DB_2, "SELECT count(*) AS n FROM contacts WHERE email = ?1", email)).toBe(1);
    // Both copies of the row have the new keys.
    const hash = async (db: D1Database) =>
      (
        await db
          .prepare("SELECT secret_key_hash AS h FROM projects WHERE id = ?1")
          .bind(p.id)
          .first<{ h: string }>()
      )?.h;
    expect(await hash(env.DB_2)).toBe(await hash(env.DB));
  });

  it("its settings change in both copies; the sweep finishes its undispatched events", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject("Swept", { database: "DB_2" });
    const patched = await call("PATCH", "/project", { key: p.secretKey, body: { retentionDays: 7 } });
    expect(patched.body.retentionDays).toBe(7);
    for (const db of [env.DB, env.DB_2]) {
      expect(await count(db, "SELECT retention_days AS n FROM projects WHERE id = ?1", p.id)).toBe(7);
    }
    const wf = await createWorkflow(p.secretKey, {
      eventName: "late",
      steps: { hook: { type: "WEBHOOK", config: { url: "https://example.com/hook" } } },
      edges: [["trigger", "hook"]],
    });
    // A crash right after the answer: the event is stored, undispatched, 40 s old.
    const at = Date.now() - 40_000;
    const { results } = await env.DB_2.prepare(
      `INSERT INTO contacts (id, project_id, email, subscribed, data, created_at, updated_at)
       VALUES ('ctc_swept' || ?2, ?1, ?3, 1, '{}', ?2, ?2) RETURNING id`,
    )
      .bind(p.id, at, uniqueEmail("swept"))
      .all<{ id: string }>();
    const contactId = results[0]?.id as string;
    await env.DB_2.prepare(
      "INSERT INTO events (id, project_id, contact_id, name, data, created_at) VALUES (?1, ?2, ?3, 'late', '{}', ?4)",
    )
      .bind(`evt_0${at.toString(32)}swept`, p.id, contactId, at)
      .run();
    const done = await sweep(env, log);
    expect(done.redispatched).toBeGreaterThanOrEqual(1);
    const [ex] = await listExecutions(p.secretKey, wf.id);
    expect(ex).toMatchObject({ status: "COMPLETED", contactId });
  });
});

describe("a project in DB_2: email, SNS and unsubscribe links", () => {
  it("sends a /v1/send email from its database; the SES bounce finds it; its unsubscribe link works", async () => {
    const self = new URL(env.PUBLIC_URL).origin;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const req = new Request(input as RequestInfo, init);
      if (req.url.startsWith(`${self}/`)) return fetchSettled(req);
      if (req.url.includes("amazonaws.com/v2/email/outbound-emails"))
        return Response.json({ MessageId: `ses-db2-${crypto.randomUUID()}` });
      return new Response("no network in tests", { status: 599 });
    });
    const emails = captureQueue(env.EMAILS_QUEUE);
    vi.spyOn(env.EMAILS_QUEUE, "sendBatch").mockImplementation(async (batch) => {
      for (const m of batch) emails.sent.push(m.body);
      return {
        metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date(0) } },
      };
    });
    const p = await createProject("Mail", { database: "DB_2" });
    const res = await call("POST", "/v1/send", {
      key: p.secretKey,
      body: { to: "bounce@simulator.amazonses.com", subject: "Hi", body: "<p>Hi</p>", subscribed: true },
    });
    expect(res.status).toBe(200);
    const emailId = res.body.data.emails[0].email as string;
    const contactId = res.body.data.emails[0].contact.id as string;
    const queued = emails.sent.shift();
    expect(queued).toEqual({ kind: "email-send", emailId, db: "DB_2" });
    expect(await consume("emails", queued)).toMatchObject({ acked: true });
    // The mailbox simulator's bounce: signed, posted to /webhooks/sns, which finds the email in DB_2.
    const sim = emails.sent.find((m) => m.kind === "ses-simulate");
    expect(sim).toMatchObject({ emailId, db: "DB_2" });
    expect(await consume("emails", sim)).toMatchObject({ acked: true });
    const email = await call("GET", `/emails/${emailId}`, { key: p.secretKey });
    expect(email.body.status).toBe("BOUNCED");
    expect((await call("GET", `/contacts/${contactId}`, { key: p.secretKey })).body.subscribed).toBe(false);

    // Its unsubscribe link (the subscribe one, as the bounce unsubscribed it) names the project.
    const secret = await env.DB.prepare("SELECT signing_secret AS s FROM projects WHERE id = ?1")
      .bind(p.id)
      .first<{ s: string }>();
    const token = await unsubscribeToken(secret?.s ?? "", p.id, contactId);
    expect((await call("POST", `/subscribe/${token}`)).status).toBe(200);
    expect((await call("GET", `/contacts/${contactId}`, { key: p.secretKey })).body.subscribed).toBe(true);
    // A link made before tokens named their project finds the contact in DB_2 too.
    const legacy = token.replace(`.${p.id}.`, ".");
    expect((await call("POST", `/unsubscribe/${legacy}`)).status).toBe(200);
    expect((await call("GET", `/contacts/${contactId}`, { key: p.secretKey })).body.subscribed).toBe(false);
    expect(await count(env.DB, "SELECT count(*) AS n FROM emails WHERE id = ?1", emailId)).toBe(0);
  });
});
