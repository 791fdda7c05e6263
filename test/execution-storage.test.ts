/**
 * An ended execution's Durable Object deletes its storage (and its alarm) once D1 holds its final state;
 * everything that can still reach the object afterwards is harmless; a failed final mirror keeps the
 * storage until a retry has mirrored it.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Execution } from "../src/db/schema";
import { dispatchStored, loadSnapshot } from "../src/dispatch";
import { cancelExecution } from "../src/engine/cancel";
import { createLogger } from "../src/log";
import { sweep } from "../src/sweep";
import { call, captureQueue, createProject, expectEnvelope, type TestProject, uniqueEmail } from "./helpers";
import {
  createWorkflow,
  d1Count,
  doState,
  eventProject,
  getExecution,
  listExecutions,
  onlyExecution,
  runAlarm,
  stepIdsOf,
  stubFor,
  track,
} from "./workflow-helpers";

afterEach(() => vi.restoreAllMocks());

const log = createLogger({ test: "execution-storage" });
const hook = () => ({ type: "WEBHOOK", config: { url: "https://example.com/hook" } });
const delay = { type: "DELAY", config: { amount: 1, unit: "hours" } };

/** Every key the object stores, and its alarm. */
async function storageOf(executionId: string) {
  return runInDurableObject(stubFor(executionId), async (_instance, state) => ({
    keys: [...(await state.storage.list()).keys()],
    alarm: await state.storage.getAlarm(),
  }));
}

async function expectForgotten(executionId: string) {
  expect(await storageOf(executionId)).toEqual({ keys: [], alarm: null });
  expect(await doState(executionId)).toBeNull();
}

async function row(executionId: string) {
  return env.DB.prepare("SELECT * FROM executions WHERE id = ?1")
    .bind(executionId)
    .first<Record<string, unknown>>();
}

/** trigger → DELAY 1 h → WEBHOOK: WAITING (with an alarm) until its alarm runs. */
const delayThenHook = (p: TestProject, eventName = "go", allowReentry = false) =>
  createWorkflow(p.secretKey, {
    eventName,
    allowReentry,
    steps: { wait: delay, hook: hook() },
    edges: [
      ["trigger", "wait"],
      ["wait", "hook"],
    ],
  });

describe("an ended execution's storage is deleted once D1 has its final state", () => {
  it("COMPLETED in one go: no key, no alarm; the step log is D1's", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "go",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const t = await track(p.publicKey, "go", uniqueEmail());
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("COMPLETED");
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.hook]);
    expect(await d1Count("SELECT json_array_length(steps) AS n FROM executions WHERE id = ?1", ex.id)).toBe(
      2,
    );
    expect(
      await d1Count(
        "SELECT count(*) AS n FROM enrollments WHERE workflow_id = ?1 AND contact_id = ?2 AND active_execution_id IS NOT NULL",
        wf.id,
        t.contact,
      ),
    ).toBe(0);
    await expectForgotten(ex.id);
  });

  it("EXITED", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "go",
      steps: { out: { type: "EXIT", config: { reason: "done" } } },
      edges: [["trigger", "out"]],
    });
    await track(p.publicKey, "go", uniqueEmail());
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex).toMatchObject({ status: "EXITED", exitReason: "done" });
    await expectForgotten(ex.id);
  });

  it("COMPLETED after a DELAY's alarm: the state and the alarm kept while it waits, both gone after", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p);
    await track(p.publicKey, "go", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    const waiting = await storageOf(first.id);
    expect(waiting.keys).toEqual(["state"]);
    expect(waiting.alarm).not.toBeNull();
    expect(await runAlarm(first.id)).toBe(true);
    expect((await getExecution(p.secretKey, wf.id, first.id)).status).toBe("COMPLETED");
    await expectForgotten(first.id);
  });

  it("COMPLETED by an event ending a WAIT_FOR_EVENT: the waits row and the storage are gone", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "start",
      steps: {
        wait: { type: "WAIT_FOR_EVENT", config: { eventName: "confirm", timeout: 3600 } },
        hook: hook(),
      },
      edges: [
        ["trigger", "wait"],
        ["wait", "hook", "event"],
      ],
    });
    const email = uniqueEmail();
    await track(p.publicKey, "start", email);
    const [first] = await listExecutions(p.secretKey, wf.id);
    expect(await d1Count("SELECT count(*) AS n FROM waits WHERE execution_id = ?1", first.id)).toBe(1);
    await track(p.publicKey, "confirm", email);
    expect((await getExecution(p.secretKey, wf.id, first.id)).status).toBe("COMPLETED");
    expect(await d1Count("SELECT count(*) AS n FROM waits WHERE execution_id = ?1", first.id)).toBe(0);
    await expectForgotten(first.id);
  });

  it("FAILED (its contact deleted under it)", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p);
    const t = await track(p.publicKey, "go", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    await env.DB.prepare("DELETE FROM contacts WHERE id = ?1").bind(t.contact).run();
    expect(await runAlarm(first.id)).toBe(true);
    const ex = await getExecution(p.secretKey, wf.id, first.id);
    expect(ex.status).toBe("FAILED");
    expect(ex.steps.at(-1)).toMatchObject({ status: "FAILED", error: "The contact no longer exists" });
    await expectForgotten(first.id);
  });

  it("CANCELLED through the API", async () => {
    const p = await createProject();
    const wf = await delayThenHook(p);
    await track(p.publicKey, "go", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    const del = await call("DELETE", `/workflows/${wf.id}/executions/${first.id}`, { key: p.secretKey });
    expect(del.status).toBe(200);
    expect(del.body.status).toBe("CANCELLED");
    await expectForgotten(first.id);
  });
});

