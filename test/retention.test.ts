/**
 * Retention (src/retention.ts): per project, what is older than `retentionDays` goes from the cron, in pages;
 * nothing an active execution points to and no undispatched event goes; the re-entry rule still holds; and
 * PATCH /project sets it. Rows are backdated by SQL rather than waited for; `now` is the real time, so
 * one test's rows are never old for another (the cron test, last, moves `now` into the future).
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { idsBefore } from "../src/domain/ids";
import { createLogger } from "../src/log";
import { RETENTION_PAGE, RETENTION_SQL, retention } from "../src/retention";
import { sweep } from "../src/sweep";
import { call, captureQueue, createProject, expectEnvelope, type TestProject, uniqueEmail } from "./helpers";
import { createWorkflow, d1Count, listExecutions, track } from "./workflow-helpers";

afterEach(() => vi.restoreAllMocks());

const log = createLogger({ test: "retention" });
const DAY = 24 * 60 * 60 * 1000;

const setRetention = async (p: TestProject, retentionDays: unknown) =>
  call("PATCH", "/project", { key: p.secretKey, body: { retentionDays } });

/**
 * `n` of each kind for a project, all at time `at`: ended executions (COMPLETED) with `steps` step rows
 * each, DELIVERED webhook deliveries, SENT emails with body, data and headers, dispatched events.
 */
async function seed(projectId: string, tag: string, n: number, at: number, steps = 2) {
  const cte = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)";
  await env.DB.batch([
    env.DB.prepare(
      `${cte}, s(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM s WHERE j < ?5)
       INSERT INTO executions (id, project_id, workflow_id, contact_id, trigger_event_id, status, current_step_id,
         context, steps, started_at, completed_at, updated_at)
       SELECT 'exec_' || ?2 || '_' || i, ?1, 'wf_' || ?2, 'ctc_' || ?2 || '_' || i, ?6 || '_' || ?2 || '_' || i,
         'COMPLETED', NULL, '{"event":{"plan":"pro"}}',
         (SELECT json_group_array(json_object('id', 'sx_' || ?2 || '_' || i || '_' || j, 'stepId', 'stp_' || j,
            'seq', j - 1, 'status', 'COMPLETED', 'startedAt', ?4, 'finishedAt', ?4, 'output', json('{}'), 'error', NULL))
          FROM s),
         ?4, ?4, ?4 FROM n`,
    ).bind(projectId, tag, n, at, steps, idsBefore("evt", at)),
    env.DB.prepare(
      `${cte} INSERT INTO webhook_deliveries (id, project_id, workflow_id, execution_id, step_id, url, method, status,
         message, attempts, created_at, updated_at)
       SELECT 'whd_' || ?2 || '_' || i, ?1, 'wf_' || ?2, 'exec_' || ?2 || '_' || i, 'stp_2', 'https://example.com/h',
         'POST', 'DELIVERED', '{"kind":"webhook"}', '[{"status":200}]', ?4, ?4 FROM n`,
    ).bind(projectId, tag, n, at),
    env.DB.prepare(
      `${cte} INSERT INTO emails (id, project_id, contact_id, workflow_execution_id, source_type, type, status, to_email,
         body, headers, data, sent_at, created_at, updated_at)
       SELECT 'eml_' || ?2 || '_' || i, ?1, 'ctc_' || ?2 || '_' || i, 'exec_' || ?2 || '_' || i, 'WORKFLOW', 'MARKETING',
         'SENT', 'x@example.com', '<p>hi</p>', '{"X-A":"1"}', '{"plan":"pro"}', ?4, ?4, ?4 FROM n`,
    ).bind(projectId, tag, n, at),
    env.DB.prepare(
      `${cte} INSERT INTO events (id, project_id, contact_id, name, data, created_at, dispatched_at)
       SELECT ?5 || '_' || ?2 || '_' || i, ?1, 'ctc_' || ?2 || '_' || i, 'signup', '{"plan":"pro"}', ?4, ?4 FROM n`,
    ).bind(projectId, tag, n, at, idsBefore("evt", at)),
  ]);
}

