/** Workflow definitions (sk): workflows, steps, transitions, the graph rules, the lock, isolation. */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type Call, call, createProject, expectEnvelope, type TestProject, uniqueEmail } from "./helpers";

afterEach(() => vi.restoreAllMocks());

/** Lets the clock move on, so that rows made one after another have distinct times. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 3));

const OPERATORS = [
  "equals",
  "notEquals",
  "contains",
  "notContains",
  "greaterThan",
  "lessThan",
  "greaterThanOrEqual",
  "lessThanOrEqual",
  "exists",
  "notExists",
] as const;
const VALUED_OPERATORS = OPERATORS.filter((o) => o !== "exists" && o !== "notExists");

interface Ctx {
  p: TestProject;
  sk: string;
  wf: any;
  wfId: string;
  trigger: string;
  /** A template of this project, standing for "tpl_x" in step configs. */
  tpl: string;
}

async function newWorkflow(p: TestProject, body: Record<string, unknown> = {}): Promise<Ctx> {
  const res = await call("POST", "/workflows", {
    key: p.secretKey,
    body: { name: "Flow", eventName: "signup", ...body },
  });
  expect(res.status).toBe(201);
  const tpl = await call("POST", "/templates", {
    key: p.secretKey,
    body: { name: "T", subject: "Hi", body: "<p>Hi</p>", from: "team@example.com" },
  });
  return {
    p,
    sk: p.secretKey,
    wf: res.body,
    wfId: res.body.id,
    trigger: res.body.steps[0].id,
    tpl: tpl.body.id,
  };
}

async function setup(body: Record<string, unknown> = {}): Promise<Ctx> {
  return newWorkflow(await createProject(), body);
}

const withTemplate = (c: Ctx, body: unknown) =>
  JSON.parse(JSON.stringify(body).replaceAll('"tpl_x"', JSON.stringify(c.tpl)));
const postStep = (c: Ctx, body: unknown) =>
  call("POST", `/workflows/${c.wfId}/steps`, { key: c.sk, body: withTemplate(c, body) });

async function addStep(c: Ctx, type: string, config: unknown, name = `${type} step`): Promise<string> {
  const res = await postStep(c, { type, name, config });
  if (res.status !== 201) throw new Error(`step ${type}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

const postTransition = (c: Ctx, fromStepId: string, toStepId: string, branch?: string | null) =>
  call("POST", `/workflows/${c.wfId}/transitions`, {
    key: c.sk,
    body: branch === undefined ? { fromStepId, toStepId } : { fromStepId, toStepId, branch },
  });

async function link(c: Ctx, from: string, to: string, branch?: string | null): Promise<string> {
  const res = await postTransition(c, from, to, branch);
  if (res.status !== 201) throw new Error(`transition: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

const getWorkflow = async (c: Ctx) => {
  const res = await call("GET", `/workflows/${c.wfId}`, { key: c.sk });
  expect(res.status).toBe(200);
  return res.body;
};

/** A 422 VALIDATION_ERROR naming `field` among its field errors. */
function expectField(res: Call, field: string) {
  expectEnvelope(res, 422, "VALIDATION_ERROR");
  const fields = (res.body.error.errors ?? []).map((e: { field: string }) => e.field);
  if (!fields.includes(field)) {
    throw new Error(`expected a field error on ${field}, got ${JSON.stringify(res.body.error.errors)}`);
  }
  for (const e of res.body.error.errors) {
    expect(typeof e.message).toBe("string");
    expect(typeof e.code).toBe("string");
  }
}

/** A 422 whose every field error points into `config`. */
function expectConfigError(res: Call, field?: string) {
  expectEnvelope(res, 422, "VALIDATION_ERROR");
  const errors = res.body.error.errors as { field: string }[];
  expect(errors.length).toBeGreaterThan(0);
  for (const e of errors) expect(e.field === "config" || e.field.startsWith("config.")).toBe(true);
  if (field) expectField(res, field);
}

/** A workflow whose first step is a DELAY of one day, and one execution started by hand, WAITING. */
async function waitingExecution(c: Ctx) {
  const delay = await addStep(c, "DELAY", { amount: 1, unit: "days" });
  await link(c, c.trigger, delay);
  const started = await call("POST", `/workflows/${c.wfId}/executions`, {
    key: c.sk,
    body: { email: uniqueEmail("lock") },
  });
  expect(started.status).toBe(201);
  const ex = await call("GET", `/workflows/${c.wfId}/executions/${started.body.id}`, { key: c.sk });
  expect(ex.body.status).toBe("WAITING");
  expect(ex.body.currentStepId).toBe(delay);
  return { delay, executionId: started.body.id as string };
}

describe("POST /workflows", () => {
  it("creates a workflow with 201, its TRIGGER step and the defaults", async () => {
    const p = await createProject();
    const res = await call("POST", "/workflows", {
      key: p.secretKey,
      body: { name: "  Welcome  ", eventName: "signup" },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: "Welcome",
      description: null,
      eventName: "signup",
      enabled: false,
      allowReentry: false,
      transitions: [],
    });
    expect(res.body.id).toMatch(/^wf_/);
    expect(new Date(res.body.createdAt).toISOString()).toBe(res.body.createdAt);
    expect(res.body.updatedAt).toBe(res.body.createdAt);
    expect(res.body.steps).toHaveLength(1);
    const [trigger] = res.body.steps;
    expect(trigger.id).toMatch(/^stp_/);
    expect(trigger).toMatchObject({ type: "TRIGGER", config: { eventName: "signup" } });
    expect(Object.keys(trigger.config)).toEqual(["eventName"]);

    const read = await call("GET", `/workflows/${res.body.id}`, { key: p.secretKey });
    expect(read.status).toBe(200);
    expect(read.body).toEqual(res.body);
  });

  it("keeps description, enabled and allowReentry when given", async () => {
    const c = await setup({ description: "Says hello", enabled: true, allowReentry: true });
    expect(c.wf).toMatchObject({ description: "Says hello", enabled: true, allowReentry: true });
    expect(await getWorkflow(c)).toMatchObject({
      description: "Says hello",
      enabled: true,
      allowReentry: true,
    });
  });

  it("accepts system events as the trigger", async () => {
    const p = await createProject();
    for (const eventName of [
      "email.bounce",
      "email.open",
      "contact.unsubscribed",
      "segment.vip-users.entry",
      "segment.vip-users.exit",
    ]) {
      const res = await call("POST", "/workflows", { key: p.secretKey, body: { name: "Sys", eventName } });
      expect(res.status).toBe(201);
      expect(res.body.eventName).toBe(eventName);
      expect(res.body.steps[0].config).toEqual({ eventName });
    }
  });

  it("refuses bad bodies with 422 on the right field and creates nothing", async () => {
    const p = await createProject();
    const cases: [unknown, string][] = [
      [{ eventName: "signup" }, "name"],
      [{ name: "", eventName: "signup" }, "name"],
      [{ name: "   ", eventName: "signup" }, "name"],
      [{ name: 5, eventName: "signup" }, "name"],
      [{ name: "x".repeat(101), eventName: "signup" }, "name"],
      [{ name: "W" }, "eventName"],
      [{ name: "W", eventName: "" }, "eventName"],
      [{ name: "W", eventName: 5 }, "eventName"],
      [{ name: "W", eventName: null }, "eventName"],
      [{ name: "W", eventName: "e".repeat(101) }, "eventName"],
      [{ name: "W", eventName: "signup", enabled: "yes" }, "enabled"],
      [{ name: "W", eventName: "signup", allowReentry: 1 }, "allowReentry"],
      [{ name: "W", eventName: "signup", description: 7 }, "description"],
    ];
    for (const [body, field] of cases) {
      expectField(await call("POST", "/workflows", { key: p.secretKey, body }), field);
    }
    expectEnvelope(
      await call("POST", "/workflows", { key: p.secretKey, body: { name: "W", eventName: "e", steps: [] } }),
      422,
      "VALIDATION_ERROR",
    );
    expectEnvelope(
      await call("POST", "/workflows", {
        key: p.secretKey,
        raw: "{not json",
        headers: { "content-type": "application/json" },
      }),
      400,
      "INVALID_REQUEST_BODY",
    );
    expectEnvelope(
      await call("POST", "/workflows", { key: p.secretKey, body: [] }),
      400,
      "INVALID_REQUEST_BODY",
    );
    const list = await call("GET", "/workflows", { key: p.secretKey });
    expect(list.body.data).toEqual([]);
  });

  it("needs a key", async () => {
    expectEnvelope(
      await call("POST", "/workflows", { body: { name: "W", eventName: "e" } }),
      401,
      "MISSING_AUTH",
    );
    expectEnvelope(
      await call("POST", "/workflows", { key: "sk_nope", body: { name: "W", eventName: "e" } }),
      401,
      "INVALID_API_KEY",
    );
  });
});

describe("GET /workflows", () => {
  it("lists the project's workflows newest first, paged by cursor without gaps or repeats", async () => {
    const p = await createProject();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push((await newWorkflow(p, { name: `W${i}` })).wfId);
      await tick();
    }
    const all = await call("GET", "/workflows", { key: p.secretKey });
    expect(all.body).toMatchObject({ cursor: null, hasMore: false });
    expect(all.body.data.map((w: any) => w.id)).toEqual([...made].reverse());
    for (const w of all.body.data) {
      expect(w).toMatchObject({
        eventName: "signup",
        enabled: false,
        allowReentry: false,
        description: null,
      });
      expect(typeof w.createdAt).toBe("string");
      expect(typeof w.updatedAt).toBe("string");
    }

    const seen: string[] = [];
    let cursor: string | null = null;
    const pages: number[] = [];
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const res: Call = await call("GET", `/workflows?limit=2${q}`, { key: p.secretKey });
      expect(res.status).toBe(200);
      expect(res.body.hasMore).toBe(res.body.cursor !== null);
      pages.push(res.body.data.length);
      seen.push(...res.body.data.map((w: any) => w.id));
      cursor = res.body.cursor;
    } while (cursor);
    expect(pages).toEqual([2, 2, 1]);
    expect(seen).toEqual([...made].reverse());
  });

  it("lists only the caller's project", async () => {
    const a = await setup({ name: "Mine" });
    const b = await setup({ name: "Theirs" });
    const res = await call("GET", "/workflows", { key: a.sk });
    expect(res.body.data.map((w: any) => w.id)).toEqual([a.wfId]);
    expect(JSON.stringify(res.body)).not.toContain(b.wfId);
  });

  it("refuses a bad limit or cursor with 422", async () => {
    const p = await createProject();
    for (const limit of ["0", "101", "abc", "1.5"]) {
      expectField(await call("GET", `/workflows?limit=${limit}`, { key: p.secretKey }), "limit");
    }
    expectField(await call("GET", "/workflows?cursor=garbage!", { key: p.secretKey }), "cursor");
  });
});

