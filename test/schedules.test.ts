/**
 * Schedule triggers: the API (create, patch, definition, project time zone), and the runs the cron hands
 * to the segments queue: once per segment member or once with no contact, each started once however often
 * the cron fires, a page is retried, or two passes overlap.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { derivedId } from "../src/domain/ids";
import { createLogger } from "../src/log";
import { SCHEDULE_PAGE, type ScheduleRunMessage } from "../src/schedules";
import { sweep } from "../src/sweep";
import {
  call,
  captureQueue,
  consume,
  createProject,
  expectEnvelope,
  type TestProject,
  uniqueEmail,
} from "./helpers";
import { getExecution, listExecutions, runAlarm, track } from "./workflow-helpers";

const log = createLogger({ test: "schedules" });
const vip = { match: "all", filters: [{ field: "contact.data.plan", operator: "equals", value: "vip" }] };

afterEach(() => {
  vi.restoreAllMocks();
});

async function segment(p: TestProject, name = "VIP") {
  const res = await call("POST", "/segments", { key: p.secretKey, body: { name, condition: vip } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

async function scheduleWorkflow(
  p: TestProject,
  schedule: { cron: string; segmentId?: string | null },
  opts: { enabled?: boolean; allowReentry?: boolean } = {},
) {
  const res = await call("POST", "/workflows", {
    key: p.secretKey,
    body: {
      name: "Weekly",
      schedule,
      enabled: opts.enabled ?? true,
      allowReentry: opts.allowReentry ?? false,
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function addStep(p: TestProject, wfId: string, from: string, type: string, config: unknown) {
  const step = await call("POST", `/workflows/${wfId}/steps`, {
    key: p.secretKey,
    body: { type, name: type, config },
  });
  expect(step.status, JSON.stringify(step.body)).toBe(201);
  const t = await call("POST", `/workflows/${wfId}/transitions`, {
    key: p.secretKey,
    body: { fromStepId: from, toStepId: step.body.id },
  });
  expect(t.status, JSON.stringify(t.body)).toBe(201);
  return step.body.id as string;
}

/** Makes the workflow due at `dueAt` (as if its time had come). */
const makeDue = (wfId: string, dueAt: number) =>
  env.DB.prepare("UPDATE workflows SET next_run_at = ?2 WHERE id = ?1").bind(wfId, dueAt).run();

const nextRunAt = async (wfId: string) =>
  (
    await env.DB.prepare("SELECT next_run_at FROM workflows WHERE id = ?1")
      .bind(wfId)
      .first<{ next_run_at: number | null }>()
  )?.next_run_at ?? null;

/** The cron pass, with what it hands to the segments queue kept instead of delivered. */
async function cronPass(now: number) {
  const handed: ScheduleRunMessage[] = [];
  const spy = vi.spyOn(env.SEGMENTS_QUEUE, "sendBatch").mockImplementation(async (messages) => {
    for (const m of messages) handed.push(m.body as ScheduleRunMessage);
    return undefined as never;
  });
  const result = await sweep(env, log, now);
  spy.mockRestore();
  return { result, handed };
}

