// WAIT_FOR_EVENT with `match`: the config's checks, values resolved from the trigger when the wait is
// reached, events of the name that do not match leaving the wait, and a matched wait ending once under
// many concurrent events.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, captureQueue, createProject, expectEnvelope, uniqueEmail } from "./helpers";
import { createWorkflow, getExecution, onlyExecution, stepIdsOf, track } from "./workflow-helpers";

afterEach(() => {
  vi.restoreAllMocks();
});

const waitFor = (match: unknown, timeout?: number) => ({
  type: "WAIT_FOR_EVENT",
  config: { eventName: "payment.succeeded", ...(timeout ? { timeout } : {}), match },
});

async function orderFlow(match: unknown) {
  const p = await createProject();
  const wf = await createWorkflow(p.secretKey, {
    eventName: "order.placed",
    steps: {
      paid: waitFor(match, 3600),
      hook: { type: "WEBHOOK", config: { url: "https://example.com/paid" } },
    },
    edges: [
      ["trigger", "paid"],
      ["paid", "hook", "event"],
    ],
  });
  return { p, wf };
}

describe("WAIT_FOR_EVENT match: config", () => {
  it("takes event.<key> fields, each with one operator, 1 to 10 of them", async () => {
    const p = await createProject();
    const wf = await createWorkflow(p.secretKey, { eventName: "cfg.wait" });
    const bad: [unknown, string][] = [
      [{ "contact.email": { equals: "x" } }, "config.match.contact.email"],
      [{ orderId: { equals: "x" } }, "config.match.orderId"],
      [{ "event.orderId": { nearly: "x" } }, "config.match.event.orderId"],
      [{ "event.orderId": { equals: "x", notEquals: "y" } }, "config.match.event.orderId"],
      [{ "event.orderId": {} }, "config.match.event.orderId"],
      [{}, "config.match"],
      [
        Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`event.k${i}`, { exists: true }])),
        "config.match",
      ],
    ];
    for (const [match, field] of bad) {
      const res = await call("POST", `/workflows/${wf.id}/steps`, {
        key: p.secretKey,
        body: { name: "w", ...waitFor(match) },
      });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(
        res.body.error.errors.map((e: { field: string }) => e.field),
        JSON.stringify(match),
      ).toContain(field);
    }
    const ok = await call("POST", `/workflows/${wf.id}/steps`, {
      key: p.secretKey,
      body: {
        name: "w",
        ...waitFor({
          "event.orderId": { equals: "{{ trigger.orderId }}" },
          "event.amount": { greaterThan: 0 },
        }),
      },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
  });
});

describe("WAIT_FOR_EVENT match: executions", () => {
  it("waits for the event of this order: others of the name leave it waiting", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const { p, wf } = await orderFlow({
      "event.orderId": { equals: "{{ trigger.orderId }}" },
      "event.amount": { greaterThanOrEqual: "{{ trigger.total }}" },
    });
    const email = uniqueEmail();
    await track(p.publicKey, "order.placed", email, { orderId: "A-1", total: 40 });
    let ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("WAITING");
    // Resolved when the wait was reached, and shown in its step log.
    expect(ex.steps[1].output.match).toEqual([
      { field: "event.orderId", operator: "equals", value: "A-1" },
      { field: "event.amount", operator: "greaterThanOrEqual", value: "40" },
    ]);
    await track(p.publicKey, "payment.succeeded", email, { orderId: "B-2", amount: 99 });
    await track(p.publicKey, "payment.succeeded", email, { orderId: "A-1", amount: 10 });
    await track(p.publicKey, "payment.succeeded", email, { amount: 99 });
    ex = await getExecution(p.secretKey, wf.id, ex.id);
    expect(ex.status).toBe("WAITING");
    expect(hooks.sent).toHaveLength(0);
    const paid = await track(p.publicKey, "payment.succeeded", email, { orderId: "A-1", amount: 40 });
    ex = await getExecution(p.secretKey, wf.id, ex.id);
    expect(ex.status).toBe("COMPLETED");
    expect(stepIdsOf(ex)).toEqual([wf.steps.trigger, wf.steps.paid, wf.steps.hook]);
    expect(ex.steps[1].output.eventId).toBe(paid.event);
    expect(ex.context.event).toMatchObject({ orderId: "A-1", amount: 40, total: 40 });
    expect(hooks.sent).toHaveLength(1);
  });

  it("a matched wait under 20 concurrent matching events (and 20 that do not match) ends once", async () => {
    const hooks = captureQueue(env.WEBHOOKS_QUEUE);
    const { p, wf } = await orderFlow({ "event.orderId": { equals: "{{ trigger.orderId }}" } });
    const email = uniqueEmail();
    await track(p.publicKey, "order.placed", email, { orderId: "C-3" });
    const ids = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        track(p.publicKey, "payment.succeeded", email, { orderId: i % 2 === 0 ? "C-3" : "D-4", n: i }),
      ),
    );
    const ex = await onlyExecution(p.secretKey, wf.id);
    expect(ex.status).toBe("COMPLETED");
    expect(ex.steps.filter((s: { stepId: string }) => s.stepId === wf.steps.hook)).toHaveLength(1);
    expect(hooks.sent).toHaveLength(1);
    // The event that ended it is one of the matching ones.
    const matching = new Set(ids.filter((_, i) => i % 2 === 0).map((t) => t.event));
    expect(matching.has(ex.steps[1].output.eventId)).toBe(true);
    expect(ex.context.event.orderId).toBe("C-3");
  });

  it("exists / notExists test a field's presence", async () => {
    captureQueue(env.WEBHOOKS_QUEUE);
    const { p, wf } = await orderFlow({
      "event.receipt": { exists: true },
      "event.error": { notExists: true },
    });
    const email = uniqueEmail();
    await track(p.publicKey, "order.placed", email, {});
    await track(p.publicKey, "payment.succeeded", email, { receipt: "r", error: "declined" });
    expect((await onlyExecution(p.secretKey, wf.id)).status).toBe("WAITING");
    await track(p.publicKey, "payment.succeeded", email, { receipt: "r" });
    expect((await onlyExecution(p.secretKey, wf.id)).status).toBe("COMPLETED");
  });
});