describe("GET /workflows/:id", () => {
  it("shows the workflow with its steps and transitions", async () => {
    const c = await setup();
    const cond = await addStep(c, "CONDITION", {
      field: "contact.subscribed",
      operator: "equals",
      value: true,
    });
    const mail = await addStep(c, "SEND_EMAIL", { templateId: "tpl_x" });
    const exit = await addStep(c, "EXIT", { reason: "not subscribed" });
    const t1 = await link(c, c.trigger, cond);
    const t2 = await link(c, cond, mail, "yes");
    const t3 = await link(c, cond, exit, "no");
    const wf = await getWorkflow(c);
    expect(wf.steps).toHaveLength(4);
    const byId = new Map(wf.steps.map((s: any) => [s.id, s]));
    expect(byId.get(c.trigger)).toEqual({
      id: c.trigger,
      key: null,
      type: "TRIGGER",
      name: expect.any(String),
      config: { eventName: "signup" },
    });
    expect(byId.get(cond)).toEqual({
      id: cond,
      key: null,
      type: "CONDITION",
      name: "CONDITION step",
      config: { field: "contact.subscribed", operator: "equals", value: true },
    });
    expect(byId.get(mail)).toMatchObject({ type: "SEND_EMAIL", config: { templateId: c.tpl } });
    expect(byId.get(exit)).toMatchObject({ type: "EXIT", config: { reason: "not subscribed" } });
    expect(wf.transitions).toHaveLength(3);
    expect(wf.transitions).toEqual(
      expect.arrayContaining([
        { id: t1, fromStepId: c.trigger, toStepId: cond, branch: null },
        { id: t2, fromStepId: cond, toStepId: mail, branch: "yes" },
        { id: t3, fromStepId: cond, toStepId: exit, branch: "no" },
      ]),
    );
  });

  it("answers 404 WORKFLOW_NOT_FOUND for an unknown id", async () => {
    const p = await createProject();
    expectEnvelope(await call("GET", "/workflows/wf_nope", { key: p.secretKey }), 404, "WORKFLOW_NOT_FOUND");
  });
});

describe("PATCH /workflows/:id", () => {
  it("changes name, description, enabled and allowReentry, and only what it is given", async () => {
    const c = await setup();
    await tick();
    const res = await call("PATCH", `/workflows/${c.wfId}`, {
      key: c.sk,
      body: { name: "Renamed", description: "Now described", enabled: true, allowReentry: true },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: c.wfId,
      name: "Renamed",
      description: "Now described",
      eventName: "signup",
      enabled: true,
      allowReentry: true,
      createdAt: c.wf.createdAt,
    });
    expect(res.body.updatedAt > c.wf.updatedAt).toBe(true);

    const partial = await call("PATCH", `/workflows/${c.wfId}`, { key: c.sk, body: { enabled: false } });
    expect(partial.status).toBe(200);
    const read = await getWorkflow(c);
    expect(read).toMatchObject({
      name: "Renamed",
      description: "Now described",
      enabled: false,
      allowReentry: true,
      eventName: "signup",
    });
    expect(read.steps).toHaveLength(1);

    const cleared = await call("PATCH", `/workflows/${c.wfId}`, { key: c.sk, body: { description: null } });
    expect(cleared.status).toBe(200);
    expect((await getWorkflow(c)).description).toBeNull();
  });

  it("refuses an eventName with 422 on field eventName, and changes nothing", async () => {
    const c = await setup();
    for (const body of [{ eventName: "other" }, { eventName: "signup" }, { name: "X", eventName: "other" }]) {
      expectField(await call("PATCH", `/workflows/${c.wfId}`, { key: c.sk, body }), "eventName");
    }
    const read = await getWorkflow(c);
    expect(read).toMatchObject({ name: "Flow", eventName: "signup" });
    expect(read.steps[0].config).toEqual({ eventName: "signup" });
  });

  it("refuses an empty patch and bad fields with 422", async () => {
    const c = await setup();
    expectEnvelope(
      await call("PATCH", `/workflows/${c.wfId}`, { key: c.sk, body: {} }),
      422,
      "VALIDATION_ERROR",
    );
    const cases: [unknown, string][] = [
      [{ name: "" }, "name"],
      [{ name: null }, "name"],
      [{ enabled: "true" }, "enabled"],
      [{ allowReentry: null }, "allowReentry"],
      [{ description: 3 }, "description"],
    ];
    for (const [body, field] of cases) {
      expectField(await call("PATCH", `/workflows/${c.wfId}`, { key: c.sk, body }), field);
    }
    expectEnvelope(
      await call("PATCH", `/workflows/${c.wfId}`, { key: c.sk, body: { steps: [] } }),
      422,
      "VALIDATION_ERROR",
    );
    const read = await getWorkflow(c);
    expect(read).toMatchObject({ name: "Flow", enabled: false, allowReentry: false, description: null });
    expect(read.updatedAt).toBe(c.wf.updatedAt);
  });

  it("answers 404 WORKFLOW_NOT_FOUND for an unknown id", async () => {
    const p = await createProject();
    expectEnvelope(
      await call("PATCH", "/workflows/wf_nope", { key: p.secretKey, body: { name: "X" } }),
      404,
      "WORKFLOW_NOT_FOUND",
    );
  });
});

