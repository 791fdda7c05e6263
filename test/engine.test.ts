/**
 * The engine end to end: each step type and branch, DELAY and WAIT_FOR_EVENT driven by the real alarm,
 * a long chain, a failing step, a thrown alarm retried, and the cron sweep.
 */
import {
  createExecutionContext,
  createScheduledController,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ExecutionDO } from "../durable-objects/execution";
import { dispatchRead, dispatchStored, parseDispatchRead, STEPS_INLINE_MAX } from "../src/dispatch";
import { derivedId, newId } from "../src/domain/ids";
import worker from "../src/index";
import { createLogger } from "../src/log";
import { sweep } from "../src/sweep";
import { call, captureQueue, createProject, type TestProject, uniqueEmail } from "./helpers";
import {
  alarmOf,
  crashOnceAfter,
  createWorkflow,
  d1Count,
  doState,
  editState,
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

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const log = createLogger({ test: "engine" });

const hook = (url = "https://example.com/hook") => ({ type: "WEBHOOK", config: { url } });
const exit = (reason: string) => ({ type: "EXIT", config: { reason } });

async function contactRow(id: string) {
  return env.DB.prepare("SELECT id, email, subscribed, data FROM contacts WHERE id = ?1")
    .bind(id)
    .first<{ id: string; email: string; subscribed: number; data: string }>();
}

// ---- step types ---------------------------------------------------------------------------------

describe("WEBHOOK", () => {
  it("puts one message on the webhooks queue with a derived whd_ id and the execution's variables", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const emails = captureQueue(env.EMAILS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "signup",
      name: "Hooked",
      steps: {
        hook: {
          type: "WEBHOOK",
          config: {
            url: "https://example.com/h/{{ contact.email }}",
            method: "PUT",
            headers: { "x-a": "b" },
          },
        },
      },
      edges: [["trigger", "hook"]],
    });
    const email = uniqueEmail();
    const t = await track(p.publicKey, "signup", email, {
      plan: "pro",
      once: { value: 7, persistent: false },
    });

    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex).toMatchObject({
      workflowId: wf.id,
      contactId: t.contact,
      status: "COMPLETED",
      exitReason: null,
      context: { event: { plan: "pro", once: 7 } },
    });
    expect(ex.startedAt).toMatch(ISO);
    expect(ex.completedAt).toMatch(ISO);
    expect(ex.id).toBe(await derivedId("exec", wf.id, t.event));

    const deliveryId = await derivedId("whd", ex.id, wf.steps.hook as string, 1);
    expect(deliveryId).toMatch(/^whd_[0-9a-f]{24}$/);
    expect(hooks.sent).toEqual([
      {
        kind: "webhook",
        deliveryId,
        projectId: p.id,
        workflowId: wf.id,
        executionId: ex.id,
        stepId: wf.steps.hook,
        config: { url: "https://example.com/h/{{ contact.email }}", method: "PUT", headers: { "x-a": "b" } },
        vars: {
          contact: { email, subscribed: true, data: { plan: "pro" } },
          contactId: ex.contactId,
          workflow: { id: wf.id, name: "Hooked" },
          execution: { id: ex.id, startedAt: ex.startedAt },
          event: { plan: "pro", once: 7 },
        },
      },
    ]);
    expect(emails.sent).toHaveLength(0);
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.hook]);
    expect(ex.steps[1]).toMatchObject({ status: "COMPLETED", output: { deliveryId }, error: null });
  });
});

describe("large step configs", () => {
  it("are read row by row when they are too large for the dispatch read's JSON column, and the run goes on", async () => {
    const p = await createProject();
    // Two CONDITION steps whose values together pass STEPS_INLINE_MAX bytes of config.
    const big = (ch: string) => ch.repeat(Math.ceil(STEPS_INLINE_MAX / 2) + 1000);
    const cond = (value: string) => ({
      type: "CONDITION",
      config: { field: "event.plan", operator: "equals", value },
    });
    const wf = await createWorkflow(p.secretKey, {
      eventName: "bulky",
      steps: { first: cond(big("a")), second: cond(big('"')) },
      edges: [
        ["trigger", "first"],
        ["first", "second", "no"],
      ],
    });
    const t = await track(p.publicKey, "bulky", uniqueEmail(), { plan: "pro" });

    const read = parseDispatchRead(
      await dispatchRead(env.DB, { projectId: p.id, name: "bulky", contactId: t.contact }).all(),
    );
    expect(read.workflows.map((w) => w.id)).toEqual([wf.id]);
    expect(read.steps).toBeNull();
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("COMPLETED");
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.first, wf.steps.second]);
  });
});

describe("SEND_EMAIL", () => {
  it("puts one message on the emails queue with a derived eml_ id and the template", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const emails = captureQueue(env.EMAILS_QUEUE);
    const p = await createProject();
    const tpl = await call("POST", "/templates", {
      key: p.secretKey,
      body: { name: "Welcome", subject: "Hi {{ name }}", body: "Welcome!", from: "team@example.com" },
    });
    expect(tpl.status, JSON.stringify(tpl.body)).toBe(201);
    const templateId = tpl.body.id as string;
    expect(templateId).toMatch(/^tpl_/);
    const wf = await createWorkflow(p.secretKey, {
      eventName: "welcome",
      steps: { mail: { type: "SEND_EMAIL", config: { templateId } } },
      edges: [["trigger", "mail"]],
    });
    const t = await track(p.publicKey, "welcome", uniqueEmail(), { name: "Ada" });
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("COMPLETED");
    const emailId = await derivedId("eml", ex.id, wf.steps.mail as string, 1);
    expect(emailId).toMatch(/^eml_[0-9a-f]{24}$/);
    expect(emails.sent).toEqual([
      {
        kind: "email",
        db: "DB",
        emailId,
        projectId: p.id,
        workflowId: wf.id,
        executionId: ex.id,
        stepId: wf.steps.mail,
        contactId: t.contact,
        templateId,
        event: { name: "Ada" },
      },
    ]);
    expect(hooks.sent).toHaveLength(0);
    expect(ex.steps[1]).toMatchObject({ stepId: wf.steps.mail, status: "COMPLETED", output: { emailId } });
  });
});

interface ConditionCase {
  title: string;
  field: string;
  operator: string;
  value?: unknown;
  data?: Record<string, unknown>;
  subscribed?: boolean;
  yes: boolean;
}

const np = (value: unknown) => ({ value, persistent: false });