/** What is left of a seed: rows of each kind, and emails still holding content. */
async function left(tag: string) {
  const like = `%\\_${tag}\\_%`;
  const count = (sql: string) => d1Count(`${sql} ESCAPE '\\'`, like);
  return {
    executions: await count("SELECT count(*) AS n FROM executions WHERE id LIKE ?1"),
    deliveries: await count("SELECT count(*) AS n FROM webhook_deliveries WHERE id LIKE ?1"),
    emails: await count("SELECT count(*) AS n FROM emails WHERE id LIKE ?1"),
    emailsWithContent: await count(
      "SELECT count(*) AS n FROM emails WHERE (body IS NOT NULL OR data IS NOT NULL OR headers IS NOT NULL) AND id LIKE ?1",
    ),
    events: await count("SELECT count(*) AS n FROM events WHERE id LIKE ?1"),
  };
}

const all = (n: number) => ({
  executions: n,
  deliveries: n,
  emails: n,
  emailsWithContent: n,
  events: n,
});
const none = { executions: 0, deliveries: 0, emails: 0, emailsWithContent: 0, events: 0 };

const tag = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);

describe("PATCH /project: retentionDays", () => {
  it("is 30 by default, is set within 1–365 and answers the project", async () => {
    const p = await createProject();
    const before = await call("GET", "/project", { key: p.secretKey });
    expect(before.body.retentionDays).toBe(30);
    for (const days of [1, 365, 90]) {
      const res = await setRetention(p, days);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: p.id, retentionDays: days, stats: { sent: 0 } });
      expect(Object.keys(res.body).sort()).toEqual(Object.keys(before.body).sort());
    }
    expect((await call("GET", "/project", { key: p.secretKey })).body.retentionDays).toBe(90);
  });

  it.each([
    ["0", 0],
    ["366", 366],
    ['"30"', "30"],
    ["1.5", 1.5],
    ["null", null],
  ])("refuses %s with a 422 naming retentionDays, and changes nothing", async (_name, value) => {
    const p = await createProject();
    const res = await setRetention(p, value);
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(res.body.error.errors.map((d: { field: string }) => d.field)).toEqual(["retentionDays"]);
    expect((await call("GET", "/project", { key: p.secretKey })).body.retentionDays).toBe(30);
  });

  it("refuses an empty body, or one with a field it cannot change, with a 422", async () => {
    const p = await createProject();
    const missing = await call("PATCH", "/project", { key: p.secretKey, body: {} });
    expectEnvelope(missing, 422, "VALIDATION_ERROR");
    expect(missing.body.error.errors.map((d: { field: string }) => d.field)).toEqual(["body"]);
    const other = await call("PATCH", "/project", {
      key: p.secretKey,
      body: { retentionDays: 7, name: "x" },
    });
    expectEnvelope(other, 422, "VALIDATION_ERROR");
    expect((await call("GET", "/project", { key: p.secretKey })).body).toMatchObject({
      retentionDays: 30,
      name: p.name,
    });
    expect((await call("PATCH", "/project", { body: { retentionDays: 7 } })).status).toBe(401);
  });
});