describe("DELETE /workflows/:id", () => {
  it("answers 204 and removes the workflow with its steps and transitions", async () => {
    const c = await setup();
    const hook = await addStep(c, "WEBHOOK", { url: "https://example.com/h" });
    await link(c, c.trigger, hook);
    const res = await call("DELETE", `/workflows/${c.wfId}`, { key: c.sk });
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
    expectEnvelope(await call("GET", `/workflows/${c.wfId}`, { key: c.sk }), 404, "WORKFLOW_NOT_FOUND");
    expect((await call("GET", "/workflows", { key: c.sk })).body.data).toEqual([]);
    const steps = await env.DB.prepare("SELECT count(*) AS n FROM workflow_steps WHERE workflow_id = ?1")
      .bind(c.wfId)
      .first<{ n: number }>();
    const transitions = await env.DB.prepare(
      "SELECT count(*) AS n FROM workflow_transitions WHERE workflow_id = ?1",
    )
      .bind(c.wfId)
      .first<{ n: number }>();
    expect(steps?.n).toBe(0);
    expect(transitions?.n).toBe(0);
    expectEnvelope(await call("DELETE", `/workflows/${c.wfId}`, { key: c.sk }), 404, "WORKFLOW_NOT_FOUND");
  });

  it("is 409 WORKFLOW_LOCKED while an execution is WAITING, and works once it is cancelled", async () => {
    const c = await setup();
    await waitingExecution(c);
    expectEnvelope(await call("DELETE", `/workflows/${c.wfId}`, { key: c.sk }), 409, "WORKFLOW_LOCKED");
    expect((await getWorkflow(c)).steps).toHaveLength(2);
    const cancel = await call("POST", `/workflows/${c.wfId}/executions/cancel-all`, { key: c.sk });
    expect(cancel.status).toBe(200);
    expect(cancel.body).toEqual({ cancelled: 1 });
    expect((await call("DELETE", `/workflows/${c.wfId}`, { key: c.sk })).status).toBe(204);
    expectEnvelope(await call("GET", `/workflows/${c.wfId}`, { key: c.sk }), 404, "WORKFLOW_NOT_FOUND");
  });

  it("is 409 WORKFLOW_LOCKED while an execution is RUNNING", async () => {
    const c = await setup();
    const now = Date.now();
    // A run caught mid-step: the row says RUNNING.
    await env.DB.prepare(
      `INSERT INTO executions (id, project_id, workflow_id, contact_id, status, current_step_id, context, started_at, updated_at)
       VALUES (?1, ?2, ?3, 'ctc_running', 'RUNNING', ?4, '{}', ?5, ?5)`,
    )
      .bind(`exec_running_${crypto.randomUUID()}`, c.p.id, c.wfId, c.trigger, now)
      .run();
    expectEnvelope(await call("DELETE", `/workflows/${c.wfId}`, { key: c.sk }), 409, "WORKFLOW_LOCKED");
    expectEnvelope(await postStep(c, { type: "EXIT", name: "E", config: {} }), 409, "WORKFLOW_LOCKED");
    expect((await getWorkflow(c)).id).toBe(c.wfId);
    await env.DB.prepare(
      "UPDATE executions SET status = 'COMPLETED', completed_at = ?2 WHERE workflow_id = ?1",
    )
      .bind(c.wfId, now)
      .run();
    expect((await call("DELETE", `/workflows/${c.wfId}`, { key: c.sk })).status).toBe(204);
  });
});

