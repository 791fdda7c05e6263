/**
 * The sweep reads in proportion to what is due, not to the tables: every statement it runs is a range of
 * an index (EXPLAIN QUERY PLAN names one and scans no table), and with 100,000 finished executions,
 * emails and events beside a few due ones it finds exactly the due ones, reading few rows.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../src/log";
import { ALARM_GRACE_MS, DISPATCH_GRACE_MS, EMAIL_REQUEUE_MS, RUNNING_GRACE_MS, sweep } from "../src/sweep";

afterEach(async () => {
  vi.restoreAllMocks();
  // Each test's due rows go with it (whether or not the runner isolates storage between tests).
  await env.DB.batch(
    ["executions", "emails", "events"].map((t) =>
      env.DB.prepare(`DELETE FROM ${t} WHERE project_id LIKE 'prj_sweep_%'`),
    ),
  );
});

const log = createLogger({ test: "sweep-indexes" });
const BULK = 100_000;

interface Ran {
  sql: string;
  params: unknown[];
  rowsRead: number;
}

/** `env` with a D1 binding that records each statement run through it (SQL, parameters, rows read). */
function metered() {
  const ran: Ran[] = [];
  const real = env.DB;
  const record = (sql: string, params: unknown[], meta: { rows_read?: number } | undefined) =>
    ran.push({ sql, params, rowsRead: meta?.rows_read ?? 0 });
  const watch = (st: D1PreparedStatement, sql: string, params: unknown[]): D1PreparedStatement => {
    // The statement stays the runtime's own object (batch() needs it): its methods are wrapped in place.
    const bind = st.bind.bind(st);
    const all = st.all.bind(st);
    const run = st.run.bind(st);
    Object.assign(st, {
      bind: (...args: unknown[]) => watch(bind(...args), sql, args),
      all: async () => {
        const r = await all();
        record(sql, params, r.meta);
        return r;
      },
      run: async () => {
        const r = await run();
        record(sql, params, r.meta);
        return r;
      },
    });
    (st as unknown as { __sql: string; __params: unknown[] }).__sql = sql;
    (st as unknown as { __sql: string; __params: unknown[] }).__params = params;
    return st;
  };
  const db = {
    prepare: (sql: string) => watch(real.prepare(sql), sql, []),
    batch: async (statements: D1PreparedStatement[]) => {
      const results = await real.batch(statements);
      statements.forEach((st, i) => {
        const s = st as unknown as { __sql?: string; __params?: unknown[] };
        record(s.__sql ?? "?", s.__params ?? [], results[i]?.meta);
      });
      return results;
    },
    exec: real.exec.bind(real),
    dump: real.dump.bind(real),
    withSession: real.withSession.bind(real),
  } as unknown as D1Database;
  const meteredEnv = new Proxy(env, {
    get: (target, key) => (key === "DB" ? db : Reflect.get(target, key)),
  }) as typeof env;
  return { env: meteredEnv, ran, rowsRead: () => ran.reduce((n, r) => n + r.rowsRead, 0) };
}

const tag = () => crypto.randomUUID().replaceAll("-", "").slice(0, 12);