const CONDITIONS: ConditionCase[] = [
  { title: "email equals itself", field: "contact.email", operator: "equals", value: "$email", yes: true },
  {
    title: "email equals another",
    field: "contact.email",
    operator: "equals",
    value: "other@example.com",
    yes: false,
  },
  {
    title: "email notEquals another",
    field: "contact.email",
    operator: "notEquals",
    value: "other@example.com",
    yes: true,
  },
  {
    title: "email contains the domain",
    field: "contact.email",
    operator: "contains",
    value: "@example.com",
    yes: true,
  },
  {
    title: "email notContains the domain",
    field: "contact.email",
    operator: "notContains",
    value: "@example.com",
    yes: false,
  },
  {
    title: "subscribed equals true (new)",
    field: "contact.subscribed",
    operator: "equals",
    value: true,
    yes: true,
  },
  {
    title: "subscribed equals 'true' when unsubscribed",
    field: "contact.subscribed",
    operator: "equals",
    value: "true",
    subscribed: false,
    yes: false,
  },
  {
    title: "subscribed equals false when unsubscribed",
    field: "contact.subscribed",
    operator: "equals",
    value: false,
    subscribed: false,
    yes: true,
  },
  {
    title: "nested key equals",
    field: "contact.data.nested.key",
    operator: "equals",
    value: "v",
    data: { nested: { key: "v" } },
    yes: true,
  },
  {
    title: "nested key equals another",
    field: "contact.data.nested.key",
    operator: "equals",
    value: "w",
    data: { nested: { key: "v" } },
    yes: false,
  },
  {
    title: "nested key exists",
    field: "contact.data.nested.key",
    operator: "exists",
    data: { nested: { key: "v" } },
    yes: true,
  },
  { title: "missing nested key exists", field: "contact.data.nested.key", operator: "exists", yes: false },
  {
    title: "missing nested key notExists",
    field: "contact.data.nested.key",
    operator: "notExists",
    yes: true,
  },
  {
    title: "nested key notExists when present",
    field: "contact.data.nested.key",
    operator: "notExists",
    data: { nested: { key: "v" } },
    yes: false,
  },
  {
    title: "null value notExists",
    field: "contact.data.nested.key",
    operator: "notExists",
    data: { nested: { key: null } },
    yes: true,
  },
  {
    title: "number greaterThan a string number",
    field: "contact.data.score",
    operator: "greaterThan",
    value: "10",
    data: { score: 42 },
    yes: true,
  },
  {
    title: "string number greaterThan a string number (numeric, not text)",
    field: "contact.data.score",
    operator: "greaterThan",
    value: "10",
    data: { score: "9" },
    yes: false,
  },
  {
    title: "string number lessThanOrEqual a number",
    field: "contact.data.score",
    operator: "lessThanOrEqual",
    value: 42,
    data: { score: "42" },
    yes: true,
  },
  {
    title: "greaterThanOrEqual above",
    field: "contact.data.score",
    operator: "greaterThanOrEqual",
    value: "43",
    data: { score: 42 },
    yes: false,
  },
  {
    title: "decimal lessThan",
    field: "contact.data.score",
    operator: "lessThan",
    value: "100",
    data: { score: "99.5" },
    yes: true,
  },
  {
    title: "number equals a string number",
    field: "contact.data.score",
    operator: "equals",
    value: "42",
    data: { score: 42 },
    yes: true,
  },
  {
    title: "missing field greaterThan",
    field: "contact.data.score",
    operator: "greaterThan",
    value: 1,
    yes: false,
  },
  {
    title: "array contains",
    field: "contact.data.tags",
    operator: "contains",
    value: "vip",
    data: { tags: ["a", "vip"] },
    yes: true,
  },
  {
    title: "array contains absent",
    field: "contact.data.tags",
    operator: "contains",
    value: "vip",
    data: { tags: ["a"] },
    yes: false,
  },
  {
    title: "array notContains absent",
    field: "contact.data.tags",
    operator: "notContains",
    value: "vip",
    data: { tags: ["a"] },
    yes: true,
  },
  {
    title: "array of numbers contains a string number",
    field: "contact.data.tags",
    operator: "contains",
    value: "3",
    data: { tags: [1, 2, 3] },
    yes: true,
  },
  {
    title: "date greaterThan an earlier date",
    field: "contact.data.signedUpAt",
    operator: "greaterThan",
    value: "2025-01-01",
    data: { signedUpAt: "2025-06-01T10:00:00.000Z" },
    yes: true,
  },
  {
    title: "date greaterThan a later date",
    field: "contact.data.signedUpAt",
    operator: "greaterThan",
    value: "2025-01-01T00:00:00.000Z",
    data: { signedUpAt: "2024-12-31T23:59:59.000Z" },
    yes: false,
  },
  {
    title: "event key equals",
    field: "event.plan",
    operator: "equals",
    value: "pro",
    data: { plan: np("pro") },
    yes: true,
  },
  {
    title: "event key equals another",
    field: "event.plan",
    operator: "equals",
    value: "pro",
    data: { plan: np("free") },
    yes: false,
  },
  {
    title: "event string number greaterThan",
    field: "event.amount",
    operator: "greaterThan",
    value: "100",
    data: { amount: np("150") },
    yes: true,
  },
  {
    title: "event number greaterThan a string number",
    field: "event.amount",
    operator: "greaterThan",
    value: "100",
    data: { amount: np(50) },
    yes: false,
  },
  { title: "event missing key exists", field: "event.missing", operator: "exists", yes: false },
  { title: "event missing key notExists", field: "event.missing", operator: "notExists", yes: true },
  {
    title: "event nested string contains",
    field: "event.meta.source",
    operator: "contains",
    value: "goo",
    data: { meta: np({ source: "google" }) },
    yes: true,
  },
  {
    title: "event array contains",
    field: "event.items",
    operator: "contains",
    value: "b",
    data: { items: np(["a", "b"]) },
    yes: true,
  },
  {
    title: "event date greaterThan",
    field: "event.at",
    operator: "greaterThan",
    value: "2020-01-01",
    data: { at: np("2021-03-04T05:06:07.000Z") },
    yes: true,
  },
  {
    title: "a non-persistent value is not on the contact",
    field: "contact.data.amount",
    operator: "notExists",
    data: { amount: np(5) },
    yes: true,
  },
];

describe("CONDITION", () => {
  it.each(CONDITIONS)("$title → $yes", async (c) => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const email = uniqueEmail("cond");
    const config: Record<string, unknown> = { field: c.field, operator: c.operator };
    if (c.value !== undefined) config.value = c.value === "$email" ? email : c.value;
    const wf = await createWorkflow(p.secretKey, {
      eventName: "check",
      steps: { cond: { type: "CONDITION", config }, yes: exit("yes"), no: exit("no") },
      edges: [
        ["trigger", "cond"],
        ["cond", "yes", "yes"],
        ["cond", "no", "no"],
      ],
    });
    await track(p.publicKey, "check", email, c.data, c.subscribed);
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("EXITED");
    expect(ex.exitReason).toBe(c.yes ? "yes" : "no");
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.cond, c.yes ? wf.steps.yes : wf.steps.no]);
    expect(ex.steps[1]).toMatchObject({ status: "COMPLETED", output: { result: c.yes }, error: null });
  });

  it("a branch with no transition completes the execution", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "check",
      steps: {
        cond: { type: "CONDITION", config: { field: "event.x", operator: "exists" } },
        no: exit("no"),
      },
      edges: [
        ["trigger", "cond"],
        ["cond", "no", "no"],
      ],
    });
    await track(p.publicKey, "check", uniqueEmail(), { x: 1 });
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("COMPLETED");
    expect(ex.exitReason).toBeNull();
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.cond]);
  });
});

