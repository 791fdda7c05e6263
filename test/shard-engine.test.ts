/**
 * The shard engine (durable-objects/shard.ts, docs/engine.md) end to end through the API: a project created with
 * `engine: "shard"` stores its tracked events with the executions they start in pages, runs their steps in
 * the contact's shard, posts webhooks from there, and answers the executions API from the pages.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ShardDO } from "../durable-objects/shard";
import { DEFAULT_TRACK_LIMIT, shardTrackLimit } from "../src/http/rate-limit";
import { createLogger } from "../src/log";
import { retention } from "../src/retention";
import { shardOf, shardStub } from "../src/shard/routing";
import { call, captureQueue, consume, createProject, type TestProject, uniqueEmail } from "./helpers";
import { createWorkflow, getExecution, listExecutions, track } from "./workflow-helpers";

interface Post {
  url: string;
  id: string;
  signature: string;
  body: any;
}
let posts: Post[] = [];
let answer: (post: Post) => number | Promise<number> = () => 200;

beforeEach(() => {
  posts = [];
  answer = () => 200;
  const real = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    // SES (the emails consumer's sends): accepted.
    if (url.includes("amazonaws.com") || url.includes("/v2/email/"))
      return Response.json({ MessageId: "m-1" });
    if (!url.startsWith("https://hooks.test/")) return real(input, init);
    const headers = new Headers(init?.headers);
    const post = {
      url,
      id: headers.get("webhook-id") ?? "",
      signature: headers.get("webhook-signature") ?? "",
      body: JSON.parse(String(init?.body ?? "null")),
    };
    posts.push(post);
    return new Response("ok", { status: await answer(post) });
  });
});
afterEach(() => vi.restoreAllMocks());

const hook = (path = "a") => ({ type: "WEBHOOK", config: { url: `https://hooks.test/${path}` } });

/** A project on the shard engine: one shard (the default), or as many as asked. */
async function shardProject(shards?: number): Promise<TestProject> {
  return createProject(undefined, { engine: "shard", shards });
}

/** The first delivery of the workflow's first execution, once its page says it is DELIVERED. */
async function delivered(
  workflowId: string,
): Promise<{ status: string; attempts: { statusCode: number }[] }> {
  let hook: { status: string; attempts: { statusCode: number }[] } | undefined;
  await vi.waitFor(
    async () => {
      const page = await env.DB.prepare("SELECT body FROM pages WHERE workflow_id = ?1")
        .bind(workflowId)
        .first<{ body: string }>();
      hook = JSON.parse(page?.body ?? "[]")[0]?.hooks?.[0];
      expect(hook?.status).toBe("DELIVERED");
    },
    { timeout: 3_000, interval: 50 },
  );
  return hook as { status: string; attempts: { statusCode: number }[] };
}

async function waitForPosts(n: number): Promise<void> {
  await vi.waitFor(() => expect(posts.length).toBeGreaterThanOrEqual(n), { timeout: 5_000, interval: 20 });
}

