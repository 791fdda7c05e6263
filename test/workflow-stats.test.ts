/**
 * What the dashboard's canvas and lists read: per-step counts (`GET /workflows/:id/stats`), active
 * executions beside each workflow, and the emails of one execution (`GET /emails?executionId`).
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { COUNT_STEPS } from "../durable-objects/execution";
import { call, captureQueue, consume, createProject, expectEnvelope, uniqueEmail } from "./helpers";
import { createWorkflow, listExecutions, runAlarm, track } from "./workflow-helpers";

afterEach(() => vi.restoreAllMocks());

const DAY = 86_400_000;

async function stats(sk: string, wfId: string, query = "") {
  const res = await call("GET", `/workflows/${wfId}/stats${query}`, { key: sk });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as {
    workflowId: string;
    since: string;
    until: string;
    steps: { stepId: string; active: number; passed: number; completed: number; failed: number }[];
  };
}

const byStep = (s: Awaited<ReturnType<typeof stats>>) => new Map(s.steps.map((x) => [x.stepId, x]));

describe("GET /workflows/:id/stats", () => {
  it("counts per step the executions at it now and its visits of the last 7 days, as they move", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "signup",
      steps: {
        wait: { type: "DELAY", config: { amount: 1, unit: "hours" } },
        done: { type: "EXIT", config: { reason: "done" } },
      },
      edges: [
        ["trigger", "wait"],
        ["wait", "done"],
      ],
    });
    for (let i = 0; i < 3; i++) await track(p.publicKey, "signup", uniqueEmail());
    let s = byStep(await stats(p.secretKey, wf.id));
    expect(s.get(wf.steps.trigger as string)).toMatchObject({
      active: 0,
      passed: 3,
      completed: 3,
      failed: 0,
    });
    expect(s.get(wf.steps.wait as string)).toMatchObject({ active: 3, passed: 3, completed: 0, failed: 0 });
    expect(s.get(wf.steps.done as string)).toMatchObject({ active: 0, passed: 0, completed: 0, failed: 0 });

    const [first, second] = await listExecutions(p.secretKey, wf.id);
    for (const e of [first, second]) expect(await runAlarm(e.id)).toBe(true);
    s = byStep(await stats(p.secretKey, wf.id));
    expect(s.get(wf.steps.wait as string)).toMatchObject({ active: 1, passed: 3, completed: 2 });
    expect(s.get(wf.steps.done as string)).toMatchObject({ active: 0, passed: 2, completed: 2 });

    // A failed visit, and one older than the window: the first counts, the second does not.
    const day = (at: number) => Math.floor(at / DAY);
    const counts = (passed: number, completed: number, failed: number) =>
      JSON.stringify({ [wf.steps.done as string]: [passed, completed, failed] });
    await env.DB.batch([
      env.DB.prepare("INSERT INTO step_counts (workflow_id, day, counts) VALUES (?1, ?2, ?3)").bind(
        wf.id,
        day(Date.now() - DAY),
        counts(1, 0, 1),
      ),
      env.DB.prepare("INSERT INTO step_counts (workflow_id, day, counts) VALUES (?1, ?2, ?3)").bind(
        wf.id,
        day(Date.now() - 8 * DAY),
        counts(1, 1, 0),
      ),
    ]);
    s = byStep(await stats(p.secretKey, wf.id));
    expect(s.get(wf.steps.done as string)).toMatchObject({ passed: 3, completed: 2, failed: 1 });
    const month = await stats(p.secretKey, wf.id, "?days=30");
    expect(byStep(month).get(wf.steps.done as string)).toMatchObject({ passed: 4, completed: 3, failed: 1 });
    // Whole UTC days: the window starts at midnight UTC, 30 days back.
    expect(Date.parse(month.since) % DAY).toBe(0);
    expect(Date.parse(month.until) - Date.parse(month.since)).toBeGreaterThanOrEqual(30 * DAY);
    expect(Date.parse(month.until) - Date.parse(month.since)).toBeLessThan(31 * DAY);
  });

  it("counts a mirror once: the same entries mirrored again (a retry after D1 took them) add nothing", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "go",
      steps: { wait: { type: "DELAY", config: { amount: 1, unit: "hours" } } },
      edges: [["trigger", "wait"]],
    });
    await track(p.publicKey, "go", uniqueEmail());
    const [ex] = await listExecutions(p.secretKey, wf.id);
    const before = await stats(p.secretKey, wf.id);
    const row = await env.DB.prepare("SELECT steps FROM executions WHERE id = ?1")
      .bind(ex.id)
      .first<{ steps: string }>();
    const log = JSON.parse(row?.steps ?? "[]") as {
      seq: number;
      stepId: string;
      status: string;
      startedAt: number;
    }[];
    expect(log.map((e) => e.status)).toEqual(["COMPLETED", "WAITING"]);
    const today = Math.floor(Date.now() / DAY);
    const entries = JSON.stringify(log.map((e) => [e.seq, e.stepId, e.status]));
    const again = await env.DB.prepare(COUNT_STEPS).bind(wf.id, today, entries, ex.id).run();
    expect(again.meta.changes).toBe(0);
    expect(await stats(p.secretKey, wf.id)).toMatchObject({ steps: before.steps });
    // The wait ending is counted once, however often that mirror is repeated.
    expect(await runAlarm(ex.id)).toBe(true);
    const after = byStep(await stats(p.secretKey, wf.id));
    expect(after.get(wf.steps.wait as string)).toMatchObject({ passed: 1, completed: 1 });
    const done = JSON.stringify([[1, wf.steps.wait, "COMPLETED"]]);
    expect((await env.DB.prepare(COUNT_STEPS).bind(wf.id, today, done, ex.id).run()).meta.changes).toBe(0);
    expect(byStep(await stats(p.secretKey, wf.id)).get(wf.steps.wait as string)).toMatchObject({
      passed: 1,
      completed: 1,
    });
  });

  it("answers from an index and the counters' primary key, never a table scan", async () => {
    const active = await env.DB.prepare(
      `EXPLAIN QUERY PLAN SELECT current_step_id AS stepId, count(*) AS n FROM executions
        WHERE workflow_id = ?1 AND status IN ('RUNNING', 'WAITING') GROUP BY current_step_id`,
    )
      .bind("wf_x")
      .all<{ detail: string }>();
    const visits = await env.DB.prepare(
      `EXPLAIN QUERY PLAN SELECT c.key AS stepId, sum(c.value ->> 0) AS passed FROM step_counts s,
        json_each(s.counts) AS c WHERE s.workflow_id = ?1 AND s.day >= ?2 GROUP BY c.key`,
    )
      .bind("wf_x", 0)
      .all<{ detail: string }>();
    const plans = [...active.results, ...visits.results].map((r) => r.detail);
    expect(plans.join("\n")).toContain("executions_active");
    expect(plans.join("\n")).toContain("PRIMARY KEY");
    expect(plans.filter((d) => /^SCAN (executions|step_counts|s)\b/.test(d))).toEqual([]);
  });

  it("is 404 for another project's workflow and 422 for a window out of 1-30 days", async () => {
    const a = await createProject();
    const b = await createProject();
    const wf = await createWorkflow(b.secretKey, { eventName: "x" });
    expectEnvelope(
      await call("GET", `/workflows/${wf.id}/stats`, { key: a.secretKey }),
      404,
      "WORKFLOW_NOT_FOUND",
    );
    for (const days of ["0", "31", "seven"]) {
      const res = await call("GET", `/workflows/${wf.id}/stats?days=${days}`, { key: b.secretKey });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors[0].field).toBe("days");
    }
  });
});

describe("activeExecutions", () => {
  it("is shown beside each workflow in the list and on GET one, and falls as executions end", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "signup",
      allowReentry: true,
      steps: { wait: { type: "DELAY", config: { amount: 1, unit: "days" } } },
      edges: [["trigger", "wait"]],
    });
    const idle = await createWorkflow(p.secretKey, { eventName: "other" });
    await track(p.publicKey, "signup", uniqueEmail());
    await track(p.publicKey, "signup", uniqueEmail());
    const list = await call("GET", "/workflows", { key: p.secretKey });
    const counts = Object.fromEntries(list.body.data.map((w: any) => [w.id, w.activeExecutions]));
    expect(counts).toEqual({ [wf.id]: 2, [idle.id]: 0 });
    expect((await call("GET", `/workflows/${wf.id}`, { key: p.secretKey })).body.activeExecutions).toBe(2);
    await call("POST", `/workflows/${wf.id}/executions/cancel-all`, { key: p.secretKey });
    expect((await call("GET", `/workflows/${wf.id}`, { key: p.secretKey })).body.activeExecutions).toBe(0);
  });
});

describe("GET /emails?executionId", () => {
  it("lists the emails one execution made, and nothing of another", async () => {
    const emailsQueue = captureQueue(env.EMAILS_QUEUE);
    const p = await createProject();
    const tpl = await call("POST", "/templates", {
      key: p.secretKey,
      body: { name: "Hi", subject: "Hi", body: "Hello", from: "team@example.com", type: "TRANSACTIONAL" },
    });
    const wf = await createWorkflow(p.secretKey, {
      eventName: "welcome",
      allowReentry: true,
      steps: { mail: { type: "SEND_EMAIL", config: { templateId: tpl.body.id } } },
      edges: [["trigger", "mail"]],
    });
    await track(p.publicKey, "welcome", uniqueEmail());
    await track(p.publicKey, "welcome", uniqueEmail());
    let n = 0;
    vi.spyOn(globalThis, "fetch").mockImplementation(async () => Response.json({ MessageId: `m-${++n}` }));
    for (const message of emailsQueue.sent) await consume("emails", message);
    expect(n).toBe(2);
    const [one, two] = await listExecutions(p.secretKey, wf.id);
    for (const e of [one, two]) {
      const res = await call("GET", `/emails?executionId=${e.id}`, { key: p.secretKey });
      expect(res.status).toBe(200);
      expect(res.body.data).toHaveLength(1);
      expect(res.body.data[0].workflowExecutionId).toBe(e.id);
    }
    const other = await createProject();
    const leak = await call("GET", `/emails?executionId=${one.id}`, { key: other.secretKey });
    expect(leak.body.data).toEqual([]);
  });
});