describe("retention", () => {
  it("deletes what is older than each project's retention and keeps what is younger", async () => {
    const now = Date.now();
    const a = await createProject(); // 30 days
    const b = await createProject();
    expect((await setRetention(b, 90)).status).toBe(200);
    const t = { aOld: tag(), aYoung: tag(), bOld: tag(), bAncient: tag() };
    await seed(a.id, t.aOld, 3, now - 31 * DAY);
    await seed(a.id, t.aYoung, 3, now - 29 * DAY);
    await seed(b.id, t.bOld, 3, now - 31 * DAY);
    await seed(b.id, t.bAncient, 3, now - 91 * DAY);

    const result = await retention(env, log, now);
    expect(result).toMatchObject({ executions: 6, deliveries: 6, emails: 6, events: 6 });
    // Older than 30 days in A, older than 90 in B: gone; the emails stay, emptied of their content.
    for (const gone of [t.aOld, t.bAncient]) {
      expect(await left(gone)).toEqual({ ...none, emails: 3 });
    }
    expect(await left(t.aYoung)).toEqual(all(3));
    expect(await left(t.bOld)).toEqual(all(3));
    const emptied = await env.DB.prepare(
      "SELECT status, body, data, headers, to_email, sent_at FROM emails WHERE id = ?1",
    )
      .bind(`eml_${t.aOld}_1`)
      .first();
    expect(emptied).toMatchObject({
      status: "SENT",
      body: null,
      data: null,
      headers: null,
      to_email: "x@example.com",
    });
    expect(emptied?.sent_at).toBe(now - 31 * DAY);

    // A second run finds nothing more.
    expect(await retention(env, log, now)).toMatchObject({
      executions: 0,
      deliveries: 0,
      emails: 0,
      events: 0,
    });
  });

  it(`works in pages: with more than ${RETENTION_PAGE} rows of each kind, one run does a page, the next the rest`, async () => {
    const now = Date.now();
    const p = await createProject();
    const t = tag();
    const n = RETENTION_PAGE + 120;
    await seed(p.id, t, n, now - 60 * DAY, 1);

    const first = await retention(env, log, now);
    expect(first).toMatchObject({
      executions: RETENTION_PAGE,
      deliveries: RETENTION_PAGE,
      emails: RETENTION_PAGE,
      events: RETENTION_PAGE,
    });
    expect(await left(t)).toEqual({
      executions: 120,
      deliveries: 120,
      emails: n,
      emailsWithContent: 120,
      events: 120,
    });
    // The oldest go first.
    expect(
      await d1Count(
        "SELECT count(*) AS n FROM events WHERE id = ?1",
        `${idsBefore("evt", now - 60 * DAY)}_${t}_${n}`,
      ),
    ).toBe(1);

    const second = await retention(env, log, now);
    expect(second).toMatchObject({
      executions: 120,
      deliveries: 120,
      emails: 120,
      events: 120,
    });
    expect(await left(t)).toEqual({ ...none, emails: n });
  });

  it("visits a bounded number of projects per run, taking up where the last run stopped", async () => {
    const now = Date.now();
    const a = await createProject();
    const b = await createProject();
    const [ta, tb] = [tag(), tag()];
    await seed(a.id, ta, 2, now - 40 * DAY);
    await seed(b.id, tb, 2, now - 40 * DAY);
    const projects = await d1Count("SELECT count(*) AS n FROM projects");
    let runs = 0;
    const visited: number[] = [];
    while ((await left(ta)).events + (await left(tb)).events > 0 && runs < projects + 1) {
      const r = await retention(env, log, now, { projects: 1 });
      visited.push(r.projects);
      runs++;
    }
    expect(visited.every((v) => v === 1)).toBe(true);
    expect(runs).toBeGreaterThanOrEqual(2); // one project a run: A and B in different runs
    expect(runs).toBeLessThanOrEqual(projects);
    expect(await left(ta)).toEqual({ ...none, emails: 2 });
    expect(await left(tb)).toEqual({ ...none, emails: 2 });
  });

  it("never touches a RUNNING or WAITING execution or what it points to, nor an undispatched event", async () => {
    const now = Date.now();
    const p = await createProject();
    expect((await setRetention(p, 1)).status).toBe(200);
    const t = tag();
    const old = now - 400 * DAY;
    const contact = `ctc_${t}`;
    // Event ids are time-ordered, as the app makes them: retention reads a range of them.
    const evId = (key: string, at: number) => `${idsBefore("evt", at)}_${key}`;
    const ex = (id: string, status: string) =>
      env.DB.prepare(
        `INSERT INTO executions (id, project_id, workflow_id, contact_id, trigger_event_id, status, current_step_id,
           context, wake_at, started_at, updated_at)
         VALUES (?1, ?2, 'wf_x', ?3, ?4, ?5, 'stp_2', '{}', NULL, ?6, ?6)`,
      ).bind(id, p.id, contact, evId(`evt_${id}`, old), status, old);
    const event = (id: string, name: string, at: number, dispatched: boolean) =>
      env.DB.prepare(
        "INSERT INTO events (id, project_id, contact_id, name, data, created_at, dispatched_at) VALUES (?1, ?2, ?3, ?4, '{}', ?5, ?6)",
      ).bind(evId(id, at), p.id, contact, name, at, dispatched ? at : null);
    const running = `exec_run_${t}`;
    const waiting = `exec_wait_${t}`;
    await env.DB.batch([
      ex(running, "RUNNING"),
      ex(waiting, "WAITING"),
      event(`evt_${running}`, "go", old, true),
      event(`evt_${waiting}`, "go", old, true),
      // The wait began 300 days ago: an event of its name since then is one it may still read.
      env.DB.prepare(
        "INSERT INTO waits (execution_id, project_id, contact_id, event_name, created_at) VALUES (?1, ?2, ?3, 'paid', ?4)",
      ).bind(waiting, p.id, contact, now - 300 * DAY),
      event(`evt_paid_${t}`, "paid", now - 200 * DAY, true),
      // Before the wait began, or of another name: not needed, so it goes.
      event(`evt_paid_before_${t}`, "paid", now - 350 * DAY, true),
      event(`evt_other_${t}`, "other", now - 200 * DAY, true),
      // Never dispatched: work not done, whatever its age.
      event(`evt_undispatched_${t}`, "go", old, false),
      ...[running, waiting].flatMap((id) => [
        env.DB.prepare(
          `INSERT INTO webhook_deliveries (id, project_id, workflow_id, execution_id, step_id, url, method, status,
             message, attempts, created_at, updated_at)
           VALUES (?1, ?2, 'wf_x', ?3, 'stp_1', 'https://example.com', 'POST', 'DELIVERED', '{}', '[]', ?4, ?4)`,
        ).bind(`whd_${id}`, p.id, id, old),
        env.DB.prepare(
          `INSERT INTO emails (id, project_id, contact_id, workflow_execution_id, source_type, type, status, to_email,
             body, data, created_at, updated_at)
           VALUES (?1, ?2, ?3, ?4, 'WORKFLOW', 'MARKETING', 'SENT', 'x@example.com', 'b', '{}', ?5, ?5)`,
        ).bind(`eml_${id}`, p.id, contact, id, old),
      ]),
      // Work not done, with no execution: a PENDING delivery and a QUEUED email keep everything.
      env.DB.prepare(
        `INSERT INTO webhook_deliveries (id, project_id, workflow_id, execution_id, step_id, url, method, status,
           message, attempts, created_at, updated_at)
         VALUES (?1, ?2, 'wf_x', 'exec_gone', 'stp_1', 'https://example.com', 'POST', 'PENDING', '{}', '[]', ?3, ?3)`,
      ).bind(`whd_pending_${t}`, p.id, old),
      env.DB.prepare(
        `INSERT INTO emails (id, project_id, contact_id, source_type, type, status, to_email, body, data, created_at,
           updated_at)
         VALUES (?1, ?2, ?3, 'TRANSACTIONAL', 'TRANSACTIONAL', 'QUEUED', 'x@example.com', 'b', '{}', ?4, ?4)`,
      ).bind(`eml_queued_${t}`, p.id, contact, old),
    ]);

    await retention(env, log, now);
    const ids = async (table: string, column = "id") =>
      (
        await env.DB.prepare(`SELECT ${column} AS id FROM ${table} WHERE project_id = ?1 ORDER BY 1`)
          .bind(p.id)
          .all<{ id: string }>()
      ).results.map((r) => r.id);
    expect(await ids("executions")).toEqual([running, waiting].sort());
    expect(await ids("waits", "execution_id")).toEqual([waiting]);
    expect(await ids("webhook_deliveries")).toEqual(
      [`whd_${running}`, `whd_${waiting}`, `whd_pending_${t}`].sort(),
    );
    expect(
      await d1Count("SELECT count(*) AS n FROM emails WHERE project_id = ?1 AND body IS NOT NULL", p.id),
    ).toBe(3);
    expect(await ids("events")).toEqual(
      [
        evId(`evt_${running}`, old),
        evId(`evt_${waiting}`, old),
        evId(`evt_paid_${t}`, now - 200 * DAY),
        evId(`evt_undispatched_${t}`, old),
      ].sort(),
    );
  });

  it("keeps the re-entry rule: a contact who ran a workflow without allowReentry never enters it again", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const hook = { type: "WEBHOOK", config: { url: "https://example.com/hook" } };
    const once = await createWorkflow(p.secretKey, {
      eventName: "joined",
      steps: { hook },
      edges: [["trigger", "hook"]],
    });
    const again = await createWorkflow(p.secretKey, {
      eventName: "joined",
      allowReentry: true,
      steps: { hook },
      edges: [["trigger", "hook"]],
    });
    const email = uniqueEmail("reentry");
    const first = await track(p.secretKey, "joined", email);
    for (const wf of [once, again]) {
      const [ex] = await listExecutions(p.secretKey, wf.id);
      expect(ex.status).toBe("COMPLETED");
    }
    // Everything of that run is 40 days old: retention takes the executions, their logs and the event.
    const old = Date.now() - 40 * DAY;
    await env.DB.batch([
      env.DB.prepare("UPDATE executions SET completed_at = ?2, started_at = ?2 WHERE project_id = ?1").bind(
        p.id,
        old,
      ),
      // As if stored then: its id is time-ordered too.
      env.DB.prepare("UPDATE events SET created_at = ?2, id = ?3 WHERE project_id = ?1 AND id = ?4").bind(
        p.id,
        old,
        `${idsBefore("evt", old)}_backdated`,
        first.event,
      ),
    ]);
    await retention(env, log, Date.now());
    expect(await listExecutions(p.secretKey, once.id)).toEqual([]);
    expect(await listExecutions(p.secretKey, again.id)).toEqual([]);
    expect(await d1Count("SELECT count(*) AS n FROM events WHERE project_id = ?1", p.id)).toBe(0);
    // The enrollments rows stay: they are the memory of who has run.
    const enrollment = (wfId: string) =>
      env.DB.prepare(
        "SELECT active_execution_id, runs FROM enrollments WHERE workflow_id = ?1 AND contact_id = ?2",
      )
        .bind(wfId, first.contact)
        .first<{ active_execution_id: string | null; runs: number }>();
    expect(await enrollment(once.id)).toEqual({ active_execution_id: null, runs: 1 });

    await track(p.secretKey, "joined", email);
    expect(await listExecutions(p.secretKey, once.id)).toEqual([]);
    expect(await enrollment(once.id)).toEqual({ active_execution_id: null, runs: 1 });
    // With allowReentry the contact runs again, and the count goes on.
    expect(await listExecutions(p.secretKey, again.id)).toHaveLength(1);
    expect((await enrollment(again.id))?.runs).toBe(2);
  });

  it("runs each statement on an index: EXPLAIN QUERY PLAN scans no table", async () => {
    const p = await createProject();
    const plans: Record<string, string[]> = {};
    for (const [name, sql] of Object.entries(RETENTION_SQL)) {
      const params = name.startsWith("projects")
        ? [50, "DB"]
        : [p.id, Date.now(), 500, idsBefore("evt", Date.now())];
      const count = (sql.match(/\?\d/g) ?? []).reduce((m, q) => Math.max(m, Number(q.slice(1))), 0);
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind(...params.slice(0, count))
        .all<{ detail: string }>();
      const details = results.map((r) => r.detail);
      plans[name] = details;
      const plan = `${name}:\n  ${details.join("\n  ")}`;
      expect(
        // Allowed: json_each (any alias), subqueries (the page of ids `g`), a constant row.
        details.filter(
          (d) =>
            /^SCAN /.test(d) &&
            !/^SCAN (json_each|\(subquery|CONSTANT ROW|p\b|g\b|\w+ VIRTUAL TABLE)/.test(d),
        ),
        plan,
      ).toEqual([]);
      expect(
        details.some((d) => /USING (COVERING )?INDEX|USING (INTEGER )?PRIMARY KEY/.test(d)),
        plan,
      ).toBe(true);
    }
    const uses = (name: keyof typeof RETENTION_SQL, index: string) =>
      expect(plans[name]?.join("\n"), name).toContain(index);
    uses("executions", "executions_ended");
    uses("waits", "executions_ended");
    uses("deliveries", "deliveries_project_created");
    uses("emails", "emails_retained");
    uses("events", "PRIMARY KEY (project_id=? AND id<?)");
    uses("events", "waits_lookup");
    uses("events", "executions_contact");
    uses("pages", "pages_project");
    uses("pageCounts", "pages_project");
    uses("pageRuns", "pages_project");
    console.log(
      Object.entries(plans)
        .map(([name, d]) => `${name}\n  ${d.join("\n  ")}`)
        .join("\n"),
    );
  });

  // Last: it moves `now` 31 days on, so every test's rows above are old for it.
  it("the cron sweep runs it: an ended execution, its log and its event are gone 31 days on", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "ordered",
      steps: { hook: { type: "WEBHOOK", config: { url: "https://example.com/hook" } } },
      edges: [["trigger", "hook"]],
    });
    const t = await track(p.secretKey, "ordered", uniqueEmail("cron"));
    const [ex] = await listExecutions(p.secretKey, wf.id);
    expect(ex.status).toBe("COMPLETED");
    expect(hooks.sent).toHaveLength(1);
    expect(await d1Count("SELECT json_array_length(steps) AS n FROM executions WHERE id = ?1", ex.id)).toBe(
      2,
    );

    await sweep(env, log, Date.now() + 29 * DAY);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(1);

    await sweep(env, log, Date.now() + 31 * DAY);
    expect(await listExecutions(p.secretKey, wf.id)).toEqual([]);
    expect(await d1Count("SELECT count(*) AS n FROM executions WHERE id = ?1", ex.id)).toBe(0);
    expect(await d1Count("SELECT count(*) AS n FROM events WHERE id = ?1", t.event)).toBe(0);
    expect(await d1Count("SELECT count(*) AS n FROM contacts WHERE id = ?1", t.contact)).toBe(1);
  });
});
