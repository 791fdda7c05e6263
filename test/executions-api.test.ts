/** The executions API (API.md "Workflows"): list, get with the step log, start by hand, cancel, cancel-all. */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildSnapshot, claimExecutions, startExecution } from "../src/dispatch";
import { call, captureQueue, createProject, expectEnvelope, type TestProject, uniqueEmail } from "./helpers";
import {
  alarmOf,
  createWorkflow,
  d1Count,
  doState,
  getExecution,
  listExecutions,
  runAlarm,
  stepIdsOf,
  stubFor,
  track,
} from "./workflow-helpers";

afterEach(() => vi.restoreAllMocks());

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const delayThenHook = (p: TestProject, eventName = "go", allowReentry = false) =>
  createWorkflow(p.secretKey, {
    eventName,
    allowReentry,
    steps: {
      wait: { type: "DELAY", config: { amount: 1, unit: "hours" } },
      hook: { type: "WEBHOOK", config: { url: "https://example.com/hook" } },
    },
    edges: [
      ["trigger", "wait"],
      ["wait", "hook"],
    ],
  });

const base = (wfId: string) => `/workflows/${wfId}/executions`;

describe("GET /workflows/:id/executions", () => {
  it("lists newest first, filters by status and pages with a cursor", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p);
    const contacts: string[] = [];
    for (let i = 0; i < 5; i++) contacts.push((await track(p.publicKey, "go", uniqueEmail(`l${i}`))).contact);
    const all = await listExecutions(p.secretKey, wf.id);
    expect(all).toHaveLength(5);
    for (const e of all) {
      expect(Object.keys(e).sort()).toEqual(
        [
          "completedAt",
          "contactId",
          "context",
          "currentStepId",
          "exitReason",
          "id",
          "startedAt",
          "status",
          "workflowId",
        ].sort(),
      );
      expect(e).toMatchObject({ workflowId: wf.id, status: "WAITING", currentStepId: wf.steps.wait });
      expect(e.id).toMatch(/^exec_/);
      expect(e.startedAt).toMatch(ISO);
    }
    // Newest first: the last tracked contact comes first.
    expect(all.map((e) => e.contactId)).toEqual([...contacts].reverse());

    for (const e of all.slice(0, 2)) {
      expect((await call("DELETE", `${base(wf.id)}/${e.id}`, { key: p.secretKey })).status).toBe(200);
    }
    expect(await runAlarm(all[4].id)).toBe(true);

    const byStatus = async (status: string) =>
      (await listExecutions(p.secretKey, wf.id, `&status=${status}`)).map((e) => e.id);
    expect(await byStatus("WAITING")).toEqual([all[2].id, all[3].id]);
    expect(await byStatus("CANCELLED")).toEqual([all[0].id, all[1].id]);
    expect(await byStatus("COMPLETED")).toEqual([all[4].id]);
    expect(await byStatus("FAILED")).toEqual([]);
    const bad = await call("GET", `${base(wf.id)}?status=DONE`, { key: p.secretKey });
    expectEnvelope(bad, 422, "VALIDATION_ERROR");

    const pages: any[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const res = await call("GET", `${base(wf.id)}?limit=2${q}`, { key: p.secretKey });
      expect(res.status).toBe(200);
      pages.push(res.body);
      cursor = res.body.cursor;
    } while (cursor);
    expect(pages.map((pg) => pg.data.length)).toEqual([2, 2, 1]);
    expect(pages.map((pg) => pg.hasMore)).toEqual([true, true, false]);
    expect(pages.flatMap((pg) => pg.data.map((e: { id: string }) => e.id))).toEqual(all.map((e) => e.id));

    // The cursor and the status filter together.
    const w1 = await call("GET", `${base(wf.id)}?limit=1&status=CANCELLED`, { key: p.secretKey });
    expect(w1.body).toMatchObject({ hasMore: true });
    expect(w1.body.data.map((e: { id: string }) => e.id)).toEqual([all[0].id]);
    const w2 = await call(
      "GET",
      `${base(wf.id)}?limit=1&status=CANCELLED&cursor=${encodeURIComponent(w1.body.cursor)}`,
      { key: p.secretKey },
    );
    expect(w2.body).toMatchObject({ hasMore: false, cursor: null });
    expect(w2.body.data.map((e: { id: string }) => e.id)).toEqual([all[1].id]);
  });

  it("an unknown workflow is 404", async () => {
    const p = await createProject();
    const res = await call("GET", base("wf_nope"), { key: p.secretKey });
    expect(res.status).toBe(404);
  });
});