describe("what reaches an ended execution's object afterwards is harmless", () => {
  /** A completed run (after a DELAY), its D1 row and step log as the API shows them. */
  async function ended() {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p, "go", true);
    const t = await track(p.publicKey, "go", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    expect(await runAlarm(first.id)).toBe(true);
    const shown = await getExecution(p.secretKey, wf.id, first.id);
    expect(shown.status).toBe("COMPLETED");
    await expectForgotten(first.id);
    return { hooks, p, wf, t, id: first.id as string, shown, d1: await row(first.id) };
  }

  async function unchanged(e: Awaited<ReturnType<typeof ended>>) {
    expect(await getExecution(e.p.secretKey, e.wf.id, e.id)).toEqual(e.shown);
    expect(await row(e.id)).toEqual(e.d1);
    await expectForgotten(e.id);
  }

  it("a late alarm, an event, a kick and snapshotState find no state and change nothing", async () => {
    const e = await ended();
    await runInDurableObject(stubFor(e.id), (_instance, state) => state.storage.setAlarm(Date.now()));
    expect(await runAlarm(e.id)).toBe(true);
    expect(
      await stubFor(e.id).deliverEvent({ id: "evt_late", name: "go", data: {}, createdAt: Date.now() }),
    ).toEqual({ accepted: false });
    expect(await stubFor(e.id).kick()).toBeNull();
    expect(await stubFor(e.id).snapshotState()).toBeNull();
    await unchanged(e);
    expect(e.hooks.sent).toHaveLength(1);
  });

  it("the sweep's kick of a row it read just before the run ended: kick is null, and the ended row is not FAILED", async () => {
    const e = await ended();
    // As if the sweep had read the row as stalled just before the execution ended.
    const realPrepare = env.DB.prepare.bind(env.DB);
    vi.spyOn(env.DB, "prepare").mockImplementation((sql: string) =>
      sql.includes("FROM executions WHERE wake_at IS NOT NULL")
        ? ({ bind: () => realPrepare("SELECT ?1 AS id").bind(e.id) } as unknown as D1PreparedStatement)
        : realPrepare(sql),
    );
    const result = await sweep(env, log, Date.now());
    expect(result.kicked).toBe(1);
    await unchanged(e);
  });

  it("a cancel: 409 from the API, and the object (reached as in a race) answers with D1's status and keeps nothing", async () => {
    const e = await ended();
    const del = await call("DELETE", `/workflows/${e.wf.id}/executions/${e.id}`, { key: e.p.secretKey });
    expectEnvelope(del, 409, "CONFLICT");
    expect(await stubFor(e.id).cancel(e.id)).toEqual({ cancelled: false, status: "COMPLETED" });
    // The API's cancel of a row it read as WAITING just before the run ended.
    const asRead = { id: e.id, workflowId: e.wf.id, contactId: e.t.contact, status: "WAITING" } as Execution;
    expect(await cancelExecution(env, asRead)).toBe(false);
    await unchanged(e);
  });

  it("a repeated claim's start that arrives after the run ended (the claim read it active) runs nothing", async () => {
    const e = await ended();
    // The claim of a retried dispatch or schedule page ran while the run was active; its start comes now.
    const state = await row(e.id);
    const snapshot = await loadSnapshot(env, {
      id: e.wf.id,
      name: "x",
      eventName: "go",
      allowReentry: true,
    });
    const init = {
      executionId: e.id,
      projectId: e.p.id,
      workflowId: e.wf.id,
      contactId: e.t.contact,
      triggerEventId: e.t.event,
      snapshot: snapshot as NonNullable<typeof snapshot>,
      event: {},
      startedAt: state?.started_at as number,
      database: "DB",
    };
    expect(await stubFor(e.id).start({ ...init, retried: true })).toBeNull();
    await unchanged(e);
    expect(e.hooks.sent).toHaveLength(1);
  });

  it("a retried dispatch of its event, even after a later run of the same workflow and contact, starts nothing", async () => {
    const e = await ended();
    // A second run (re-entry allowed) starts and ends; the enrollment is free and names that run now.
    await track(e.p.publicKey, "go", (await contactEmail(e.t.contact)) as string);
    const runs = await listExecutions(e.p.secretKey, e.wf.id);
    expect(runs).toHaveLength(2);
    const second = runs.find((r) => r.id !== e.id);
    expect(await runAlarm(second.id)).toBe(true);
    expect(e.hooks.sent).toHaveLength(2);

    // The first event's dispatch, retried (its mark lost): the claim refuses an execution that has a row.
    await env.DB.prepare("UPDATE events SET dispatched_at = NULL WHERE id = ?1").bind(e.t.event).run();
    await dispatchStored(env, log, await eventProject(e.t.event), [e.t.event]);
    expect(await listExecutions(e.p.secretKey, e.wf.id)).toHaveLength(2);
    expect(e.hooks.sent).toHaveLength(2);
    const enrollment = await env.DB.prepare(
      "SELECT active_execution_id, last_execution_id, runs FROM enrollments WHERE workflow_id = ?1 AND contact_id = ?2",
    )
      .bind(e.wf.id, e.t.contact)
      .first();
    expect(enrollment).toEqual({ active_execution_id: null, last_execution_id: second.id, runs: 2 });
    const marked = await env.DB.prepare("SELECT dispatched_at FROM events WHERE id = ?1")
      .bind(e.t.event)
      .first<{ dispatched_at: number | null }>();
    expect(marked?.dispatched_at).not.toBeNull();
    await unchanged(e);
  });
});

