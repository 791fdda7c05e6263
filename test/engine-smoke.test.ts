import { env } from "cloudflare:workers";
import { afterEach, expect, it, vi } from "vitest";
import { call, captureQueue, createProject, uniqueEmail } from "./helpers";

afterEach(() => vi.restoreAllMocks());

it("a tracked event runs an enabled workflow to its webhook step", async () => {
  const { sent } = captureQueue(env.WEBHOOKS_QUEUE);
  const p = await createProject();
  const sk = p.secretKey;
  const wf = await call("POST", "/workflows", {
    key: sk,
    body: { name: "W", eventName: "signup", enabled: true },
  });
  expect(wf.status).toBe(201);
  const trigger = wf.body.steps[0].id;
  const hook = await call("POST", `/workflows/${wf.body.id}/steps`, {
    key: sk,
    body: { type: "WEBHOOK", name: "Hook", config: { url: "https://example.com/hook" } },
  });
  expect(hook.status).toBe(201);
  const t = await call("POST", `/workflows/${wf.body.id}/transitions`, {
    key: sk,
    body: { fromStepId: trigger, toStepId: hook.body.id },
  });
  expect(t.status).toBe(201);
  const tr = await call("POST", "/v1/track", {
    key: sk,
    body: { event: "signup", email: uniqueEmail(), data: { a: 1 } },
  });
  expect(tr.status).toBe(200);
  const list = await call("GET", `/workflows/${wf.body.id}/executions`, { key: sk });
  expect(list.body.data).toHaveLength(1);
  const ex = await call("GET", `/workflows/${wf.body.id}/executions/${list.body.data[0].id}`, { key: sk });
  expect(ex.body.status).toBe("COMPLETED");
  expect(ex.body.steps).toHaveLength(2);
  expect(sent).toHaveLength(1);
});