describe("shard engine", () => {
  it("stores a tracked event with the execution it starts, runs it to its webhook, and lists it", async () => {
    const webhooks = captureQueue(env.WEBHOOKS_QUEUE);
    const p = await shardProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "signup",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const email = uniqueEmail();
    const t = await track(p.publicKey, "signup", email, { plan: "pro" });
    await waitForPosts(1);
    expect(webhooks.sent).toHaveLength(0); // posted by the shard, not through the queue
    expect(posts[0]?.body).toMatchObject({ contact: { email }, event: { plan: "pro" } });

    const [listed] = await listExecutions(p.secretKey, wf.id);
    expect(listed).toMatchObject({ workflowId: wf.id, contactId: t.contact, status: "COMPLETED" });
    expect(listed.id).toMatch(/^xpg_/);
    const ex = await getExecution(p.secretKey, wf.id, listed.id);
    expect(ex.steps.map((s: { stepId: string }) => s.stepId)).toEqual([wf.steps.trigger, wf.steps.hook]);
    expect(posts[0]?.id).toBe(ex.steps[1].output.deliveryId);

    // The event was stored dispatched, naming the execution; no executions row, no object of its own.
    const ev = await env.DB.prepare(
      "SELECT dispatched_at, executions FROM events WHERE project_id = ?1 AND id = ?2",
    )
      .bind(p.id, t.event)
      .first<{ dispatched_at: number | null; executions: string }>();
    expect(ev?.dispatched_at).not.toBeNull();
    expect(JSON.parse(ev?.executions ?? "[]")).toEqual([[listed.id, wf.id]]);
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM executions WHERE workflow_id = ?1")
      .bind(wf.id)
      .first<{ n: number }>();
    expect(rows?.n).toBe(0);

    // The delivery's outcome reaches the page (committed after the post).
    await delivered(wf.id);
    // Per-step counters, as the stats route reads them.
    const stats = await call("GET", `/workflows/${wf.id}/stats`, { key: p.secretKey });
    expect(stats.status).toBe(200);
    const hookStats = stats.body.steps.find((x: { stepId: string }) => x.stepId === wf.steps.hook);
    expect(hookStats).toMatchObject({ active: 0, passed: 1, completed: 1, failed: 0 });
    // The page keeps them: no step_counts row is written per commit.
    const counters = await env.DB.prepare("SELECT count(*) AS n FROM step_counts WHERE workflow_id = ?1")
      .bind(wf.id)
      .first<{ n: number }>();
    expect(counters?.n).toBe(0);
    const day = new Date().toISOString().slice(0, 10);
    const analytics = await call("GET", `/analytics?from=${day}&to=${day}`, { key: p.secretKey });
    expect(analytics.status, JSON.stringify(analytics.body)).toBe(200);
    const runs = analytics.body.executions.find((x: { workflowId: string }) => x.workflowId === wf.id);
    expect(runs.started).toEqual([1]);
    expect(runs.ended.COMPLETED).toEqual([1]);
  });

  it("keeps a project in DB_2 there: its pages, events and contacts, and its emails name the workflow", async () => {
    const emails = captureQueue(env.EMAILS_QUEUE);
    const p = await createProject(undefined, { engine: "shard", database: "DB_2" });
    const tpl = await call("POST", "/templates", {
      key: p.secretKey,
      body: { name: "T", subject: "Hi", body: "<p>Hi</p>", from: "hello@example.com" },
    });
    const wf = await createWorkflow(p.secretKey, {
      eventName: "two",
      steps: { mail: { type: "SEND_EMAIL", config: { templateId: tpl.body.id } }, hook: hook("two") },
      edges: [
        ["trigger", "mail"],
        ["mail", "hook"],
      ],
    });
    await track(p.publicKey, "two", uniqueEmail());
    await waitForPosts(1);
    const count = async (db: D1Database, sql: string) =>
      (await db.prepare(sql).bind(p.id).first<{ n: number }>())?.n;
    expect(await count(env.DB_2, "SELECT count(*) AS n FROM pages WHERE project_id = ?1")).toBe(1);
    expect(await count(env.DB, "SELECT count(*) AS n FROM pages WHERE project_id = ?1")).toBe(0);
    expect(await count(env.DB, "SELECT count(*) AS n FROM events WHERE project_id = ?1")).toBe(0);
    // The email the execution sent, as the emails consumer records it, names the execution's workflow.
    expect(emails.sent).toHaveLength(1);
    expect(await consume("emails", emails.sent[0])).toMatchObject({ acked: true });
    const listed = await call("GET", "/emails", { key: p.secretKey });
    expect(listed.body.data[0]).toMatchObject({ workflowId: wf.id });
  });

  it("commits concurrent tracks in groups: every execution stored, pages shared", async () => {
    const p = await shardProject(4);
    const wf = await createWorkflow(p.secretKey, {
      eventName: "burst",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const n = 40;
    await Promise.all(Array.from({ length: n }, () => track(p.publicKey, "burst", uniqueEmail())));
    await waitForPosts(n);
    expect(new Set(posts.map((x) => x.id)).size).toBe(n);
    const list = await listExecutions(p.secretKey, wf.id);
    expect(list).toHaveLength(n);
    const pages = await env.DB.prepare("SELECT count(*) AS n FROM pages WHERE workflow_id = ?1")
      .bind(wf.id)
      .first<{ n: number }>();
    // Shared: one page per shard, and one more for each shard past 16 of them (at most 2 of 4 with 40).
    expect(pages?.n).toBeLessThanOrEqual(6);
  });

  it("stores a commit of more pages than one statement carries: one event starting 17 workflows", async () => {
    const p = await shardProject();
    // A page per workflow: the track's commit writes 17 new pages, in two statements (16 and 1).
    const ids: string[] = [];
    for (let i = 0; i < 17; i++) {
      const wf = await createWorkflow(p.secretKey, {
        eventName: "wide",
        steps: { wait: { type: "DELAY", config: { amount: 1, unit: "hours" } } },
        edges: [["trigger", "wait"]],
      });
      ids.push(wf.id);
    }
    await track(p.publicKey, "wide", uniqueEmail());
    const pages = await env.DB.prepare(
      "SELECT workflow_id, body ->> '$[0].status' AS status FROM pages WHERE project_id = ?1",
    )
      .bind(p.id)
      .all<{ workflow_id: string; status: string }>();
    expect(pages.results.map((r) => r.workflow_id).sort()).toEqual([...ids].sort());
    expect(new Set(pages.results.map((r) => r.status))).toEqual(new Set(["WAITING"]));
  });

  it("refuses a track whose key was rotated in the same commit as one with the new key, and stores the other", async () => {
    const p = await shardProject();
    const email = uniqueEmail();
    await track(p.publicKey, "warm", email); // the old key is now in this isolate's cache
    const rotated = await call("POST", `/admin/projects/${p.id}/rotate-keys`, { key: "test-admin-token" });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    const [old, fresh] = await Promise.all([
      call("POST", "/v1/track", { key: p.publicKey, body: { event: "after", email } }),
      call("POST", "/v1/track", { key: rotated.body.publicKey, body: { event: "after", email } }),
    ]);
    expect(old.status).toBe(401);
    expect(fresh.status).toBe(200);
    const stored = await env.DB.prepare(
      "SELECT count(*) AS n FROM events WHERE project_id = ?1 AND name = 'after'",
    )
      .bind(p.id)
      .first<{ n: number }>();
    expect(stored?.n).toBe(1);
  });

  it("sees a workflow made, or disabled, after the shard learnt what an event name starts", async () => {
    const p = await shardProject();
    const email = uniqueEmail();
    await track(p.publicKey, "late", email);
    await track(p.publicKey, "late", email); // the shard now knows "late" starts nothing
    const wf = await createWorkflow(p.secretKey, {
      eventName: "late",
      allowReentry: true,
      steps: { hook: hook("late") },
      edges: [["trigger", "hook"]],
    });
    await track(p.publicKey, "late", email);
    await waitForPosts(1);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(1);
    await call("PATCH", `/workflows/${wf.id}`, { key: p.secretKey, body: { enabled: false } });
    await track(p.publicKey, "late", email);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(1);
    expect(posts).toHaveLength(1);
  });

  it("keeps the re-entry rule under 20 identical events at once", async () => {
    const p = await shardProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "again",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const email = uniqueEmail();
    const lines: string[] = [];
    vi.spyOn(console, "info").mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    await Promise.all(Array.from({ length: 20 }, () => track(p.publicKey, "again", email)));
    await waitForPosts(1);
    await track(p.publicKey, "again", email);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(1);
    expect(posts).toHaveLength(1);
    // Each refused start says which workflow and why (20 refused: 19 at once, 1 after the run).
    const refused = lines
      .filter((l) => l.includes('"workflows not started"'))
      .map((l) => JSON.parse(l).notStarted[0]);
    expect(refused).toHaveLength(20);
    expect(new Set(refused.map((r) => r.workflowId))).toEqual(new Set([wf.id]));
    // Remembered in D1 (the event lists the run), not only by the shard: a shard started afresh refuses too.
    const fresh = shardStub(env, await shardOf(env, p.id, email));
    await runInDurableObject(fresh as DurableObjectStub, (shard: unknown) => {
      (shard as { ran: Set<string> }).ran.clear();
    });
    await track(p.publicKey, "again", email);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(1);
  });

  it("with re-entry allowed, starts again once the previous run has ended", async () => {
    const p = await shardProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "loop",
      allowReentry: true,
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const email = uniqueEmail();
    await track(p.publicKey, "loop", email);
    await track(p.publicKey, "loop", email);
    await waitForPosts(2);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(2);
  });

  it("waits at a DELAY until the shard's alarm, then branches and posts", async () => {
    const p = await shardProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "later",
      steps: {
        wait: { type: "DELAY", config: { amount: 1, unit: "seconds" } },
        check: { type: "CONDITION", config: { field: "event.plan", operator: "equals", value: "pro" } },
        pro: hook("pro"),
      },
      edges: [
        ["trigger", "wait"],
        ["wait", "check"],
        ["check", "pro", "yes"],
      ],
    });
    const email = uniqueEmail();
    await track(p.publicKey, "later", email, { plan: "pro" });
    const [waiting] = await listExecutions(p.secretKey, wf.id);
    expect(waiting.status).toBe("WAITING");
    expect(await listExecutions(p.secretKey, wf.id, "&status=WAITING")).toHaveLength(1);
    const stats = await call("GET", `/workflows/${wf.id}/stats`, { key: p.secretKey });
    expect(stats.body.steps.find((x: { stepId: string }) => x.stepId === wf.steps.wait)).toMatchObject({
      active: 1,
      passed: 1,
      completed: 0,
    });
    const shown = await call("GET", `/workflows/${wf.id}`, { key: p.secretKey });
    expect(shown.body.activeExecutions).toBe(1);
    await waitForPosts(1);
    expect(posts[0]?.url).toBe("https://hooks.test/pro");
    await vi.waitFor(
      async () => expect((await getExecution(p.secretKey, wf.id, waiting.id)).status).toBe("COMPLETED"),
      {
        timeout: 3_000,
        interval: 50,
      },
    );
    const ex = await getExecution(p.secretKey, wf.id, waiting.id);
    expect(ex.steps.map((s: { stepId: string }) => s.stepId)).toEqual([
      wf.steps.trigger,
      wf.steps.wait,
      wf.steps.check,
      wf.steps.pro,
    ]);
  });

  it("stores a page's executions in place order, each run and post in it once D1 has them", async () => {
    const p = await shardProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "paged",
      steps: { wait: { type: "DELAY", config: { amount: 1, unit: "seconds" } }, done: hook("paged") },
      edges: [
        ["trigger", "wait"],
        ["wait", "done"],
      ],
    });
    // One page: the first track's commit inserts it, the next ones' rewrite it with one more, and so do the
    // runs after the DELAY and the posts' outcomes.
    const emails = [uniqueEmail(), uniqueEmail(), uniqueEmail()];
    for (const email of emails) await track(p.publicKey, "paged", email);
    await waitForPosts(3);
    const row = async () =>
      (
        await env.DB.prepare("SELECT body FROM pages WHERE project_id = ?1 AND workflow_id = ?2")
          .bind(p.id, wf.id)
          .all<{ body: string }>()
      ).results;
    await vi.waitFor(
      async () => {
        const pages = await row();
        expect(pages).toHaveLength(1);
        const body = JSON.parse(pages[0]?.body ?? "[]");
        expect(body.map((e: { status: string }) => e.status)).toEqual([
          "COMPLETED",
          "COMPLETED",
          "COMPLETED",
        ]);
        expect(body.map((e: { hooks: { status: string }[] }) => e.hooks[0]?.status)).toEqual([
          "DELIVERED",
          "DELIVERED",
          "DELIVERED",
        ]);
      },
      { timeout: 3_000, interval: 50 },
    );
    const body = JSON.parse((await row())[0]?.body ?? "[]");
    // In place order, each as the API shows it.
    body.forEach((e: { executionId: string; log: unknown[] }, place: number) => {
      expect(e.executionId.endsWith(`_${place}`)).toBe(true);
      expect(e.log).toHaveLength(3);
    });
    const listed = await listExecutions(p.secretKey, wf.id);
    expect(listed.map((e: { id: string }) => e.id).sort()).toEqual(
      body.map((e: { executionId: string }) => e.executionId).sort(),
    );
  });

  it("resumes a WAIT_FOR_EVENT with the contact's next event of the name", async () => {
    const p = await shardProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "cart",
      steps: {
        wait: { type: "WAIT_FOR_EVENT", config: { eventName: "paid", timeout: 3600 } },
        done: hook("paid"),
      },
      edges: [
        ["trigger", "wait"],
        ["wait", "done", "event"],
      ],
    });
    const email = uniqueEmail();
    await track(p.publicKey, "cart", email);
    const [ex] = await listExecutions(p.secretKey, wf.id);
    expect(ex.status).toBe("WAITING");
    const wait = await env.DB.prepare("SELECT event_name FROM waits WHERE execution_id = ?1")
      .bind(ex.id)
      .first<{ event_name: string }>();
    expect(wait?.event_name).toBe("paid");
    await track(p.publicKey, "paid", uniqueEmail()); // another contact's: not this wait's
    await track(p.publicKey, "paid", email);
    await waitForPosts(1);
    await vi.waitFor(
      async () => expect((await getExecution(p.secretKey, wf.id, ex.id)).status).toBe("COMPLETED"),
      {
        timeout: 3_000,
        interval: 50,
      },
    );
    // The contact's executions, and its events' links: the trigger started it, "paid" resumed it.
    const mine = await call(
      "GET",
      `/contacts/${(await track(p.publicKey, "noop", email)).contact}/executions`,
      {
        key: p.secretKey,
      },
    );
    expect(mine.body.data.map((x: { id: string }) => x.id)).toEqual([ex.id]);
    const evs = await call("GET", `/contacts/${mine.body.data[0].contactId}/events?limit=10`, {
      key: p.secretKey,
    });
    const byName = (n: string) => evs.body.data.find((e: { name: string }) => e.name === n);
    expect(byName("cart").executions.started).toEqual([
      { id: ex.id, workflowId: wf.id, status: "COMPLETED" },
    ]);
    expect(byName("paid").executions.resumed).toEqual([
      { id: ex.id, workflowId: wf.id, status: "COMPLETED" },
    ]);
    await vi.waitFor(
      async () => {
        const gone = await env.DB.prepare("SELECT count(*) AS n FROM waits WHERE execution_id = ?1")
          .bind(ex.id)
          .first<{ n: number }>();
        expect(gone?.n).toBe(0);
      },
      { timeout: 3_000, interval: 50 },
    );
  });

  it("retries a failed webhook from the shard's alarm with the same webhook-id", async () => {
    const p = await shardProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "flaky",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    answer = () => (posts.length === 1 ? 503 : 200);
    const email = uniqueEmail();
    await track(p.publicKey, "flaky", email);
    await waitForPosts(1);
    const stub = shardStub(env, await shardOf(env, p.id, email));
    // The retry is due 5 s on (API.md's schedule): brought forward, and the shard's alarm run now.
    await vi.waitFor(
      async () => {
        const due: number | null = await runInDurableObject(stub as DurableObjectStub, (shard: unknown) => {
          const [at] = [
            ...(shard as { byId: Map<string, { exec: { hooks?: { due: number | null }[] } }> }).byId.values(),
          ];
          const h = at?.exec.hooks?.[0];
          if (h?.due) h.due = Date.now();
          return h?.due ?? null;
        });
        expect(due).not.toBeNull();
      },
      { timeout: 3_000, interval: 50 },
    );
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await waitForPosts(2);
    expect(posts[1]?.id).toBe(posts[0]?.id);
    const h = await delivered(wf.id);
    expect(h.attempts.map((a: { statusCode: number }) => a.statusCode)).toEqual([503, 200]);
  });

  it("lists, shows and replays its deliveries through the deliveries API", async () => {
    const p = await shardProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "notify",
      steps: { hook: hook("n") },
      edges: [["trigger", "hook"]],
    });
    await track(p.publicKey, "notify", uniqueEmail());
    await waitForPosts(1);
    let list: any;
    await vi.waitFor(
      async () => {
        list = await call("GET", `/webhook-deliveries?workflowId=${wf.id}`, { key: p.secretKey });
        expect(list.body.data[0]?.status).toBe("DELIVERED");
      },
      { timeout: 3_000, interval: 50 },
    );
    const d = list.body.data[0];
    expect(d).toMatchObject({ workflowId: wf.id, url: "https://hooks.test/n", attemptCount: 1, replays: 0 });
    expect(d.id).toBe(posts[0]?.id);
    const one = await call("GET", `/webhook-deliveries/${d.id}`, { key: p.secretKey });
    expect(one.body.attempts).toHaveLength(1);
    expect(one.body.attempts[0]).toMatchObject({ statusCode: 200, generation: 0 });
    const byExecution = await call("GET", `/webhook-deliveries?executionId=${d.executionId}`, {
      key: p.secretKey,
    });
    expect(byExecution.body.data.map((x: { id: string }) => x.id)).toEqual([d.id]);
    expect((await call("GET", "/webhook-deliveries?status=FAILED", { key: p.secretKey })).body.data).toEqual(
      [],
    );

    const replay = await call("POST", `/webhook-deliveries/${d.id}/replay`, { key: p.secretKey });
    expect(replay.status, JSON.stringify(replay.body)).toBe(202);
    expect(replay.body).toMatchObject({ replays: 1 });
    await waitForPosts(2);
    expect(posts[1]?.id).toBe(d.id);
    await vi.waitFor(
      async () => {
        const again = await call("GET", `/webhook-deliveries/${d.id}`, { key: p.secretKey });
        expect(again.body).toMatchObject({ status: "DELIVERED", replays: 1, attemptCount: 2 });
      },
      { timeout: 3_000, interval: 50 },
    );
    expect((await call("GET", "/webhook-deliveries/whd_nope", { key: p.secretKey })).status).toBe(404);
  });

  it("starts an execution by hand in the contact's shard, by the re-entry rule", async () => {
    const p = await shardProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "manual",
      steps: { hook: hook("hand") },
      edges: [["trigger", "hook"]],
    });
    const email = uniqueEmail();
    const res = await call("POST", `/workflows/${wf.id}/executions`, {
      key: p.secretKey,
      body: { email, context: { reason: "support" } },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ workflowId: wf.id, context: { event: { reason: "support" } } });
    expect(res.body.id).toMatch(/^xpg_/);
    await waitForPosts(1);
    expect(posts[0]?.body.event).toEqual({ reason: "support" });
    const again = await call("POST", `/workflows/${wf.id}/executions`, { key: p.secretKey, body: { email } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("REENTRY_NOT_ALLOWED");
    // Remembered in D1: an event of the workflow for this contact, in a shard started afresh, starts nothing.
    await runInDurableObject(
      shardStub(env, await shardOf(env, p.id, email)) as DurableObjectStub,
      (shard: unknown) => {
        (shard as { ran: Set<string> }).ran.clear();
      },
    );
    await track(p.publicKey, "manual", email);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(1);
  });

  it("runs a schedule in the shards: once per due time however often its page is delivered", async () => {
    const p = await shardProject();
    const created = await call("POST", "/workflows", {
      key: p.secretKey,
      body: { name: "Report", schedule: { cron: "@daily" }, enabled: true },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const wf = created.body;
    const step = await call("POST", `/workflows/${wf.id}/steps`, {
      key: p.secretKey,
      body: { type: "WEBHOOK", name: "Report", config: { url: "https://hooks.test/report" } },
    });
    await call("POST", `/workflows/${wf.id}/transitions`, {
      key: p.secretKey,
      body: { fromStepId: wf.steps[0].id, toStepId: step.body.id },
    });
    const dueAt = Date.now() - 1_000;
    const page = { kind: "schedule-run", db: "DB", workflowId: wf.id, dueAt, after: "" };
    await Promise.all([consume("segments", page), consume("segments", page)]);
    await waitForPosts(1);
    expect(posts[0]?.body).toMatchObject({
      contact: null,
      event: { scheduledAt: new Date(dueAt).toISOString() },
    });
    await consume("segments", page); // delivered again later
    const runs = await listExecutions(p.secretKey, wf.id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ contactId: null, status: "COMPLETED" });
    // The next due time is a run of its own.
    await consume("segments", { ...page, dueAt: dueAt + 1 });
    await waitForPosts(2);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(2);
  });

  it("cancels all of a workflow's active executions across its shards", async () => {
    const p = await shardProject(4);
    const wf = await createWorkflow(p.secretKey, {
      eventName: "hold",
      steps: { wait: { type: "DELAY", config: { amount: 1, unit: "days" } }, hook: hook() },
      edges: [
        ["trigger", "wait"],
        ["wait", "hook"],
      ],
    });
    const emails = Array.from({ length: 12 }, () => uniqueEmail());
    await Promise.all(emails.map((email) => track(p.publicKey, "hold", email)));
    // Spread over the project's shards (which one is the email's hash modulo 4).
    expect(new Set(await Promise.all(emails.map((e) => shardOf(env, p.id, e)))).size).toBeGreaterThan(1);
    const res = await call("POST", `/workflows/${wf.id}/executions/cancel-all`, { key: p.secretKey });
    expect(res.body).toEqual({ cancelled: 12 });
    const list = await listExecutions(p.secretKey, wf.id);
    expect(list.map((e: { status: string }) => e.status)).toEqual(Array(12).fill("CANCELLED"));
    expect(
      (await call("POST", `/workflows/${wf.id}/executions/cancel-all`, { key: p.secretKey })).body,
    ).toEqual({
      cancelled: 0,
    });
  });

  it("locks a workflow's steps while an execution waits, as the objects engine does", async () => {
    const p = await shardProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "held",
      steps: { wait: { type: "DELAY", config: { amount: 1, unit: "days" } }, done: hook() },
      edges: [
        ["trigger", "wait"],
        ["wait", "done"],
      ],
    });
    await track(p.publicKey, "held", uniqueEmail());
    const edit = () =>
      call("POST", `/workflows/${wf.id}/steps`, {
        key: p.secretKey,
        body: { type: "DELAY", name: "more", config: { amount: 1, unit: "hours" } },
      });
    const locked = await edit();
    expect(locked.status, JSON.stringify(locked.body)).toBe(409);
    expect(locked.body.error.code).toBe("WORKFLOW_LOCKED");
    expect((await call("DELETE", `/workflows/${wf.id}`, { key: p.secretKey })).status).toBe(409);
    await call("POST", `/workflows/${wf.id}/executions/cancel-all`, { key: p.secretKey });
    expect((await edit()).status).toBe(201);
  });

  it("logs a delivered webhook only with REQUEST_LOG=all, a failed attempt always", async () => {
    const p = await shardProject();
    await createWorkflow(p.secretKey, {
      eventName: "logged",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    const info = vi.spyOn(console, "info");
    const warn = vi.spyOn(console, "warn");
    const lines = (spy: typeof info, msg: string) =>
      spy.mock.calls.map((a) => JSON.parse(String(a[0]))).filter((l) => l.msg === msg);
    try {
      await track(p.publicKey, "logged", uniqueEmail());
      await waitForPosts(1);
      answer = () => 410; // final at once: no retry to come
      await track(p.publicKey, "logged", uniqueEmail());
      await vi.waitFor(() => expect(lines(warn, "webhook failed for good")).toHaveLength(1));
      answer = () => 200;
      env.REQUEST_LOG = "all";
      await track(p.publicKey, "logged", uniqueEmail());
      await vi.waitFor(() => expect(lines(info, "webhook delivered")).toHaveLength(1));
      expect(lines(info, "webhook delivered")[0].deliveryId).toBe(posts[2]?.id);
    } finally {
      env.REQUEST_LOG = "errors";
    }
  });

  it("signs with both secrets from the first post after a webhook secret rotation", async () => {
    const p = await shardProject();
    await createWorkflow(p.secretKey, {
      eventName: "signed",
      steps: { hook: hook() },
      edges: [["trigger", "hook"]],
    });
    await track(p.publicKey, "signed", uniqueEmail()); // the shard reads the secrets, and keeps them
    await waitForPosts(1);
    expect(posts[0]?.signature.split(" ")).toHaveLength(1);
    const rotated = await call("POST", "/project/rotate-webhook-secret", { key: p.secretKey });
    expect(rotated.status).toBe(200);
    await track(p.publicKey, "signed", uniqueEmail());
    await waitForPosts(2);
    expect(posts[1]?.signature.split(" ")).toHaveLength(2);
  });

  it("counts a project's plain tracks in its shards: past the minute's share, 429 with nothing stored", {
    timeout: 20_000,
  }, async () => {
    // The count is per minute of the clock: start well inside one.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 8_000) await new Promise((r) => setTimeout(r, left + 50));
    const before = env.TRACK_LIMIT_PER_MINUTE;
    env.TRACK_LIMIT_PER_MINUTE = "3";
    try {
      const p = await shardProject();
      const other = await shardProject();
      const status = async (key: string, email: string) =>
        (await call("POST", "/v1/track", { key, body: { event: "e", email } })).status;
      const events = async (projectId: string) =>
        (
          await env.DB.prepare("SELECT COUNT(*) AS n FROM events WHERE project_id = ?1")
            .bind(projectId)
            .first<{ n: number }>()
        )?.n;
      for (let i = 0; i < 3; i++) expect(await status(p.publicKey, uniqueEmail())).toBe(200);
      const over = await call("POST", "/v1/track", {
        key: p.secretKey,
        body: { event: "e", email: uniqueEmail() },
      });
      expect(over.status).toBe(429);
      expect((over.body as any).error.code).toBe("RATE_LIMIT_EXCEEDED");
      expect(over.headers.get("retry-after")).toBe("60");
      expect(await events(p.id)).toBe(3);
      // Another project has its own count; a track with an Idempotency-Key is counted by the binding.
      expect(await status(other.publicKey, uniqueEmail())).toBe(200);
      const keyed = await call("POST", "/v1/track", {
        key: p.secretKey,
        headers: { "idempotency-key": "k-1" },
        body: { event: "e", email: uniqueEmail() },
      });
      expect(keyed.status).toBe(200);
      // Validation still comes first: a bad body is 422, not 429.
      expect((await call("POST", "/v1/track", { key: p.secretKey, body: { event: "e" } })).status).toBe(422);

      // A setting that is not a positive number is the default; a share is rounded up and never 0.
      expect(shardTrackLimit({ ...env, TRACK_LIMIT_PER_MINUTE: "lots" }, 1)).toBe(DEFAULT_TRACK_LIMIT);
      expect(shardTrackLimit({ ...env, TRACK_LIMIT_PER_MINUTE: "1000" }, 16)).toBe(63);
      expect(shardTrackLimit({ ...env, TRACK_LIMIT_PER_MINUTE: "1" }, 4)).toBe(1);
      // Two shards: each counts its half of the limit, rounded up (2 of 3), for the contacts it holds.
      const two = await shardProject(2);
      const byShard = new Map<string, string[]>();
      while ([...byShard.values()].filter((emails) => emails.length >= 3).length < 2) {
        const email = uniqueEmail();
        const name = await shardOf(env, two.id, email);
        byShard.set(name, [...(byShard.get(name) ?? []), email]);
      }
      for (const [first, second, third] of byShard.values()) {
        expect(await status(two.publicKey, first as string)).toBe(200);
        expect(await status(two.publicKey, second as string)).toBe(200);
        expect(await status(two.publicKey, third as string)).toBe(429);
      }
    } finally {
      env.TRACK_LIMIT_PER_MINUTE = before;
    }
  });

  it("cancels a waiting execution through the API", async () => {
    const p = await shardProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "slow",
      steps: { wait: { type: "DELAY", config: { amount: 2, unit: "hours" } }, hook: hook() },
      edges: [
        ["trigger", "wait"],
        ["wait", "hook"],
      ],
    });
    await track(p.publicKey, "slow", uniqueEmail());
    const [ex] = await listExecutions(p.secretKey, wf.id);
    const res = await call("DELETE", `/workflows/${wf.id}/executions/${ex.id}`, { key: p.secretKey });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.status).toBe("CANCELLED");
    const again = await call("DELETE", `/workflows/${wf.id}/executions/${ex.id}`, { key: p.secretKey });
    expect(again.status).toBe(409);
    // Deleting a contact cancels its waiting executions.
    const email = uniqueEmail();
    const t = await track(p.publicKey, "slow", email);
    const waiting = (await listExecutions(p.secretKey, wf.id)).find(
      (e: { contactId: string }) => e.contactId === t.contact,
    );
    expect(waiting.status).toBe("WAITING");
    expect((await call("DELETE", `/contacts/${t.contact}`, { key: p.secretKey })).status).toBe(204);
    expect((await getExecution(p.secretKey, wf.id, waiting.id)).status).toBe("CANCELLED");
    expect(
      (await call("GET", `/workflows/${wf.id}/executions/xpg_nope_1`, { key: p.secretKey })).status,
    ).toBe(404);
  });

  it("starts workflows from events stored elsewhere: a track that changes the status", async () => {
    const p = await shardProject();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "contact.unsubscribed",
      steps: { hook: hook("bye") },
      edges: [["trigger", "hook"]],
    });
    const email = uniqueEmail();
    await track(p.publicKey, "hello", email);
    await track(p.publicKey, "bye", email, undefined, false);
    await waitForPosts(1);
    expect(posts[0]?.url).toBe("https://hooks.test/bye");
    const [ex] = await listExecutions(p.secretKey, wf.id);
    expect(ex.status).toBe("COMPLETED");
    const undispatched = await env.DB.prepare(
      "SELECT count(*) AS n FROM events WHERE project_id = ?1 AND dispatched_at IS NULL",
    )
      .bind(p.id)
      .first<{ n: number }>();
    expect(undispatched?.n).toBe(0);
  });

  it("an UPDATE_CONTACT that unsubscribes starts the contact.unsubscribed workflow, in the same shard", async () => {
    const p = await shardProject();
    await createWorkflow(p.secretKey, {
      eventName: "leave",
      steps: { off: { type: "UPDATE_CONTACT", config: { subscribed: false } } },
      edges: [["trigger", "off"]],
    });
    const bye = await createWorkflow(p.secretKey, {
      eventName: "contact.unsubscribed",
      steps: { hook: hook("bye") },
      edges: [["trigger", "hook"]],
    });
    const t = await track(p.publicKey, "leave", uniqueEmail());
    await waitForPosts(1);
    expect(posts[0]?.url).toBe("https://hooks.test/bye");
    const [ex] = await listExecutions(p.secretKey, bye.id);
    expect(ex).toMatchObject({ contactId: t.contact });
    const contact = await call("GET", `/contacts/${t.contact}`, { key: p.secretKey });
    expect(contact.body.subscribed).toBe(false);
  });

  it("runs SEND_EMAIL and UPDATE_CONTACT after the start is stored", async () => {
    const emails = captureQueue(env.EMAILS_QUEUE);
    const p = await shardProject();
    const tpl = await call("POST", "/templates", {
      key: p.secretKey,
      body: { name: "T", subject: "Hi", body: "<p>Hi</p>", from: "hello@example.com" },
    });
    expect(tpl.status, JSON.stringify(tpl.body)).toBe(201);
    const wf = await createWorkflow(p.secretKey, {
      eventName: "welcome",
      steps: {
        mail: { type: "SEND_EMAIL", config: { templateId: tpl.body.id } },
        tag: { type: "UPDATE_CONTACT", config: { data: { welcomed: true } } },
      },
      edges: [
        ["trigger", "mail"],
        ["mail", "tag"],
      ],
    });
    const email = uniqueEmail();
    const t = await track(p.publicKey, "welcome", email);
    await vi.waitFor(
      async () => {
        const [ex] = await listExecutions(p.secretKey, wf.id);
        expect(ex?.status).toBe("COMPLETED");
      },
      { timeout: 3_000, interval: 50 },
    );
    expect(emails.sent).toHaveLength(1);
    const contact = await call("GET", `/contacts/${t.contact}`, { key: p.secretKey });
    expect(contact.body.data).toMatchObject({ welcomed: true });
  });

  it("retention deletes ended pages, their counters kept and their no-re-entry runs remembered", async () => {
    const p = await shardProject();
    expect((await call("PATCH", "/project", { key: p.secretKey, body: { retentionDays: 1 } })).status).toBe(
      200,
    );
    const wf = await createWorkflow(p.secretKey, {
      eventName: "once",
      steps: { hook: hook("once") },
      edges: [["trigger", "hook"]],
    });
    const email = uniqueEmail();
    const t = await track(p.publicKey, "once", email);
    await waitForPosts(1);
    const pageCount = async () =>
      (
        await env.DB.prepare("SELECT count(*) AS n FROM pages WHERE workflow_id = ?1")
          .bind(wf.id)
          .first<{ n: number }>()
      )?.n;
    await vi.waitFor(
      async () => {
        const row = await env.DB.prepare("SELECT active FROM pages WHERE workflow_id = ?1")
          .bind(wf.id)
          .first<{ active: number }>();
        expect(row?.active).toBe(0);
      },
      { timeout: 3_000, interval: 50 },
    );
    const later = Date.now() + 2 * 86_400_000;
    for (let i = 0; i < 20 && (await pageCount()) !== 0; i++)
      await retention(env, createLogger(), later, { projects: 500 });
    expect(await pageCount()).toBe(0);
    // The counters moved to step_counts: the stats still count the run.
    const stats = await call("GET", `/workflows/${wf.id}/stats`, { key: p.secretKey });
    expect(stats.body.steps.find((x: { stepId: string }) => x.stepId === wf.steps.hook)).toMatchObject({
      passed: 1,
      completed: 1,
    });
    // The event went too (its page had gone), and the contact still cannot enter again.
    const ev = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE project_id = ?1 AND id = ?2")
      .bind(p.id, t.event)
      .first<{ n: number }>();
    expect(ev?.n).toBe(0);
    const runs = await env.DB.prepare("SELECT contact_id FROM enrollments WHERE workflow_id = ?1")
      .bind(wf.id)
      .all();
    expect(runs.results).toEqual([{ contact_id: t.contact }]);
    // A shard started afresh (nothing in memory) reads it.
    await runInDurableObject(
      shardStub(env, await shardOf(env, p.id, email)) as DurableObjectStub,
      (shard: unknown) => {
        (shard as { ran: Set<string> }).ran.clear();
      },
    );
    await track(p.publicKey, "once", email);
    expect(await listExecutions(p.secretKey, wf.id)).toHaveLength(0);
    expect(posts).toHaveLength(1);
  });

  describe("a shard restarted (its memory lost, its storage and D1 kept)", () => {
    /** A new instance of the shard over the same storage, as the platform makes after a restart. */
    async function restarted(project: TestProject, email: string, then: (shard: any) => Promise<void>) {
      const stub = shardStub(env, await shardOf(env, project.id, email)) as DurableObjectStub;
      await runInDurableObject(stub, async (_old: unknown, state: DurableObjectState) => {
        const fresh = new ShardDO(state, env) as any;
        await fresh.loaded;
        await then(fresh);
      });
    }

    it("reloads a waiting execution from its pages and ends the DELAY from its alarm", async () => {
      const p = await shardProject();
      const wf = await createWorkflow(p.secretKey, {
        eventName: "nap",
        steps: { wait: { type: "DELAY", config: { amount: 2, unit: "hours" } }, hook: hook("woke") },
        edges: [
          ["trigger", "wait"],
          ["wait", "hook"],
        ],
      });
      const email = uniqueEmail();
      await track(p.publicKey, "nap", email);
      const [ex] = await listExecutions(p.secretKey, wf.id);
      await restarted(p, email, async (shard) => {
        const at = shard.byId.get(ex.id);
        expect(at?.exec.status).toBe("WAITING");
        at.exec.wait.until = Date.now(); // its time has come
        await shard.alarm();
      });
      await waitForPosts(1);
      expect(posts[0]?.url).toBe("https://hooks.test/woke");
      expect((await getExecution(p.secretKey, wf.id, ex.id)).status).toBe("COMPLETED");
    });

    it("posts again, with the same webhook-id, a webhook whose outcome was not stored", async () => {
      const p = await shardProject();
      const wf = await createWorkflow(p.secretKey, {
        eventName: "ping",
        steps: { hook: hook() },
        edges: [["trigger", "hook"]],
      });
      // An execution waiting a day in the same shard (the project's one): the alarm is set, a day away.
      await createWorkflow(p.secretKey, {
        eventName: "later",
        steps: { wait: { type: "DELAY", config: { amount: 1, unit: "days" } } },
        edges: [["trigger", "wait"]],
      });
      await track(p.publicKey, "later", uniqueEmail());
      let release: () => void = () => {};
      const held = new Promise<void>((r) => {
        release = r;
      });
      // The first post hangs: the shard is "gone" before its outcome is committed.
      answer = async () => {
        if (posts.length === 1) await held;
        return 200;
      };
      const email = uniqueEmail();
      await track(p.publicKey, "ping", email);
      await waitForPosts(1);
      // Its lease: the shard's alarm was set before the delivery was stored, for when the post should be
      // over, so a shard gone now is woken though no request comes. Set though an alarm was already there,
      // a day away (a waiting execution's: the alarm only moves earlier).
      const stub = shardStub(env, await shardOf(env, p.id, email)) as DurableObjectStub;
      const alarm = await runInDurableObject(stub, (_s: unknown, state: DurableObjectState) =>
        state.storage.getAlarm(),
      );
      expect(alarm).toBeGreaterThan(Date.now());
      expect(alarm).toBeLessThanOrEqual(Date.now() + 5_250);
      await restarted(p, email, async (shard) => {
        await shard.alarm();
      });
      await waitForPosts(2);
      release();
      expect(posts[1]?.id).toBe(posts[0]?.id);
      await delivered(wf.id);
    });

    it("offers a waiting execution the event it missed while the shard was gone", async () => {
      const p = await shardProject();
      const wf = await createWorkflow(p.secretKey, {
        eventName: "trial",
        steps: {
          wait: { type: "WAIT_FOR_EVENT", config: { eventName: "upgrade", timeout: 3600 } },
          done: hook("up"),
        },
        edges: [
          ["trigger", "wait"],
          ["wait", "done", "event"],
        ],
      });
      const email = uniqueEmail();
      const t = await track(p.publicKey, "trial", email);
      const [ex] = await listExecutions(p.secretKey, wf.id);
      // Stored (and marked dispatched) by a commit whose hand-over to the wait the restart lost.
      await env.DB.prepare(
        `INSERT INTO events (id, project_id, contact_id, name, data, created_at, dispatched_at)
         VALUES ('evt_missed' || hex(randomblob(6)), ?1, ?2, 'upgrade', '{}', ?3, ?3)`,
      )
        .bind(p.id, t.contact, Date.now() + 1)
        .run();
      await restarted(p, email, async (shard) => {
        await shard.alarm();
      });
      await waitForPosts(1);
      expect(posts[0]?.url).toBe("https://hooks.test/up");
      await vi.waitFor(
        async () => expect((await getExecution(p.secretKey, wf.id, ex.id)).status).toBe("COMPLETED"),
        {
          timeout: 3_000,
          interval: 50,
        },
      );
    });
  });
});