describe("a failed final mirror", () => {
  it("keeps the storage; the sweep's retry mirrors the final state, then the storage goes", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p);
    await track(p.publicKey, "go", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);

    const realBatch = env.DB.batch.bind(env.DB);
    vi.spyOn(env.DB, "batch").mockImplementation(async (statements) => {
      const sql = statements.map((st) => (st as unknown as { statement: string }).statement).join(";");
      if (sql.includes("UPDATE enrollments SET active_execution_id = NULL")) {
        throw new Error("injected mirror failure");
      }
      return realBatch(statements);
    });
    await expect(runAlarm(first.id)).rejects.toThrow(/injected mirror failure/);
    vi.mocked(env.DB.batch).mockRestore();
    expect(hooks.sent).toHaveLength(1);
    // D1 still shows the wait; the object holds the ended state, unmirrored.
    expect((await row(first.id))?.status).toBe("WAITING");
    expect((await storageOf(first.id)).keys).toEqual(["state"]);
    expect(await doState(first.id)).toMatchObject({ status: "COMPLETED", dirty: true });

    // Long past due in D1: the sweep kicks it, the kick mirrors, and then the storage goes.
    await env.DB.prepare("UPDATE executions SET wake_at = ?2 WHERE id = ?1")
      .bind(first.id, Date.now() - 5 * 60_000)
      .run();
    expect((await sweep(env, log, Date.now())).kicked).toBeGreaterThanOrEqual(1);
    const ex = await getExecution(p.secretKey, wf.id, first.id);
    expect(ex.status).toBe("COMPLETED");
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.wait, wf.steps.hook]);
    expect(ex.steps.map((s: { status: string }) => s.status)).toEqual([
      "COMPLETED",
      "COMPLETED",
      "COMPLETED",
    ]);
    await expectForgotten(first.id);
    expect(hooks.sent).toHaveLength(1);
  });

  it("keeps the storage; the object's retried alarm mirrors, then the storage goes", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "go",
      steps: { wait: delay, out: { type: "EXIT", config: { reason: "done" } } },
      edges: [
        ["trigger", "wait"],
        ["wait", "out"],
      ],
    });
    await track(p.publicKey, "go", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    const realBatch = env.DB.batch.bind(env.DB);
    const batch = vi.spyOn(env.DB, "batch").mockImplementation(async (statements) => {
      const sql = statements.map((st) => (st as unknown as { statement: string }).statement).join(";");
      if (sql.includes("UPDATE enrollments SET active_execution_id = NULL")) {
        throw new Error("injected mirror failure");
      }
      return realBatch(statements);
    });
    await expect(runAlarm(first.id)).rejects.toThrow(/injected mirror failure/);
    batch.mockRestore();
    expect((await storageOf(first.id)).keys).toEqual(["state"]);
    // The platform retries an alarm that threw.
    await runInDurableObject(stubFor(first.id), (instance) => instance.alarm());
    expect(await getExecution(p.secretKey, wf.id, first.id)).toMatchObject({
      status: "EXITED",
      exitReason: "done",
    });
    await expectForgotten(first.id);
  });
});