/** A few rows of each kind the sweep looks for, due now; returns their ids. */
async function insertDue(now: number) {
  const t = tag();
  const ids = {
    running: [`exec_due_r1_${t}`, `exec_due_r2_${t}`],
    waiting: [`exec_due_w1_${t}`],
    emails: [`eml_due_q_${t}`, `eml_due_s_${t}`],
    event: `evt_due_${t}`,
    project: `prj_sweep_${t}`,
  };
  const stale = now - RUNNING_GRACE_MS - 60_000;
  const ex = (id: string, status: string, updatedAt: number, wakeAt: number | null) =>
    env.DB.prepare(
      `INSERT INTO executions (id, project_id, workflow_id, contact_id, status, context, wake_at, started_at, updated_at)
       VALUES (?1, ?2, 'wf_sweep', ?3, ?4, '{}', ?5, ?6, ?6)`,
    ).bind(id, ids.project, `ctc_${id}`, status, wakeAt, updatedAt);
  const email = (id: string, status: string, updatedAt: number, leaseUntil: number | null) =>
    env.DB.prepare(
      `INSERT INTO emails (id, project_id, contact_id, source_type, type, status, to_email, lease_until, created_at, updated_at)
       VALUES (?1, ?2, 'ctc_x', 'TRANSACTIONAL', 'TRANSACTIONAL', ?3, 'x@example.com', ?4, ?5, ?5)`,
    ).bind(id, ids.project, status, leaseUntil, updatedAt);
  await env.DB.batch([
    ...ids.running.map((id) => ex(id, "RUNNING", stale, null)),
    ...ids.waiting.map((id) => ex(id, "WAITING", stale, now - ALARM_GRACE_MS - 60_000)),
    email(ids.emails[0] as string, "QUEUED", now - EMAIL_REQUEUE_MS - 60_000, null),
    email(ids.emails[1] as string, "SENDING", now - 60_000, now - 1_000),
    env.DB.prepare(
      "INSERT INTO events (id, project_id, contact_id, name, data, created_at) VALUES (?1, ?2, 'ctc_x', 'nothing', '{}', ?3)",
    ).bind(ids.event, ids.project, now - DISPATCH_GRACE_MS - 60_000),
  ]);
  return ids;
}

/**
 * BULK finished executions, emails and events (one INSERT … SELECT each, over a recursive CTE), all old
 * enough to be due if they were unfinished; and a few hundred unfinished ones that are not due yet.
 */