describe("schedule workflows through the API", () => {
  it("takes exactly one of eventName and schedule, a five-field cron and a segment of the project", async () => {
    const p = await createProject();
    const other = await createProject();
    const theirs = await segment(other);
    const cases: [unknown, string][] = [
      [{ name: "x" }, "eventName"],
      [{ name: "x", eventName: "a", schedule: { cron: "@daily" } }, "eventName"],
      [{ name: "x", schedule: { cron: "0 9 * *" } }, "schedule.cron"],
      [{ name: "x", schedule: { cron: "*/5 * * * * *" } }, "schedule.cron"],
      [{ name: "x", schedule: { cron: "0 9 31 2 *" } }, "schedule.cron"],
      [{ name: "x", schedule: { cron: "@daily", segmentId: "nope" } }, "schedule.segmentId"],
      [{ name: "x", schedule: { cron: "@daily", segmentId: theirs } }, "schedule.segmentId"],
      [{ name: "x", schedule: { cron: "@daily", every: 1 } }, "schedule"],
    ];
    for (const [body, field] of cases) {
      const res = await call("POST", "/workflows", { key: p.secretKey, body });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(
        res.body.error.errors.map((e: { field: string }) => e.field),
        JSON.stringify(body),
      ).toContain(field);
    }
    expect(
      await env.DB.prepare("SELECT count(*) AS n FROM workflows WHERE project_id = ?1").bind(p.id).first("n"),
    ).toBe(0);
  });

  it("shows the schedule and its next run in the project's time zone, kept when enabled and dropped when disabled", async () => {
    const p = await createProject();
    const tz = await call("PATCH", "/project", { key: p.secretKey, body: { timeZone: "America/New_York" } });
    expect(tz.status, JSON.stringify(tz.body)).toBe(200);
    expect(tz.body.timeZone).toBe("America/New_York");
    expect(tz.body.retentionDays).toBe(30);
    expectEnvelope(
      await call("PATCH", "/project", { key: p.secretKey, body: { timeZone: "Mars/Olympus" } }),
      422,
      "VALIDATION_ERROR",
    );
    expectEnvelope(await call("PATCH", "/project", { key: p.secretKey, body: {} }), 422, "VALIDATION_ERROR");

    const wf = await scheduleWorkflow(p, { cron: "0 9 * * *" }, { enabled: false });
    expect(wf.eventName).toBeNull();
    expect(wf.schedule).toEqual({ cron: "0 9 * * *", segmentId: null, nextRunAt: null });
    expect(wf.steps[0]).toMatchObject({
      type: "TRIGGER",
      config: { schedule: { cron: "0 9 * * *", segmentId: null } },
    });

    const on = await call("PATCH", `/workflows/${wf.id}`, { key: p.secretKey, body: { enabled: true } });
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    // 09:00 in New York in winter (EST, UTC-5) is 14:00 UTC, within the next day.
    const next = new Date(on.body.schedule.nextRunAt);
    expect(next.getUTCHours()).toBe(new Date().getUTCMonth() >= 3 && new Date().getUTCMonth() <= 9 ? 13 : 14);
    expect(next.getUTCMinutes()).toBe(0);
    expect(next.getTime() - Date.now()).toBeGreaterThan(0);
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(86_400_000);
    expect(await nextRunAt(wf.id)).toBe(next.getTime());

    // Another zone moves the enabled schedule's next time: 09:30 in Kolkata (UTC+5:30) is 04:00 UTC.
    await call("PATCH", "/project", { key: p.secretKey, body: { timeZone: "Asia/Kolkata" } });
    const moved = (await call("GET", `/workflows/${wf.id}`, { key: p.secretKey })).body;
    expect(new Date(moved.schedule.nextRunAt).getUTCHours()).toBe(3);
    expect(new Date(moved.schedule.nextRunAt).getUTCMinutes()).toBe(30);

    const changed = await call("PATCH", `/workflows/${wf.id}`, {
      key: p.secretKey,
      body: { schedule: { cron: "30 9 * * *" } },
    });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(new Date(changed.body.schedule.nextRunAt).getUTCHours()).toBe(4);
    const got = (await call("GET", `/workflows/${wf.id}`, { key: p.secretKey })).body;
    expect(got.steps[0].config).toEqual({ schedule: { cron: "30 9 * * *", segmentId: null } });

    const off = await call("PATCH", `/workflows/${wf.id}`, { key: p.secretKey, body: { enabled: false } });
    expect(off.body.schedule.nextRunAt).toBeNull();
    expect(await nextRunAt(wf.id)).toBeNull();
  });

  it("keeps each trigger kind permanent, and its TRIGGER step read-only", async () => {
    const p = await createProject();
    const ev = await call("POST", "/workflows", {
      key: p.secretKey,
      body: { name: "E", eventName: "signup" },
    });
    const res = await call("PATCH", `/workflows/${ev.body.id}`, {
      key: p.secretKey,
      body: { schedule: { cron: "@daily" } },
    });
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(res.body.error.errors[0]).toMatchObject({ field: "schedule", code: "immutable" });
    expect(ev.body.schedule).toBeNull();

    const wf = await scheduleWorkflow(p, { cron: "@daily" });
    const def = await call("GET", `/workflows/${wf.id}/definition`, { key: p.secretKey });
    expect(def.body.schedule).toEqual({ cron: "@daily" });
    expect(def.body).not.toHaveProperty("eventName");
    const toEvent = await call("PUT", `/workflows/${wf.id}/definition`, {
      key: p.secretKey,
      body: { ...def.body, schedule: undefined, eventName: "signup" },
    });
    expectEnvelope(toEvent, 422, "VALIDATION_ERROR");
    expect(toEvent.body.error.errors[0]).toMatchObject({ field: "schedule", code: "immutable" });
    const trigger = wf.steps[0].id;
    expectEnvelope(
      await call("PATCH", `/workflows/${wf.id}/steps/${trigger}`, {
        key: p.secretKey,
        body: { config: { schedule: { cron: "@hourly" } } },
      }),
      422,
      "VALIDATION_ERROR",
    );
  });

  it("applies a definition with a schedule: created, changed, and its next run found again", async () => {
    const p = await createProject();
    const seg = await segment(p);
    const id = `wf_sched_${crypto.randomUUID().slice(0, 8)}`;
    const body = {
      id,
      name: "Digest",
      schedule: { cron: "0 8 * * 1", segmentId: seg },
      enabled: true,
      steps: { hook: { type: "WEBHOOK", config: { url: "https://example.com/hook" } } },
      transitions: [{ from: "trigger", to: "hook" }],
    };
    const created = await call("PUT", `/workflows/${id}/definition`, { key: p.secretKey, body });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.schedule).toEqual({ cron: "0 8 * * 1", segmentId: seg });
    const first = (await call("GET", `/workflows/${id}`, { key: p.secretKey })).body;
    expect(new Date(first.schedule.nextRunAt).getUTCDay()).toBe(1);
    expect(first.steps.find((s: { type: string }) => s.type === "TRIGGER").config).toEqual({
      schedule: { cron: "0 8 * * 1", segmentId: seg },
    });

    const again = await call("PUT", `/workflows/${id}/definition`, { key: p.secretKey, body });
    expect(again.status).toBe(200);
    expect((await call("GET", `/workflows/${id}`, { key: p.secretKey })).body.schedule.nextRunAt).toBe(
      first.schedule.nextRunAt,
    );
    const daily = await call("PUT", `/workflows/${id}/definition`, {
      key: p.secretKey,
      body: { ...body, schedule: { cron: "0 8 * * *" } },
    });
    expect(daily.status).toBe(200);
    const now = (await call("GET", `/workflows/${id}`, { key: p.secretKey })).body;
    expect(now.schedule.segmentId).toBeNull();
    expect(new Date(now.schedule.nextRunAt).getTime() - Date.now()).toBeLessThanOrEqual(86_400_000);
  });

  it("refuses to delete a segment a schedule runs for, and duplicates a schedule disabled", async () => {
    const p = await createProject();
    const seg = await segment(p);
    const wf = await scheduleWorkflow(p, { cron: "@daily", segmentId: seg });
    const del = await call("DELETE", `/segments/${seg}`, { key: p.secretKey });
    expectEnvelope(del, 409, "CONFLICT");
    expect(del.body.error.message).toContain(wf.id);
    const copy = await call("POST", `/workflows/${wf.id}/duplicate`, { key: p.secretKey });
    expect(copy.status, JSON.stringify(copy.body)).toBe(201);
    expect(copy.body).toMatchObject({ enabled: false, eventName: null });
    expect(copy.body.schedule).toEqual({ cron: "@daily", segmentId: seg, nextRunAt: null });
    await call("PATCH", `/workflows/${wf.id}`, { key: p.secretKey, body: { schedule: { cron: "@daily" } } });
    await call("DELETE", `/workflows/${copy.body.id}`, { key: p.secretKey });
    expect((await call("DELETE", `/segments/${seg}`, { key: p.secretKey })).status).toBe(204);
  });
});