describe("UPDATE_CONTACT", () => {
  it("merges data, sets subscribed, and the stored contact.unsubscribed event triggers another workflow", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const a = await createWorkflow(p.secretKey, {
      eventName: "downgrade",
      steps: {
        update: {
          type: "UPDATE_CONTACT",
          config: { data: { plan: "free", nested: { x: 1 } }, subscribed: false },
        },
      },
      edges: [["trigger", "update"]],
    });
    const b = await createWorkflow(p.secretKey, {
      eventName: "contact.unsubscribed",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const email = uniqueEmail();
    const t = await track(p.publicKey, "downgrade", email, { plan: "pro", keep: 1 });

    const exA = await onlyExecution(p.secretKey, a.id);
    expect(exA.status).toBe("COMPLETED");
    expect(exA.steps[1]).toMatchObject({ status: "COMPLETED", output: { statusChanged: true } });
    const contact = await contactRow(t.contact);
    expect(contact?.subscribed).toBe(0);
    expect(JSON.parse(contact?.data as string)).toEqual({ plan: "free", keep: 1, nested: { x: 1 } });

    const ev = await env.DB.prepare(
      "SELECT id, name, contact_id, dispatched_at FROM events WHERE project_id = ?1 AND contact_id = ?2 AND name = 'contact.unsubscribed'",
    )
      .bind(p.id, t.contact)
      .first<{ id: string; name: string; contact_id: string; dispatched_at: number | null }>();
    const statusEventId = ev?.id as string;
    expect(ev).toMatchObject({ name: "contact.unsubscribed", contact_id: t.contact });
    expect(ev?.dispatched_at).not.toBeNull();

    const exB = await onlyExecution(p.secretKey, b.id);
    expect(exB).toMatchObject({ status: "COMPLETED", contactId: t.contact });
    expect(exB.id).toBe(await derivedId("exec", b.id, statusEventId));
    expect(hooks.sent).toHaveLength(1);
    expect(hooks.sent[0].vars.contact).toEqual({
      email,
      subscribed: false,
      data: { plan: "free", keep: 1, nested: { x: 1 } },
    });
  });

  it("a status that does not change stores no event and triggers nothing", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const a = await createWorkflow(p.secretKey, {
      eventName: "touch",
      steps: { update: { type: "UPDATE_CONTACT", config: { subscribed: true } } },
      edges: [["trigger", "update"]],
    });
    const b = await createWorkflow(p.secretKey, {
      eventName: "contact.subscribed",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const t = await track(p.publicKey, "touch", uniqueEmail());
    const exA = await onlyExecution(p.secretKey, a.id);
    expect(exA.status).toBe("COMPLETED");
    expect(exA.steps[1].output).toEqual({ statusChanged: false });
    expect(await d1Count("SELECT count(*) AS n FROM events WHERE contact_id = ?1", t.contact)).toBe(1);
    expect(await listExecutions(p.secretKey, b.id)).toHaveLength(0);
    expect((await contactRow(t.contact))?.subscribed).toBe(1);
  });

  it.each(["kept in memory", "lost with the object"])(
    "retried after its change was stored (its save failed; the pending dispatch %s): one event, handed on once",
    async (pending) => {
      captureQueue(env.WEBHOOKS_QUEUE);
      const p = await createProject();
      const a = await createWorkflow(p.secretKey, {
        eventName: "later.unsub",
        steps: {
          wait: { type: "DELAY", config: { amount: 1, unit: "hours" } },
          unsub: { type: "UPDATE_CONTACT", config: { subscribed: false } },
        },
        edges: [
          ["trigger", "wait"],
          ["wait", "unsub"],
        ],
      });
      const b = await createWorkflow(p.secretKey, {
        eventName: "contact.unsubscribed",
        steps: { hook: hook() },
        edges: [["trigger", "hook"]],
      });
      const t = await track(p.publicKey, "later.unsub", uniqueEmail());
      const [ex] = await listExecutions(p.secretKey, a.id);
      // The save after the UPDATE_CONTACT step fails once: its D1 batch (the contact and the event) is stored.
      await crashOnceAfter(a.steps.unsub as string);
      await expect(runAlarm(ex.id)).rejects.toThrow(/injected crash/);
      expect((await contactRow(t.contact))?.subscribed).toBe(0);
      if (pending === "lost with the object") {
        await runInDurableObject(stubFor(ex.id), (instance) => {
          (instance as unknown as { toDispatch: unknown; state: unknown }).toDispatch = null;
          (instance as unknown as { toDispatch: unknown; state: unknown }).state = undefined;
        });
      }
      // The platform retries the alarm: the step runs again, finds the contact unsubscribed, stores nothing.
      await runInDurableObject(stubFor(ex.id), (instance: ExecutionDO) => instance.alarm());
      expect((await onlyExecution(p.secretKey, a.id)).status).toBe("COMPLETED");
      const unsubscribed = () =>
        d1Count(
          "SELECT count(*) AS n FROM events WHERE project_id = ?1 AND contact_id = ?2 AND name = 'contact.unsubscribed'",
          p.id,
          t.contact,
        );
      expect(await unsubscribed()).toBe(1);
      // The first attempt's event is handed on once: by the retry (the object kept it in memory), or by the
      // sweep (an object that died had not); a sweep after that starts nothing more.
      expect(await listExecutions(p.secretKey, b.id)).toHaveLength(pending === "kept in memory" ? 1 : 0);
      await env.DB.prepare(
        "UPDATE events SET created_at = created_at - 60000 WHERE project_id = ?1 AND name = 'contact.unsubscribed'",
      )
        .bind(p.id)
        .run();
      await sweep(env, log, Date.now());
      await sweep(env, log, Date.now());
      expect(await listExecutions(p.secretKey, b.id)).toHaveLength(1);
      expect(await unsubscribed()).toBe(1);
    },
  );

  it("subscribing an unsubscribed contact triggers contact.subscribed workflows", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    await createWorkflow(p.secretKey, {
      eventName: "resubscribe",
      steps: { update: { type: "UPDATE_CONTACT", config: { subscribed: true } } },
      edges: [["trigger", "update"]],
    });
    const b = await createWorkflow(p.secretKey, {
      eventName: "contact.subscribed",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const t = await track(p.publicKey, "resubscribe", uniqueEmail(), undefined, false);
    expect((await contactRow(t.contact))?.subscribed).toBe(1);
    const exB = await onlyExecution(p.secretKey, b.id);
    expect(exB.status).toBe("COMPLETED");
  });
});

describe("EXIT and the end of the way", () => {
  it("EXIT ends the execution EXITED with its reason and frees the enrollment", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "leave",
      steps: { out: exit("not for you") },
      edges: [["trigger", "out"]],
    });
    const t = await track(p.publicKey, "leave", uniqueEmail());
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex).toMatchObject({ status: "EXITED", exitReason: "not for you" });
    expect(ex.completedAt).toMatch(ISO);
    expect(ex.steps[1]).toMatchObject({
      stepId: wf.steps.out,
      status: "COMPLETED",
      output: { reason: "not for you" },
    });
    expect(hooks.sent).toHaveLength(0);
    const enrollment = await env.DB.prepare(
      "SELECT active_execution_id, runs FROM enrollments WHERE workflow_id = ?1 AND contact_id = ?2",
    )
      .bind(wf.id, t.contact)
      .first();
    expect(enrollment).toEqual({ active_execution_id: null, runs: 1 });
  });

  it("EXIT without a reason is EXITED with a null reason", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "leave",
      steps: { out: { type: "EXIT", config: {} } },
      edges: [["trigger", "out"]],
    });
    await track(p.publicKey, "leave", uniqueEmail());
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex).toMatchObject({ status: "EXITED", exitReason: null });
  });

  it("a workflow with only its trigger completes at once", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, { eventName: "nothing" });
    await track(p.publicKey, "nothing", uniqueEmail());
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("COMPLETED");
    expect(ex.steps).toHaveLength(1);
    expect(ex.steps[0]).toMatchObject({ stepId: wf.steps.trigger, status: "COMPLETED", error: null });
    expect(ex.steps[0].startedAt).toMatch(ISO);
    expect(ex.steps[0].finishedAt).toMatch(ISO);
  });

  it("a step with no way on completes the execution", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "tag",
      steps: { update: { type: "UPDATE_CONTACT", config: { data: { tagged: true } } } },
      edges: [["trigger", "update"]],
    });
    const t = await track(p.publicKey, "tag", uniqueEmail());
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("COMPLETED");
    expect(ex.exitReason).toBeNull();
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.update]);
    expect(JSON.parse((await contactRow(t.contact))?.data as string)).toEqual({ tagged: true });
  });
});

// ---- DELAY --------------------------------------------------------------------------------------

describe("DELAY", () => {
  it("waits at the delay until its alarm runs, then runs the next step", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "later",
      steps: { wait: { type: "DELAY", config: { amount: 2, unit: "hours" } }, hook: hook() },
      edges: [
        ["trigger", "wait"],
        ["wait", "hook"],
      ],
    });
    await track(p.publicKey, "later", uniqueEmail());
    let ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex).toMatchObject({ status: "WAITING", currentStepId: wf.steps.wait, completedAt: null });
    expect(ex.steps).toHaveLength(2);
    const until = Date.parse(ex.steps[1].startedAt) + 2 * HOUR;
    expect(ex.steps[1]).toMatchObject({ status: "WAITING", finishedAt: null, output: { until } });
    expect(await alarmOf(ex.id)).toBe(until);
    const row = await env.DB.prepare("SELECT wake_at FROM executions WHERE id = ?1")
      .bind(ex.id)
      .first<{ wake_at: number }>();
    expect(row?.wake_at).toBe(until);
    expect(hooks.sent).toHaveLength(0);

    expect(await runAlarm(ex.id)).toBe(true);
    ex = await getExecution(p.secretKey, wf.id, ex.id);
    expect(ex.status).toBe("COMPLETED");
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.wait, wf.steps.hook]);
    expect(ex.steps[1].status).toBe("COMPLETED");
    expect(ex.steps[1].finishedAt).toMatch(ISO);
    expect(hooks.sent).toHaveLength(1);
    expect(await alarmOf(ex.id)).toBeNull();
    expect(await runAlarm(ex.id)).toBe(false);
    const after = await env.DB.prepare("SELECT wake_at FROM executions WHERE id = ?1")
      .bind(ex.id)
      .first<{ wake_at: number | null }>();
    expect(after?.wake_at).toBeNull();
  });

  it.each([
    [45, "seconds", 1_000],
    [5, "minutes", 60_000],
    [3, "hours", HOUR],
    [2, "days", DAY],
    [365, "days", DAY],
  ] as const)("a delay of %i %s sets the alarm that far ahead", async (amount, unit, ms) => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "later",
      steps: {
        wait: { type: "DELAY", config: { amount, unit } },
        tag: { type: "UPDATE_CONTACT", config: { data: { woke: unit } } },
      },
      edges: [
        ["trigger", "wait"],
        ["wait", "tag"],
      ],
    });
    const t = await track(p.publicKey, "later", uniqueEmail());
    let ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex).toMatchObject({ status: "WAITING", currentStepId: wf.steps.wait });
    const until = Date.parse(ex.steps[1].startedAt) + amount * ms;
    expect(ex.steps[1].output).toEqual({ until });
    expect(await alarmOf(ex.id)).toBe(until);
    expect(await runAlarm(ex.id)).toBe(true);
    ex = await getExecution(p.secretKey, wf.id, ex.id);
    expect(ex.status).toBe("COMPLETED");
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.wait, wf.steps.tag]);
    expect(JSON.parse((await contactRow(t.contact))?.data as string)).toEqual({ woke: unit });
  });

  it("a delay over 365 days, or a wait over 31,536,000 s, is refused when the step is saved", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, { eventName: "later", enabled: false });
    const res = await call("POST", `/workflows/${wf.id}/steps`, {
      key: p.secretKey,
      body: { type: "DELAY", name: "Too long", config: { amount: 366, unit: "days" } },
    });
    expect(res.status).toBe(422);
    const wait = await call("POST", `/workflows/${wf.id}/steps`, {
      key: p.secretKey,
      body: { type: "WAIT_FOR_EVENT", name: "Too long", config: { eventName: "x", timeout: 31_536_001 } },
    });
    expect(wait.status).toBe(422);
    const longest = await call("POST", `/workflows/${wf.id}/steps`, {
      key: p.secretKey,
      body: { type: "WAIT_FOR_EVENT", name: "Longest", config: { eventName: "x", timeout: 31_536_000 } },
    });
    expect(longest.status).toBe(201);
  });
});

