/**
 * The re-entry rule (API.md "Re-entry", DESIGN.md "Re-entry in one statement"): at most one active
 * execution per (workflow, contact), also under concurrent identical requests; without allowReentry at
 * most one ever; dispatch is idempotent.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { dispatchStored } from "../src/dispatch";
import { derivedId } from "../src/domain/ids";
import { createLogger } from "../src/log";
import { call, captureQueue, createProject, expectEnvelope, type TestProject, uniqueEmail } from "./helpers";
import {
  createWorkflow,
  d1Count,
  eventProject,
  getExecution,
  listExecutions,
  runAlarm,
  stepIdsOf,
  track,
} from "./workflow-helpers";

afterEach(() => vi.restoreAllMocks());

const log = createLogger({ test: "reentry" });

const delayThenHook = (p: TestProject, eventName: string, allowReentry = false, enabled = true) =>
  createWorkflow(p.secretKey, {
    eventName,
    allowReentry,
    enabled,
    steps: {
      wait: { type: "DELAY", config: { amount: 1, unit: "hours" } },
      hook: { type: "WEBHOOK", config: { url: "https://example.com/hook" } },
    },
    edges: [
      ["trigger", "wait"],
      ["wait", "hook"],
    ],
  });

const hookOnly = (p: TestProject, eventName: string, allowReentry = false) =>
  createWorkflow(p.secretKey, {
    eventName,
    allowReentry,
    steps: { hook: { type: "WEBHOOK", config: { url: "https://example.com/hook" } } },
    edges: [["trigger", "hook"]],
  });

async function enrollment(workflowId: string, contactId: string) {
  return env.DB.prepare(
    "SELECT active_execution_id, last_execution_id, runs FROM enrollments WHERE workflow_id = ?1 AND contact_id = ?2",
  )
    .bind(workflowId, contactId)
    .first<{ active_execution_id: string | null; last_execution_id: string; runs: number }>();
}

describe("under concurrency", () => {
  it.each([false, true])(
    "20 identical concurrent tracks of a new contact make exactly one active execution (allowReentry %s)",
    async (allowReentry) => {
      captureQueue(env.WEBHOOKS_QUEUE);
      const p = await createProject();
      const wf = await delayThenHook(p, "burst", allowReentry);
      const email = uniqueEmail("burst");
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          call("POST", "/v1/track", { key: p.publicKey, body: { event: "burst", email, data: { n: 1 } } }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
      const contactIds = new Set(results.map((r) => r.body.data.contact));
      expect(contactIds.size).toBe(1);
      const [contactId] = [...contactIds] as string[];

      const list = await listExecutions(p.secretKey, wf.id);
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ status: "WAITING", contactId, currentStepId: wf.steps.wait });
      expect(
        await d1Count(
          "SELECT count(*) AS n FROM executions WHERE workflow_id = ?1 AND status IN ('RUNNING', 'WAITING')",
          wf.id,
        ),
      ).toBe(1);
      expect(await enrollment(wf.id, contactId as string)).toEqual({
        active_execution_id: list[0].id,
        last_execution_id: list[0].id,
        runs: 1,
      });
      expect(
        await d1Count(
          "SELECT count(*) AS n FROM events WHERE contact_id = ?1 AND name = 'burst' AND dispatched_at IS NOT NULL",
          contactId,
        ),
      ).toBe(20);
      // The winner's id is derived from one of the 20 events.
      const eventIds = results.map((r) => r.body.data.event as string);
      const candidates = await Promise.all(eventIds.map((e) => derivedId("exec", wf.id, e)));
      expect(candidates).toContain(list[0].id);
    },
  );

  it("20 concurrent tracks after the first run ended start exactly one more run (allowReentry)", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p, "burst", true);
    const email = uniqueEmail("burst");
    await track(p.publicKey, "burst", email);
    const [first] = await listExecutions(p.secretKey, wf.id);
    expect(await runAlarm(first.id)).toBe(true);
    expect((await getExecution(p.secretKey, wf.id, first.id)).status).toBe("COMPLETED");
    await Promise.all(
      Array.from({ length: 20 }, () =>
        call("POST", "/v1/track", { key: p.publicKey, body: { event: "burst", email } }),
      ),
    );
    const list = await listExecutions(p.secretKey, wf.id);
    expect(list).toHaveLength(2);
    expect(list.map((e) => e.status).sort()).toEqual(["COMPLETED", "WAITING"]);
    expect((await enrollment(wf.id, first.contactId))?.runs).toBe(2);
  });
});

describe("without allowReentry", () => {
  it("a second track after the first run ended starts nothing", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await hookOnly(p, "once");
    const email = uniqueEmail();
    await track(p.publicKey, "once", email);
    const [first] = await listExecutions(p.secretKey, wf.id);
    expect(first.status).toBe("COMPLETED");
    await track(p.publicKey, "once", email);
    await track(p.publicKey, "once", email);
    const list = await listExecutions(p.secretKey, wf.id);
    expect(list.map((e) => e.id)).toEqual([first.id]);
    expect(hooks.sent).toHaveLength(1);
    expect((await enrollment(wf.id, first.contactId))?.runs).toBe(1);
  });

  it("a second track after a cancel starts nothing, nor does a start by hand", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p, "once");
    const email = uniqueEmail();
    await track(p.publicKey, "once", email);
    const [first] = await listExecutions(p.secretKey, wf.id);
    const del = await call("DELETE", `/workflows/${wf.id}/executions/${first.id}`, { key: p.secretKey });
    expect(del.status).toBe(200);
    expect((await enrollment(wf.id, first.contactId))?.active_execution_id).toBeNull();
    await track(p.publicKey, "once", email);
    const list = await listExecutions(p.secretKey, wf.id);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: first.id, status: "CANCELLED" });
    const manual = await call("POST", `/workflows/${wf.id}/executions`, {
      key: p.secretKey,
      body: { email },
    });
    expectEnvelope(manual, 409, "REENTRY_NOT_ALLOWED");
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(1);
  });

  it("another contact still enters", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await hookOnly(p, "once");
    await track(p.publicKey, "once", uniqueEmail());
    await track(p.publicKey, "once", uniqueEmail());
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(2);
  });
});

describe("with allowReentry", () => {
  it("a second run starts only after the first ended", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p, "again", true);
    const email = uniqueEmail();
    await track(p.publicKey, "again", email);
    const [first] = await listExecutions(p.secretKey, wf.id);
    expect(first.status).toBe("WAITING");

    await track(p.publicKey, "again", email);
    expect((await listExecutions(p.secretKey, wf.id)).map((e) => e.id)).toEqual([first.id]);

    expect(await runAlarm(first.id)).toBe(true);
    expect((await getExecution(p.secretKey, wf.id, first.id)).status).toBe("COMPLETED");
    expect(hooks.sent).toHaveLength(1);

    const third = await track(p.publicKey, "again", email);
    const list = await listExecutions(p.secretKey, wf.id);
    expect(list).toHaveLength(2);
    const second = list.find((e) => e.id !== first.id);
    expect(second).toMatchObject({ status: "WAITING", id: await derivedId("exec", wf.id, third.event) });
    expect(await enrollment(wf.id, first.contactId)).toEqual({
      active_execution_id: second.id,
      last_execution_id: second.id,
      runs: 2,
    });
  });

  it("a run starts again after a cancel", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p, "again", true);
    const email = uniqueEmail();
    await track(p.publicKey, "again", email);
    const [first] = await listExecutions(p.secretKey, wf.id);
    const del = await call("DELETE", `/workflows/${wf.id}/executions/${first.id}`, { key: p.secretKey });
    expect(del.status).toBe(200);
    await track(p.publicKey, "again", email);
    const list = await listExecutions(p.secretKey, wf.id);
    expect(list.map((e) => e.status).sort()).toEqual(["CANCELLED", "WAITING"]);
  });

  it("a start by hand while a run is active is 409, and allowed after it ended", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p, "again", true);
    const email = uniqueEmail();
    await track(p.publicKey, "again", email);
    const [first] = await listExecutions(p.secretKey, wf.id);
    const busy = await call("POST", `/workflows/${wf.id}/executions`, { key: p.secretKey, body: { email } });
    expectEnvelope(busy, 409, "REENTRY_NOT_ALLOWED");
    await runAlarm(first.id);
    const ok = await call("POST", `/workflows/${wf.id}/executions`, { key: p.secretKey, body: { email } });
    expect(ok.status).toBe(201);
    expect(ok.body.status).toBe("WAITING");
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(2);
  });
});

describe("which workflows an event starts", () => {
  it("two workflows on one event both start; a disabled one and another event's do not", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const a = await hookOnly(p, "shared");
    const b = await delayThenHook(p, "shared");
    const off = await delayThenHook(p, "shared", false, false);
    const other = await hookOnly(p, "unrelated");
    const email = uniqueEmail();
    const t = await track(p.publicKey, "shared", email);
    const [exA] = await listExecutions(p.secretKey, a.id);
    const [exB] = await listExecutions(p.secretKey, b.id);
    expect(exA).toMatchObject({ status: "COMPLETED", contactId: t.contact });
    expect(exB).toMatchObject({ status: "WAITING", contactId: t.contact });
    expect(exA.id).not.toBe(exB.id);
    expect(await listExecutions(p.secretKey, off.id)).toHaveLength(0);
    expect(await listExecutions(p.secretKey, other.id)).toHaveLength(0);
    expect(hooks.sent).toHaveLength(1);
  });

  it("a disabled workflow starts nothing; once enabled, the next event starts it", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p, "maybe", false, false);
    const email = uniqueEmail();
    await track(p.publicKey, "maybe", email);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(0);
    expect(await d1Count("SELECT count(*) AS n FROM enrollments WHERE workflow_id = ?1", wf.id)).toBe(0);
    const patch = await call("PATCH", `/workflows/${wf.id}`, { key: p.secretKey, body: { enabled: true } });
    expect(patch.status).toBe(200);
    await track(p.publicKey, "maybe", email);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(1);
    const patchOff = await call("PATCH", `/workflows/${wf.id}`, {
      key: p.secretKey,
      body: { enabled: false },
    });
    expect(patchOff.status).toBe(200);
    await track(p.publicKey, "maybe", uniqueEmail());
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(1);
  });

  it("another project's workflow on the same event is not started", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const q = await createProject();
    const wf = await hookOnly(q, "shared");
    await track(p.publicKey, "shared", uniqueEmail());
    expect(await listExecutions(q.secretKey, wf.id)).toHaveLength(0);
  });
});

describe("dispatching an event twice", () => {
  async function setup() {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const once = await hookOnly(p, "twice");
    const reentrant = await hookOnly(p, "twice", true);
    const waiting = await delayThenHook(p, "twice", true);
    const email = uniqueEmail();
    const t = await track(p.publicKey, "twice", email, { k: "v" });
    expect(hooks.sent).toHaveLength(2);
    const before = await Promise.all(
      [once, reentrant, waiting].map(async (wf) => {
        const [ex] = await listExecutions(p.secretKey, wf.id);
        return getExecution(p.secretKey, wf.id, ex.id);
      }),
    );
    expect(before.map((e) => e.status)).toEqual(["COMPLETED", "COMPLETED", "WAITING"]);
    await env.DB.prepare("UPDATE events SET dispatched_at = NULL WHERE id = ?1").bind(t.event).run();
    return { hooks, p, t, workflows: [once, reentrant, waiting], before };
  }

  async function expectNothingTwice(s: Awaited<ReturnType<typeof setup>>) {
    expect(s.hooks.sent).toHaveLength(2);
    for (const [i, wf] of s.workflows.entries()) {
      const list = await listExecutions(s.p.secretKey, wf.id);
      expect(list).toHaveLength(1);
      const ex = await getExecution(s.p.secretKey, wf.id, list[0].id);
      expect(ex.id).toBe(s.before[i].id);
      expect(ex.status).toBe(s.before[i].status);
      expect(stepIdsOf(ex)).toEqual(stepIdsOf(s.before[i]));
      expect((await enrollment(wf.id, s.t.contact))?.runs).toBe(1);
    }
    const row = await env.DB.prepare("SELECT dispatched_at FROM events WHERE id = ?1")
      .bind(s.t.event)
      .first<{ dispatched_at: number | null }>();
    expect(row?.dispatched_at).not.toBeNull();
  }

  it("one after the other starts nothing twice", async () => {
    const s = await setup();
    await dispatchStored(env, log, await eventProject(s.t.event), [s.t.event]);
    await expectNothingTwice(s);
    // And a third time, after the waiting run ended.
    const waitingId = s.before[2].id;
    expect(await runAlarm(waitingId)).toBe(true);
    expect(s.hooks.sent).toHaveLength(3);
    await env.DB.prepare("UPDATE events SET dispatched_at = NULL WHERE id = ?1").bind(s.t.event).run();
    await dispatchStored(env, log, await eventProject(s.t.event), [s.t.event]);
    expect(s.hooks.sent).toHaveLength(3);
    for (const wf of s.workflows) {
      expect(await listExecutions(s.p.secretKey, wf.id)).toHaveLength(1);
      const e = await enrollment(wf.id, s.t.contact);
      expect(e?.active_execution_id).toBeNull();
    }
  });

  it("two at once start nothing twice", async () => {
    const s = await setup();
    await Promise.all([
      dispatchStored(env, log, await eventProject(s.t.event), [s.t.event]),
      dispatchStored(env, log, await eventProject(s.t.event), [s.t.event]),
    ]);
    await expectNothingTwice(s);
  });

  it("an event already dispatched is skipped", async () => {
    const s = await setup();
    await env.DB.prepare("UPDATE events SET dispatched_at = 1 WHERE id = ?1").bind(s.t.event).run();
    await dispatchStored(env, log, await eventProject(s.t.event), [s.t.event]);
    await expectNothingTwice(s);
  });
});

describe("a workflow the event triggers but does not start says which and why", () => {
  /** The "workflows not started" lines the worker logged while `fn` ran. */
  async function notStartedLines(fn: () => Promise<void>) {
    const lines: any[] = [];
    const spy = vi.spyOn(console, "info").mockImplementation((line: unknown) => {
      const parsed = typeof line === "string" && line.startsWith("{") ? JSON.parse(line) : null;
      if (parsed?.msg === "workflows not started") lines.push(parsed);
    });
    await fn();
    spy.mockRestore();
    return lines;
  }

  it("a disabled workflow: one log line naming it, with the event, and its dispatch is finished", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await delayThenHook(p, "quiet", false, false);
    const lines = await notStartedLines(async () => {
      const t = await track(p.publicKey, "quiet", uniqueEmail());
      expect(
        await d1Count(
          "SELECT count(*) AS n FROM events WHERE id = ?1 AND dispatched_at IS NOT NULL",
          t.event,
        ),
      ).toBe(1);
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      event: "quiet",
      notStarted: [{ workflowId: wf.id, name: `WF quiet`, reason: "disabled" }],
    });
    expect(lines[0].eventId).toMatch(/^evt_/);
    expect(lines[0].requestId).toMatch(/^req_/);
  });

  it("re-entry refused: 're-entry not allowed' after a finished run, 'active run' while one runs", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const once = await createWorkflow(p.secretKey, { eventName: "once", allowReentry: false });
    const again = await delayThenHook(p, "again", true);
    const email = uniqueEmail();
    await track(p.publicKey, "once", email);
    await track(p.publicKey, "again", email);
    const lines = await notStartedLines(async () => {
      await track(p.publicKey, "once", email);
      await track(p.publicKey, "again", email);
    });
    expect(lines.map((l) => l.notStarted)).toEqual([
      [{ workflowId: once.id, name: "WF once", reason: "re-entry not allowed" }],
      [{ workflowId: again.id, name: "WF again", reason: "active run" }],
    ]);
  });

  it("says nothing when every workflow it triggers starts", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    await delayThenHook(p, "fine", true);
    expect(await notStartedLines(() => track(p.publicKey, "fine", uniqueEmail()).then(() => {}))).toEqual([]);
  });
});