describe("GET /workflows/:id/executions/:eid", () => {
  it("shows the step log: step, status, startedAt, finishedAt, output, error", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "go",
      steps: {
        hook: { type: "WEBHOOK", config: { url: "https://example.com/hook" } },
        wait: { type: "DELAY", config: { amount: 10, unit: "minutes" } },
        out: { type: "EXIT", config: { reason: "all done" } },
      },
      edges: [
        ["trigger", "hook"],
        ["hook", "wait"],
        ["wait", "out"],
      ],
    });
    const t = await track(p.publicKey, "go", uniqueEmail(), { plan: "pro" });
    const [listed] = await listExecutions(p.secretKey, wf.id);
    let ex = await getExecution(p.secretKey, wf.id, listed.id);
    expect(ex).toMatchObject({
      id: listed.id,
      workflowId: wf.id,
      contactId: t.contact,
      status: "WAITING",
      currentStepId: wf.steps.wait,
      exitReason: null,
      context: { event: { plan: "pro" } },
      completedAt: null,
    });
    expect(ex.steps).toHaveLength(3);
    for (const s of ex.steps) {
      expect(Object.keys(s).sort()).toEqual(
        ["error", "finishedAt", "id", "output", "startedAt", "status", "stepId"].sort(),
      );
      expect(s.id).toMatch(/^sx_/);
      expect(s.startedAt).toMatch(ISO);
      expect(s.error).toBeNull();
    }
    expect(ex.steps[0]).toMatchObject({ stepId: wf.steps.trigger, status: "COMPLETED", output: null });
    expect(ex.steps[0].finishedAt).toMatch(ISO);
    expect(ex.steps[1]).toMatchObject({
      stepId: wf.steps.hook,
      status: "COMPLETED",
      output: { deliveryId: hooks.sent[0].deliveryId },
    });
    expect(ex.steps[2]).toMatchObject({ stepId: wf.steps.wait, status: "WAITING", finishedAt: null });
    expect(ex.steps[2].output.until).toBe(Date.parse(ex.steps[2].startedAt) + 600_000);

    expect(await runAlarm(ex.id)).toBe(true);
    ex = await getExecution(p.secretKey, wf.id, ex.id);
    expect(ex).toMatchObject({ status: "EXITED", exitReason: "all done", currentStepId: wf.steps.out });
    expect(ex.completedAt).toMatch(ISO);
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.hook, wf.steps.wait, wf.steps.out]);
    expect(ex.steps[2].status).toBe("COMPLETED");
    expect(ex.steps[2].finishedAt).toMatch(ISO);
    expect(ex.steps[3]).toMatchObject({ status: "COMPLETED", output: { reason: "all done" } });
  });

  it("an unknown execution is 404", async () => {
    const p = await createProject();
    const wf = await delayThenHook(p);
    const res = await call("GET", `${base(wf.id)}/exec_nope`, { key: p.secretKey });
    expect(res.status).toBe(404);
    expect(res.body.success).toBe(false);
  });
});