// ---- WAIT_FOR_EVENT -----------------------------------------------------------------------------

async function waitWorkflow(p: TestProject, timeout?: number) {
  return createWorkflow(p.secretKey, {
    eventName: "start",
    steps: {
      wait: {
        type: "WAIT_FOR_EVENT",
        config: timeout ? { eventName: "confirm", timeout } : { eventName: "confirm" },
      },
      check: { type: "CONDITION", config: { field: "event.c", operator: "equals", value: "2" } },
      hook: hook(),
      late: exit("timed out"),
    },
    edges: [
      ["trigger", "wait"],
      ["wait", "check", "event"],
      ["wait", "late", "timeout"],
      ["check", "hook", "yes"],
    ],
  });
}

const waitsOf = (executionId: string) =>
  d1Count("SELECT count(*) AS n FROM waits WHERE execution_id = ?1", executionId);

describe("WAIT_FOR_EVENT", () => {
  it("the contact's event takes the event branch, its data merged into context.event", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await waitWorkflow(p, 3600);
    const email = uniqueEmail();
    await track(p.publicKey, "start", email, { a: 1, b: "x" });
    let ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex).toMatchObject({ status: "WAITING", currentStepId: wf.steps.wait });
    const until = Date.parse(ex.steps[1].startedAt) + 3600 * 1000;
    expect(ex.steps[1]).toMatchObject({ status: "WAITING", output: { eventName: "confirm", until } });
    expect(await waitsOf(ex.id)).toBe(1);
    expect(await alarmOf(ex.id)).toBe(until);

    const confirm = await track(p.publicKey, "confirm", email, { b: "y", c: 2 });
    ex = await getExecution(p.secretKey, wf.id, ex.id);
    expect(ex.status).toBe("COMPLETED");
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.wait, wf.steps.check, wf.steps.hook]);
    expect(ex.steps[1]).toMatchObject({ status: "COMPLETED", output: { eventId: confirm.event } });
    expect(ex.context.event).toEqual({ a: 1, b: "y", c: 2 });
    expect(ex.steps[2].output).toEqual({ result: true, actual: 2 });
    expect(hooks.sent).toHaveLength(1);
    expect(hooks.sent[0].vars.event).toEqual({ a: 1, b: "y", c: 2 });
    expect(await waitsOf(ex.id)).toBe(0);
    expect(await alarmOf(ex.id)).toBeNull();
  });

  it("the alarm first takes the timeout branch", async () => {
    const p = await createProject();
    const wf = await waitWorkflow(p, 600);
    await track(p.publicKey, "start", uniqueEmail());
    let ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("WAITING");
    expect(await runAlarm(ex.id)).toBe(true);
    ex = await getExecution(p.secretKey, wf.id, ex.id);
    expect(ex).toMatchObject({ status: "EXITED", exitReason: "timed out" });
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.wait, wf.steps.late]);
    expect(ex.steps[1]).toMatchObject({ status: "COMPLETED", output: { timedOut: true } });
    expect(await waitsOf(ex.id)).toBe(0);
  });

  it("an event after the timeout changes nothing", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await waitWorkflow(p, 600);
    const email = uniqueEmail();
    await track(p.publicKey, "start", email);
    const [first] = await listExecutions(p.secretKey, wf.id);
    expect(await runAlarm(first.id)).toBe(true);
    const before = await getExecution(p.secretKey, wf.id, first.id);
    expect(before.status).toBe("EXITED");
    await track(p.publicKey, "confirm", email, { c: 2 });
    const after = await getExecution(p.secretKey, wf.id, first.id);
    expect(after).toEqual(before);
    expect(hooks.sent).toHaveLength(0);
    // The ended object kept nothing (D1 has its final state): the event found nothing to resume.
    expect(await doState(first.id)).toBeNull();
  });

  it("without a timeout it waits for the event, with no alarm", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await waitWorkflow(p);
    const email = uniqueEmail();
    await track(p.publicKey, "start", email);
    let ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("WAITING");
    expect(ex.steps[1].output).toEqual({ eventName: "confirm", until: null });
    expect(await alarmOf(ex.id)).toBeNull();
    expect(await runAlarm(ex.id)).toBe(false);
    const row = await env.DB.prepare("SELECT wake_at, status FROM executions WHERE id = ?1")
      .bind(ex.id)
      .first();
    expect(row).toEqual({ wake_at: null, status: "WAITING" });
    await track(p.publicKey, "confirm", email, { c: "2" });
    ex = await getExecution(p.secretKey, wf.id, ex.id);
    expect(ex.status).toBe("COMPLETED");
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.wait, wf.steps.check, wf.steps.hook]);
  });

  it("without a timeout a cancel ends the wait", async () => {
    const p = await createProject();
    const wf = await waitWorkflow(p);
    const email = uniqueEmail();
    await track(p.publicKey, "start", email);
    const [first] = await listExecutions(p.secretKey, wf.id);
    const del = await call("DELETE", `/workflows/${wf.id}/executions/${first.id}`, { key: p.secretKey });
    expect(del.status).toBe(200);
    expect(del.body.status).toBe("CANCELLED");
    expect(await waitsOf(first.id)).toBe(0);
    await track(p.publicKey, "confirm", email);
    const ex = await getExecution(p.secretKey, wf.id, first.id);
    expect(ex.status).toBe("CANCELLED");
    expect(ex.steps).toHaveLength(2);
    expect(ex.steps[1].status).toBe("CANCELLED");
  });

  it("an event for another contact changes nothing", async () => {
    const p = await createProject();
    const wf = await waitWorkflow(p, 3600);
    await track(p.publicKey, "start", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    const before = await getExecution(p.secretKey, wf.id, first.id);
    await track(p.publicKey, "confirm", uniqueEmail("other"), { c: 2 });
    const after = await getExecution(p.secretKey, wf.id, first.id);
    expect(after).toEqual(before);
    expect(after.status).toBe("WAITING");
    expect(await waitsOf(first.id)).toBe(1);
  });

  it("another project's event of the same email changes nothing", async () => {
    const p = await createProject();
    const q = await createProject();
    const wf = await waitWorkflow(p, 3600);
    const email = uniqueEmail();
    await track(p.publicKey, "start", email);
    const [first] = await listExecutions(p.secretKey, wf.id);
    await track(q.publicKey, "confirm", email, { c: 2 });
    const after = await getExecution(p.secretKey, wf.id, first.id);
    expect(after.status).toBe("WAITING");
    expect(after.steps).toHaveLength(2);
  });

  it("the trigger event does not satisfy a wait for its own name; the next one does", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "ping",
      steps: {
        wait: { type: "WAIT_FOR_EVENT", config: { eventName: "ping", timeout: 3600 } },
        again: exit("second ping"),
        late: exit("timed out"),
      },
      edges: [
        ["trigger", "wait"],
        ["wait", "again", "event"],
        ["wait", "late", "timeout"],
      ],
    });
    const email = uniqueEmail();
    await track(p.publicKey, "ping", email);
    let ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex).toMatchObject({ status: "WAITING", currentStepId: wf.steps.wait });
    const second = await track(p.publicKey, "ping", email);
    const list = await listExecutions(p.secretKey, wf.id);
    expect(list).toHaveLength(1);
    ex = await getExecution(p.secretKey, wf.id, ex.id);
    expect(ex).toMatchObject({ status: "EXITED", exitReason: "second ping" });
    expect(ex.steps[1].output).toMatchObject({ eventId: second.event });
  });
});

