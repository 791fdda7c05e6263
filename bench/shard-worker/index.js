// The shard prototype of `npm run bench:shard` (see wrangler.toml): the design proposed for 2.3, written
// plainly to measure what it costs per execution and how fast it runs here before the engine is rebuilt on it.
//
// - POST /v1/track hands the event to its contact's shard object (hash(email) mod SHARDS) and answers once
//   the shard has committed it.
// - A shard commits in groups: what arrived while its previous commit was in flight goes in the next one, as
//   one D1 batch (one round trip, one transaction) of at most three statements: the contacts upserted, the
//   events inserted, the execution pages written (each a JSON array of up to PAGE executions). An idle shard
//   commits at once, so nothing waits for a batch to fill. Outcomes (a webhook's result) ride with the next
//   track's commit, or are committed alone after LINGER_MS.
// - An event and the executions it starts are committed together, so the event is dispatched when stored:
//   no undispatched mark to set and clear. A page is the executions' durable state; the object holds them in
//   memory, lists the pages holding active ones in its own storage (one key, written when a page opens), and
//   a restarted shard reloads them.
// - DELAY: one alarm per shard, set to its earliest timer. WEBHOOK: the shard POSTs (webhook-id the
//   execution's delivery id, the same on a retry) and records the outcome in the page with its next commit;
//   a failed POST is retried from the timer with backoff.
//
// Two flows, named by the event: "bench.hook" (TRIGGER → WEBHOOK) and "bench.flow" (DELAY 1 s → CONDITION
// event.plan = "pro" → WEBHOOK); any other event starts nothing.
import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";

const FLOWS = new Set(["bench.hook", "bench.flow"]);
const PROJECT = "prj_bench";
const PAGE = 64;
const RETRY_MS = [5_000, 30_000, 120_000, 600_000];
const LEASE_MS = 60_000;
/** How long an outcome waits for a track's commit to ride with before it is committed alone. */
const LINGER_MS = 250;