describe("POST /workflows/:id/steps", () => {
  const valid: [string, string, Record<string, unknown>, Record<string, unknown>?][] = [
    ["SEND_EMAIL", "SEND_EMAIL", { templateId: "tpl_x" }],
    ["DELAY in seconds", "DELAY", { amount: 30, unit: "seconds" }],
    ["DELAY in minutes", "DELAY", { amount: 15, unit: "minutes" }],
    ["DELAY in hours", "DELAY", { amount: 2, unit: "hours" }],
    ["DELAY of exactly 365 days", "DELAY", { amount: 365, unit: "days" }],
    ["DELAY of exactly 8760 hours", "DELAY", { amount: 8760, unit: "hours" }],
    ["DELAY of exactly 31536000 seconds", "DELAY", { amount: 31_536_000, unit: "seconds" }],
    ["WAIT_FOR_EVENT without timeout", "WAIT_FOR_EVENT", { eventName: "purchase" }],
    ["WAIT_FOR_EVENT with timeout", "WAIT_FOR_EVENT", { eventName: "purchase", timeout: 3600 }],
    [
      "WAIT_FOR_EVENT with the longest timeout",
      "WAIT_FOR_EVENT",
      { eventName: "email.open", timeout: 31_536_000 },
    ],
    ...OPERATORS.map((operator): [string, string, Record<string, unknown>] => [
      `CONDITION ${operator}`,
      "CONDITION",
      operator === "exists" || operator === "notExists"
        ? { field: "contact.data.plan", operator }
        : { field: "contact.data.plan", operator, value: "pro" },
    ]),
    ["CONDITION on contact.email", "CONDITION", { field: "contact.email", operator: "contains", value: "@" }],
    [
      "CONDITION on contact.subscribed",
      "CONDITION",
      { field: "contact.subscribed", operator: "equals", value: false },
    ],
    [
      "CONDITION on contact.data.a.b",
      "CONDITION",
      { field: "contact.data.a.b", operator: "greaterThan", value: 3 },
    ],
    ["CONDITION on event.x.y", "CONDITION", { field: "event.x.y", operator: "exists" }],
    ["CONDITION with a null value", "CONDITION", { field: "event.x", operator: "equals", value: null }],
    [
      "WEBHOOK with method, headers and body",
      "WEBHOOK",
      { url: "https://example.com/hook", method: "PUT", headers: { "x-token": "abc" }, body: { a: [1, 2] } },
    ],
    [
      "WEBHOOK with only a url",
      "WEBHOOK",
      { url: "https://example.com/hook" },
      { url: "https://example.com/hook", method: "POST" },
    ],
    ["UPDATE_CONTACT with data", "UPDATE_CONTACT", { data: { plan: "pro", n: 1 } }],
    ["UPDATE_CONTACT with subscribed", "UPDATE_CONTACT", { subscribed: false }],
    ["UPDATE_CONTACT with both", "UPDATE_CONTACT", { data: { a: null }, subscribed: true }],
    ["EXIT without a reason", "EXIT", {}],
    ["EXIT with a reason", "EXIT", { reason: "done" }],
  ];

  it.each(valid)("adds a %s step with 201", async (_label, type, config, stored) => {
    const c = await setup();
    await tick();
    const res = await postStep(c, { type, name: "  My step  ", config });
    expect(res.status).toBe(201);
    expect(res.body.id).toMatch(/^stp_/);
    expect(res.body).toEqual({
      id: res.body.id,
      key: null,
      type,
      name: "My step",
      config: withTemplate(c, stored ?? config),
    });
    const wf = await getWorkflow(c);
    expect(wf.steps).toHaveLength(2);
    expect(wf.steps.find((s: any) => s.id === res.body.id)).toEqual(res.body);
    expect(wf.updatedAt > c.wf.updatedAt).toBe(true);
  });

  const invalid: [string, unknown, string][] = [
    ["an unknown type", { type: "SMS", name: "S", config: {} }, "type"],
    ["no type", { name: "S", config: {} }, "type"],
    ["a lower-case type", { type: "delay", name: "S", config: { amount: 1, unit: "days" } }, "type"],
    ["a second TRIGGER", { type: "TRIGGER", name: "T2", config: { eventName: "signup" } }, "type"],
    ["no name", { type: "EXIT", config: {} }, "name"],
    ["an empty name", { type: "EXIT", name: " ", config: {} }, "name"],
    ["no config", { type: "EXIT", name: "E" }, "config"],
    ["a config that is not an object", { type: "EXIT", name: "E", config: "x" }, "config"],
    ["an unknown key beside config", { type: "EXIT", name: "E", config: {}, extra: 1 }, "body"],
  ];

  it.each(invalid)("refuses %s with 422", async (_label, body, field) => {
    const c = await setup();
    const res = await postStep(c, body);
    if (field === "body") expectEnvelope(res, 422, "VALIDATION_ERROR");
    else expectField(res, field);
    expect((await getWorkflow(c)).steps).toHaveLength(1);
  });

  const badConfigs: [string, string, Record<string, unknown>, string | undefined][] = [
    [
      "an unknown operator",
      "CONDITION",
      { field: "contact.email", operator: "like", value: "x" },
      "config.operator",
    ],
    ["no operator", "CONDITION", { field: "contact.email", value: "x" }, "config.operator"],
    ['field path "foo.bar"', "CONDITION", { field: "foo.bar", operator: "exists" }, "config.field"],
    ['field path "contact.data"', "CONDITION", { field: "contact.data", operator: "exists" }, "config.field"],
    ['field path "event"', "CONDITION", { field: "event", operator: "exists" }, "config.field"],
    ['field path "contact.name"', "CONDITION", { field: "contact.name", operator: "exists" }, "config.field"],
    [
      'field path "contact.data.a..b"',
      "CONDITION",
      { field: "contact.data.a..b", operator: "exists" },
      "config.field",
    ],
    [
      'field path "contact.data.a."',
      "CONDITION",
      { field: "contact.data.a.", operator: "exists" },
      "config.field",
    ],
    ...VALUED_OPERATORS.map((operator): [string, string, Record<string, unknown>, string] => [
      `CONDITION ${operator} without a value`,
      "CONDITION",
      { field: "contact.email", operator },
      "config.value",
    ]),
    ['DELAY unit "weeks"', "DELAY", { amount: 1, unit: "weeks" }, "config.unit"],
    ["DELAY without a unit", "DELAY", { amount: 1 }, "config.unit"],
    ["DELAY amount 0", "DELAY", { amount: 0, unit: "days" }, "config.amount"],
    ["DELAY amount -1", "DELAY", { amount: -1, unit: "days" }, "config.amount"],
    ["DELAY amount 1.5", "DELAY", { amount: 1.5, unit: "hours" }, "config.amount"],
    ['DELAY amount "1"', "DELAY", { amount: "1", unit: "hours" }, "config.amount"],
    ["DELAY of 366 days", "DELAY", { amount: 366, unit: "days" }, "config.amount"],
    ["DELAY of 8785 hours", "DELAY", { amount: 8785, unit: "hours" }, "config.amount"],
    ["DELAY of 525601 minutes", "DELAY", { amount: 525_601, unit: "minutes" }, "config.amount"],
    ["DELAY of 31536001 seconds", "DELAY", { amount: 31_536_001, unit: "seconds" }, "config.amount"],
    ["DELAY with an unknown key", "DELAY", { amount: 1, unit: "days", jitter: true }, undefined],
    [
      "WAIT_FOR_EVENT timeout 31536001",
      "WAIT_FOR_EVENT",
      { eventName: "e", timeout: 31_536_001 },
      "config.timeout",
    ],
    ["WAIT_FOR_EVENT timeout 0", "WAIT_FOR_EVENT", { eventName: "e", timeout: 0 }, "config.timeout"],
    ["WAIT_FOR_EVENT timeout 1.5", "WAIT_FOR_EVENT", { eventName: "e", timeout: 1.5 }, "config.timeout"],
    ["WAIT_FOR_EVENT without eventName", "WAIT_FOR_EVENT", { timeout: 60 }, "config.eventName"],
    ["WAIT_FOR_EVENT with an empty eventName", "WAIT_FOR_EVENT", { eventName: "" }, "config.eventName"],
    ["UPDATE_CONTACT with neither data nor subscribed", "UPDATE_CONTACT", {}, undefined],
    ["UPDATE_CONTACT with data that is not an object", "UPDATE_CONTACT", { data: [1] }, "config.data"],
    [
      "UPDATE_CONTACT with subscribed not a boolean",
      "UPDATE_CONTACT",
      { subscribed: "yes" },
      "config.subscribed",
    ],
    ["UPDATE_CONTACT with an unknown key", "UPDATE_CONTACT", { subscribed: true, email: "x@y.z" }, undefined],
    ["SEND_EMAIL without templateId", "SEND_EMAIL", {}, "config.templateId"],
    [
      "SEND_EMAIL with a templateId that is not one",
      "SEND_EMAIL",
      { templateId: "welcome" },
      "config.templateId",
    ],
    ["SEND_EMAIL with an unknown key", "SEND_EMAIL", { templateId: "tpl_x", subject: "Hi" }, undefined],
    ["WEBHOOK without url", "WEBHOOK", { method: "POST" }, "config.url"],
    [
      "WEBHOOK with method TRACE",
      "WEBHOOK",
      { url: "https://example.com", method: "TRACE" },
      "config.method",
    ],
    [
      "WEBHOOK with a header that is not a string",
      "WEBHOOK",
      { url: "https://example.com", headers: { a: 1 } },
      undefined,
    ],
    ["WEBHOOK with an unknown key", "WEBHOOK", { url: "https://example.com", retries: 3 }, undefined],
    [
      "CONDITION with an unknown key",
      "CONDITION",
      { field: "event.x", operator: "exists", negate: true },
      undefined,
    ],
    ["EXIT with an unknown key", "EXIT", { reason: "r", code: 1 }, undefined],
    ["EXIT with a reason that is not a string", "EXIT", { reason: 1 }, "config.reason"],
  ];

  it.each(badConfigs)("refuses %s with 422 on a field inside config", async (_label, type, config, field) => {
    const c = await setup();
    expectConfigError(await postStep(c, { type, name: "Bad", config }), field);
    expect((await getWorkflow(c)).steps).toHaveLength(1);
  });

  it("keeps exactly one TRIGGER after a second is refused", async () => {
    const c = await setup();
    expectField(await postStep(c, { type: "TRIGGER", name: "T", config: { eventName: "x" } }), "type");
    const wf = await getWorkflow(c);
    expect(wf.steps.map((s: any) => s.type)).toEqual(["TRIGGER"]);
  });

  it("refuses a body that is not a JSON object with 400", async () => {
    const c = await setup();
    for (const raw of ["null", "[]", "3", "nope"]) {
      expectEnvelope(
        await call("POST", `/workflows/${c.wfId}/steps`, {
          key: c.sk,
          raw,
          headers: { "content-type": "application/json" },
        }),
        400,
        "INVALID_REQUEST_BODY",
      );
    }
  });

  it("answers 404 WORKFLOW_NOT_FOUND for an unknown workflow", async () => {
    const p = await createProject();
    expectEnvelope(
      await call("POST", "/workflows/wf_nope/steps", {
        key: p.secretKey,
        body: { type: "EXIT", name: "E", config: {} },
      }),
      404,
      "WORKFLOW_NOT_FOUND",
    );
  });
});

