// Editing as Plunk's editor does: a step put into a transition in one request, and a step deleted by
// splicing it out (its parents lead on to its child) or with its subtree, under the graph rules and the lock.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, captureQueue, createProject, expectEnvelope, type TestProject, uniqueEmail } from "./helpers";
import { createWorkflow, onlyExecution, stepIdsOf, track } from "./workflow-helpers";

afterEach(() => {
  vi.restoreAllMocks();
});

const hook = (url = "https://example.com/hook") => ({ type: "WEBHOOK", config: { url } });
const delay = { type: "DELAY", config: { amount: 1, unit: "hours" } };
const cond = { type: "CONDITION", config: { field: "event.plan", operator: "equals", value: "pro" } };

async function graph(p: TestProject, wfId: string) {
  const res = await call("GET", `/workflows/${wfId}`, { key: p.secretKey });
  expect(res.status).toBe(200);
  const steps = res.body.steps as { id: string; type: string; name: string }[];
  const edges = (res.body.transitions as { fromStepId: string; toStepId: string; branch: string | null }[])
    .map((t) => `${t.fromStepId}>${t.toStepId}:${t.branch ?? ""}`)
    .sort();
  return { steps, edges, ids: steps.map((s) => s.id).sort() };
}
const edge = (from: string, to: string, branch = "") => `${from}>${to}:${branch}`;

async function transitionId(p: TestProject, wfId: string, from: string, to: string) {
  const res = await call("GET", `/workflows/${wfId}`, { key: p.secretKey });
  return res.body.transitions.find((t: any) => t.fromStepId === from && t.toStepId === to).id as string;
}

describe("POST /workflows/:id/transitions/:tid/insert-step", () => {
  it("puts a step between the transition's ends, in one request", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "ins.one",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const tid = await transitionId(p, wf.id, wf.steps.trigger as string, wf.steps.hook as string);
    const res = await call("POST", `/workflows/${wf.id}/transitions/${tid}/insert-step`, {
      key: p.secretKey,
      body: { name: "Wait", ...delay },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const s = res.body.step.id as string;
    expect(res.body.step).toMatchObject({ type: "DELAY", name: "Wait", config: delay.config });
    expect(res.body.transitions).toHaveLength(2);
    const g = await graph(p, wf.id);
    expect(g.edges).toEqual([edge(wf.steps.trigger as string, s), edge(s, wf.steps.hook as string)].sort());

    // A CONDITION goes on to the old target by the branch given (its first, yes, when left out).
    const tid2 = await transitionId(p, wf.id, s, wf.steps.hook as string);
    const c = await call("POST", `/workflows/${wf.id}/transitions/${tid2}/insert-step`, {
      key: p.secretKey,
      body: { name: "Pro?", ...cond, branch: "no" },
    });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const g2 = await graph(p, wf.id);
    expect(g2.edges).toContain(edge(c.body.step.id, wf.steps.hook as string, "no"));
    expect(g2.edges).toContain(edge(s, c.body.step.id));
  });

  it("an execution runs through the step put in", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "ins.run",
      steps: { last: hook("https://example.com/last") },
      edges: [["trigger", "last"]],
    });
    const tid = await transitionId(p, wf.id, wf.steps.trigger as string, wf.steps.last as string);
    const res = await call("POST", `/workflows/${wf.id}/transitions/${tid}/insert-step`, {
      key: p.secretKey,
      body: { name: "First", ...hook("https://example.com/first") },
    });
    expect(res.status).toBe(201);
    await track(p.publicKey, "ins.run", uniqueEmail());
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, res.body.step.id, wf.steps.last]);
    expect(hooks.sent.map((m) => m.config.url)).toEqual([
      "https://example.com/first",
      "https://example.com/last",
    ]);
  });

  it("refuses an EXIT, a branch the step lacks, an unknown template or transition, and a locked workflow", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "ins.bad",
      steps: { wait: delay, hook: hook() },
      edges: [
        ["trigger", "wait"],
        ["wait", "hook"],
      ],
    });
    const tid = await transitionId(p, wf.id, wf.steps.wait as string, wf.steps.hook as string);
    const insert = (body: unknown, t = tid) =>
      call("POST", `/workflows/${wf.id}/transitions/${t}/insert-step`, { key: p.secretKey, body });
    const before = await graph(p, wf.id);
    const exit = await insert({ type: "EXIT", name: "Out", config: {} });
    expectEnvelope(exit, 422, "VALIDATION_ERROR");
    expect(exit.body.error.errors[0]).toMatchObject({ field: "type", code: "after_exit" });
    const branch = await insert({ ...cond, name: "c", branch: "event" });
    expect(branch.body.error.errors[0]).toMatchObject({ field: "branch", code: "invalid_branch" });
    const email = await insert({ type: "SEND_EMAIL", name: "m", config: { templateId: "tpl_nope" } });
    expect(email.body.error.errors[0]).toMatchObject({ code: "unknown_template" });
    const config = await insert({ type: "DELAY", name: "d", config: { amount: 0, unit: "hours" } });
    expect(config.body.error.errors[0]).toMatchObject({ field: "config.amount" });
    expectEnvelope(await insert({ name: "d", ...delay }, "trn_nope"), 404, "TRANSITION_NOT_FOUND");
    expect(await graph(p, wf.id)).toEqual(before);

    await call("PATCH", `/workflows/${wf.id}`, { key: p.secretKey, body: { enabled: true } });
    await track(p.publicKey, "ins.bad", uniqueEmail());
    expectEnvelope(await insert({ name: "d", ...delay }), 409, "WORKFLOW_LOCKED");
    expect(await graph(p, wf.id)).toEqual(before);
  });

  it("two inserts racing on one transition: one lands, the other finds it gone; the graph stays whole", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "ins.race",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const tid = await transitionId(p, wf.id, wf.steps.trigger as string, wf.steps.hook as string);
    const results = await Promise.all(
      [1, 2].map((i) =>
        call("POST", `/workflows/${wf.id}/transitions/${tid}/insert-step`, {
          key: p.secretKey,
          body: { name: `Wait ${i}`, ...delay },
        }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 404]);
    const g = await graph(p, wf.id);
    expect(g.steps).toHaveLength(3);
    const added = (results.find((r) => r.status === 201) as { body: any }).body.step.id;
    expect(g.edges).toEqual(
      [edge(wf.steps.trigger as string, added), edge(added, wf.steps.hook as string)].sort(),
    );
  });
});

