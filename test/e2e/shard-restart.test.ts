// The shard engine through a crash, end to end: wrangler dev with a state directory of its own, a project on
// the shard engine (the default), TRIGGER → WEBHOOK to a consumer on loopback; ~200 tracks in flight when
// the whole wrangler dev process tree is SIGKILLed, then wrangler dev started again on the same state. A
// second project's DELAY → WEBHOOK executions, waiting when the crash comes, go through it too (a project of
// their own: their shards have alarms pending, the first project's have none, so nothing wakes those but a
// restart's own means).
//
// What must hold (docs/engine.md, "The app's shard engine", "Restart"):
// - every track answered 2xx has its webhook delivered at least once, and its execution is started once
//   (one webhook-id per contact); a track whose answer the crash cut may or may not have been stored, but
//   never twice; every waiting DELAY run ends and posts its webhook;
// - a webhook-id is the same delivery on every post (the same payload), acknowledged once at most before
//   the kill and once at most after it: only a post whose outcome the crash lost is posted again;
// - with no request to wake it, a restarted shard posts what the crash left PENDING and stores the outcomes
//   (the second test): a first post is leased by the shard's alarm, set before the commit that stores it.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Consumer, startConsumer, until } from "./local-servers";
import { type Stack, startStack } from "./stack";

const TRACKS = 200;
const DELAYED = 40;
/** Tracks in flight at once. */
const CONCURRENCY = 16;

let persist: string;
let stack: Stack;
/** The webhooks of each project (each verifies its project's signatures). */
let consumer: Consumer;
let delayConsumer: Consumer;
interface Project {
  id: string;
  publicKey: string;
  secretKey: string;
  webhookSecret: string;
  engine: string;
}
/** The TRIGGER → WEBHOOK flow's project, and the DELAY flow's (its shards have alarms; the first's do not). */
let project: Project;
let delayProject: Project;