describe("POST /workflows/:id/executions", () => {
  it("starts one by email, creating the contact, with the context as its event data", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "go",
      steps: { hook: { type: "WEBHOOK", config: { url: "https://example.com/hook" } } },
      edges: [["trigger", "hook"]],
    });
    const email = uniqueEmail("manual");
    const res = await call("POST", base(wf.id), {
      key: p.secretKey,
      body: { email: email.toUpperCase(), context: { source: "admin" } },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      workflowId: wf.id,
      status: "COMPLETED",
      context: { event: { source: "admin" } },
    });
    expect(res.body.id).toMatch(/^exec_/);
    expect(stepIdsOf(res.body)).toEqual([wf.steps.trigger, wf.steps.hook]);
    const contact = await call("GET", `/contacts/${res.body.contactId}`, { key: p.secretKey });
    expect(contact.body).toMatchObject({ email, subscribed: true });
    expect(hooks.sent).toHaveLength(1);
    expect(hooks.sent[0].vars.event).toEqual({ source: "admin" });
    expect(hooks.sent[0].vars.contact.email).toBe(email);
    expect(await getExecution(p.secretKey, wf.id, res.body.id)).toEqual(res.body);
  });

  it("starts one by contactId, also on a disabled workflow", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "go",
      enabled: false,
      steps: { wait: { type: "DELAY", config: { amount: 1, unit: "days" } } },
      edges: [["trigger", "wait"]],
    });
    const made = await call("POST", "/contacts", { key: p.secretKey, body: { email: uniqueEmail() } });
    expect(made.status).toBe(201);
    const res = await call("POST", base(wf.id), { key: p.secretKey, body: { contactId: made.body.id } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      contactId: made.body.id,
      status: "WAITING",
      currentStepId: wf.steps.wait,
      context: { event: {} },
    });
    expect(await alarmOf(res.body.id)).toBe(res.body.steps[1].output.until);
  });

  it("another project's contact is 404; neither or both of email and contactId is 422", async () => {
    const p = await createProject();
    const q = await createProject();
    const wf = await delayThenHook(p);
    const theirs = await track(q.publicKey, "x", uniqueEmail());
    const other = await call("POST", base(wf.id), { key: p.secretKey, body: { contactId: theirs.contact } });
    expect(other.status).toBe(404);
    expect(other.body.success).toBe(false);
    const unknown = await call("POST", base(wf.id), { key: p.secretKey, body: { contactId: "ctc_nope" } });
    expect(unknown.status).toBe(404);
    const neither = await call("POST", base(wf.id), { key: p.secretKey, body: {} });
    expectEnvelope(neither, 422, "VALIDATION_ERROR");
    const mine = await track(p.publicKey, "x", uniqueEmail());
    const both = await call("POST", base(wf.id), {
      key: p.secretKey,
      body: { email: uniqueEmail(), contactId: mine.contact },
    });
    expectEnvelope(both, 422, "VALIDATION_ERROR");
    const badContext = await call("POST", base(wf.id), {
      key: p.secretKey,
      body: { email: uniqueEmail(), context: "nope" },
    });
    expectEnvelope(badContext, 422, "VALIDATION_ERROR");
    const badEmail = await call("POST", base(wf.id), { key: p.secretKey, body: { email: "not-an-email" } });
    expectEnvelope(badEmail, 422, "VALIDATION_ERROR");
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(0);
    expect(await d1Count("SELECT count(*) AS n FROM enrollments WHERE workflow_id = ?1", wf.id)).toBe(0);
  });
});

