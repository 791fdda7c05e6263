// The multi-branch CONDITION (Plunk's shape): its config's checks, the graph rules on its branch ids, the
// branch an execution takes, and the same branch after a crash.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ExecutionDO } from "../durable-objects/execution";
import { call, captureQueue, createProject, expectEnvelope, uniqueEmail } from "./helpers";
import {
  crashOnceAfter,
  createWorkflow,
  listExecutions,
  onlyExecution,
  runAlarm,
  stubFor,
  track,
} from "./workflow-helpers";

afterEach(() => {
  vi.restoreAllMocks();
});

const hook = (url: string) => ({ type: "WEBHOOK", config: { url } });
const multi = (field: string, branches: Record<string, unknown>[]) => ({
  type: "CONDITION",
  config: { mode: "multi", field, branches },
});
const PLANS = [
  { id: "pro", name: "Pro", operator: "equals", value: "pro" },
  { id: "paid", name: "Any paid", operator: "contains", value: "p" },
  { id: "team", name: "Team", operator: "equals", value: "team" },
];

async function newStep(sk: string, wfId: string, body: unknown) {
  return call("POST", `/workflows/${wfId}/steps`, { key: sk, body });
}

describe("multi-branch CONDITION: config and graph rules", () => {
  it("refuses configs that are not 1 to 20 uniquely named branches, each with a test", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, { eventName: "cfg.check" });
    const bad: [unknown, string, string][] = [
      [{ mode: "multi", field: "event.plan", branches: [] }, "config.branches", "too_small"],
      [
        {
          mode: "multi",
          field: "event.plan",
          branches: Array.from({ length: 21 }, (_, i) => ({
            id: `b${i}`,
            name: `B${i}`,
            operator: "exists",
          })),
        },
        "config.branches",
        "too_big",
      ],
      [
        { mode: "multi", field: "event.plan", branches: [PLANS[0], { ...PLANS[2], id: "pro" }] },
        "config.branches.1.id",
        "custom",
      ],
      [
        { mode: "multi", field: "event.plan", branches: [{ id: "default", name: "D", operator: "exists" }] },
        "config.branches.0.id",
        "custom",
      ],
      [
        { mode: "multi", field: "event.plan", branches: [{ id: "a", name: "A", operator: "equals" }] },
        "config.branches.0.value",
        "custom",
      ],
      [
        { mode: "multi", field: "event.plan", branches: [{ id: "a b", name: "A", operator: "exists" }] },
        "config.branches.0.id",
        "invalid_format",
      ],
      [{ mode: "multi", field: "plan", branches: [PLANS[0]] }, "config.field", "invalid_format"],
      // The two-way form is reported as such.
      [{ field: "event.plan", operator: "nearly", value: 1 }, "config.operator", "invalid_value"],
    ];
    for (const [config, field, code] of bad) {
      const res = await newStep(p.secretKey, wf.id, { type: "CONDITION", name: "c", config });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors, JSON.stringify(config)).toContainEqual(
        expect.objectContaining({ field, code }),
      );
    }
    const ok = await newStep(p.secretKey, wf.id, { name: "Plan", ...multi("event.plan", PLANS) });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.config).toEqual({ mode: "multi", field: "event.plan", branches: PLANS });
  });

  it("takes transitions on its branch ids and default, and no other", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "graph.check",
      steps: {
        cond: multi("event.plan", PLANS),
        a: hook("https://example.com/a"),
        b: hook("https://example.com/b"),
      },
      edges: [["trigger", "cond"]],
    });
    const t = (toStepId: string, branch?: string) =>
      call("POST", `/workflows/${wf.id}/transitions`, {
        key: p.secretKey,
        body: { fromStepId: wf.steps.cond, toStepId, ...(branch === undefined ? {} : { branch }) },
      });
    for (const branch of ["yes", "gold", undefined]) {
      const res = await t(wf.steps.a as string, branch);
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors[0]).toMatchObject({ field: "branch", code: "invalid_branch" });
      expect(res.body.error.errors[0].message).toContain('"pro" or "paid" or "team" or "default"');
    }
    expect((await t(wf.steps.a as string, "pro")).status).toBe(201);
    expect((await t(wf.steps.b as string, "default")).status).toBe(201);
    const again = await t(wf.steps.b as string, "pro");
    expect(again.body.error.errors[0]).toMatchObject({ code: "duplicate_branch" });

    // A config that drops a branch a transition follows is refused, and nothing changes.
    const patch = (config: unknown) =>
      call("PATCH", `/workflows/${wf.id}/steps/${wf.steps.cond}`, { key: p.secretKey, body: { config } });
    const dropped = await patch({ mode: "multi", field: "event.plan", branches: PLANS.slice(1) });
    expectEnvelope(dropped, 422, "VALIDATION_ERROR");
    expect(dropped.body.error.errors[0]).toMatchObject({ field: "config", code: "branch_in_use" });
    expect(dropped.body.error.errors[0].message).toContain('"pro"');
    const twoWay = await patch({ field: "event.plan", operator: "equals", value: "pro" });
    expect(twoWay.body.error.errors[0]).toMatchObject({ code: "branch_in_use" });
    const kept = await call("GET", `/workflows/${wf.id}`, { key: p.secretKey });
    expect(kept.body.steps.find((s: { id: string }) => s.id === wf.steps.cond).config.branches).toEqual(
      PLANS,
    );
    // Renaming a branch and adding one keeps the ids the transitions follow: accepted.
    const renamed = await patch({
      mode: "multi",
      field: "event.plan",
      branches: [
        { ...PLANS[0], name: "Pro plan" },
        ...PLANS.slice(1),
        { id: "free", name: "Free", operator: "notExists" },
      ],
    });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
  });

  it("is written and read back by workflows as code (PUT /workflows/:id/definition)", async () => {
    const p = await createProject();
    const id = `wf_multi_${crypto.randomUUID().slice(0, 8)}`;
    const definition = {
      id,
      name: "Plans",
      eventName: "plan.chosen",
      enabled: true,
      steps: {
        plan: { type: "CONDITION", config: { mode: "multi", field: "event.plan", branches: PLANS } },
        pro: { type: "WEBHOOK", config: { url: "https://example.com/pro" } },
        other: { type: "WEBHOOK", config: { url: "https://example.com/other" } },
      },
      transitions: [
        { from: "trigger", to: "plan" },
        { from: "plan", to: "pro", branch: "pro" },
        { from: "plan", to: "other", branch: "default" },
      ],
    };
    const put = await call("PUT", `/workflows/${id}/definition`, { key: p.secretKey, body: definition });
    expect(put.status, JSON.stringify(put.body)).toBeLessThan(300);
    const got = await call("GET", `/workflows/${id}/definition`, { key: p.secretKey });
    expect(got.body.transitions).toEqual(expect.arrayContaining(definition.transitions.slice(1)));
    const wrong = await call("PUT", `/workflows/${id}/definition`, {
      key: p.secretKey,
      body: {
        ...definition,
        transitions: [...definition.transitions.slice(0, 2), { from: "plan", to: "other", branch: "no" }],
      },
    });
    expectEnvelope(wrong, 422, "VALIDATION_ERROR");
    expect(wrong.body.error.errors[0]).toMatchObject({
      field: "transitions.2.branch",
      code: "invalid_branch",
    });
  });
});