// ---- long chains and failures -------------------------------------------------------------------

describe("a long workflow", () => {
  it("runs a chain of 100 steps to its end", { timeout: 120_000 }, async () => {
    const p = await createProject();
    const steps: Record<string, { type: string; config: Record<string, unknown> }> = {};
    const edges: [string, string, string?][] = [];
    let prev = "trigger";
    for (let i = 1; i < 100; i++) {
      const key = `s${i}`;
      if (i % 2 === 0) {
        steps[key] = { type: "CONDITION", config: { field: "event.n", operator: "equals", value: "7" } };
      } else {
        steps[key] = { type: "UPDATE_CONTACT", config: { data: { [`k${i}`]: i } } };
      }
      edges.push(prev.startsWith("s") && Number(prev.slice(1)) % 2 === 0 ? [prev, key, "yes"] : [prev, key]);
      prev = key;
    }
    const wf = await createWorkflow(p.secretKey, { eventName: "long", steps, edges });
    expect(Object.keys(wf.steps)).toHaveLength(100);
    const t = await track(p.publicKey, "long", uniqueEmail(), { n: np(7) });
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("COMPLETED");
    expect(ex.steps).toHaveLength(100);
    expect(ex.steps.every((s: { status: string }) => s.status === "COMPLETED")).toBe(true);
    expect(stepIdsOf(ex)).toEqual(["trigger", ...Object.keys(steps)].map((k) => wf.steps[k]));
    expect(ex.currentStepId).toBe(wf.steps.s99);
    const data = JSON.parse((await contactRow(t.contact))?.data as string);
    expect(Object.keys(data)).toHaveLength(50);
    expect(data.k99).toBe(99);
  });
});

describe("a failing step", () => {
  it("a contact that vanishes during a DELAY fails the CONDITION after it, with the error on the step", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "later",
      steps: {
        wait: { type: "DELAY", config: { amount: 1, unit: "days" } },
        cond: { type: "CONDITION", config: { field: "contact.email", operator: "contains", value: "@" } },
        hook: hook(),
      },
      edges: [
        ["trigger", "wait"],
        ["wait", "cond"],
        ["cond", "hook", "yes"],
      ],
    });
    const t = await track(p.publicKey, "later", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    expect(first.status).toBe("WAITING");
    // Gone from D1 behind the API's back (DELETE /contacts would cancel the execution first).
    await env.DB.prepare("DELETE FROM contacts WHERE id = ?1").bind(t.contact).run();
    expect(await runAlarm(first.id)).toBe(true);
    const ex = await getExecution(p.secretKey, wf.id, first.id);
    expect(ex.status).toBe("FAILED");
    expect(ex.completedAt).toMatch(ISO);
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.wait, wf.steps.cond]);
    expect(ex.steps[2].status).toBe("FAILED");
    expect(ex.steps[2].error).toMatch(/contact/i);
    expect(ex.steps[2].finishedAt).toMatch(ISO);
    expect(hooks.sent).toHaveLength(0);
    const enrollment = await env.DB.prepare(
      "SELECT active_execution_id FROM enrollments WHERE workflow_id = ?1",
    )
      .bind(wf.id)
      .first();
    expect(enrollment).toEqual({ active_execution_id: null });
  });
});

// ---- a thrown alarm, retried --------------------------------------------------------------------

async function delayTwoHooks(p: TestProject) {
  return createWorkflow(p.secretKey, {
    eventName: "later",
    steps: {
      wait: { type: "DELAY", config: { amount: 1, unit: "hours" } },
      h1: hook("https://example.com/one"),
      h2: hook("https://example.com/two"),
    },
    edges: [
      ["trigger", "wait"],
      ["wait", "h1"],
      ["h1", "h2"],
    ],
  });
}

/** A webhooks queue that fails once when `failAt` (a step id) is sent; records every attempt. */
function flakyHooks(failAt: string) {
  const attempts: any[] = [];
  const sent: any[] = [];
  let failed = false;
  vi.spyOn(env.WEBHOOKS_QUEUE, "send").mockImplementation(async (message: any) => {
    attempts.push(message);
    if (!failed && message.stepId === failAt) {
      failed = true;
      throw new Error("injected queue failure");
    }
    sent.push(message);
    return {
      metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date(0) } },
    };
  });
  return { attempts, sent };
}

async function assertOnceEach(p: TestProject, wf: Awaited<ReturnType<typeof delayTwoHooks>>, sent: any[]) {
  const [first] = await listExecutions(p.secretKey, wf.id);
  const ex = await getExecution(p.secretKey, wf.id, first.id);
  expect(ex.status).toBe("COMPLETED");
  expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.wait, wf.steps.h1, wf.steps.h2]);
  const ids = [
    await derivedId("whd", ex.id, wf.steps.h1 as string, 1),
    await derivedId("whd", ex.id, wf.steps.h2 as string, 1),
  ];
  expect(sent.map((m) => m.deliveryId)).toEqual(ids);
  expect(ex.steps[2].output).toEqual({ deliveryId: ids[0] });
  expect(ex.steps[3].output).toEqual({ deliveryId: ids[1] });
  expect(
    await d1Count(
      "SELECT count(*) AS n FROM (SELECT s.value ->> 'stepId' FROM executions x, json_each(x.steps) s WHERE x.id = ?1 GROUP BY 1 HAVING count(*) > 1)",
      ex.id,
    ),
  ).toBe(0);
  expect(await d1Count("SELECT json_array_length(steps) AS n FROM executions WHERE id = ?1", ex.id)).toBe(4);
  // Ended and mirrored: the object's storage is gone; the step log above is D1's.
  expect(await doState(ex.id)).toBeNull();
  return ex;
}