describe("DELETE /workflows/:id/steps/:stepId?mode=splice|cascade", () => {
  async function branchy(p: TestProject) {
    // trigger → cond; cond -yes→ a → join; cond -no→ b → join
    const eventName = `del.${crypto.randomUUID().slice(0, 6)}`;
    const wf = await createWorkflow(p.secretKey, {
      eventName,
      steps: { cond, a: delay, b: delay, join: hook() },
      edges: [
        ["trigger", "cond"],
        ["cond", "a", "yes"],
        ["cond", "b", "no"],
        ["a", "join"],
        ["b", "join"],
      ],
    });
    return { ...wf, eventName };
  }
  const del = (p: TestProject, wfId: string, stepId: string, mode?: string) =>
    call("DELETE", `/workflows/${wfId}/steps/${stepId}${mode ? `?mode=${mode}` : ""}`, { key: p.secretKey });

  it("splice: the step's parents lead on, on their own branches, to its child", async () => {
    const p = await createProject();
    const wf = await branchy(p);
    const s = wf.steps as Record<string, string>;
    expect((await del(p, wf.id, s.a as string, "splice")).status).toBe(204);
    const g = await graph(p, wf.id);
    expect(g.ids).not.toContain(s.a);
    expect(g.edges).toContain(edge(s.cond as string, s.join as string, "yes"));
    expect(g.edges).toHaveLength(4);
    // A step with no way on: spliced out, its parent's branch is free.
    expect((await del(p, wf.id, s.join as string, "splice")).status).toBe(204);
    expect((await graph(p, wf.id)).edges).toEqual(
      [edge(s.trigger as string, s.cond as string), edge(s.cond as string, s.b as string, "no")].sort(),
    );
  });

  it("splice refuses a step with two ways on, and changes nothing", async () => {
    const p = await createProject();
    const wf = await branchy(p);
    const before = await graph(p, wf.id);
    const res = await del(p, wf.id, wf.steps.cond as string, "splice");
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    expect(res.body.error.errors[0]).toMatchObject({ field: "mode", code: "splice_ambiguous" });
    expect(await graph(p, wf.id)).toEqual(before);
  });

  it("cascade: the step and the steps below it that nothing else leads to", async () => {
    const p = await createProject();
    const wf = await branchy(p);
    const s = wf.steps as Record<string, string>;
    // join is still reached through b: only a goes.
    expect((await del(p, wf.id, s.a as string, "cascade")).status).toBe(204);
    expect((await graph(p, wf.id)).ids).toEqual([s.trigger, s.cond, s.b, s.join].sort());
    // The condition with what is below it: only the trigger is left.
    expect((await del(p, wf.id, s.cond as string, "cascade")).status).toBe(204);
    const g = await graph(p, wf.id);
    expect(g.ids).toEqual([s.trigger]);
    expect(g.edges).toEqual([]);
  });

  it("detach (the default) leaves what is below; a bad mode, the trigger and a locked workflow are refused", async () => {
    const p = await createProject();
    const wf = await branchy(p);
    const s = wf.steps as Record<string, string>;
    expectEnvelope(await del(p, wf.id, s.a as string, "prune"), 422, "VALIDATION_ERROR");
    expectEnvelope(await del(p, wf.id, s.trigger as string, "cascade"), 422, "VALIDATION_ERROR");
    expect((await del(p, wf.id, s.b as string)).status).toBe(204);
    const g = await graph(p, wf.id);
    expect(g.ids).toEqual([s.trigger, s.cond, s.a, s.join].sort());
    expect(g.edges).not.toContain(edge(s.cond as string, s.b as string, "no"));

    await call("PATCH", `/workflows/${wf.id}`, { key: p.secretKey, body: { enabled: true } });
    await track(p.publicKey, wf.eventName, uniqueEmail(), { plan: "pro" });
    expectEnvelope(await del(p, wf.id, s.a as string, "cascade"), 409, "WORKFLOW_LOCKED");
    expect((await graph(p, wf.id)).ids).toEqual(g.ids);
  });
});