describe("PATCH /workflows/:id/steps/:stepId", () => {
  it("renames a step and keeps its config", async () => {
    const c = await setup();
    const id = await addStep(c, "DELAY", { amount: 2, unit: "hours" }, "Wait a bit");
    const res = await call("PATCH", `/workflows/${c.wfId}/steps/${id}`, {
      key: c.sk,
      body: { name: "Wait two hours" },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id,
      key: null,
      type: "DELAY",
      name: "Wait two hours",
      config: { amount: 2, unit: "hours" },
    });
    expect((await getWorkflow(c)).steps.find((s: any) => s.id === id)).toEqual(res.body);
  });

  it("changes the config, validated against the step's own type", async () => {
    const c = await setup();
    const id = await addStep(c, "DELAY", { amount: 2, unit: "hours" });
    const ok = await call("PATCH", `/workflows/${c.wfId}/steps/${id}`, {
      key: c.sk,
      body: { config: { amount: 365, unit: "days" } },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.config).toEqual({ amount: 365, unit: "days" });

    const bad: [unknown, string | undefined][] = [
      [{ amount: 366, unit: "days" }, "config.amount"],
      [{ amount: 0, unit: "days" }, "config.amount"],
      [{ amount: 1, unit: "weeks" }, "config.unit"],
      [{ templateId: "tpl_x" }, undefined],
      [{ amount: 1, unit: "days", extra: 1 }, undefined],
      ["1 day", undefined],
    ];
    for (const [config, field] of bad) {
      expectConfigError(
        await call("PATCH", `/workflows/${c.wfId}/steps/${id}`, { key: c.sk, body: { config } }),
        field,
      );
    }
    expect((await getWorkflow(c)).steps.find((s: any) => s.id === id).config).toEqual({
      amount: 365,
      unit: "days",
    });
  });

  it("validates a CONDITION's new config, and fills a WEBHOOK's default method", async () => {
    const c = await setup();
    const cond = await addStep(c, "CONDITION", { field: "contact.email", operator: "exists" });
    expectConfigError(
      await call("PATCH", `/workflows/${c.wfId}/steps/${cond}`, {
        key: c.sk,
        body: { config: { field: "contact.email", operator: "matches", value: "x" } },
      }),
      "config.operator",
    );
    expectConfigError(
      await call("PATCH", `/workflows/${c.wfId}/steps/${cond}`, {
        key: c.sk,
        body: { config: { field: "contact.data", operator: "exists" } },
      }),
      "config.field",
    );
    expectConfigError(
      await call("PATCH", `/workflows/${c.wfId}/steps/${cond}`, {
        key: c.sk,
        body: { config: { field: "contact.email", operator: "equals" } },
      }),
      "config.value",
    );
    const upd = await addStep(c, "UPDATE_CONTACT", { subscribed: true });
    expectConfigError(
      await call("PATCH", `/workflows/${c.wfId}/steps/${upd}`, { key: c.sk, body: { config: {} } }),
    );
    const hook = await addStep(c, "WEBHOOK", { url: "https://a.example/x", method: "GET" });
    const res = await call("PATCH", `/workflows/${c.wfId}/steps/${hook}`, {
      key: c.sk,
      body: { config: { url: "https://b.example/y" } },
    });
    expect(res.status).toBe(200);
    expect(res.body.config).toEqual({ url: "https://b.example/y", method: "POST" });
    const wf = await getWorkflow(c);
    expect(wf.steps.find((s: any) => s.id === cond).config).toEqual({
      field: "contact.email",
      operator: "exists",
    });
    expect(wf.steps.find((s: any) => s.id === upd).config).toEqual({ subscribed: true });
  });

  it("refuses a change of type with 422 on field type, and accepts the step's own type", async () => {
    const c = await setup();
    const id = await addStep(c, "EXIT", {});
    expectField(
      await call("PATCH", `/workflows/${c.wfId}/steps/${id}`, {
        key: c.sk,
        body: { type: "DELAY", name: "X" },
      }),
      "type",
    );
    expectField(
      await call("PATCH", `/workflows/${c.wfId}/steps/${id}`, {
        key: c.sk,
        body: { type: "DELAY", config: { amount: 1, unit: "days" } },
      }),
      "type",
    );
    expectField(
      await call("PATCH", `/workflows/${c.wfId}/steps/${id}`, {
        key: c.sk,
        body: { type: "SMS", name: "X" },
      }),
      "type",
    );
    const same = await call("PATCH", `/workflows/${c.wfId}/steps/${id}`, {
      key: c.sk,
      body: { type: "EXIT", name: "Leave" },
    });
    expect(same.status).toBe(200);
    expect((await getWorkflow(c)).steps.find((s: any) => s.id === id)).toEqual({
      id,
      key: null,
      type: "EXIT",
      name: "Leave",
      config: {},
    });
  });

  it("refuses a TRIGGER config with 422 on field config", async () => {
    const c = await setup();
    for (const config of [{ eventName: "other" }, { eventName: "signup" }, {}]) {
      expectField(
        await call("PATCH", `/workflows/${c.wfId}/steps/${c.trigger}`, { key: c.sk, body: { config } }),
        "config",
      );
    }
    const wf = await getWorkflow(c);
    expect(wf.steps[0].config).toEqual({ eventName: "signup" });
    expect(wf.eventName).toBe("signup");
  });

  it("refuses an empty patch or bad name with 422", async () => {
    const c = await setup();
    const id = await addStep(c, "EXIT", {}, "Bye");
    expectEnvelope(
      await call("PATCH", `/workflows/${c.wfId}/steps/${id}`, { key: c.sk, body: {} }),
      422,
      "VALIDATION_ERROR",
    );
    expectField(
      await call("PATCH", `/workflows/${c.wfId}/steps/${id}`, { key: c.sk, body: { name: "" } }),
      "name",
    );
    expectEnvelope(
      await call("PATCH", `/workflows/${c.wfId}/steps/${id}`, { key: c.sk, body: { name: "X", extra: 1 } }),
      422,
      "VALIDATION_ERROR",
    );
    expect((await getWorkflow(c)).steps.find((s: any) => s.id === id).name).toBe("Bye");
  });

  it("answers 404 STEP_NOT_FOUND for an unknown step or a step of another workflow", async () => {
    const c = await setup();
    const other = await newWorkflow(c.p);
    const otherStep = await addStep(other, "EXIT", {}, "Theirs");
    for (const id of ["stp_nope", otherStep, other.trigger]) {
      expectEnvelope(
        await call("PATCH", `/workflows/${c.wfId}/steps/${id}`, { key: c.sk, body: { name: "Hijack" } }),
        404,
        "STEP_NOT_FOUND",
      );
    }
    expect((await getWorkflow(other)).steps.find((s: any) => s.id === otherStep).name).toBe("Theirs");
  });
});

describe("DELETE /workflows/:id/steps/:stepId", () => {
  it("answers 204 and removes the step with its transitions in and out, keeping the rest", async () => {
    const c = await setup();
    const a = await addStep(c, "DELAY", { amount: 1, unit: "hours" }, "A");
    const b = await addStep(c, "SEND_EMAIL", { templateId: "tpl_x" }, "B");
    const d = await addStep(c, "EXIT", {}, "D");
    const tIn = await link(c, c.trigger, a);
    const tOut = await link(c, a, b);
    const tKeep = await link(c, b, d);
    expect(tIn && tOut).toBeTruthy();
    const res = await call("DELETE", `/workflows/${c.wfId}/steps/${a}`, { key: c.sk });
    expect(res.status).toBe(204);
    const wf = await getWorkflow(c);
    expect(wf.steps.map((s: any) => s.id).sort()).toEqual([c.trigger, b, d].sort());
    expect(wf.transitions).toEqual([{ id: tKeep, fromStepId: b, toStepId: d, branch: null }]);
    // The trigger's way on is free again.
    expect((await postTransition(c, c.trigger, b)).status).toBe(201);
    expectEnvelope(
      await call("DELETE", `/workflows/${c.wfId}/steps/${a}`, { key: c.sk }),
      404,
      "STEP_NOT_FOUND",
    );
  });

  it("refuses to delete the TRIGGER with 422", async () => {
    const c = await setup();
    const a = await addStep(c, "EXIT", {});
    await link(c, c.trigger, a);
    expectEnvelope(
      await call("DELETE", `/workflows/${c.wfId}/steps/${c.trigger}`, { key: c.sk }),
      422,
      "VALIDATION_ERROR",
    );
    const wf = await getWorkflow(c);
    expect(wf.steps.map((s: any) => s.type).sort()).toEqual(["EXIT", "TRIGGER"]);
    expect(wf.transitions).toHaveLength(1);
  });

  it("answers 404 STEP_NOT_FOUND for a step of another workflow, and leaves it", async () => {
    const c = await setup();
    const other = await newWorkflow(c.p);
    const theirs = await addStep(other, "EXIT", {});
    expectEnvelope(
      await call("DELETE", `/workflows/${c.wfId}/steps/${theirs}`, { key: c.sk }),
      404,
      "STEP_NOT_FOUND",
    );
    expect((await getWorkflow(other)).steps).toHaveLength(2);
  });
});

describe("POST /workflows/:id/transitions", () => {
  it("links steps with 201: the unnamed way on, CONDITION yes/no, WAIT_FOR_EVENT event/timeout", async () => {
    const c = await setup();
    const wait = await addStep(c, "WAIT_FOR_EVENT", { eventName: "purchase", timeout: 86_400 });
    const cond = await addStep(c, "CONDITION", { field: "event.total", operator: "greaterThan", value: 100 });
    const nudge = await addStep(c, "SEND_EMAIL", { templateId: "tpl_x" });
    const vip = await addStep(c, "UPDATE_CONTACT", { data: { vip: true } });
    const exit = await addStep(c, "EXIT", {});

    const first = await postTransition(c, c.trigger, wait);
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ id: first.body.id, fromStepId: c.trigger, toStepId: wait, branch: null });
    expect(first.body.id).toMatch(/^trn_/);
    const made = [first.body];
    for (const [from, to, branch] of [
      [wait, cond, "event"],
      [wait, nudge, "timeout"],
      [cond, vip, "yes"],
      [cond, exit, "no"],
      [vip, exit, null],
    ] as [string, string, string | null][]) {
      const res = await postTransition(c, from, to, branch);
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ fromStepId: from, toStepId: to, branch });
      made.push(res.body);
    }
    const wf = await getWorkflow(c);
    expect(wf.transitions).toHaveLength(made.length);
    expect(wf.transitions).toEqual(expect.arrayContaining(made));
  });

  it("refuses a self-loop with 422 on toStepId", async () => {
    const c = await setup();
    const a = await addStep(c, "DELAY", { amount: 1, unit: "hours" });
    expectField(await postTransition(c, a, a), "toStepId");
    expectField(await postTransition(c, c.trigger, c.trigger), "toStepId");
    expect((await getWorkflow(c)).transitions).toEqual([]);
  });

  it("refuses a cycle with 422 on toStepId", async () => {
    const c = await setup();
    const a = await addStep(c, "DELAY", { amount: 1, unit: "hours" }, "a");
    const b = await addStep(c, "WEBHOOK", { url: "https://example.com" }, "b");
    const cc = await addStep(c, "CONDITION", { field: "event.x", operator: "exists" }, "c");
    await link(c, a, b);
    await link(c, b, cc);
    expectField(await postTransition(c, cc, a, "yes"), "toStepId");
    expectField(await postTransition(c, cc, b, "no"), "toStepId");
    expectField(await postTransition(c, b, a), "branch"); // b already has its one way on
    const wf = await getWorkflow(c);
    expect(wf.transitions).toHaveLength(2);
    // A way forward from c is still fine.
    const exit = await addStep(c, "EXIT", {});
    expect((await postTransition(c, cc, exit, "yes")).status).toBe(201);
  });

  it("refuses a transition out of EXIT with 422 on fromStepId", async () => {
    const c = await setup();
    const exit = await addStep(c, "EXIT", {});
    const a = await addStep(c, "SEND_EMAIL", { templateId: "tpl_x" });
    expectField(await postTransition(c, exit, a), "fromStepId");
    expectField(await postTransition(c, exit, a, "yes"), "fromStepId");
    expect((await getWorkflow(c)).transitions).toEqual([]);
  });

  it("refuses a transition into the TRIGGER with 422 on toStepId", async () => {
    const c = await setup();
    const a = await addStep(c, "SEND_EMAIL", { templateId: "tpl_x" });
    const cond = await addStep(c, "CONDITION", { field: "event.x", operator: "exists" });
    expectField(await postTransition(c, a, c.trigger), "toStepId");
    expectField(await postTransition(c, cond, c.trigger, "no"), "toStepId");
    expect((await getWorkflow(c)).transitions).toEqual([]);
  });

  it("refuses two transitions from one step on one branch with 422 on branch", async () => {
    const c = await setup();
    const a = await addStep(c, "SEND_EMAIL", { templateId: "tpl_x" });
    const b = await addStep(c, "SEND_EMAIL", { templateId: "tpl_x" });
    const cond = await addStep(c, "CONDITION", { field: "event.x", operator: "exists" });
    const wait = await addStep(c, "WAIT_FOR_EVENT", { eventName: "e" });
    await link(c, c.trigger, a);
    expectField(await postTransition(c, c.trigger, b), "branch");
    expectField(await postTransition(c, c.trigger, a), "branch");
    expectField(await postTransition(c, c.trigger, b, null), "branch");
    await link(c, cond, a, "yes");
    expectField(await postTransition(c, cond, b, "yes"), "branch");
    await link(c, cond, b, "no");
    await link(c, wait, a, "timeout");
    expectField(await postTransition(c, wait, b, "timeout"), "branch");
    await link(c, wait, b, "event");
    expectField(await postTransition(c, wait, a, "event"), "branch");
    expect((await getWorkflow(c)).transitions).toHaveLength(5);
  });

  it("refuses a branch that the step type does not have with 422 on branch", async () => {
    const c = await setup();
    const delay = await addStep(c, "DELAY", { amount: 1, unit: "hours" });
    const cond = await addStep(c, "CONDITION", { field: "event.x", operator: "exists" });
    const wait = await addStep(c, "WAIT_FOR_EVENT", { eventName: "e" });
    const mail = await addStep(c, "SEND_EMAIL", { templateId: "tpl_x" });
    const cases: [string, string | null | undefined][] = [
      [delay, "yes"],
      [delay, "timeout"],
      [c.trigger, "event"],
      [mail, "no"],
      [cond, undefined],
      [cond, null],
      [cond, "event"],
      [cond, "timeout"],
      [wait, undefined],
      [wait, "yes"],
      [wait, "no"],
    ];
    for (const [from, branch] of cases)
      expectField(await postTransition(c, from, mail === from ? delay : mail, branch), "branch");
    for (const branch of ["maybe", "YES", "", 1]) {
      expectField(
        await call("POST", `/workflows/${c.wfId}/transitions`, {
          key: c.sk,
          body: { fromStepId: cond, toStepId: mail, branch },
        }),
        "branch",
      );
    }
    expect((await getWorkflow(c)).transitions).toEqual([]);
  });

  it("refuses unknown steps and steps of another workflow with 422 on the step field", async () => {
    const c = await setup();
    const a = await addStep(c, "SEND_EMAIL", { templateId: "tpl_x" });
    const other = await newWorkflow(c.p);
    const theirs = await addStep(other, "SEND_EMAIL", { templateId: "tpl_x" });
    const stranger = await setup();
    const strangers = await addStep(stranger, "EXIT", {});
    expectField(await postTransition(c, "stp_nope", a), "fromStepId");
    expectField(await postTransition(c, a, "stp_nope"), "toStepId");
    expectField(await postTransition(c, theirs, a), "fromStepId");
    expectField(await postTransition(c, c.trigger, theirs), "toStepId");
    expectField(await postTransition(c, other.trigger, a), "fromStepId");
    expectField(await postTransition(c, c.trigger, strangers), "toStepId");
    expectField(await postTransition(c, strangers, a), "fromStepId");
    expect((await getWorkflow(c)).transitions).toEqual([]);
    expect((await getWorkflow(other)).transitions).toEqual([]);
    expect((await getWorkflow(stranger)).transitions).toEqual([]);
  });

  it("refuses bad bodies with 422", async () => {
    const c = await setup();
    const a = await addStep(c, "EXIT", {});
    const cases: [unknown, string][] = [
      [{ toStepId: a }, "fromStepId"],
      [{ fromStepId: c.trigger }, "toStepId"],
      [{ fromStepId: 1, toStepId: a }, "fromStepId"],
      [{ fromStepId: c.trigger, toStepId: "" }, "toStepId"],
    ];
    for (const [body, field] of cases) {
      expectField(await call("POST", `/workflows/${c.wfId}/transitions`, { key: c.sk, body }), field);
    }
    expectEnvelope(
      await call("POST", `/workflows/${c.wfId}/transitions`, {
        key: c.sk,
        body: { fromStepId: c.trigger, toStepId: a, weight: 1 },
      }),
      422,
      "VALIDATION_ERROR",
    );
    expect((await getWorkflow(c)).transitions).toEqual([]);
  });

  it("keeps exactly one of 20 concurrent transitions from one step on one branch", async () => {
    const c = await setup();
    const a = await addStep(c, "SEND_EMAIL", { templateId: "tpl_x" });
    const results = await Promise.all(Array.from({ length: 20 }, () => postTransition(c, c.trigger, a)));
    const created = results.filter((r) => r.status === 201);
    expect(created).toHaveLength(1);
    for (const r of results) if (r.status !== 201) expectField(r, "branch");
    const wf = await getWorkflow(c);
    expect(wf.transitions).toEqual([created[0]?.body]);
  });

  it("keeps exactly one of 20 concurrent transitions from a CONDITION on one branch to different steps", async () => {
    const c = await setup();
    const cond = await addStep(c, "CONDITION", { field: "event.x", operator: "exists" });
    const targets: string[] = [];
    for (let i = 0; i < 20; i++) targets.push(await addStep(c, "EXIT", {}, `exit ${i}`));
    const results = await Promise.all(targets.map((t) => postTransition(c, cond, t, "yes")));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of results) if (r.status !== 201) expectField(r, "branch");
    const wf = await getWorkflow(c);
    expect(wf.transitions).toHaveLength(1);
    expect(wf.transitions[0]).toMatchObject({ fromStepId: cond, branch: "yes" });
  });
});