describe("a thrown alarm", () => {
  it("a queue failure at the first webhook: the retried alarm sends each webhook once", async () => {
    const p = await createProject();
    const wf = await delayTwoHooks(p);
    const { attempts, sent } = flakyHooks(wf.steps.h1 as string);
    await track(p.publicKey, "later", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    await expect(runAlarm(first.id)).rejects.toThrow(/injected queue failure/);
    expect(sent).toHaveLength(0);
    // Nothing after the wait was saved: the stored state still waits, and the retried alarm ends it again.
    expect(await doState(first.id)).toMatchObject({ status: "WAITING", currentStepId: wf.steps.wait });

    // The platform retries a thrown alarm: run the handler again.
    await runInDurableObject(stubFor(first.id), (instance: ExecutionDO) => instance.alarm());
    await assertOnceEach(p, wf, sent);
    expect(attempts).toHaveLength(3);
    expect(attempts[0].deliveryId).toBe(sent[0].deliveryId);
  });

  it("a queue failure at the second webhook: the first is not sent again", async () => {
    const p = await createProject();
    const wf = await delayTwoHooks(p);
    const { attempts, sent } = flakyHooks(wf.steps.h2 as string);
    await track(p.publicKey, "later", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    await expect(runAlarm(first.id)).rejects.toThrow(/injected queue failure/);
    expect(sent).toHaveLength(1);
    expect(await doState(first.id)).toMatchObject({ status: "RUNNING", currentStepId: wf.steps.h2 });

    await runInDurableObject(stubFor(first.id), (instance: ExecutionDO) => instance.alarm());
    await assertOnceEach(p, wf, sent);
    expect(attempts).toHaveLength(3);
    expect(attempts[1].deliveryId).toBe(sent[1].deliveryId);
  });

  it("with captureQueue's failure: the sweep's kick re-arms the stalled run's alarm, which finishes it", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE, { fail: 1 });
    const p = await createProject();
    const wf = await delayTwoHooks(p);
    await track(p.publicKey, "later", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    await expect(runAlarm(first.id)).rejects.toThrow(/injected queue failure/);
    expect(hooks.sent).toHaveLength(0);
    expect(await runAlarm(first.id)).toBe(false);
    // D1 still shows the wait; once it is long past due, the sweep kicks the object, which re-arms the
    // alarm it finds missing (the stored state still waits), and the alarm runs the rest.
    await env.DB.prepare("UPDATE executions SET wake_at = ?2 WHERE id = ?1")
      .bind(first.id, Date.now() - 5 * 60_000)
      .run();
    const result = await sweep(env, log, Date.now());
    expect(result.kicked).toBeGreaterThanOrEqual(1);
    expect(await runAlarm(first.id)).toBe(true);
    await assertOnceEach(p, wf, hooks.sent);
    expect(hooks.spy).toHaveBeenCalledTimes(3);
  });
});

// ---- the cron sweep -----------------------------------------------------------------------------

describe("the cron sweep", () => {
  async function insertEvent(projectId: string, contactId: string, name: string, createdAt: number) {
    const id = newId("evt", createdAt);
    await env.DB.prepare(
      "INSERT INTO events (id, project_id, contact_id, name, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
      .bind(id, projectId, contactId, name, JSON.stringify({ from: "sweep" }), createdAt)
      .run();
    return id;
  }

  it("dispatches an event left undispatched for over 30 s, and leaves a young one to its request", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "lost",
      allowReentry: true,
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const t = await track(p.publicKey, "hello", uniqueEmail());
    const now = Date.now();
    const old = await insertEvent(p.id, t.contact, "lost", now - 60_000);
    const young = await insertEvent(p.id, t.contact, "lost", now - 5_000);

    const result = await sweep(env, log, now);
    expect(result.redispatched).toBeGreaterThanOrEqual(1);
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.id).toBe(await derivedId("exec", wf.id, old));
    expect(ex.status).toBe("COMPLETED");
    expect(ex.context.event).toEqual({ from: "sweep" });
    expect(hooks.sent).toHaveLength(1);
    const rows = await env.DB.prepare("SELECT id, dispatched_at FROM events WHERE id IN (?1, ?2)")
      .bind(old, young)
      .all<{ id: string; dispatched_at: number | null }>();
    const byId = Object.fromEntries(rows.results.map((r) => [r.id, r.dispatched_at]));
    expect(byId[old]).not.toBeNull();
    expect(byId[young]).toBeNull();

    // A second sweep starts nothing again.
    await sweep(env, log, now);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(1);
    expect(hooks.sent).toHaveLength(1);
  });

  it("the scheduled handler runs the sweep", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "lost",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const t = await track(p.publicKey, "hello", uniqueEmail());
    const old = await insertEvent(p.id, t.contact, "lost", Date.now() - 120_000);
    const ctx = createExecutionContext();
    await worker.scheduled(
      createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.id).toBe(await derivedId("exec", wf.id, old));
    expect(ex.status).toBe("COMPLETED");
    expect(hooks.sent).toHaveLength(1);
  });

  it("re-arms a WAITING execution whose alarm was lost, which then runs", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "later",
      steps: { wait: { type: "DELAY", config: { amount: 1, unit: "hours" } }, hook: hook() },
      edges: [
        ["trigger", "wait"],
        ["wait", "hook"],
      ],
    });
    await track(p.publicKey, "later", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    await runInDurableObject(stubFor(first.id), (_instance, state) => state.storage.deleteAlarm());
    expect(await runAlarm(first.id)).toBe(false);
    expect((await getExecution(p.secretKey, wf.id, first.id)).status).toBe("WAITING");

    // Time passes: the wait is due (in the object and in D1), and no alarm will fire.
    const due = Date.now() - 2 * 60_000;
    await editState(first.id, (s) => {
      if (s.wait) s.wait.until = due;
      s.alarm = { at: due, for: "wait" };
    });
    await env.DB.prepare("UPDATE executions SET wake_at = ?2 WHERE id = ?1").bind(first.id, due).run();
    expect(await runAlarm(first.id)).toBe(false);

    const result = await sweep(env, log, Date.now());
    expect(result.kicked).toBeGreaterThanOrEqual(1);
    // The re-armed alarm is due now: run it (unless the runtime already has).
    await runDurableObjectAlarm(stubFor(first.id));
    await vi.waitFor(async () => {
      const ex = await getExecution(p.secretKey, wf.id, first.id);
      expect(ex.status).toBe("COMPLETED");
    });
    const ex = await getExecution(p.secretKey, wf.id, first.id);
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.wait, wf.steps.hook]);
    expect(hooks.sent).toHaveLength(1);
    expect(await alarmOf(first.id)).toBeNull();
  });
});

// ---- more edges -----------------------------------------------------------------------------------

describe("the mirror to D1", () => {
  const stepLog = (executionId: string) =>
    env.DB.prepare("SELECT steps FROM executions WHERE id = ?1")
      .bind(executionId)
      .first<{ steps: string }>()
      .then((r) => JSON.parse(r?.steps ?? "null") as unknown);

  it("writes the whole log of a run into the executions row, with the values and types of the object's log", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    // It ends in a DELAY: an ended execution's object keeps no state to compare with.
    const wf = await createWorkflow(p.secretKey, {
      eventName: "chain",
      steps: {
        one: hook(),
        two: hook("https://example.com/two"),
        out: { type: "DELAY", config: { amount: 1, unit: "hours" } },
      },
      edges: [
        ["trigger", "one"],
        ["one", "two"],
        ["two", "out"],
      ],
    });
    await track(p.publicKey, "chain", uniqueEmail());
    const ex = await onlyExecution(p.secretKey, wf.id);
    const s = await doState(ex.id);
    expect(s?.log).toHaveLength(4);
    expect(await stepLog(ex.id)).toEqual(s?.log);
    // It never waited for an event, so no mirror had a waits row to write or delete.
    expect(s?.waitRow).toBe(false);
  });

  it("remembers the waits row it wrote, and deletes it when the wait ends", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await waitWorkflow(p, 3600);
    const email = uniqueEmail();
    await track(p.publicKey, "start", email);
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect((await doState(ex.id))?.waitRow).toBe(true);
    expect(await waitsOf(ex.id)).toBe(1);
    await track(p.publicKey, "confirm", email, { c: 2 });
    expect((await getExecution(p.secretKey, wf.id, ex.id)).status).toBe("COMPLETED");
    expect(await waitsOf(ex.id)).toBe(0);
    // The row gone from D1, the object forgot everything, waitRow included.
    expect(await doState(ex.id)).toBeNull();
  });

  it("a state saved before waitRow existed deletes any waits row when its wait ends", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await waitWorkflow(p, 600);
    await track(p.publicKey, "start", uniqueEmail());
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(await waitsOf(ex.id)).toBe(1);
    await editState(ex.id, (s) => {
      delete s.waitRow;
    });
    expect(await runAlarm(ex.id)).toBe(true);
    expect((await getExecution(p.secretKey, wf.id, ex.id)).status).toBe("EXITED");
    expect(await waitsOf(ex.id)).toBe(0);
    expect(await doState(ex.id)).toBeNull();
  });
});