describe("POST /workflows/:id/duplicate", () => {
  it("copies steps and transitions under new ids, disabled, and the copy runs once enabled", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "dup.me",
      allowReentry: true,
      steps: {
        plan: {
          type: "CONDITION",
          config: {
            mode: "multi",
            field: "event.plan",
            branches: [{ id: "pro", name: "Pro", operator: "equals", value: "pro" }],
          },
        },
        hook: hook("https://example.com/dup"),
      },
      edges: [
        ["trigger", "plan"],
        ["plan", "hook", "pro"],
      ],
    });
    const res = await call("POST", `/workflows/${wf.id}/duplicate`, { key: p.secretKey });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const copy = res.body;
    expect(copy).toMatchObject({
      name: `WF dup.me (copy)`,
      eventName: "dup.me",
      enabled: false,
      allowReentry: true,
    });
    expect(copy.id).not.toBe(wf.id);
    const original = await graph(p, wf.id);
    const copied = await graph(p, copy.id);
    // In the original's order (the TRIGGER first), under new ids.
    expect(copied.steps.map((s) => s.type)).toEqual(original.steps.map((s) => s.type));
    expect(copy.steps.map((s: { type: string }) => s.type)).toEqual(original.steps.map((s) => s.type));
    expect(copied.ids.some((id) => original.ids.includes(id))).toBe(false);
    // The same shape: each transition maps to one between the copies of its steps.
    const typeOf = (g: typeof original) => new Map(g.steps.map((s) => [s.id, s.type]));
    const shape = (g: typeof original) =>
      g.edges.map((e) => {
        const [from, rest] = e.split(">") as [string, string];
        const [to, branch] = rest.split(":") as [string, string];
        return `${typeOf(g).get(from)}>${typeOf(g).get(to)}:${branch}`;
      });
    expect(shape(copied).sort()).toEqual(shape(original).sort());

    // Disabled: the event starts the original only; enabled, both.
    await track(p.publicKey, "dup.me", uniqueEmail(), { plan: "pro" });
    expect(hooks.sent).toHaveLength(1);
    await call("PATCH", `/workflows/${copy.id}`, { key: p.secretKey, body: { enabled: true } });
    await track(p.publicKey, "dup.me", uniqueEmail(), { plan: "pro" });
    expect(hooks.sent).toHaveLength(3);
    expect((await onlyExecution(p.secretKey, copy.id)).status).toBe("COMPLETED");
  });

  it("takes a name; refuses a bad body, and another project's or an unknown workflow", async () => {
    const p = await createProject();
    const other = await createProject();
    const wf = await createWorkflow(p.secretKey, { eventName: "dup.named" });
    const named = await call("POST", `/workflows/${wf.id}/duplicate`, {
      key: p.secretKey,
      body: { name: "Second" },
    });
    expect(named.status).toBe(201);
    expect(named.body.name).toBe("Second");
    expectEnvelope(
      await call("POST", `/workflows/${wf.id}/duplicate`, { key: p.secretKey, body: { name: "" } }),
      422,
      "VALIDATION_ERROR",
    );
    expectEnvelope(
      await call("POST", `/workflows/${wf.id}/duplicate`, { key: p.secretKey, body: { enabled: true } }),
      422,
      "VALIDATION_ERROR",
    );
    expectEnvelope(
      await call("POST", `/workflows/${wf.id}/duplicate`, { key: other.secretKey }),
      404,
      "WORKFLOW_NOT_FOUND",
    );
    expectEnvelope(
      await call("POST", "/workflows/wf_nope/duplicate", { key: p.secretKey }),
      404,
      "WORKFLOW_NOT_FOUND",
    );
  });
});