describe("schedule runs", () => {
  it("starts one run per segment member when due, once however often the cron and the queue repeat", async () => {
    const p = await createProject();
    const seg = await segment(p);
    const members: string[] = [];
    for (let i = 0; i < 3; i++) {
      members.push((await track(p.publicKey, "joined", uniqueEmail("vip"), { plan: "vip" })).contact);
    }
    await track(p.publicKey, "joined", uniqueEmail("free"), { plan: "free" });
    const wf = await scheduleWorkflow(p, { cron: "0 9 * * *", segmentId: seg });
    const dueAt = Date.now() - 1_000;
    await makeDue(wf.id, dueAt);

    // Two passes at once, then a third: each hands the run over while the time has not moved on.
    const now = Date.now();
    const passes = await Promise.all([cronPass(now), cronPass(now)]);
    const handed = passes.flatMap((x) => x.handed).filter((m) => m.workflowId === wf.id);
    expect(handed.length).toBeGreaterThanOrEqual(1);
    for (const m of handed)
      expect(m).toMatchObject({ kind: "schedule-run", workflowId: wf.id, dueAt, after: "" });
    const moved = await nextRunAt(wf.id);
    expect(moved).toBeGreaterThan(now);
    expect((await cronPass(now)).handed.filter((m) => m.workflowId === wf.id)).toEqual([]);

    // Each message delivered twice (a retried page), concurrently.
    const [m] = handed;
    await Promise.all([
      consume("segments", m),
      consume("segments", m),
      ...handed.map((h) => consume("segments", h)),
    ]);
    const runs = await listExecutions(p.secretKey, wf.id);
    expect(runs.map((r) => r.contactId).sort()).toEqual([...members].sort());
    for (const r of runs) {
      expect(r.status).toBe("COMPLETED");
      expect(r.context.event).toEqual({ scheduledAt: new Date(dueAt).toISOString() });
      expect(r.id).toBe(await derivedId("exec", wf.id, "schedule", dueAt, r.contactId));
    }
  });

  it("pages through a large segment, a page per message, and stops when the workflow is disabled", async () => {
    const p = await createProject();
    const seg = await segment(p);
    const count = SCHEDULE_PAGE + 7;
    const now = Date.now();
    await env.DB.batch(
      Array.from({ length: count }, (_, i) => {
        const id = `ctc_page_${p.id}_${String(i).padStart(3, "0")}`;
        return env.DB.prepare(
          "INSERT INTO segment_members (segment_id, contact_id, project_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        ).bind(seg, id, p.id, now);
      }),
    );
    const wf = await scheduleWorkflow(p, { cron: "@hourly", segmentId: seg });
    await makeDue(wf.id, now - 1);
    const { handed } = await cronPass(Date.now());
    const first = handed.find((m) => m.workflowId === wf.id) as ScheduleRunMessage;
    const next = captureQueue(env.SEGMENTS_QUEUE as Queue<unknown>);
    await consume("segments", first);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(SCHEDULE_PAGE);
    expect(next.sent).toHaveLength(1);
    const second = next.sent[0] as ScheduleRunMessage;
    expect(second.after).toBe(`ctc_page_${p.id}_${String(SCHEDULE_PAGE - 1).padStart(3, "0")}`);

    // Disabled before the second page: it starts no one.
    await call("PATCH", `/workflows/${wf.id}`, { key: p.secretKey, body: { enabled: false } });
    await consume("segments", second);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(SCHEDULE_PAGE);
    await call("PATCH", `/workflows/${wf.id}`, { key: p.secretKey, body: { enabled: true } });
    await consume("segments", second);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(count);
    expect(next.sent).toHaveLength(1);
  });

  it("follows re-entry for members: with it off, a member's second due time starts nothing", async () => {
    const p = await createProject();
    const seg = await segment(p);
    const contact = (await track(p.publicKey, "joined", uniqueEmail("vip"), { plan: "vip" })).contact;
    const wf = await scheduleWorkflow(p, { cron: "@daily", segmentId: seg });
    for (const dueAt of [Date.now() - 2_000, Date.now() - 1_000]) {
      await consume("segments", { kind: "schedule-run", db: "DB", workflowId: wf.id, dueAt, after: "" });
    }
    const runs = await listExecutions(p.secretKey, wf.id);
    expect(runs.map((r) => r.contactId)).toEqual([contact]);
  });

  it("runs once with no contact: a webhook posts contact null, a step that needs a contact fails the run", async () => {
    const p = await createProject();
    const wf = await scheduleWorkflow(p, { cron: "*/15 * * * *" });
    const hook = await addStep(p, wf.id, wf.steps[0].id, "WEBHOOK", { url: "https://example.com/report" });
    await addStep(p, wf.id, hook, "UPDATE_CONTACT", { data: { reported: true } });
    const webhooks = captureQueue(env.WEBHOOKS_QUEUE as Queue<unknown>);
    const dueAt = Date.now() - 1_000;
    const message = { kind: "schedule-run", db: "DB", workflowId: wf.id, dueAt, after: "" };
    await Promise.all([consume("segments", message), consume("segments", message)]);

    const [run] = await listExecutions(p.secretKey, wf.id);
    expect(run).toMatchObject({ contactId: null, status: "FAILED" });
    const detail = await getExecution(p.secretKey, wf.id, run.id);
    expect(detail.steps.at(-1).error).toBe(
      "UPDATE_CONTACT needs a contact, and this run of a schedule without a segment has none",
    );
    expect(webhooks.sent).toHaveLength(1);
    expect(webhooks.sent[0].vars).toMatchObject({
      contact: null,
      event: { scheduledAt: new Date(dueAt).toISOString() },
    });
    expect(webhooks.sent[0].vars).not.toHaveProperty("contactId");
  });

  it("with no contact, skips a due time while the last run is still going, then runs again", async () => {
    const p = await createProject();
    const wf = await scheduleWorkflow(p, { cron: "* * * * *" });
    await addStep(p, wf.id, wf.steps[0].id, "DELAY", { amount: 1, unit: "hours" });
    const at = Date.now() - 3_000;
    const run = (dueAt: number) =>
      consume("segments", { kind: "schedule-run", db: "DB", workflowId: wf.id, dueAt, after: "" });
    await run(at);
    const [first] = await listExecutions(p.secretKey, wf.id);
    expect(first.status).toBe("WAITING");
    await run(at + 1_000);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(1);
    await runAlarm(first.id);
    expect((await getExecution(p.secretKey, wf.id, first.id)).status).toBe("COMPLETED");
    await run(at + 2_000);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(2);
  });

  it("a pass whose hand-over fails leaves the time due, and the next pass hands it over", async () => {
    const p = await createProject();
    const wf = await scheduleWorkflow(p, { cron: "@daily" });
    const dueAt = Date.now() - 1_000;
    await makeDue(wf.id, dueAt);
    const failing = vi.spyOn(env.SEGMENTS_QUEUE, "sendBatch").mockRejectedValue(new Error("queue down"));
    await sweep(env, log, Date.now());
    failing.mockRestore();
    expect(await nextRunAt(wf.id)).toBe(dueAt);
    const { result, handed } = await cronPass(Date.now());
    expect(result.schedules).toBeGreaterThanOrEqual(1);
    expect(handed.some((m) => m.workflowId === wf.id && m.dueAt === dueAt)).toBe(true);
  });
});