async function insertBulk(now: number) {
  const t = tag();
  const old = now - 30 * 24 * 3_600_000;
  await env.DB.batch([
    env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
       INSERT INTO executions (id, project_id, workflow_id, contact_id, status, context, started_at, completed_at, updated_at)
       SELECT 'exec_bulk_' || ?1 || '_' || i, 'prj_bulk', 'wf_bulk', 'ctc_' || (i % 5000),
         CASE i % 4 WHEN 0 THEN 'COMPLETED' WHEN 1 THEN 'EXITED' WHEN 2 THEN 'FAILED' ELSE 'CANCELLED' END,
         '{}', ?2 + i, ?2 + i, ?2 + i FROM n`,
    ).bind(t, old, BULK),
    env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
       INSERT INTO emails (id, project_id, contact_id, source_type, type, status, to_email, lease_until, sent_at,
         created_at, updated_at)
       SELECT 'eml_bulk_' || ?1 || '_' || i, 'prj_bulk', 'ctc_' || (i % 5000), 'WORKFLOW', 'MARKETING',
         CASE i % 2 WHEN 0 THEN 'SENT' ELSE 'DELIVERED' END, 'x@example.com', ?2 + i, ?2 + i, ?2 + i, ?2 + i FROM n`,
    ).bind(t, old, BULK),
    env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
       INSERT INTO events (id, project_id, contact_id, name, data, created_at, dispatched_at)
       SELECT 'evt_bulk_' || ?1 || '_' || i, 'prj_bulk', 'ctc_' || (i % 5000), 'bulk', '{}', ?2 + i, ?2 + i FROM n`,
    ).bind(t, old, BULK),
    // Unfinished but not due: running and waiting executions, emails in flight.
    env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
       INSERT INTO executions (id, project_id, workflow_id, contact_id, status, context, wake_at, started_at, updated_at)
       SELECT 'exec_live_' || ?1 || '_' || i, 'prj_bulk', 'wf_bulk', 'ctc_live_' || i,
         CASE i % 2 WHEN 0 THEN 'RUNNING' ELSE 'WAITING' END, '{}',
         CASE i % 2 WHEN 0 THEN NULL ELSE ?2 + 3600000 END, ?2, ?2 FROM n`,
    ).bind(t, now),
    env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
       INSERT INTO emails (id, project_id, contact_id, source_type, type, status, to_email, lease_until, created_at,
         updated_at)
       SELECT 'eml_live_' || ?1 || '_' || i, 'prj_bulk', 'ctc_x', 'WORKFLOW', 'MARKETING',
         CASE i % 2 WHEN 0 THEN 'QUEUED' ELSE 'SENDING' END, 'x@example.com',
         CASE i % 2 WHEN 0 THEN NULL ELSE ?2 + 60000 END, ?2, ?2 FROM n`,
    ).bind(t, now),
  ]);
}

function quietQueues() {
  return vi.spyOn(env.EMAILS_QUEUE, "sendBatch").mockResolvedValue(undefined as never);
}

describe("the sweep's statements", () => {
  it("each is a range of an index: EXPLAIN QUERY PLAN names one and scans no table", async () => {
    quietQueues();
    const now = Date.now();
    await insertDue(now);
    const m = metered();
    await sweep(m.env, log, now);
    const seen = new Map<string, unknown[]>();
    for (const r of m.ran) if (!seen.has(r.sql)) seen.set(r.sql, r.params);
    // Each kind of statement the sweep has ran: finding due rows, failing never-started ones, expiring keys.
    const texts = [...seen.keys()].join("\n");
    for (const table of [
      "events",
      "executions",
      "emails",
      "enrollments",
      "idempotency_keys",
      "sessions",
      "workflows",
    ]) {
      expect(texts).toContain(table);
    }
    for (const [sql, params] of seen) {
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind(...params)
        .all<{ detail: string }>();
      const details = results.map((r) => r.detail);
      const plan = `${sql}\n  ${details.join("\n  ")}`;
      // A SCAN of a table (not of json_each's virtual table, nor of a subquery's or a CTE's result, such as
      // the events rollup's `batch`) reads all of it.
      expect(
        details.filter(
          (d) => /^SCAN /.test(d) && !/^SCAN (json_each|\(subquery|CONSTANT ROW|batch$)/.test(d),
        ),
        plan,
      ).toEqual([]);
      expect(
        details.some((d) => /USING (COVERING )?INDEX|USING (INTEGER )?PRIMARY KEY/.test(d)),
        plan,
      ).toBe(true);
    }
  });

  it(`with ${BULK.toLocaleString("en")} finished executions, emails and events, finds exactly the due ones and reads few rows`, async () => {
    const sendBatch = quietQueues();
    const now = Date.now();
    await insertBulk(now);
    const due = await insertDue(now);
    expect(
      (await env.DB.prepare("SELECT count(*) AS n FROM executions").first<{ n: number }>())?.n,
    ).toBeGreaterThanOrEqual(BULK);

    const m = metered();
    const result = await sweep(m.env, log, now);
    expect(result).toMatchObject({ redispatched: 1, kicked: 3, requeuedEmails: 2 });
    const requeued = sendBatch.mock.calls.flatMap(([messages]) =>
      [...messages].map((msg) => (msg.body as { emailId: string }).emailId),
    );
    expect(requeued.sort()).toEqual([...due.emails].sort());
    // Their objects never started: each due execution is FAILED, and no other row changed.
    const failed = await env.DB.prepare(
      "SELECT id FROM executions WHERE project_id = ?1 AND status = 'FAILED' AND exit_reason = 'never started' ORDER BY id",
    )
      .bind(due.project)
      .all<{ id: string }>();
    expect(failed.results.map((r) => r.id)).toEqual([...due.running, ...due.waiting].sort());
    const event = await env.DB.prepare("SELECT dispatched_at FROM events WHERE id = ?1")
      .bind(due.event)
      .first<{ dispatched_at: number | null }>();
    expect(event?.dispatched_at).not.toBeNull();

    const rowsRead = m.rowsRead();
    const bySql = m.ran.map((r) => `${r.rowsRead}\t${r.sql.replace(/\s+/g, " ").slice(0, 100)}`).join("\n");
    expect(rowsRead, `rows read by the sweep's statements:\n${bySql}`).toBeLessThanOrEqual(1_000);

    // A second sweep finds nothing more (but the two emails again: no consumer took them here).
    const again = metered();
    expect(await sweep(again.env, log, now)).toEqual({
      redispatched: 0,
      kicked: 0,
      requeuedEmails: 2,
      schedules: 0,
      recomputes: 0,
    });
    expect(again.rowsRead(), "rows read by a sweep that finds nothing").toBeLessThanOrEqual(50);
  });
});