describe("DELETE /workflows/:id/executions/:eid", () => {
  it("cancels a waiting execution; a second cancel is 409; its alarm does nothing", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p);
    const t = await track(p.publicKey, "go", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    expect(await alarmOf(first.id)).not.toBeNull();

    const del = await call("DELETE", `${base(wf.id)}/${first.id}`, { key: p.secretKey });
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ id: first.id, status: "CANCELLED" });
    expect(del.body.completedAt).toMatch(ISO);
    expect(stepIdsOf(del.body)).toEqual([wf.steps.trigger, wf.steps.wait]);
    expect(del.body.steps[1]).toMatchObject({ status: "CANCELLED" });
    expect(del.body.steps[1].finishedAt).toMatch(ISO);
    expect(await getExecution(p.secretKey, wf.id, first.id)).toEqual(del.body);
    const enrollment = await env.DB.prepare(
      "SELECT active_execution_id FROM enrollments WHERE workflow_id = ?1 AND contact_id = ?2",
    )
      .bind(wf.id, t.contact)
      .first();
    expect(enrollment).toEqual({ active_execution_id: null });
    const row = await env.DB.prepare("SELECT wake_at FROM executions WHERE id = ?1").bind(first.id).first();
    expect(row).toEqual({ wake_at: null });

    const again = await call("DELETE", `${base(wf.id)}/${first.id}`, { key: p.secretKey });
    expectEnvelope(again, 409, "CONFLICT");

    // The cancel removed the alarm; one that fires anyway (set before, delivered late) does nothing.
    expect(await alarmOf(first.id)).toBeNull();
    expect(await runAlarm(first.id)).toBe(false);
    await runInDurableObject(stubFor(first.id), (_instance, state) => state.storage.setAlarm(Date.now()));
    expect(await runAlarm(first.id)).toBe(true);
    const after = await getExecution(p.secretKey, wf.id, first.id);
    expect(after).toEqual(del.body);
    // The cancelled object's storage went once D1 had the final state; the late alarm left it empty.
    expect(await doState(first.id)).toBeNull();
    expect(await runInDurableObject(stubFor(first.id), (_instance, state) => state.storage.list())).toEqual(
      new Map(),
    );
    expect(hooks.sent).toHaveLength(0);
    // The workflow is unlocked again.
    const step = await call("POST", `/workflows/${wf.id}/steps`, {
      key: p.secretKey,
      body: { type: "EXIT", name: "Out", config: {} },
    });
    expect(step.status).toBe(201);
  });

  it("an ended execution is 409", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p);
    await track(p.publicKey, "go", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    await runAlarm(first.id);
    const res = await call("DELETE", `${base(wf.id)}/${first.id}`, { key: p.secretKey });
    expectEnvelope(res, 409, "CONFLICT");
    expect((await getExecution(p.secretKey, wf.id, first.id)).status).toBe("COMPLETED");
  });

  it("an execution whose object never started is cancelled in D1", async () => {
    const p = await createProject();
    const wf = await delayThenHook(p);
    const t = await track(p.publicKey, "x", uniqueEmail());
    const id = `exec_orphan${crypto.randomUUID().replaceAll("-", "").slice(0, 13)}`;
    const now = Date.now();
    await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO executions (id, project_id, workflow_id, contact_id, status, current_step_id, context, started_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'RUNNING', ?5, '{}', ?6, ?6)`,
      ).bind(id, p.id, wf.id, t.contact, wf.steps.trigger, now),
      env.DB.prepare(
        `INSERT INTO enrollments (workflow_id, contact_id, active_execution_id, last_execution_id, runs, updated_at)
         VALUES (?1, ?2, ?3, ?3, 1, ?4)`,
      ).bind(wf.id, t.contact, id, now),
    ]);
    const res = await call("DELETE", `${base(wf.id)}/${id}`, { key: p.secretKey });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, status: "CANCELLED" });
    expect(await d1Count("SELECT count(*) AS n FROM enrollments WHERE active_execution_id = ?1", id)).toBe(0);
  });
});

describe("POST /workflows/:id/executions/cancel-all", () => {
  it("cancels every active execution and answers how many", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p);
    const otherWf = await delayThenHook(p);
    for (let i = 0; i < 4; i++) await track(p.publicKey, "go", uniqueEmail(`c${i}`));
    const all = await listExecutions(p.secretKey, wf.id);
    expect(all).toHaveLength(4);
    expect(await runAlarm(all[3].id)).toBe(true);
    expect(hooks.sent).toHaveLength(1);

    const res = await call("POST", `${base(wf.id)}/cancel-all`, { key: p.secretKey });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cancelled: 3 });
    const statuses = (await listExecutions(p.secretKey, wf.id)).map((e) => [e.id, e.status]);
    expect(statuses).toEqual([
      [all[0].id, "CANCELLED"],
      [all[1].id, "CANCELLED"],
      [all[2].id, "CANCELLED"],
      [all[3].id, "COMPLETED"],
    ]);
    for (const e of all.slice(0, 3)) {
      expect(await alarmOf(e.id)).toBeNull();
      expect(await runAlarm(e.id)).toBe(false);
    }
    expect(hooks.sent).toHaveLength(1);
    // The other workflow on the same event is untouched.
    const others = await listExecutions(p.secretKey, otherWf.id);
    expect(others).toHaveLength(4);
    expect(others.every((e) => e.status === "WAITING")).toBe(true);

    const again = await call("POST", `${base(wf.id)}/cancel-all`, { key: p.secretKey });
    expect(again.body).toEqual({ cancelled: 0 });
  });

  it("pages through more than 100 active executions", { timeout: 120_000 }, async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p);
    for (let i = 0; i < 105; i += 15) {
      await Promise.all(
        Array.from({ length: 15 }, (_, j) => track(p.publicKey, "go", uniqueEmail(`many${i + j}`))),
      );
    }
    expect(
      await d1Count(
        "SELECT count(*) AS n FROM executions WHERE workflow_id = ?1 AND status = 'WAITING'",
        wf.id,
      ),
    ).toBe(105);
    const res = await call("POST", `${base(wf.id)}/cancel-all`, { key: p.secretKey });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cancelled: 105 });
    expect(
      await d1Count(
        "SELECT count(*) AS n FROM executions WHERE workflow_id = ?1 AND status = 'CANCELLED'",
        wf.id,
      ),
    ).toBe(105);
  });

  it("with nothing active answers 0", async () => {
    const p = await createProject();
    const wf = await delayThenHook(p);
    const res = await call("POST", `${base(wf.id)}/cancel-all`, { key: p.secretKey });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ cancelled: 0 });
  });
});

describe("project isolation", () => {
  it("another project's workflow and execution ids are 404, and change nothing", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const q = await createProject();
    const wfP = await delayThenHook(p);
    const wfQ = await delayThenHook(q);
    const email = uniqueEmail();
    await track(p.publicKey, "go", email);
    await track(q.publicKey, "go", email);
    const [exP] = await listExecutions(p.secretKey, wfP.id);
    const [exQ] = await listExecutions(q.secretKey, wfQ.id);

    const cases = [
      call("GET", base(wfP.id), { key: q.secretKey }),
      call("GET", `${base(wfP.id)}/${exP.id}`, { key: q.secretKey }),
      call("GET", `${base(wfQ.id)}/${exP.id}`, { key: q.secretKey }),
      call("DELETE", `${base(wfP.id)}/${exP.id}`, { key: q.secretKey }),
      call("DELETE", `${base(wfQ.id)}/${exP.id}`, { key: q.secretKey }),
      call("POST", `${base(wfP.id)}/cancel-all`, { key: q.secretKey }),
      call("POST", base(wfP.id), { key: q.secretKey, body: { email: uniqueEmail() } }),
      call("GET", `${base(wfP.id)}/${exQ.id}`, { key: p.secretKey }),
    ];
    for (const res of await Promise.all(cases)) {
      expect(res.status).toBe(404);
      expect(res.body.success).toBe(false);
    }
    expect((await getExecution(p.secretKey, wfP.id, exP.id)).status).toBe("WAITING");
    expect((await getExecution(q.secretKey, wfQ.id, exQ.id)).status).toBe("WAITING");
    expect(await listExecutions(p.secretKey, wfP.id)).toHaveLength(1);
  });

  it("a public key cannot use the executions API", async () => {
    const p = await createProject();
    const wf = await delayThenHook(p);
    const res = await call("GET", base(wf.id), { key: p.publicKey });
    expectEnvelope(res, 403, "FORBIDDEN");
  });
});

describe("a cancel racing a start", () => {
  it("an execution cancelled between its claim and its start does not run when the start arrives", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "go",
      steps: { hook: { type: "WEBHOOK", config: { url: "https://example.com/hook" } } },
      edges: [["trigger", "hook"]],
    });
    const t = await track(p.publicKey, "other", uniqueEmail());
    const steps = await env.DB.prepare(
      "SELECT id, workflow_id, type, name, config FROM workflow_steps WHERE workflow_id = ?1",
    )
      .bind(wf.id)
      .all<any>();
    const transitions = await env.DB.prepare(
      "SELECT workflow_id, from_step_id, to_step_id, branch FROM workflow_transitions WHERE workflow_id = ?1",
    )
      .bind(wf.id)
      .all<any>();
    const snapshot = buildSnapshot(
      { id: wf.id, name: "W", event_name: "go", allow_reentry: 0 },
      steps.results,
      transitions.results,
    );
    if (!snapshot) throw new Error("no snapshot");
    const now = Date.now();
    const init = {
      executionId: `exec_race${crypto.randomUUID().replaceAll("-", "").slice(0, 15)}`,
      projectId: p.id,
      workflowId: wf.id,
      contactId: t.contact,
      triggerEventId: t.event,
      snapshot,
      event: {},
      startedAt: now,
    };
    // A dispatch has claimed the execution and is about to start its object...
    expect(await claimExecutions(env, [init], now)).toHaveLength(1);
    // ...when the API cancels it.
    const del = await call("DELETE", `${base(wf.id)}/${init.executionId}`, { key: p.secretKey });
    expect(del.status).toBe(200);
    expect(del.body.status).toBe("CANCELLED");
    // The start arrives late: the execution stays cancelled and runs no step.
    await startExecution(env, init);
    const ex = await getExecution(p.secretKey, wf.id, init.executionId);
    expect(ex.status).toBe("CANCELLED");
    expect(hooks.sent).toHaveLength(0);
    const state = await doState(init.executionId);
    expect(state?.status ?? "CANCELLED").toBe("CANCELLED");
    expect(state?.log ?? []).toHaveLength(0);
  });
});
