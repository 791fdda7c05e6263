import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createProject, expectEnvelope, type TestProject } from "./helpers";

const def = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  name: "Pro onboarding",
  eventName: "signup",
  enabled: true,
  allowReentry: false,
  steps: {
    is_pro: {
      type: "CONDITION",
      name: "Pro?",
      config: { field: "event.plan", operator: "equals", value: "pro" },
    },
    crm: { type: "WEBHOOK", config: { url: "https://crm.example.com/hooks/{{ id }}", method: "POST" } },
    wait: { type: "DELAY", name: "Three days", config: { amount: 3, unit: "days" } },
  },
  transitions: [
    { from: "trigger", to: "is_pro" },
    { from: "is_pro", to: "crm", branch: "yes" },
    { from: "crm", to: "wait" },
  ],
  ...extra,
});

const put = (p: TestProject, id: string, body: unknown) =>
  call("PUT", `/workflows/${id}/definition`, { key: p.secretKey, body });

describe("PUT /workflows/:id/definition", () => {
  it("creates a workflow from one definition (201), and GET gives the same definition back", async () => {
    const p = await createProject();
    const id = `wf_pro_${crypto.randomUUID().slice(0, 8)}`;
    const res = await put(p, id, def(id));
    expect(res.status).toBe(201);
    expect(res.body).toEqual(def(id));
    expect((await call("GET", `/workflows/${id}/definition`, { key: p.secretKey })).body).toEqual(def(id));
    const wf = await call("GET", `/workflows/${id}`, { key: p.secretKey });
    expect(wf.body.steps.map((s: any) => s.type)).toEqual(["TRIGGER", "CONDITION", "WEBHOOK", "DELAY"]);
    expect(wf.body.transitions).toHaveLength(3);
  });

  it("replaces steps and transitions on a second PUT (200), keeping step ids for the same keys", async () => {
    const p = await createProject();
    const id = `wf_re_${crypto.randomUUID().slice(0, 8)}`;
    const first = await call("GET", `/workflows/${id}`, { key: p.secretKey });
    expect(first.status).toBe(404);
    await put(p, id, def(id));
    const before = (await call("GET", `/workflows/${id}`, { key: p.secretKey })).body;
    const edited = def(id, {
      steps: { crm: { type: "WEBHOOK", config: { url: "https://crm.example.com/v2", method: "PUT" } } },
      transitions: [{ from: "trigger", to: "crm" }],
    });
    const res = await put(p, id, edited);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(edited);
    const after = (await call("GET", `/workflows/${id}`, { key: p.secretKey })).body;
    const crmId = (w: any) => w.steps.find((s: any) => s.type === "WEBHOOK").id;
    expect(crmId(after)).toBe(crmId(before));
    expect(after.steps[0].id).toBe(before.steps[0].id);
  });

  it("validates the whole file: every problem is listed, and nothing is written", async () => {
    const p = await createProject();
    const id = `wf_bad_${crypto.randomUUID().slice(0, 8)}`;
    const bad = def(id, {
      steps: {
        trigger: { type: "EXIT", config: {} },
        a: { type: "DELAY", config: { amount: 1, unit: "weeks" } },
        b: { type: "WEBHOOK", config: { url: "http://127.0.0.1/x" } },
        c: { type: "SEND_EMAIL", config: { templateId: "tpl_missing" } },
        d: { type: "EXIT", config: {} },
      },
      transitions: [
        { from: "trigger", to: "nowhere" },
        { from: "d", to: "b" },
        { from: "trigger", to: "d", branch: "yes" },
      ],
    });
    const res = await put(p, id, bad);
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    const fields = res.body.error.errors.map((e: any) => e.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        "steps.trigger",
        "steps.a.config.unit",
        "steps.b.config.url",
        "steps.c.config.templateId",
        "transitions.0.to",
        "transitions.1.from",
        "transitions.2.branch",
      ]),
    );
    expect((await call("GET", `/workflows/${id}`, { key: p.secretKey })).status).toBe(404);
  });

  it("names a refused config once: transitions to that step are judged as they are, not as naming no step", async () => {
    const p = await createProject();
    const id = `wf_cfg_${crypto.randomUUID().slice(0, 8)}`;
    const res = await put(
      p,
      id,
      def(id, {
        steps: {
          mail: { type: "SEND_EMAIL", config: {} },
          wait: { type: "DELAY", config: { amount: 0, unit: "days" } },
        },
        transitions: [
          { from: "trigger", to: "mail" },
          { from: "mail", to: "wait" },
          { from: "wait", to: "mail" },
        ],
      }),
    );
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(res.body.error.errors.map((e: any) => e.field).sort()).toEqual([
      "steps.mail.config.templateId",
      "steps.wait.config.amount",
      // The cycle is still found through the refused steps.
      "transitions.2.to",
    ]);
  });

  it("refuses a cycle, an id that is not the path's, and a changed trigger event", async () => {
    const p = await createProject();
    const id = `wf_cy_${crypto.randomUUID().slice(0, 8)}`;
    const cyc = def(id, { transitions: [...def(id).transitions, { from: "wait", to: "is_pro" }] });
    const res = await put(p, id, cyc);
    expect(res.body.error.errors[0]).toMatchObject({ field: "transitions.3.to", code: "cycle" });
    expect((await put(p, id, def("wf_other"))).body.error.errors[0].field).toBe("id");
    await put(p, id, def(id));
    const changed = await put(p, id, def(id, { eventName: "other" }));
    expect(changed.body.error.errors[0].field).toBe("eventName");
  });

  it("is 409 WORKFLOW_LOCKED while an execution waits, and leaves the workflow as it was", async () => {
    const p = await createProject();
    const id = `wf_lk_${crypto.randomUUID().slice(0, 8)}`;
    const locked = def(id, {
      steps: { wait: { type: "DELAY", config: { amount: 1, unit: "days" } } },
      transitions: [{ from: "trigger", to: "wait" }],
    });
    await put(p, id, locked);
    const run = await call("POST", `/workflows/${id}/executions`, {
      key: p.secretKey,
      body: { email: "lock@example.com" },
    });
    expect(run.body.status).toBe("WAITING");
    expectEnvelope(await put(p, id, def(id)), 409, "WORKFLOW_LOCKED");
    expect((await call("GET", `/workflows/${id}/definition`, { key: p.secretKey })).body).toEqual(locked);
  });

  it("another project cannot read or overwrite the workflow", async () => {
    const p = await createProject();
    const other = await createProject();
    const id = `wf_iso_${crypto.randomUUID().slice(0, 8)}`;
    await put(p, id, def(id));
    expectEnvelope(
      await call("GET", `/workflows/${id}/definition`, { key: other.secretKey }),
      404,
      "WORKFLOW_NOT_FOUND",
    );
    const res = await put(other, id, def(id));
    expect(res.status).toBe(422);
    const row = await env.DB.prepare("SELECT project_id FROM workflows WHERE id = ?1")
      .bind(id)
      .first<{ project_id: string }>();
    expect(row?.project_id).toBe(p.id);
  });

  it("two projects creating one new id at once: one of them has it, whole, and the other's write is refused", async () => {
    const [a, b] = [await createProject(), await createProject()];
    const id = `wf_race_${crypto.randomUUID().slice(0, 8)}`;
    const named = (name: string) => ({ ...def(id), name });
    const answers = await Promise.all([
      put(a, id, named("A")),
      put(b, id, named("B")),
      put(a, id, named("A2")),
    ]);
    const row = await env.DB.prepare("SELECT project_id, name FROM workflows WHERE id = ?1")
      .bind(id)
      .first<{ project_id: string; name: string }>();
    const owner = row?.project_id === a.id ? a : b;
    // Every write that succeeded was the owner's; the row holds one of them, with its own steps.
    answers.forEach((res, i) => {
      expect([200, 201, 409, 422]).toContain(res.status);
      if (res.status < 300) expect([a, b, a][i]).toBe(owner);
    });
    expect(
      await env.DB.prepare(
        "SELECT count(*) AS n FROM workflow_steps WHERE workflow_id = ?1 AND project_id != ?2",
      )
        .bind(id, owner.id)
        .first("n"),
    ).toBe(0);
    expect(
      await env.DB.prepare(
        "SELECT count(*) AS n FROM workflow_steps WHERE workflow_id = ?1 AND type = 'TRIGGER'",
      )
        .bind(id)
        .first("n"),
    ).toBe(1);
  });

  it("exports a workflow built step by step, naming its steps by id", async () => {
    const p = await createProject();
    const wf = await call("POST", "/workflows", {
      key: p.secretKey,
      body: { name: "Manual", eventName: "m" },
    });
    const step = await call("POST", `/workflows/${wf.body.id}/steps`, {
      key: p.secretKey,
      body: { type: "EXIT", name: "Bye", config: { reason: "done" } },
    });
    await call("POST", `/workflows/${wf.body.id}/transitions`, {
      key: p.secretKey,
      body: { fromStepId: wf.body.steps[0].id, toStepId: step.body.id },
    });
    const out = await call("GET", `/workflows/${wf.body.id}/definition`, { key: p.secretKey });
    expect(out.body).toEqual({
      id: wf.body.id,
      name: "Manual",
      eventName: "m",
      enabled: false,
      allowReentry: false,
      steps: { [step.body.id]: { type: "EXIT", name: "Bye", config: { reason: "done" } } },
      transitions: [{ from: "trigger", to: step.body.id }],
    });
    // Applying the export again changes nothing: the step made by hand keeps its id (its key is its id).
    expect((await put(p, wf.body.id, out.body)).body).toEqual(out.body);
    const after = await call("GET", `/workflows/${wf.body.id}`, { key: p.secretKey });
    expect(after.body.steps.map((s: any) => s.id)).toEqual([wf.body.steps[0].id, step.body.id]);
  });

  it("keeps the ids of steps whose keys are unchanged, so executions and their logs keep pointing at real steps", async () => {
    const p = await createProject();
    const id = `wf_keep_${crypto.randomUUID().slice(0, 8)}`;
    await put(p, id, def(id));
    const ids = async () =>
      Object.fromEntries(
        (await call("GET", `/workflows/${id}`, { key: p.secretKey })).body.steps.map((s: any) => [
          s.key,
          s.id,
        ]),
      );
    const first = await ids();
    const run = await call("POST", `/workflows/${id}/executions`, {
      key: p.secretKey,
      body: { email: "k@example.com" },
    });
    expect(run.status).toBe(201);
    await call("POST", `/workflows/${id}/executions/cancel-all`, { key: p.secretKey });
    // Renamed steps and a new one; "crm" gone.
    const next = def(id, {
      steps: {
        is_pro: {
          type: "CONDITION",
          name: "Pro plan?",
          config: { field: "event.plan", operator: "equals", value: "pro" },
        },
        wait: { type: "DELAY", name: "Two days", config: { amount: 2, unit: "days" } },
        bye: { type: "EXIT", config: {} },
      },
      transitions: [
        { from: "trigger", to: "is_pro" },
        { from: "is_pro", to: "wait", branch: "yes" },
        { from: "wait", to: "bye" },
      ],
    });
    expect((await put(p, id, next)).status).toBe(200);
    const second = await ids();
    expect(second.trigger).toBe(first.trigger);
    expect(second.is_pro).toBe(first.is_pro);
    expect(second.wait).toBe(first.wait);
    expect(second.crm).toBeUndefined();
    expect(second.bye).toMatch(/^stp_/);
    // The execution's step log names steps that still exist.
    const ex = await call("GET", `/workflows/${id}/executions/${run.body.id}`, { key: p.secretKey });
    const stepIds = new Set(Object.values(second));
    for (const entry of ex.body.steps) expect(stepIds.has(entry.stepId)).toBe(true);
  });
});
