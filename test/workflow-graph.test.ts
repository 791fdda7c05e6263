/** Pure unit tests of the graph rules (graph.ts) and the step configs (config.ts). */
import { describe, expect, it } from "vitest";
import {
  BRANCHES,
  conditionConfig,
  configByType,
  DELAY_UNITS,
  delayConfig,
  delayMs,
  FIELD_PATH,
  MAX_DELAY_MS,
  newStepBody,
  OPERATORS,
  patchStepBody,
  STEP_TYPES,
  updateContactConfig,
  waitForEventConfig,
  webhookConfig,
} from "../src/domain/workflow/config";
import {
  type GraphStep,
  type GraphTransition,
  nextStepId,
  transitionProblem,
} from "../src/domain/workflow/graph";

const steps: GraphStep[] = [
  { id: "t", type: "TRIGGER" },
  { id: "mail", type: "SEND_EMAIL" },
  { id: "delay", type: "DELAY" },
  { id: "wait", type: "WAIT_FOR_EVENT" },
  { id: "cond", type: "CONDITION" },
  { id: "hook", type: "WEBHOOK" },
  { id: "upd", type: "UPDATE_CONTACT" },
  { id: "exit", type: "EXIT" },
];
const tr = (fromStepId: string, toStepId: string, branch: string | null = null): GraphTransition => ({
  fromStepId,
  toStepId,
  branch,
});
const problem = (transitions: GraphTransition[], t: GraphTransition) =>
  transitionProblem(steps, transitions, t);

describe("transitionProblem", () => {
  it("accepts the unnamed way on from every one-way type", () => {
    for (const from of ["t", "mail", "delay", "hook", "upd"])
      expect(problem([], tr(from, "exit"))).toBeNull();
  });

  it("accepts yes/no from a CONDITION and event/timeout from a WAIT_FOR_EVENT", () => {
    expect(problem([], tr("cond", "mail", "yes"))).toBeNull();
    expect(problem([tr("cond", "mail", "yes")], tr("cond", "exit", "no"))).toBeNull();
    expect(problem([], tr("wait", "mail", "event"))).toBeNull();
    expect(problem([tr("wait", "mail", "event")], tr("wait", "exit", "timeout"))).toBeNull();
    // Two branches may lead to the same step.
    expect(problem([tr("cond", "mail", "yes")], tr("cond", "mail", "no"))).toBeNull();
  });

  it("names an unknown step on its field", () => {
    expect(problem([], tr("nope", "exit"))).toMatchObject({ field: "fromStepId", code: "unknown_step" });
    expect(problem([], tr("mail", "nope"))).toMatchObject({ field: "toStepId", code: "unknown_step" });
  });

  it("refuses a self-loop", () => {
    expect(problem([], tr("mail", "mail"))).toMatchObject({ field: "toStepId", code: "self_loop" });
    expect(problem([], tr("cond", "cond", "yes"))).toMatchObject({ field: "toStepId", code: "self_loop" });
  });

  it("refuses a transition into the trigger", () => {
    expect(problem([], tr("mail", "t"))).toMatchObject({ field: "toStepId", code: "into_trigger" });
  });

  it("refuses a transition out of EXIT, with or without a branch", () => {
    expect(problem([], tr("exit", "mail"))).toMatchObject({ field: "fromStepId", code: "after_exit" });
    expect(problem([], tr("exit", "mail", "yes"))).toMatchObject({ field: "fromStepId", code: "after_exit" });
  });

  it("refuses a branch the type does not have", () => {
    const bad: [string, string | null][] = [
      ["delay", "yes"],
      ["mail", "event"],
      ["t", "no"],
      ["cond", null],
      ["cond", "event"],
      ["cond", "timeout"],
      ["wait", null],
      ["wait", "yes"],
      ["wait", "no"],
    ];
    for (const [from, branch] of bad) {
      expect(problem([], tr(from, "exit", branch))).toMatchObject({
        field: "branch",
        code: "invalid_branch",
      });
    }
  });

  it("refuses a second transition on one branch", () => {
    expect(problem([tr("t", "mail")], tr("t", "hook"))).toMatchObject({
      field: "branch",
      code: "duplicate_branch",
    });
    expect(problem([tr("cond", "mail", "yes")], tr("cond", "hook", "yes"))).toMatchObject({
      field: "branch",
      code: "duplicate_branch",
    });
    // Another step's branch is no obstacle.
    expect(problem([tr("mail", "hook")], tr("t", "hook"))).toBeNull();
  });

  it("refuses a cycle of any length", () => {
    const chain = [tr("mail", "delay"), tr("delay", "hook"), tr("hook", "cond")];
    expect(problem(chain, tr("cond", "mail", "yes"))).toMatchObject({ field: "toStepId", code: "cycle" });
    expect(problem(chain, tr("cond", "hook", "no"))).toMatchObject({ field: "toStepId", code: "cycle" });
    expect(problem([tr("mail", "delay")], tr("delay", "mail"))).toMatchObject({ code: "cycle" });
    // A diamond is not a cycle.
    const diamond = [tr("cond", "mail", "yes"), tr("cond", "hook", "no"), tr("mail", "upd")];
    expect(problem(diamond, tr("hook", "upd"))).toBeNull();
  });
});