describe("multi-branch CONDITION: executions", () => {
  it("takes the first branch whose test holds, else default", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "plan.route",
      steps: {
        cond: multi("event.plan", PLANS),
        pro: hook("https://example.com/pro"),
        paid: hook("https://example.com/paid"),
        other: hook("https://example.com/other"),
      },
      edges: [
        ["trigger", "cond"],
        ["cond", "pro", "pro"],
        ["cond", "paid", "paid"],
        ["cond", "other", "default"],
      ],
    });
    const cases: [unknown, string][] = [
      ["pro", "pro"], // holds for "pro" and "paid": the first wins
      ["premium", "paid"],
      ["free", "other"],
      ["team", "other"], // "team" has no transition: the execution ends there
    ];
    for (const [plan] of cases) await track(p.publicKey, "plan.route", uniqueEmail(), { plan });
    const byPlan = new Map<unknown, string | undefined>();
    for (const ex of await listExecutions(p.secretKey, wf.id)) {
      const full = await call("GET", `/workflows/${wf.id}/executions/${ex.id}`, { key: p.secretKey });
      const cond = full.body.steps.find((s: { stepId: string }) => s.stepId === wf.steps.cond);
      expect(full.body.status).toBe("COMPLETED");
      byPlan.set(cond.output.actual, cond.output.branch);
    }
    expect(Object.fromEntries(byPlan)).toEqual({
      pro: "pro",
      premium: "paid",
      free: "default",
      team: "team",
    });
    const urls = hooks.sent.map((m) => m.config.url).sort();
    expect(urls).toEqual([
      "https://example.com/other",
      "https://example.com/paid",
      "https://example.com/pro",
    ]);
  });

  it("a retry after a crash goes on from the branch it took, even when the data has changed since", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "tier.check",
      steps: {
        wait: { type: "DELAY", config: { amount: 1, unit: "hours" } },
        cond: multi("contact.data.tier", [
          { id: "gold", name: "Gold", operator: "equals", value: "gold" },
          { id: "silver", name: "Silver", operator: "equals", value: "silver" },
        ]),
        gold: hook("https://example.com/gold"),
        silver: hook("https://example.com/silver"),
      },
      edges: [
        ["trigger", "wait"],
        ["wait", "cond"],
        ["cond", "gold", "gold"],
        ["cond", "silver", "silver"],
      ],
    });
    const t = await track(p.publicKey, "tier.check", uniqueEmail());
    const setTier = (tier: string) =>
      env.DB.prepare("UPDATE contacts SET data = ?2 WHERE id = ?1")
        .bind(t.contact, JSON.stringify({ tier }))
        .run();
    await setTier("gold");
    const [ex] = await listExecutions(p.secretKey, wf.id);
    // The save after the gold WEBHOOK step fails once (the CONDITION's was stored): the alarm throws.
    await crashOnceAfter(wf.steps.gold as string);
    await expect(runAlarm(ex.id)).rejects.toThrow(/injected crash/);
    await setTier("silver");
    // The platform retries the alarm: the CONDITION is not evaluated again.
    await runInDurableObject(stubFor(ex.id), (instance: ExecutionDO) => instance.alarm());
    const done = await onlyExecution(p.secretKey, wf.id);
    expect(done.status).toBe("COMPLETED");
    const visited = done.steps.map((s: { stepId: string }) => s.stepId);
    expect(visited.filter((id: string) => id === wf.steps.cond)).toHaveLength(1);
    expect(visited).toContain(wf.steps.gold);
    expect(visited).not.toContain(wf.steps.silver);
    expect(new Set(hooks.sent.map((m) => m.config.url))).toEqual(new Set(["https://example.com/gold"]));
    // The retried WEBHOOK step sends under the same delivery id: the consumer's claim delivers it once.
    expect(new Set(hooks.sent.map((m) => m.deliveryId)).size).toBe(1);
  });
});