describe("concurrent graph changes", () => {
  it("never lets two concurrent transitions a→b and b→a make a cycle", async () => {
    const c = await setup();
    for (let round = 0; round < 5; round++) {
      const a = await addStep(c, "WEBHOOK", { url: "https://example.com/a" }, `a${round}`);
      const b = await addStep(c, "UPDATE_CONTACT", { data: { round } }, `b${round}`);
      const [ab, ba] = await Promise.all([postTransition(c, a, b), postTransition(c, b, a)]);
      expect([ab.status, ba.status].sort()).toEqual([201, 422]);
      expectField(ab.status === 422 ? ab : ba, "toStepId");
      const wf = await getWorkflow(c);
      const between = wf.transitions.filter((t: any) => [a, b].includes(t.fromStepId));
      expect(between).toHaveLength(1);
      expect(between[0]).toEqual(ab.status === 201 ? ab.body : ba.body);
    }
  });

  it("never leaves a transition to a step deleted at the same time", async () => {
    const c = await setup();
    for (let round = 0; round < 5; round++) {
      const target = await addStep(c, "EXIT", {}, `exit${round}`);
      const [made, deleted] = await Promise.all([
        postTransition(c, c.trigger, target),
        call("DELETE", `/workflows/${c.wfId}/steps/${target}`, { key: c.sk }),
      ]);
      expect(deleted.status).toBe(204);
      if (made.status !== 201) expectField(made, "toStepId");
      const wf = await getWorkflow(c);
      const ids = new Set(wf.steps.map((s: any) => s.id));
      expect(ids.has(target)).toBe(false);
      for (const t of wf.transitions) {
        expect(ids.has(t.fromStepId)).toBe(true);
        expect(ids.has(t.toStepId)).toBe(true);
      }
      expect(wf.transitions).toEqual([]);
    }
  });

  it("answers a PATCH of a step deleted at the same time with 200 or 404, never 500", async () => {
    const c = await setup();
    for (let round = 0; round < 5; round++) {
      const id = await addStep(c, "EXIT", {}, `exit${round}`);
      const [patched, deleted] = await Promise.all([
        call("PATCH", `/workflows/${c.wfId}/steps/${id}`, { key: c.sk, body: { name: "Renamed" } }),
        call("DELETE", `/workflows/${c.wfId}/steps/${id}`, { key: c.sk }),
      ]);
      expect(deleted.status).toBe(204);
      if (patched.status === 200) expect(patched.body).toMatchObject({ id, name: "Renamed" });
      else expectEnvelope(patched, 404, "STEP_NOT_FOUND");
      expect((await getWorkflow(c)).steps.map((s: any) => s.id)).toEqual([c.trigger]);
    }
  });
});