describe("nextStepId", () => {
  const ts = [
    tr("t", "cond"),
    tr("cond", "mail", "yes"),
    tr("cond", "exit", "no"),
    tr("wait", "hook", "event"),
  ];
  it("follows the branch, or answers null where the way ends", () => {
    expect(nextStepId(ts, "t", null)).toBe("cond");
    expect(nextStepId(ts, "cond", "yes")).toBe("mail");
    expect(nextStepId(ts, "cond", "no")).toBe("exit");
    expect(nextStepId(ts, "wait", "timeout")).toBeNull();
    expect(nextStepId(ts, "mail", null)).toBeNull();
    expect(nextStepId(ts, "cond", null)).toBeNull();
  });
});

describe("step configs", () => {
  it("has a config schema and a branch list for every type", () => {
    for (const type of STEP_TYPES) {
      expect(configByType[type]).toBeDefined();
      expect(BRANCHES[type]).toBeDefined();
    }
    expect(BRANCHES.EXIT).toEqual([]);
    expect([...BRANCHES.CONDITION].sort()).toEqual(["no", "yes"]);
    expect([...BRANCHES.WAIT_FOR_EVENT].sort()).toEqual(["event", "timeout"]);
  });

  it("bounds a DELAY at 365 days in every unit", () => {
    expect(MAX_DELAY_MS).toBe(365 * 86_400_000);
    const ok = [
      { amount: 365, unit: "days" },
      { amount: 8760, unit: "hours" },
      { amount: 525_600, unit: "minutes" },
      { amount: 31_536_000, unit: "seconds" },
      { amount: 1, unit: "seconds" },
    ];
    for (const c of ok) expect(delayConfig.safeParse(c).success).toBe(true);
    const bad = [
      { amount: 366, unit: "days" },
      { amount: 8761, unit: "hours" },
      { amount: 8785, unit: "hours" },
      { amount: 525_601, unit: "minutes" },
      { amount: 31_536_001, unit: "seconds" },
      { amount: 0, unit: "days" },
      { amount: 1.5, unit: "days" },
      { amount: 1, unit: "weeks" },
      { amount: Number.MAX_SAFE_INTEGER, unit: "seconds" },
    ];
    for (const c of bad) expect(delayConfig.safeParse(c).success).toBe(false);
    expect(delayMs({ amount: 2, unit: "hours" })).toBe(2 * DELAY_UNITS.hours);
  });

  it("bounds a WAIT_FOR_EVENT timeout at 31,536,000 seconds", () => {
    expect(waitForEventConfig.safeParse({ eventName: "e", timeout: 31_536_000 }).success).toBe(true);
    expect(waitForEventConfig.safeParse({ eventName: "e" }).success).toBe(true);
    expect(waitForEventConfig.safeParse({ eventName: "e", timeout: 31_536_001 }).success).toBe(false);
    expect(waitForEventConfig.safeParse({ eventName: "e", timeout: 0 }).success).toBe(false);
  });

  it("accepts the documented field paths and nothing else", () => {
    for (const f of [
      "contact.email",
      "contact.subscribed",
      "contact.data.a",
      "contact.data.a.b",
      "event.x",
      "event.x.y",
    ]) {
      expect(FIELD_PATH.test(f)).toBe(true);
    }
    for (const f of [
      "foo.bar",
      "contact.data",
      "contact",
      "contact.name",
      "contact.email.x",
      "event",
      "event.",
      "event..x",
      "contact.data.a.",
      "contact.data. a",
      " contact.email",
      "",
    ]) {
      expect(FIELD_PATH.test(f)).toBe(false);
    }
  });

  it("needs a value for every operator but exists and notExists", () => {
    expect(OPERATORS).toHaveLength(10);
    for (const operator of OPERATORS) {
      const withValue = conditionConfig.safeParse({ field: "event.x", operator, value: 1 });
      const without = conditionConfig.safeParse({ field: "event.x", operator });
      expect(withValue.success).toBe(true);
      expect(without.success).toBe(operator === "exists" || operator === "notExists");
    }
    expect(conditionConfig.safeParse({ field: "event.x", operator: "like", value: 1 }).success).toBe(false);
  });

  it("needs data or subscribed on UPDATE_CONTACT, and defaults a WEBHOOK's method to POST", () => {
    expect(updateContactConfig.safeParse({}).success).toBe(false);
    expect(updateContactConfig.safeParse({ data: {} }).success).toBe(true);
    expect(updateContactConfig.safeParse({ subscribed: false }).success).toBe(true);
    expect(webhookConfig.parse({ url: "https://x.example" })).toEqual({
      url: "https://x.example",
      method: "POST",
    });
  });

  it("refuses unknown keys in every config", () => {
    const valid: Record<string, Record<string, unknown>> = {
      TRIGGER: { eventName: "e" },
      SEND_EMAIL: { templateId: "tpl_x" },
      DELAY: { amount: 1, unit: "days" },
      WAIT_FOR_EVENT: { eventName: "e" },
      CONDITION: { field: "event.x", operator: "exists" },
      WEBHOOK: { url: "https://x.example" },
      UPDATE_CONTACT: { subscribed: true },
      EXIT: {},
    };
    for (const type of STEP_TYPES) {
      expect(configByType[type].safeParse(valid[type]).success).toBe(true);
      expect(configByType[type].safeParse({ ...valid[type], extra: 1 }).success).toBe(false);
    }
  });

  it("never takes a TRIGGER as a new step, and needs name or config on a step patch", () => {
    expect(newStepBody.safeParse({ type: "TRIGGER", name: "T", config: { eventName: "e" } }).success).toBe(
      false,
    );
    expect(patchStepBody.safeParse({}).success).toBe(false);
    expect(patchStepBody.safeParse({ type: "EXIT" }).success).toBe(false);
    expect(patchStepBody.safeParse({ name: "x" }).success).toBe(true);
  });
});