describe("WAIT_FOR_EVENT edges", () => {
  it("an event stored before the wait row reached D1 is found when the object settles", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await waitWorkflow(p, 3600);
    const email = uniqueEmail();
    await track(p.publicKey, "start", email);
    const [first] = await listExecutions(p.secretKey, wf.id);
    // As if the mirror had not yet written the wait when the event was dispatched.
    await env.DB.prepare("DELETE FROM waits WHERE execution_id = ?1").bind(first.id).run();
    const confirm = await track(p.publicKey, "confirm", email, { c: 2 });
    expect((await getExecution(p.secretKey, wf.id, first.id)).status).toBe("WAITING");
    await stubFor(first.id).kick();
    const ex = await getExecution(p.secretKey, wf.id, first.id);
    expect(ex.status).toBe("COMPLETED");
    expect(ex.steps[1].output).toMatchObject({ eventId: confirm.event });
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.wait, wf.steps.check, wf.steps.hook]);
  });

  it("an event at or after the wait's due time does not count; the alarm then takes the timeout", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await waitWorkflow(p, 3600);
    const email = uniqueEmail();
    await track(p.publicKey, "start", email);
    const [first] = await listExecutions(p.secretKey, wf.id);
    await editState(first.id, (s) => {
      if (s.wait) s.wait.until = Date.now() - 1;
    });
    await track(p.publicKey, "confirm", email, { c: 2 });
    expect((await getExecution(p.secretKey, wf.id, first.id)).status).toBe("WAITING");
    await runAlarm(first.id);
    await vi.waitFor(async () => {
      expect((await getExecution(p.secretKey, wf.id, first.id)).status).toBe("EXITED");
    });
    const ex = await getExecution(p.secretKey, wf.id, first.id);
    expect(ex.exitReason).toBe("timed out");
  });

  it("a subscription change from /v1/track ends a wait for contact.unsubscribed", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "start",
      steps: {
        wait: { type: "WAIT_FOR_EVENT", config: { eventName: "contact.unsubscribed" } },
        bye: exit("unsubscribed"),
      },
      edges: [
        ["trigger", "wait"],
        ["wait", "bye", "event"],
      ],
    });
    const email = uniqueEmail();
    await track(p.publicKey, "start", email);
    await track(p.publicKey, "anything", email, undefined, false);
    const [first] = await listExecutions(p.secretKey, wf.id);
    expect(first).toMatchObject({ status: "EXITED", exitReason: "unsubscribed" });
  });

  it("one event resumes the contact's waits in two workflows", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const a = await waitWorkflow(p, 3600);
    const b = await waitWorkflow(p);
    const email = uniqueEmail();
    await track(p.publicKey, "start", email);
    await track(p.publicKey, "confirm", email, { c: 2 });
    for (const wf of [a, b]) {
      const [ex] = await listExecutions(p.secretKey, wf.id);
      expect(ex.status).toBe("COMPLETED");
    }
  });

  it("a status change made by a step just before the wait does not count for it", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "start",
      steps: {
        unsub: { type: "UPDATE_CONTACT", config: { subscribed: false } },
        wait: { type: "WAIT_FOR_EVENT", config: { eventName: "contact.unsubscribed", timeout: 3600 } },
        got: exit("got it"),
      },
      edges: [
        ["trigger", "unsub"],
        ["unsub", "wait"],
        ["wait", "got", "event"],
      ],
    });
    await track(p.publicKey, "start", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    expect(first).toMatchObject({ status: "WAITING", currentStepId: wf.steps.wait });
  });
});

describe("the snapshot", () => {
  it("an execution keeps the workflow as it was when it started; disabling does not stop it", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "later",
      name: "Before",
      steps: { wait: { type: "DELAY", config: { amount: 1, unit: "hours" } }, hook: hook() },
      edges: [
        ["trigger", "wait"],
        ["wait", "hook"],
      ],
    });
    await track(p.publicKey, "later", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    const locked = await call("POST", `/workflows/${wf.id}/steps`, {
      key: p.secretKey,
      body: { type: "EXIT", name: "Out", config: {} },
    });
    expect(locked.status).toBe(409);
    const patch = await call("PATCH", `/workflows/${wf.id}`, {
      key: p.secretKey,
      body: { name: "After", enabled: false },
    });
    expect(patch.status).toBe(200);
    expect(await runAlarm(first.id)).toBe(true);
    expect((await getExecution(p.secretKey, wf.id, first.id)).status).toBe("COMPLETED");
    expect(hooks.sent).toHaveLength(1);
    expect(hooks.sent[0].vars.workflow).toEqual({ id: wf.id, name: "Before" });
  });
});