describe("DELETE /workflows/:id/transitions/:tid", () => {
  it("answers 204, removes the transition, and frees its branch", async () => {
    const c = await setup();
    const a = await addStep(c, "SEND_EMAIL", { templateId: "tpl_x" });
    const b = await addStep(c, "SEND_EMAIL", { templateId: "tpl_x" });
    const t = await link(c, c.trigger, a);
    const keep = await link(c, a, b);
    const res = await call("DELETE", `/workflows/${c.wfId}/transitions/${t}`, { key: c.sk });
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
    const wf = await getWorkflow(c);
    expect(wf.transitions.map((x: any) => x.id)).toEqual([keep]);
    expect(wf.steps).toHaveLength(3);
    expect((await postTransition(c, c.trigger, b)).status).toBe(201);
    expectEnvelope(
      await call("DELETE", `/workflows/${c.wfId}/transitions/${t}`, { key: c.sk }),
      404,
      "TRANSITION_NOT_FOUND",
    );
  });

  it("answers 404 TRANSITION_NOT_FOUND for a transition of another workflow, and leaves it", async () => {
    const c = await setup();
    const other = await newWorkflow(c.p);
    const theirs = await link(other, other.trigger, await addStep(other, "EXIT", {}));
    expectEnvelope(
      await call("DELETE", `/workflows/${c.wfId}/transitions/${theirs}`, { key: c.sk }),
      404,
      "TRANSITION_NOT_FOUND",
    );
    expect((await getWorkflow(other)).transitions.map((x: any) => x.id)).toEqual([theirs]);
  });
});

describe("the lock", () => {
  it("refuses every change to steps and transitions with 409 WORKFLOW_LOCKED while an execution waits", async () => {
    const c = await setup();
    const spare = await addStep(c, "EXIT", {}, "Spare");
    const { delay } = await waitingExecution(c);
    const before = await getWorkflow(c);
    const [tid] = before.transitions.map((t: any) => t.id);

    const attempts: Call[] = [
      await postStep(c, { type: "EXIT", name: "E", config: {} }),
      await call("PATCH", `/workflows/${c.wfId}/steps/${delay}`, { key: c.sk, body: { name: "Renamed" } }),
      await call("PATCH", `/workflows/${c.wfId}/steps/${delay}`, {
        key: c.sk,
        body: { config: { amount: 1, unit: "seconds" } },
      }),
      await call("PATCH", `/workflows/${c.wfId}/steps/${spare}`, {
        key: c.sk,
        body: { config: { reason: "r" } },
      }),
      await call("DELETE", `/workflows/${c.wfId}/steps/${delay}`, { key: c.sk }),
      await call("DELETE", `/workflows/${c.wfId}/steps/${spare}`, { key: c.sk }),
      await postTransition(c, delay, spare),
      await call("DELETE", `/workflows/${c.wfId}/transitions/${tid}`, { key: c.sk }),
      await call("DELETE", `/workflows/${c.wfId}`, { key: c.sk }),
    ];
    for (const res of attempts) expectEnvelope(res, 409, "WORKFLOW_LOCKED");

    const after = await getWorkflow(c);
    expect(after.steps).toEqual(before.steps);
    expect(after.transitions).toEqual(before.transitions);

    const patch = await call("PATCH", `/workflows/${c.wfId}`, {
      key: c.sk,
      body: { name: "Still editable", description: "yes", enabled: true, allowReentry: true },
    });
    expect(patch.status).toBe(200);
    expect(await getWorkflow(c)).toMatchObject({
      name: "Still editable",
      description: "yes",
      enabled: true,
      allowReentry: true,
    });

    const cancel = await call("POST", `/workflows/${c.wfId}/executions/cancel-all`, { key: c.sk });
    expect(cancel.status).toBe(200);
    expect(cancel.body).toEqual({ cancelled: 1 });
    const exit = await addStep(c, "EXIT", {}, "Now allowed");
    expect((await postTransition(c, delay, spare)).status).toBe(201);
    const renamed = await call("PATCH", `/workflows/${c.wfId}/steps/${delay}`, {
      key: c.sk,
      body: { name: "Renamed" },
    });
    expect(renamed.status).toBe(200);
    expect((await call("DELETE", `/workflows/${c.wfId}/transitions/${tid}`, { key: c.sk })).status).toBe(204);
    expect((await call("DELETE", `/workflows/${c.wfId}/steps/${delay}`, { key: c.sk })).status).toBe(204);
    const final = await getWorkflow(c);
    expect(final.steps.map((s: any) => s.id).sort()).toEqual([c.trigger, spare, exit].sort());
    expect(final.transitions).toEqual([]);
  });

  it("refuses a new transition with 409 WORKFLOW_LOCKED while an execution waits", async () => {
    const c = await setup();
    const wait = await addStep(c, "WAIT_FOR_EVENT", { eventName: "never" });
    const exit = await addStep(c, "EXIT", {});
    await link(c, c.trigger, wait);
    const started = await call("POST", `/workflows/${c.wfId}/executions`, {
      key: c.sk,
      body: { email: uniqueEmail("wait") },
    });
    expect(started.status).toBe(201);
    const ex = await call("GET", `/workflows/${c.wfId}/executions/${started.body.id}`, { key: c.sk });
    expect(ex.body.status).toBe("WAITING");
    expectEnvelope(await postTransition(c, wait, exit, "event"), 409, "WORKFLOW_LOCKED");
    expect((await getWorkflow(c)).transitions).toHaveLength(1);
    expect((await call("POST", `/workflows/${c.wfId}/executions/cancel-all`, { key: c.sk })).body).toEqual({
      cancelled: 1,
    });
    expect((await postTransition(c, wait, exit, "event")).status).toBe(201);
  });
});

