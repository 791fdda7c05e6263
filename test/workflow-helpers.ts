/** Building workflows through the API, tracking events, and reading executions back, for engine tests. */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, vi } from "vitest";
import type { ExecutionDO } from "../durable-objects/execution";
import type { ExecutionState } from "../src/engine/state";
import { call } from "./helpers";

export interface StepSpec {
  type: string;
  config: Record<string, unknown>;
  name?: string;
}

export interface WorkflowSpec {
  eventName: string;
  name?: string;
  enabled?: boolean;
  allowReentry?: boolean;
  /** Steps by a local key; "trigger" names the TRIGGER made with the workflow. */
  steps?: Record<string, StepSpec>;
  /** [from, to, branch?] by local key. */
  edges?: [string, string, string?][];
}

export interface BuiltWorkflow {
  id: string;
  /** Step ids by local key, "trigger" included. */
  steps: Record<string, string>;
}

export async function createWorkflow(sk: string, spec: WorkflowSpec): Promise<BuiltWorkflow> {
  const wf = await call("POST", "/workflows", {
    key: sk,
    body: {
      name: spec.name ?? `WF ${spec.eventName}`,
      eventName: spec.eventName,
      enabled: spec.enabled ?? true,
      allowReentry: spec.allowReentry ?? false,
    },
  });
  expect(wf.status, JSON.stringify(wf.body)).toBe(201);
  const steps: Record<string, string> = { trigger: wf.body.steps[0].id };
  for (const [key, s] of Object.entries(spec.steps ?? {})) {
    const res = await call("POST", `/workflows/${wf.body.id}/steps`, {
      key: sk,
      body: { type: s.type, name: s.name ?? key, config: s.config },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    steps[key] = res.body.id;
  }
  for (const [from, to, branch] of spec.edges ?? []) {
    await link(sk, wf.body.id, steps[from] as string, steps[to] as string, branch);
  }
  return { id: wf.body.id, steps };
}

export async function link(sk: string, wfId: string, from: string, to: string, branch?: string) {
  const res = await call("POST", `/workflows/${wfId}/transitions`, {
    key: sk,
    body: branch ? { fromStepId: from, toStepId: to, branch } : { fromStepId: from, toStepId: to },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

export async function track(
  key: string,
  event: string,
  email: string,
  data?: Record<string, unknown>,
  subscribed?: boolean,
) {
  const body: Record<string, unknown> = { event, email };
  if (data !== undefined) body.data = data;
  if (subscribed !== undefined) body.subscribed = subscribed;
  const res = await call("POST", "/v1/track", { key, body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data as { contact: string; event: string; timestamp: string };
}

export async function listExecutions(sk: string, wfId: string, query = ""): Promise<any[]> {
  const res = await call("GET", `/workflows/${wfId}/executions?limit=100${query}`, { key: sk });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data;
}

export async function getExecution(sk: string, wfId: string, eid: string): Promise<any> {
  const res = await call("GET", `/workflows/${wfId}/executions/${eid}`, { key: sk });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** The one execution of a workflow (fails if there is not exactly one), with its step log. */
export async function onlyExecution(sk: string, wfId: string): Promise<any> {
  const list = await listExecutions(sk, wfId);
  expect(list).toHaveLength(1);
  return getExecution(sk, wfId, list[0].id);
}

export const stubFor = (executionId: string) => env.EXECUTIONS.get(env.EXECUTIONS.idFromName(executionId));

export const runAlarm = (executionId: string) => runDurableObjectAlarm(stubFor(executionId));

/** The alarm time the object has scheduled (null: none). */
export const alarmOf = (executionId: string) =>
  runInDurableObject(stubFor(executionId), (_instance, state) => state.storage.getAlarm());

export async function doState(executionId: string): Promise<ExecutionState | null> {
  return (await stubFor(executionId).snapshotState()) as ExecutionState | null;
}

/** Edits the object's stored state (and its copy in memory) in place. */
export async function editState(executionId: string, edit: (s: ExecutionState) => void): Promise<void> {
  await runInDurableObject(stubFor(executionId), async (instance: ExecutionDO, state) => {
    const s = await instance.snapshotState();
    if (!s) throw new Error("no state to edit");
    edit(s);
    await state.storage.put("state", s);
  });
}

/** The step ids of an execution's step log, in order. */
export const stepIdsOf = (execution: { steps: { stepId: string }[] }) => execution.steps.map((s) => s.stepId);

/** The project of a stored event (what `dispatchStored` is given beside its ids). */
export async function eventProject(eventId: string): Promise<string> {
  const row = await env.DB.prepare("SELECT project_id FROM events WHERE id = ?1")
    .bind(eventId)
    .first<{ project_id: string }>();
  if (!row) throw new Error(`no event ${eventId}`);
  return row.project_id;
}

export async function d1Count(sql: string, ...params: unknown[]): Promise<number> {
  const row = await env.DB.prepare(sql)
    .bind(...params)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/**
 * A crash right after a step: the Execution object's save fails once, the first time it saves with
 * `stepId` visited (what the step did is done; the platform retries the alarm). Undone by vi.restoreAllMocks.
 */
export async function crashOnceAfter(stepId: string): Promise<void> {
  const { ExecutionDO: Cls } = await import("../durable-objects/execution");
  const proto = Cls.prototype as unknown as { save(): Promise<void> };
  const real = proto.save;
  let failed = false;
  vi.spyOn(proto, "save").mockImplementation(async function (this: { state?: ExecutionState }) {
    if (!failed && this.state?.visits[stepId]) {
      failed = true;
      throw new Error("injected crash after the step");
    }
    return real.call(this);
  });
}
