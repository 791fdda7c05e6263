/** Shared test helpers: requests to the worker, and a fresh project per test. */
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, vi } from "vitest";
import worker from "../src/index";
import { handleQueue } from "../src/queues";

export const ADMIN = "test-admin-token";
const BASE = "http://worker.test";

export interface Call {
  status: number;
  headers: Headers;
  body: any;
}

export async function call(
  method: string,
  path: string,
  opts: { key?: string; body?: unknown; raw?: BodyInit; headers?: Record<string, string> } = {},
): Promise<Call> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  let body: BodyInit | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await fetchSettled(new Request(`${BASE}${path}`, { method, headers, body }));
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // keep text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/**
 * The worker's fetch, then the work it left running after its answer (`ctx.waitUntil`: the dispatch of a
 * tracked event, segment refreshes) is waited for, so a test reads what the request set off. The test of
 * that gap itself ("answers while its dispatch is still held", engine.test.ts) calls the worker directly.
 */
export async function fetchSettled(request: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, env, ctx);
  const bytes = await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return new Response(bytes, res);
}

export interface TestProject {
  id: string;
  name: string;
  publicKey: string;
  secretKey: string;
  webhookSecret: string;
}

/**
 * The engine of the projects a test makes when it names none: `objects`, or `shard` in the `shard` vitest
 * project, which runs the engine's behavioural test files again on the shard engine (vitest.config.ts).
 */
const testEngine = () => (env.TEST_ENGINE === "shard" ? "shard" : "objects");

let counter = 0;
/**
 * A new project, in the registry's database `DB` unless `database` names another (test/databases.test.ts
 * runs projects in `DB_2`): most tests read D1 through `env.DB` to check what the app wrote.
 */
export async function createProject(
  name = `Test ${++counter}`,
  opts: { database?: string; engine?: "objects" | "shard"; shards?: number } = {},
): Promise<TestProject> {
  const res = await call("POST", "/admin/projects", {
    key: ADMIN,
    body: {
      name,
      database: opts.database ?? "DB",
      engine: opts.engine ?? testEngine(),
      ...(opts.shards ? { shards: opts.shards } : {}),
    },
  });
  if (res.status !== 201) throw new Error(`project create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as TestProject;
}

export function expectEnvelope(res: Call, status: number, code: string) {
  if (res.status !== status || res.body?.success !== false || res.body?.error?.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`);
  }
  if (res.body.error.statusCode !== status) throw new Error("statusCode mismatch");
  if (!res.body.error.requestId || res.body.error.requestId !== res.headers.get("x-request-id")) {
    throw new Error("requestId missing or not the X-Request-Id header");
  }
}

export const uniqueEmail = (tag = "user") => `${tag}-${crypto.randomUUID().slice(0, 8)}@example.com`;

/**
 * Records what is sent to a queue producer (the Execution DO runs in this isolate, so its sends are
 * seen). `fail` makes the next N sends throw, as a queue outage would.
 */
export function captureQueue(queue: Queue<unknown>, opts: { fail?: number } = {}) {
  const sent: any[] = [];
  let failures = opts.fail ?? 0;
  const spy = vi.spyOn(queue, "send").mockImplementation(async (message: unknown) => {
    if (failures > 0) {
      failures--;
      throw new Error("injected queue failure");
    }
    sent.push(message);
    return {
      metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date(0) } },
    };
  });
  return { sent, spy, failNext: (n: number) => (failures = n) };
}

let messageSeq = 0;
/**
 * One queue delivery of `body` (as its `attempts`-th try) to the app's queue handler: whether the message
 * was acked or retried, and the retry's delay (getQueueResult does not report it, so the call is watched).
 */
export async function consume(queue: string, body: unknown, attempts = 1) {
  const [outcome] = await consumeBatch(queue, [body], attempts);
  if (!outcome) throw new Error("no outcome for the message");
  return outcome;
}

/** One queue batch of `bodies` (each as its `attempts`-th try): per message, what `consume` says of one. */
export async function consumeBatch(queue: string, bodies: unknown[], attempts = 1) {
  const ids = bodies.map(() => `msg-${++messageSeq}`);
  const batch = createMessageBatch(
    queue,
    bodies.map((body, i) => ({ id: ids[i] as string, timestamp: new Date(), attempts, body })),
  );
  const spies = batch.messages.map((m) => vi.spyOn(m as Message, "retry"));
  const ctx = createExecutionContext();
  await handleQueue(batch, env);
  const result = await getQueueResult(batch, ctx);
  return ids.map((id, i) => {
    const retried = result.retryMessages.some((m) => m.msgId === id);
    expect(spies[i]?.mock.calls.length).toBe(retried ? 1 : 0);
    return {
      acked: result.explicitAcks.includes(id),
      retried,
      delaySeconds: spies[i]?.mock.calls[0]?.[0]?.delaySeconds,
    };
  });
}