/** FNV-1a of the email: the contact's shard. */
function shardOf(email, n) {
  let h = 0x811c9dc5;
  for (let i = 0; i < email.length; i++) {
    h ^= email.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % n;
}

const app = new Hono();
app.get("/health", (c) => c.json({ ok: true }));
app.post("/v1/track", async (c) => {
  const body = await c.req.json();
  const shard = shardOf(body.email, Number(c.env.SHARDS));
  const stub = c.env.SHARD.get(c.env.SHARD.idFromName(`${PROJECT}/${shard}`));
  const out = await stub.track({ email: body.email, name: body.event, data: body.data ?? {} });
  return c.json({ success: true, data: out });
});

const UPSERT_CONTACTS = `INSERT INTO contacts (id, project_id, email, subscribed, data, created_at, updated_at)
  SELECT j.value ->> 0, ?1, j.value ->> 1, 1, '{}', ?2, ?2 FROM json_each(?3) AS j WHERE true
  ON CONFLICT (project_id, email) DO UPDATE SET updated_at = excluded.updated_at
  RETURNING id, email`;
const INSERT_EVENTS = `INSERT INTO events (id, project_id, contact_id, name, data, created_at, dispatched_at,
    executions)
  SELECT j.value ->> 0, ?1, (SELECT id FROM contacts WHERE project_id = ?1 AND email = j.value ->> 1),
    j.value ->> 2, j.value ->> 3, ?2, ?2, j.value ->> 4
  FROM json_each(?3) AS j`;
const WRITE_PAGES = `INSERT INTO pages (id, owner, workflow, active, due, body, updated_at)
  SELECT j.value ->> 0, ?1, j.value ->> 4, j.value ->> 1, j.value ->> 2, j.value ->> 3, ?2
  FROM json_each(?3) AS j WHERE true
  ON CONFLICT (id) DO UPDATE SET active = excluded.active, due = excluded.due, body = excluded.body,
    updated_at = excluded.updated_at`;

// ---- reads through pages: what the app's executions API would run ----------------------------------------

/** An execution's id names its page and its position there. */
const execId = (page, pos) => `exec_${page}_${pos}`;
const parseExecId = (id) => {
  const m = /^exec_(\d+)_(\d+)$/.exec(id);
  return m ? { page: Number(m[1]), pos: Number(m[2]) } : null;
};
const shown = (page, pos, workflow, body) => ({ id: execId(page, pos), workflow, ...JSON.parse(body) });

/** A workflow's executions, newest first, optionally of one status; the cursor is the last one's id. */
app.get("/workflows/:wf/executions", async (c) => {
  const limit = Math.min(Number(c.req.query("limit") ?? 50), 100);
  const status = c.req.query("status") ?? null;
  const after = parseExecId(c.req.query("cursor") ?? "") ?? { page: Number.MAX_SAFE_INTEGER, pos: 0 };
  // RUNNING and WAITING live only in pages with active executions: the others are skipped unread.
  const activeOnly = status === "RUNNING" || status === "WAITING" ? 1 : 0;
  const { results } = await c.env.DB.prepare(
    `SELECT p.id AS page, CAST(e.key AS INTEGER) AS pos, e.value AS body FROM pages p, json_each(p.body) AS e
     WHERE p.workflow = ?1 AND (p.id < ?2 OR (p.id = ?2 AND e.key < ?3)) AND (?4 = 0 OR p.active > 0)
       AND (?5 IS NULL OR e.value ->> 'status' = ?5)
     ORDER BY p.id DESC, e.key DESC LIMIT ?6`,
  )
    .bind(
      c.req.param("wf"),
      after.page,
      after.page === Number.MAX_SAFE_INTEGER ? PAGE : after.pos,
      activeOnly,
      status,
      limit,
    )
    .all();
  const data = results.map((r) => shown(r.page, r.pos, c.req.param("wf"), r.body));
  return c.json({ data, cursor: data.length === limit ? data[data.length - 1].id : null });
});

/** One execution: one row, its page. */
app.get("/executions/:id", async (c) => {
  const at = parseExecId(c.req.param("id"));
  const row =
    at &&
    (await c.env.DB.prepare("SELECT workflow, body ->> ?2 AS body FROM pages WHERE id = ?1")
      .bind(at.page, `$[${at.pos}]`)
      .first());
  if (!row?.body) return c.json({ error: "not found" }, 404);
  return c.json(shown(at.page, at.pos, row.workflow, row.body));
});

/** A contact's executions, newest first: those its events started (a range of events_contact_created). */
app.get("/contacts/:email/executions", async (c) => {
  const { results } = await c.env.DB.prepare(
    `SELECT x.value ->> 0 AS page, x.value ->> 1 AS pos, p.workflow, p.body ->> ('$[' || (x.value ->> 1) || ']') AS body
     FROM contacts ct JOIN events ev ON ev.project_id = ct.project_id AND ev.contact_id = ct.id
       JOIN json_each(ev.executions) AS x JOIN pages p ON p.id = x.value ->> 0
     WHERE ct.project_id = ?1 AND ct.email = ?2 AND ev.executions IS NOT NULL
     ORDER BY ev.created_at DESC, ev.id DESC LIMIT 100`,
  )
    .bind(PROJECT, c.req.param("email"))
    .all();
  return c.json({ data: results.map((r) => shown(r.page, r.pos, r.workflow, r.body)) });
});

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const newId = (prefix) =>
  `${prefix}_${Date.now().toString(36)}${hex(crypto.getRandomValues(new Uint8Array(8)))}`;
const ended = (e) => e.status === "COMPLETED" || e.status === "FAILED";

export class Shard extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.owner = ctx.id.toString();
    /** Tracks waiting for the next commit: { ev, resolve, reject }. */
    this.waiting = [];
    /** Pages by id (those with active executions, and the open one); `dirty` ones go with the next commit. */
    this.pages = new Map();
    this.dirty = new Set();
    /** The page each workflow's new executions go to, until it is full. */
    this.open = new Map();
    this.lastPageId = 0;
    /** The page ids the object's storage lists as holding active executions (what a restart reloads). */
    this.listed = [];
    this.committing = null;
    /** A commit of outcomes alone is due (LINGER_MS after the first one waiting). */
    this.lingering = null;
    this.flushOutcomes = false;
    this.alarmAt = null;
    /** Executions whose webhook is being posted. */
    this.posting = new Set();
    ctx.blockConcurrencyWhile(() => this.load());
  }

  /** A restarted shard: its listed pages, their webhooks resumed and timers re-armed. */
  async load() {
    this.listed = (await this.ctx.storage.get("pages")) ?? [];
    if (this.listed.length === 0) return;
    const { results } = await this.env.DB.prepare(
      "SELECT id, workflow, body FROM pages WHERE id IN (SELECT value FROM json_each(?1))",
    )
      .bind(JSON.stringify(this.listed))
      .all();
    for (const row of results) {
      const page = { id: row.id, workflow: row.workflow, execs: JSON.parse(row.body) };
      this.lastPageId = Math.max(this.lastPageId, page.id);
      if (page.execs.every(ended)) continue;
      this.pages.set(page.id, page);
      for (const e of page.execs) {
        if (e.status === "RUNNING" && e.step === "webhook") this.deliver(page, e);
      }
    }
    await this.arm();
  }

  track(ev) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ ev, resolve, reject });
      this.kick();
    });
  }

  /** Starts the commit loop unless it runs; it runs again if work arrived as it ended. */
  kick() {
    if (this.committing) return;
    this.committing = (async () => {
      try {
        await this.commitLoop();
      } finally {
        this.committing = null;
      }
      if (this.waiting.length > 0 || (this.flushOutcomes && this.dirty.size > 0)) this.kick();
    })();
  }

  /**
   * Commits until no track waits: each round takes every track that arrived during the previous one, and
   * every page changed since. Outcomes alone (a webhook's result) wait for the next track's commit, or
   * LINGER_MS at most.
   */
  async commitLoop() {
    while (this.waiting.length > 0 || (this.flushOutcomes && this.dirty.size > 0)) {
      this.flushOutcomes = false;
      clearTimeout(this.lingering);
      this.lingering = null;
      const now = Date.now();
      const batch = this.waiting.splice(0);
      const events = [];
      const started = [];
      for (const w of batch) {
        const id = newId("evt");
        w.out = { event: id, timestamp: new Date(now).toISOString() };
        const row = [id, w.ev.email, w.ev.name, JSON.stringify(w.ev.data), null];
        events.push(row);
        if (!FLOWS.has(w.ev.name)) continue;
        const e = {
          event: id,
          email: w.ev.email,
          plan: w.ev.data.plan ?? null,
          status: "RUNNING",
          step: "webhook",
          startedAt: now,
          endedAt: null,
          // The lease: if the object is gone before the outcome is committed, the alarm (or a restarted
          // shard) posts again, with the same webhook-id.
          due: now + LEASE_MS,
          delivery: { id: `dlv_${id}`, status: "PENDING", attempts: 0, code: null },
        };
        if (w.ev.name === "bench.flow") {
          Object.assign(e, { status: "WAITING", step: "delay", due: now + 1000, delivery: null });
        }
        const page = this.place(w.ev.name, e);
        row[4] = JSON.stringify([[page.id, page.execs.length - 1]]);
        started.push([page, e]);
      }
      const pages = [...this.dirty].map((id) => this.pages.get(id));
      this.dirty.clear();
      // A page is listed in the object's storage before D1 holds active executions in it.
      const unlisted = pages.filter((p) => !this.listed.includes(p.id));
      if (unlisted.length > 0) {
        this.listed = [...this.listed.filter((id) => this.pages.has(id)), ...unlisted.map((p) => p.id)];
        await this.ctx.storage.put("pages", this.listed);
      }
      const db = this.env.DB;
      const statements = [];
      if (events.length > 0) {
        const emails = [...new Set(events.map((x) => x[1]))];
        statements.push(
          db
            .prepare(UPSERT_CONTACTS)
            .bind(PROJECT, now, JSON.stringify(emails.map((m) => [newId("ctc"), m]))),
          db.prepare(INSERT_EVENTS).bind(PROJECT, now, JSON.stringify(events)),
        );
      }
      if (pages.length > 0) {
        const rows = pages.map((p) => {
          const active = p.execs.filter((e) => !ended(e));
          const due = Math.min(...active.map((e) => e.due ?? Number.POSITIVE_INFINITY));
          return [
            p.id,
            active.length,
            Number.isFinite(due) ? due : null,
            JSON.stringify(p.execs),
            p.workflow,
          ];
        });
        statements.push(db.prepare(WRITE_PAGES).bind(this.owner, now, JSON.stringify(rows)));
      }
      try {
        const results = await db.batch(statements);
        const contacts = new Map(events.length > 0 ? results[0].results.map((r) => [r.email, r.id]) : []);
        for (const w of batch) w.resolve({ contact: contacts.get(w.ev.email), ...w.out });
        for (const p of pages) {
          if (this.open.get(p.workflow) !== p && p.execs.every(ended)) this.pages.delete(p.id);
        }
        for (const [page, e] of started) if (e.step === "webhook") this.deliver(page, e);
        await this.arm();
      } catch (err) {
        // Nothing of the batch is stored (a batch is one transaction): its tracks fail, its new executions
        // go, the pages it carried are written again with the next commit.
        for (const w of batch) w.reject(err);
        for (const [page, e] of started) page.execs.splice(page.execs.indexOf(e), 1);
        for (const p of pages) this.changed(p);
        if (this.waiting.length === 0) await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** Puts a new execution in its workflow's open page (a new one when it is full); gives the page. */
  place(workflow, e) {
    let open = this.open.get(workflow);
    if (!open || open.execs.length >= PAGE) {
      const id = Math.max(Date.now() * 1024, this.lastPageId + 1);
      this.lastPageId = id;
      open = { id, workflow, execs: [] };
      this.open.set(workflow, open);
      this.pages.set(id, open);
    }
    open.execs.push(e);
    this.dirty.add(open.id);
    return open;
  }

  /** A page's change goes with the next track's commit, or on its own after LINGER_MS. */
  changed(page) {
    this.dirty.add(page.id);
    this.lingering ??= setTimeout(() => {
      this.lingering = null;
      this.flushOutcomes = true;
      this.kick();
    }, LINGER_MS);
  }

  async deliver(page, e) {
    if (this.posting.has(e.event)) return;
    this.posting.add(e.event);
    const d = e.delivery;
    const body = JSON.stringify({
      contact: { email: e.email },
      event: { plan: e.plan },
      execution: e.event,
    });
    const timestamp = Math.floor(Date.now() / 1000);
    let code = null;
    try {
      const res = await fetch(this.env.WEBHOOK_URL, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": d.id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": await sign(this.env.WEBHOOK_SECRET, d.id, timestamp, body),
        },
        body,
      });
      await res.text();
      code = res.status;
    } catch {}
    this.posting.delete(e.event);
    d.attempts++;
    d.code = code;
    if (code !== null && code < 300) {
      d.status = "DELIVERED";
      Object.assign(e, { status: "COMPLETED", endedAt: Date.now(), due: null });
    } else if (d.attempts > RETRY_MS.length) {
      d.status = "FAILED";
      Object.assign(e, { status: "FAILED", endedAt: Date.now(), due: null });
    } else {
      d.status = "RETRYING";
      e.due = Date.now() + RETRY_MS[d.attempts - 1];
    }
    this.changed(page);
    await this.arm();
  }

  /** One alarm for the shard's earliest timer, set only when it moves earlier. */
  async arm() {
    let next = Number.POSITIVE_INFINITY;
    for (const p of this.pages.values()) {
      for (const e of p.execs) if (!ended(e) && e.due !== null && e.due < next) next = e.due;
    }
    if (!Number.isFinite(next) || (this.alarmAt !== null && this.alarmAt <= next)) return;
    this.alarmAt = next;
    await this.ctx.storage.setAlarm(next);
  }

  /** Resolves once everything changed so far is committed (an alarm's work, before it returns). */
  async committed() {
    this.flushOutcomes = true;
    this.kick();
    while (this.committing) await this.committing;
  }

  /** Runs what is due; returns once its webhooks are posted and their outcomes committed. */
  async alarm() {
    this.alarmAt = null;
    const now = Date.now();
    const posts = [];
    for (const page of this.pages.values()) {
      for (const e of page.execs) {
        if (ended(e) || e.due === null || e.due > now) continue;
        e.due = null;
        if (e.step === "delay") {
          if (e.plan === "pro") {
            Object.assign(e, {
              status: "RUNNING",
              step: "webhook",
              delivery: { id: `dlv_${e.event}`, status: "PENDING", attempts: 0, code: null },
            });
            posts.push(this.deliver(page, e));
          } else {
            Object.assign(e, { status: "COMPLETED", step: "condition", endedAt: now });
          }
          this.changed(page);
        } else if (e.step === "webhook") {
          posts.push(this.deliver(page, e));
        }
      }
    }
    await Promise.all(posts);
    await this.committed();
    await this.arm();
  }
}

let signingKey = null;
async function sign(secret, id, timestamp, body) {
  if (!signingKey || signingKey.secret !== secret) {
    const raw = secret.startsWith("whsec_") ? secret.slice(6) : secret;
    const bytes = Uint8Array.from(atob(raw), (ch) => ch.charCodeAt(0));
    const key = await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    signingKey = { secret, key };
  }
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", signingKey.key, new TextEncoder().encode(`${id}.${timestamp}.${body}`)),
  );
  let bin = "";
  for (const b of mac) bin += String.fromCharCode(b);
  return `v1,${btoa(bin)}`;
}

export default { fetch: app.fetch };