async function contactEmail(id: string) {
  const r = await env.DB.prepare("SELECT email FROM contacts WHERE id = ?1")
    .bind(id)
    .first<{ email: string }>();
  return r?.email;
}

describe("what the object writes to its own storage", () => {
  it("after a mirror it does not save again: evicted then, the stored state mirrors again and counts nothing twice", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "go",
      steps: { wait: delay, hook: hook() },
      edges: [
        ["trigger", "wait"],
        ["wait", "hook"],
      ],
    });
    await track(p.publicKey, "go", uniqueEmail());
    const [ex] = await listExecutions(p.secretKey, wf.id);
    // Stored as the wait step saved it: the mirror that followed is not recorded there.
    const stored = await runInDurableObject(stubFor(ex.id), async (_i, state) =>
      state.storage.get<any>("state"),
    );
    expect(stored).toMatchObject({ status: "WAITING", dirty: true, alarm: { for: "wait" }, alarmSet: true });
    // The object goes (its memory with it); the alarm loads what was stored and mirrors it all again.
    await runInDurableObject(stubFor(ex.id), async (instance) => {
      (instance as unknown as { state: unknown }).state = undefined;
    });
    expect(await runAlarm(ex.id)).toBe(true);
    expect(hooks.sent).toHaveLength(1);
    const done = await getExecution(p.secretKey, wf.id, ex.id);
    expect(done.status).toBe("COMPLETED");
    expect(stepIdsOf(done)).toEqual([wf.steps.trigger, wf.steps.wait, wf.steps.hook]);
    const stats = await call("GET", `/workflows/${wf.id}/stats`, { key: p.secretKey });
    for (const s of stats.body.steps)
      expect(s).toMatchObject({ passed: 1, completed: 1, failed: 0, active: 0 });
    expect(await storageOf(ex.id)).toEqual({ keys: [], alarm: null });
  });

  it("a TRIGGER → WEBHOOK run saves its state twice: at the start and after the webhook step", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "go",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const calls: string[] = [];
    const { ExecutionDO } = await import("../durable-objects/execution");
    const proto = ExecutionDO.prototype as any;
    const real = proto.save;
    vi.spyOn(proto, "save").mockImplementation(async function (this: any) {
      calls.push(this.state?.currentStepId ?? "?");
      return real.call(this);
    });
    await track(p.publicKey, "go", uniqueEmail());
    const [ex] = await listExecutions(p.secretKey, wf.id);
    expect(ex.status).toBe("COMPLETED");
    expect(calls).toEqual([wf.steps.trigger, wf.steps.hook]);
  });
});