async function api(method: string, p: string, body?: unknown, of: Project = project) {
  const res = await fetch(`${stack.base}${p}`, {
    method,
    headers: { authorization: `Bearer ${of.secretKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** An enabled workflow on `event`: TRIGGER → each step in order. */
async function workflow(
  of: Project,
  event: string,
  steps: { type: string; name: string; config: unknown }[],
) {
  const wf = await api("POST", "/workflows", { name: `wf ${event}`, eventName: event, enabled: true }, of);
  expect(wf.status, JSON.stringify(wf.body)).toBe(201);
  let from = wf.body.steps[0].id;
  for (const s of steps) {
    const step = await api("POST", `/workflows/${wf.body.id}/steps`, s, of);
    expect(step.status, JSON.stringify(step.body)).toBe(201);
    const t = await api(
      "POST",
      `/workflows/${wf.body.id}/transitions`,
      { fromStepId: from, toStepId: step.body.id },
      of,
    );
    expect(t.status).toBe(201);
    from = step.body.id;
  }
  return wf.body.id as string;
}

/** A track's outcome: its status, or null when no answer came (the crash cut it, or it was never sent). */
async function track(of: Project, event: string, email: string, n: number): Promise<number | null> {
  try {
    const res = await fetch(`${stack.base}/v1/track`, {
      method: "POST",
      headers: { authorization: `Bearer ${of.publicKey}`, "content-type": "application/json" },
      body: JSON.stringify({ event, email, data: { n } }),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return null;
  }
}

/** Posts by webhook-id. */
function groupBy<T extends { id: string }>(rows: T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) out.set(r.id, [...(out.get(r.id) ?? []), r]);
  return out;
}

/** Every page of a list route. */
async function all(p: string, of: Project): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const sep = p.includes("?") ? "&" : "?";
    const res = await api(
      "GET",
      `${p}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      undefined,
      of,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    out.push(...res.body.data);
    cursor = res.body.cursor;
  } while (cursor);
  return out;
}

beforeAll(async () => {
  persist = fs.mkdtempSync(path.join(os.tmpdir(), "plunk-edge-shard-restart-"));
  stack = await startStack({ RETRY_DELAY_SCALE: "0" }, { persist });
  // No engine named: the shard engine is the default.
  const made = await stack.admin("POST", "/admin/projects", { name: "Shard restart" });
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  project = made.body;
  expect(project.engine).toBe("shard");
  delayProject = (await stack.admin("POST", "/admin/projects", { name: "Shard restart, DELAY" })).body;
  expect(delayProject.engine).toBe("shard");
  consumer = await startConsumer(project.webhookSecret);
  delayConsumer = await startConsumer(delayProject.webhookSecret);
});

afterAll(async () => {
  await consumer?.close();
  await delayConsumer?.close();
  await stack?.stop();
  if (persist) fs.rmSync(persist, { recursive: true, force: true });
});

/** What the crash test left for the next: each project's posts split at the kill and at the restart. */
const flows: {
  name: "hook" | "delay";
  consumer: () => Consumer;
  project: () => Project;
  atKill: number;
  atReady: number;
}[] = [
  { name: "hook", consumer: () => consumer, project: () => project, atKill: 0, atReady: 0 },
  { name: "delay", consumer: () => delayConsumer, project: () => delayProject, atKill: 0, atReady: 0 },
];
let crashed = false;

describe("the shard engine through a crash of wrangler dev", () => {
  it("every accepted track's webhook arrives, once per execution, after a SIGKILL mid-stream and a restart", {
    timeout: 120_000,
  }, async () => {
    await workflow(project, "sr.hook", [
      { type: "WEBHOOK", name: "hook", config: { url: `${consumer.url}/hook` } },
    ]);
    await workflow(delayProject, "sr.delay", [
      { type: "DELAY", name: "wait", config: { amount: 3, unit: "seconds" } },
      { type: "WEBHOOK", name: "hook", config: { url: `${delayConsumer.url}/delayed` } },
    ]);

    // The DELAY flow's executions first, all answered: they are waiting when the crash comes.
    const delayed = await Promise.all(
      Array.from({ length: DELAYED }, (_, i) => track(delayProject, "sr.delay", `delay${i}@example.com`, i)),
    );
    expect(delayed.every((s) => s === 200)).toBe(true);

    // The webhook flow's tracks, CONCURRENCY at a time; the crash comes once half of them are answered.
    const status: (number | null | undefined)[] = new Array(TRACKS).fill(undefined);
    let next = 0;
    let answered = 0;
    let killed = false;
    let kill: Promise<void> | undefined;
    const worker = async () => {
      while (!killed && next < TRACKS) {
        const i = next++;
        status[i] = await track(project, "sr.hook", `hook${i}@example.com`, i);
        if (status[i] !== null) answered++;
        if (!killed && answered >= TRACKS / 2) {
          killed = true;
          kill = stack.kill();
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await kill;
    // What was on its way to the consumers when the process tree died has arrived.
    await new Promise((r) => setTimeout(r, 300));
    for (const f of flows) f.atKill = f.consumer().received.length;
    const accepted = [...status.keys()].filter((i) => (status[i] ?? 0) >= 200 && (status[i] ?? 0) < 300);
    const cut = [...status.keys()].filter((i) => status[i] === null);
    // A track not answered 2xx must be one the crash cut, not one refused.
    expect(
      status.filter((s) => s != null && (s < 200 || s >= 300)),
      "tracks refused",
    ).toEqual([]);
    expect(cut.length, "tracks cut by the crash").toBeGreaterThan(0);

    // The same state, a new wrangler dev. Nothing else is asked of it: what was under way goes on by itself.
    stack = await startStack({ RETRY_DELAY_SCALE: "0" }, { persist });
    crashed = true;
    for (const f of flows) f.atReady = f.consumer().received.length;

    const postsOf = (c: Consumer, email: string) =>
      c.received.filter((r) => r.body?.contact?.email === email);
    const hookEmails = [...status.keys()].map((i) => `hook${i}@example.com`);
    const delayEmails = Array.from({ length: DELAYED }, (_, i) => `delay${i}@example.com`);
    let missing: string[] = [];
    try {
      await until(
        "every accepted track's webhook, and every delayed one",
        async () => {
          missing = [
            ...accepted.map((i) => hookEmails[i] as string).filter((e) => postsOf(consumer, e).length === 0),
            ...delayEmails.filter((e) => postsOf(delayConsumer, e).length === 0),
          ];
          return missing.length === 0;
        },
        30_000,
      );
    } catch {
      expect(missing, `webhooks never delivered (${accepted.length} tracks accepted)`).toEqual([]);
    }
    // A little longer for what else may come: the posts whose outcome the crash lost, a doubled run.
    await new Promise((r) => setTimeout(r, 2_000));

    const summary: string[] = [];
    for (const f of flows) {
      const c = f.consumer();
      const [emails, mustArrive] =
        f.name === "hook"
          ? [hookEmails, new Set(accepted.map((i) => hookEmails[i]))]
          : [delayEmails, new Set(delayEmails)];
      expect(
        c.received.every((r) => r.verified),
        `${f.name}: signatures`,
      ).toBe(true);
      // One execution per contact: one webhook-id each, whether its track was answered or cut.
      for (const email of emails) {
        const ids = new Set(postsOf(c, email).map((r) => r.id));
        expect(ids.size, `${email}: webhook-ids ${[...ids]}`).toBeLessThanOrEqual(1);
        if (mustArrive.has(email)) expect(ids.size, `${email}: its webhook`).toBe(1);
      }
      // A webhook-id is one delivery: the same payload on every post.
      const byId = groupBy(c.received);
      for (const [id, posts] of byId) {
        expect(new Set(posts.map((r) => JSON.stringify(r.body))).size, `${id}: payloads`).toBe(1);
      }
      // Before the kill a delivery is acknowledged once at most; after it, once at most too, and again only
      // if the crash lost its outcome: acknowledged before the kill (or in flight then) and not yet stored.
      const where = (id: string) =>
        c.received
          .map((r, n) =>
            r.id === id ? (n < f.atKill ? "before the kill" : n < f.atReady ? "restarting" : "after") : null,
          )
          .filter(Boolean)
          .join(", ");
      const twice = (m: Map<string, unknown[]>) =>
        [...m].filter(([, posts]) => posts.length > 1).map(([id]) => `${id}: ${where(id)}`);
      const before = groupBy(c.received.slice(0, f.atKill));
      const after = groupBy(c.received.slice(f.atKill));
      expect(twice(before), `${f.name}: webhook-ids acknowledged twice before the kill`).toEqual([]);
      expect(twice(after), `${f.name}: webhook-ids acknowledged twice after the kill`).toEqual([]);
      const again = [...after.keys()].filter((id) => before.has(id)).length;
      summary.push(
        `${f.name}: ${byId.size} webhook-ids, ${f.atKill} posts before the kill, ${f.atReady - f.atKill} while ` +
          `restarting, ${c.received.length - f.atReady} after (${again} posted again: outcome lost)`,
      );
    }
    console.log(
      `[shard-restart] ${TRACKS} tracks: ${accepted.length} answered 2xx, ${cut.length} cut by the SIGKILL, ` +
        `${TRACKS - accepted.length - cut.length} never sent; ${DELAYED} DELAY runs waiting; ${summary.join("; ")}`,
    );
  });

  // A restarted shard resumes what was under way by itself, with no request to wake it (docs/engine.md,
  // "Restart"): the deliveries the crash left PENDING (committed, their post or its outcome lost) are posted
  // and their outcomes stored. Also the executions started by a track the crash cut (stored, unanswered).
  it("a restarted shard posts, with no request to wake it, every delivery the crash left pending", {
    timeout: 60_000,
  }, async () => {
    expect(crashed, "the crash test ran").toBe(true);
    for (const f of flows) {
      const c = f.consumer();
      const pending = (ds: any[]) => ds.filter((d) => d.status !== "DELIVERED");
      const listed = await until(
        `${f.name}: every delivery's outcome stored`,
        async () => {
          const ds = await all("/webhook-deliveries", f.project());
          return pending(ds).length === 0 && ds;
        },
        15_000,
      ).catch(() => all("/webhook-deliveries", f.project()));
      const seen = groupBy(c.received);
      expect(
        pending(listed).map(
          (d) => `${d.id} ${d.status}, ${seen.has(d.id) ? "posted before the kill" : "never posted"}`,
        ),
        `${f.name}: deliveries not DELIVERED`,
      ).toEqual([]);
      // Nothing the consumer saw is off the record, and nothing on it was not posted.
      expect(new Set(listed.map((d) => d.id))).toEqual(new Set(seen.keys()));
    }
  });
});