describe("the sweep finishes a dispatch cut short", () => {
  it("a claim whose object never started is started by the sweep's re-dispatch", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "crash",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const t = await track(p.publicKey, "hello", uniqueEmail());
    const eventId = await insertOldEvent(p.id, t.contact, "crash", Date.now());
    // The dispatch claims, then dies before the object is started.
    const get = vi.spyOn(env.EXECUTIONS, "get").mockImplementationOnce(() => {
      throw new Error("injected crash");
    });
    await expect(dispatchStored(env, log, await eventProject(eventId), [eventId])).rejects.toThrow(
      /injected crash/,
    );
    get.mockRestore();
    // Claimed (the enrollment names it) but not listed: its row is written by its first mirror.
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(0);
    const enrollment = await env.DB.prepare(
      "SELECT active_execution_id AS id FROM enrollments WHERE workflow_id = ?1 AND contact_id = ?2",
    )
      .bind(wf.id, t.contact)
      .first<{ id: string }>();
    expect(enrollment?.id).toBe(await derivedId("exec", wf.id, eventId));
    expect(hooks.sent).toHaveLength(0);

    await env.DB.prepare("UPDATE events SET created_at = created_at - 60000 WHERE id = ?1")
      .bind(eventId)
      .run();
    const result = await sweep(env, log, Date.now());
    expect(result.redispatched).toBeGreaterThanOrEqual(1);
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.id).toBe(enrollment?.id);
    expect(ex.status).toBe("COMPLETED");
    expect(hooks.sent).toHaveLength(1);
  });

  it("/v1/track answers 200 before its dispatch; a dispatch that dies after the answer is finished by the sweep", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "after.answer",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    // The dispatch runs after the answer (ctx.waitUntil) and dies there, before the object starts.
    const get = vi.spyOn(env.EXECUTIONS, "get").mockImplementationOnce(() => {
      throw new Error("injected crash after the answer");
    });
    const t = await track(p.publicKey, "after.answer", uniqueEmail());
    expect(get).toHaveBeenCalledTimes(1);
    get.mockRestore();
    const stored = await env.DB.prepare("SELECT dispatched_at FROM events WHERE id = ?1")
      .bind(t.event)
      .first<{ dispatched_at: number | null }>();
    expect(stored?.dispatched_at).toBeNull();
    expect(hooks.sent).toHaveLength(0);

    await env.DB.prepare("UPDATE events SET created_at = created_at - 60000 WHERE id = ?1")
      .bind(t.event)
      .run();
    await sweep(env, log, Date.now());
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.id).toBe(await derivedId("exec", wf.id, t.event));
    expect(ex.status).toBe("COMPLETED");
    expect(hooks.sent).toHaveLength(1);
  });

  /** A workflow on `signup`: a pro plan waits an hour for `paid`, then calls a webhook. */
  const paidFlow = (p: TestProject) =>
    createWorkflow(p.secretKey, {
      eventName: "signup",
      steps: {
        pro: { type: "CONDITION", config: { field: "event.plan", operator: "equals", value: "pro" } },
        paid: { type: "WAIT_FOR_EVENT", config: { eventName: "paid", timeout: 3600 } },
        hook: hook(),
      },
      edges: [
        ["trigger", "pro"],
        ["pro", "paid", "yes"],
        ["paid", "hook", "event"],
      ],
    });

  /** Tracks `signup` with its dispatch cut short (its execution not started), then `paid`. */
  async function signupThenPaid(p: TestProject) {
    const email = uniqueEmail();
    const get = vi.spyOn(env.EXECUTIONS, "get").mockImplementationOnce(() => {
      throw new Error("injected crash after the answer");
    });
    const signup = await track(p.publicKey, "signup", email, { plan: "pro" });
    get.mockRestore();
    await track(p.publicKey, "paid", email, { amount: 30 });
    return signup;
  }

  it("a wait reached straight from the trigger counts an event tracked before the execution got there", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await paidFlow(p);
    const signup = await signupThenPaid(p);
    // The signup's execution starts only now, after `paid` was stored (as a late dispatch would).
    await dispatchStored(env, log, await eventProject(signup.event), [signup.event]);
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("COMPLETED");
    expect(ex.context.event).toMatchObject({ plan: "pro", amount: 30 });
    expect(hooks.sent).toHaveLength(1);
  });

  it("started by the sweep, over 30 s after its trigger, a wait counts only what comes after it", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await paidFlow(p);
    const signup = await signupThenPaid(p);
    await env.DB.prepare("UPDATE events SET created_at = created_at - 60000 WHERE id = ?1")
      .bind(signup.event)
      .run();
    await env.DB.prepare(
      "UPDATE events SET created_at = created_at - 59000 WHERE name = 'paid' AND contact_id = ?1",
    )
      .bind(signup.contact)
      .run();
    await sweep(env, log, Date.now());
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex).toMatchObject({ status: "WAITING", currentStepId: wf.steps.paid });
    expect(hooks.sent).toHaveLength(0);
  });

  it("an event stored with the trigger (the same request's unsubscribe) does not end its wait", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "trial",
      steps: {
        wait: { type: "WAIT_FOR_EVENT", config: { eventName: "contact.unsubscribed", timeout: 3600 } },
        got: exit("got it"),
      },
      edges: [
        ["trigger", "wait"],
        ["wait", "got", "event"],
      ],
    });
    const email = uniqueEmail();
    await track(p.publicKey, "hello", email);
    await track(p.publicKey, "trial", email, undefined, false);
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex).toMatchObject({ status: "WAITING", currentStepId: wf.steps.wait });
  });

  it("/v1/track answers while its dispatch is still held; the dispatch then starts the execution", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "gated",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const realGet = env.EXECUTIONS.get.bind(env.EXECUTIONS);
    vi.spyOn(env.EXECUTIONS, "get").mockImplementation((id) => {
      const stub = realGet(id);
      const held = {
        start: async (init: Parameters<typeof stub.start>[0]) => {
          await gate;
          return stub.start(init);
        },
      };
      return held as unknown as typeof stub;
    });
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request("http://worker.test/v1/track", {
        method: "POST",
        headers: { authorization: `Bearer ${p.publicKey}`, "content-type": "application/json" },
        body: JSON.stringify({ event: "gated", email: uniqueEmail() }),
      }),
      env,
      ctx,
    );
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as { data: { event: string } };
    const dispatched = () =>
      env.DB.prepare("SELECT dispatched_at FROM events WHERE id = ?1")
        .bind(data.event)
        .first<{ dispatched_at: number | null }>();
    expect((await dispatched())?.dispatched_at).toBeNull();
    expect(hooks.sent).toHaveLength(0);

    release();
    await waitOnExecutionContext(ctx);
    expect((await dispatched())?.dispatched_at).not.toBeNull();
    expect((await onlyExecution(p.secretKey, wf.id)).status).toBe("COMPLETED");
    expect(hooks.sent).toHaveLength(1);
  });

  it("an event whose dispatch starts one execution and ends no wait is marked dispatched by that execution's first mirror; with more to do, by the dispatch", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const single = await createWorkflow(p.secretKey, {
      eventName: "single",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    for (const eventName of ["double", "double"]) {
      await createWorkflow(p.secretKey, { eventName, steps: { hook: hook() }, edges: [["trigger", "hook"]] });
    }
    const t = await track(p.publicKey, "hello", uniqueEmail());
    const own = /^UPDATE events SET dispatched_at = \?1 WHERE project_id = \?2 AND id = \?3$/;
    const marked = (id: string) =>
      env.DB.prepare("SELECT dispatched_at FROM events WHERE id = ?1")
        .bind(id)
        .first<{ dispatched_at: number | null }>()
        .then((r) => r?.dispatched_at ?? null);

    const one = await insertOldEvent(p.id, t.contact, "single", Date.now());
    let prepare = vi.spyOn(env.DB, "prepare");
    await dispatchStored(env, log, await eventProject(one), [one]);
    expect(prepare.mock.calls.filter(([sql]) => own.test(sql))).toHaveLength(0);
    prepare.mockRestore();
    expect(await marked(one)).not.toBeNull();
    expect((await onlyExecution(p.secretKey, single.id)).status).toBe("COMPLETED");

    const two = await insertOldEvent(p.id, t.contact, "double", Date.now());
    prepare = vi.spyOn(env.DB, "prepare");
    await dispatchStored(env, log, await eventProject(two), [two]);
    expect(prepare.mock.calls.filter(([sql]) => own.test(sql))).toHaveLength(1);
    prepare.mockRestore();
    expect(await marked(two)).not.toBeNull();
    expect(hooks.sent).toHaveLength(3);
  });

  it("an execution whose first mirror fails leaves its event to the sweep, which finishes it with one webhook", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "mirror.fails",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const t = await track(p.publicKey, "hello", uniqueEmail());
    const eventId = await insertOldEvent(p.id, t.contact, "mirror.fails", Date.now());
    const realBatch = env.DB.batch.bind(env.DB);
    const batch = vi.spyOn(env.DB, "batch").mockImplementation(async (statements) => {
      const sql = statements.map((st) => (st as unknown as { statement: string }).statement).join(";");
      if (sql.includes("UPDATE events SET dispatched_at")) throw new Error("injected mirror failure");
      return realBatch(statements);
    });
    await expect(dispatchStored(env, log, await eventProject(eventId), [eventId])).rejects.toThrow(
      /injected mirror failure/,
    );
    expect(batch.mock.calls.length).toBeGreaterThan(0);
    batch.mockRestore();
    const stored = await env.DB.prepare("SELECT dispatched_at FROM events WHERE id = ?1")
      .bind(eventId)
      .first<{ dispatched_at: number | null }>();
    expect(stored?.dispatched_at).toBeNull();
    expect(hooks.sent).toHaveLength(1);

    await env.DB.prepare("UPDATE events SET created_at = created_at - 60000 WHERE id = ?1")
      .bind(eventId)
      .run();
    await sweep(env, log, Date.now());
    const again = await env.DB.prepare("SELECT dispatched_at FROM events WHERE id = ?1")
      .bind(eventId)
      .first<{ dispatched_at: number | null }>();
    expect(again?.dispatched_at).not.toBeNull();
    expect((await onlyExecution(p.secretKey, wf.id)).status).toBe("COMPLETED");
    // The step ran once: the retried start mirrored what it had, and sent nothing again.
    expect(hooks.sent).toHaveLength(1);
  });

  it("a RUNNING row whose object never started (a start by hand cut short) is FAILED by the sweep", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, { eventName: "x", steps: {}, edges: [] });
    const t = await track(p.publicKey, "hello", uniqueEmail());
    const id = `exec_orphan${crypto.randomUUID().replaceAll("-", "").slice(0, 13)}`;
    const old = Date.now() - 10 * 60_000;
    await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO executions (id, project_id, workflow_id, contact_id, status, current_step_id, context, started_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'RUNNING', ?5, '{}', ?6, ?6)`,
      ).bind(id, p.id, wf.id, t.contact, wf.steps.trigger, old),
      env.DB.prepare(
        `INSERT INTO enrollments (workflow_id, contact_id, active_execution_id, last_execution_id, runs, updated_at)
         VALUES (?1, ?2, ?3, ?3, 1, ?4)`,
      ).bind(wf.id, t.contact, id, old),
    ]);
    await sweep(env, log, Date.now());
    const ex = await getExecution(p.secretKey, wf.id, id);
    expect(ex.status).toBe("FAILED");
    expect(await d1Count("SELECT count(*) AS n FROM enrollments WHERE active_execution_id = ?1", id)).toBe(0);
  });
});

async function insertOldEvent(projectId: string, contactId: string, name: string, createdAt: number) {
  const id = newId("evt", createdAt);
  await env.DB.prepare(
    "INSERT INTO events (id, project_id, contact_id, name, data, created_at) VALUES (?1, ?2, ?3, ?4, '{}', ?5)",
  )
    .bind(id, projectId, contactId, name, createdAt)
    .run();
  return id;
}

describe("deleting a contact", () => {
  it("cancels its running and waiting executions first", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "forever",
      steps: { wait: { type: "WAIT_FOR_EVENT", config: { eventName: "never" } } },
      edges: [["trigger", "wait"]],
    });
    const t = await track(p.publicKey, "forever", uniqueEmail());
    const [first] = await listExecutions(p.secretKey, wf.id);
    expect(first.status).toBe("WAITING");
    expect((await call("DELETE", `/contacts/${t.contact}`, { key: p.secretKey })).status).toBe(204);
    const ex = await getExecution(p.secretKey, wf.id, first.id);
    expect(ex.status).toBe("CANCELLED");
    const waits = await env.DB.prepare("SELECT count(*) AS n FROM waits WHERE execution_id = ?1")
      .bind(first.id)
      .first<{ n: number }>();
    expect(waits?.n).toBe(0);
  });
});