describe("another project's workflow", () => {
  it("is 404 WORKFLOW_NOT_FOUND on every /workflows/:id route, shows nothing and changes nothing", async () => {
    const owner = await setup({ name: "Secret flow", description: "classified" });
    const { delay, executionId } = await waitingExecution(owner);
    const before = await getWorkflow(owner);
    const [tid] = before.transitions.map((t: any) => t.id);
    const intruder = await createProject();
    const key = intruder.secretKey;
    const w = owner.wfId;

    const attempts: Call[] = [
      await call("GET", `/workflows/${w}`, { key }),
      await call("PATCH", `/workflows/${w}`, { key, body: { name: "Stolen", enabled: true } }),
      await call("DELETE", `/workflows/${w}`, { key }),
      await call("POST", `/workflows/${w}/steps`, { key, body: { type: "EXIT", name: "E", config: {} } }),
      await call("PATCH", `/workflows/${w}/steps/${delay}`, { key, body: { name: "Stolen" } }),
      await call("DELETE", `/workflows/${w}/steps/${delay}`, { key }),
      await call("POST", `/workflows/${w}/transitions`, {
        key,
        body: { fromStepId: delay, toStepId: owner.trigger },
      }),
      await call("DELETE", `/workflows/${w}/transitions/${tid}`, { key }),
      await call("GET", `/workflows/${w}/executions`, { key }),
      await call("GET", `/workflows/${w}/executions/${executionId}`, { key }),
      await call("POST", `/workflows/${w}/executions`, { key, body: { email: uniqueEmail("intruder") } }),
      await call("DELETE", `/workflows/${w}/executions/${executionId}`, { key }),
      await call("POST", `/workflows/${w}/executions/cancel-all`, { key }),
    ];
    for (const res of attempts) {
      expectEnvelope(res, 404, "WORKFLOW_NOT_FOUND");
      const text = JSON.stringify(res.body);
      for (const secret of ["Secret flow", "classified", "signup", delay, owner.trigger, executionId, tid]) {
        expect(text).not.toContain(secret);
      }
      expect(res.body.data).toBeUndefined();
    }

    const after = await getWorkflow(owner);
    expect(after).toEqual(before);
    const ex = await call("GET", `/workflows/${w}/executions/${executionId}`, { key: owner.sk });
    expect(ex.body.status).toBe("WAITING");
    const list = await call("GET", `/workflows/${w}/executions`, { key: owner.sk });
    expect(list.body.data.map((e: any) => e.id)).toEqual([executionId]);
    expect((await call("GET", "/workflows", { key })).body.data).toEqual([]);
    const intruderRows = await env.DB.prepare("SELECT count(*) AS n FROM executions WHERE project_id = ?1")
      .bind(intruder.id)
      .first<{ n: number }>();
    expect(intruderRows?.n).toBe(0);
    expect((await call("POST", `/workflows/${w}/executions/cancel-all`, { key: owner.sk })).body).toEqual({
      cancelled: 1,
    });
  });

  it("refuses a public key with 403 FORBIDDEN on every /workflows route", async () => {
    const c = await setup();
    const a = await addStep(c, "EXIT", {});
    const tid = await link(c, c.trigger, a);
    const key = c.p.publicKey;
    const w = c.wfId;
    const attempts: Call[] = [
      await call("GET", "/workflows", { key }),
      await call("POST", "/workflows", { key, body: { name: "W", eventName: "e" } }),
      await call("GET", `/workflows/${w}`, { key }),
      await call("PATCH", `/workflows/${w}`, { key, body: { name: "X" } }),
      await call("DELETE", `/workflows/${w}`, { key }),
      await call("POST", `/workflows/${w}/steps`, { key, body: { type: "EXIT", name: "E", config: {} } }),
      await call("PATCH", `/workflows/${w}/steps/${a}`, { key, body: { name: "X" } }),
      await call("DELETE", `/workflows/${w}/steps/${a}`, { key }),
      await call("POST", `/workflows/${w}/transitions`, {
        key,
        body: { fromStepId: a, toStepId: c.trigger },
      }),
      await call("DELETE", `/workflows/${w}/transitions/${tid}`, { key }),
      await call("GET", `/workflows/${w}/executions`, { key }),
      await call("POST", `/workflows/${w}/executions`, { key, body: { email: uniqueEmail() } }),
      await call("POST", `/workflows/${w}/executions/cancel-all`, { key }),
    ];
    for (const res of attempts) {
      expectEnvelope(res, 403, "FORBIDDEN");
      expect(JSON.stringify(res.body)).not.toContain(w);
    }
    const wf = await getWorkflow(c);
    expect(wf.name).toBe("Flow");
    expect(wf.steps).toHaveLength(2);
    expect(wf.transitions.map((t: any) => t.id)).toEqual([tid]);
    expect((await call("GET", "/workflows", { key: c.sk })).body.data).toHaveLength(1);
  });
});

describe("references a step makes", () => {
  it("refuses a SEND_EMAIL whose template is not this project's, with 422 on config.templateId", async () => {
    const c = await setup();
    const other = await setup();
    for (const templateId of ["tpl_missing", other.tpl]) {
      const res = await call("POST", `/workflows/${c.wfId}/steps`, {
        key: c.sk,
        body: { type: "SEND_EMAIL", name: "Mail", config: { templateId } },
      });
      expectField(res, "config.templateId");
    }
  });

  it("refuses a WEBHOOK to a private or loopback address when saved, outside development", async () => {
    const c = await setup();
    for (const url of [
      "http://127.0.0.1/hook",
      "http://localhost:8080/x",
      "http://10.1.2.3/{{ email }}",
      "https://[::1]/x",
      "ftp://example.com/x",
      "http://169.254.169.254/latest/meta-data",
    ]) {
      const res = await call("POST", `/workflows/${c.wfId}/steps`, {
        key: c.sk,
        body: { type: "WEBHOOK", name: "Hook", config: { url } },
      });
      expectField(res, "config.url");
    }
    for (const url of ["https://example.com/hook/{{ id }}", "https://{{ data.host }}/x"]) {
      const res = await call("POST", `/workflows/${c.wfId}/steps`, {
        key: c.sk,
        body: { type: "WEBHOOK", name: "Hook", config: { url } },
      });
      expect(res.status).toBe(201);
    }
  });
});
