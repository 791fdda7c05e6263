/**
 * Analytics: per project and UTC day, answered from counters kept as things happen, never from scans of
 * raw rows.
 *
 * - **Emails** sent, delivered, opened (first open), clicked (first click), bounced (permanent), complained:
 *   `stats_daily` rows (metric `email`) added in the same batch that stores the email's event, counted only
 *   if that event was stored (`emailCounter`), so a retried batch or a replayed notification counts once.
 * - **Events by name** (tracked ones, and `contact.*` and `segment.*`; `email.*` are the emails' counters):
 *   `stats_daily` rows (metric `event`) added by the cron each minute from each project's cursor over the
 *   events' key (`rollupEvents`): counting and moving the cursor are one transaction, so two passes at once
 *   count each event once. They lag by at most `ROLLUP_GRACE_MS` and a minute. Contacts subscribed and
 *   unsubscribed are the `contact.subscribed` and `contact.unsubscribed` events.
 * - **Executions** started and ended by status, per workflow: the `$start` and `$end:<status>` keys of
 *   `step_counts` (durable-objects/execution.ts), which each execution's mirror already rewrites: they cost
 *   no row of their own.
 *
 * A plain track writes nothing more: its event is counted by the cron.
 */
import { z } from "zod";
import { idFloor } from "./domain/ids";
import type { Env } from "./env";
import type { Logger } from "./log";

export const DAY_MS = 86_400_000;
/**
 * Events younger than this are left to the next pass: an event's id carries the time its request began, so
 * one stored a moment after a pass may sort before the cursor that pass set. (`email.*` events, whose ids
 * carry SES's time, are not rolled up here.)
 */
export const ROLLUP_GRACE_MS = 60_000;

/** ROLLUP_GRACE_SECONDS shortens the grace in development and tests (a demo's chart fills sooner); production keeps it. */
export function rollupGraceMs(env: Env): number {
  const s = Number(env.ROLLUP_GRACE_SECONDS ?? "60");
  return env.ENVIRONMENT !== "production" && Number.isFinite(s) && s >= 0 && s < 60
    ? s * 1000
    : ROLLUP_GRACE_MS;
}

/** Events counted a pass at most (a project's history is counted over several passes the first time). */
export const ROLLUP_PAGE = 10_000;

export const EMAIL_METRICS = ["sent", "delivered", "opened", "clicked", "bounced", "complained"] as const;
export type EmailMetric = (typeof EMAIL_METRICS)[number];
export const EXECUTION_ENDS = ["COMPLETED", "EXITED", "FAILED", "CANCELLED"] as const;

/**
 * The statement that counts one email event for the project's day, placed right after the statement that
 * stores the event: it adds 1 only if that one changed a row (`changes()`), and itself changes a row only
 * then, so a statement after it can chain on it the same way.
 */
export function emailCounter(
  db: D1Database,
  projectId: string,
  metric: EmailMetric,
  at: number,
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO stats_daily (project_id, day, metric, dim, n) SELECT ?1, ?2, 'email', ?3, 1 WHERE changes() = 1
       ON CONFLICT (project_id, day, metric, dim) DO UPDATE SET n = n + 1`,
    )
    .bind(projectId, Math.floor(at / DAY_MS), metric);
}

/**
 * The cron's part: the events stored since each project's cursor (up to `now - ROLLUP_GRACE_MS`) counted
 * by day and name, and the cursors moved, in one batch. Reads the projects of this database (an index probe
 * each) and the new events; writes a counter row per (project, day, name) seen and a cursor per project
 * with events. Returns the events counted.
 */
export async function rollupEvents(env: Env, log: Logger, now: number): Promise<number> {
  const bound = idFloor("evt", now - rollupGraceMs(env));
  const database = env.DATABASE ?? "DB";
  // This pass's events: the projects of this database (projects_database: the registry also holds the other
  // databases' projects), then each project's range of the
  // events' key after its cursor, in key order, at most ROLLUP_PAGE of them; a project cut short goes on
  // from the last one counted.
  const batch = `WITH batch AS (
      SELECT e.project_id, e.id, e.name, e.created_at
      FROM projects p CROSS JOIN events e ON e.project_id = p.id
        AND e.id > coalesce((SELECT after FROM rollup_cursors r WHERE r.project_id = p.id), '') AND e.id < ?2
      WHERE p.database = ?1
      ORDER BY p.id, e.id LIMIT ${ROLLUP_PAGE})`;
  const [counted] = await env.DB.batch([
    env.DB.prepare(`${batch} SELECT count(*) AS n FROM batch WHERE name NOT LIKE 'email.%'`).bind(
      database,
      bound,
    ),
    env.DB.prepare(
      `${batch} INSERT INTO stats_daily (project_id, day, metric, dim, n)
       SELECT project_id, created_at / ${DAY_MS}, 'event', name, count(*) FROM batch WHERE name NOT LIKE 'email.%'
       GROUP BY 1, 2, 4
       ON CONFLICT (project_id, day, metric, dim) DO UPDATE SET n = n + excluded.n`,
    ).bind(database, bound),
    // A project whose events all fit moves to the bound; one cut short, to its last event counted.
    env.DB.prepare(
      `${batch} INSERT INTO rollup_cursors (project_id, after)
       SELECT project_id, CASE WHEN (SELECT count(*) FROM batch) < ${ROLLUP_PAGE} THEN ?2 ELSE max(id) END
       FROM batch GROUP BY project_id
       ON CONFLICT (project_id) DO UPDATE SET after = max(after, excluded.after)`,
    ).bind(database, bound),
  ]);
  const n = (counted?.results[0] as { n: number } | undefined)?.n ?? 0;
  if (n > 0) log.info("events rolled up", { events: n });
  return n;
}

export const analyticsQuery = z.strictObject({
  from: z.iso.date().optional().describe("The first UTC day (default: 29 days before `to`)"),
  to: z.iso.date().optional().describe("The last UTC day (default: today)"),
});

export interface Analytics {
  from: string;
  to: string;
  days: string[];
  emails: Record<EmailMetric, number[]>;
  contacts: { subscribed: number[]; unsubscribed: number[] };
  events: { name: string; total: number; daily: number[] }[];
  executions: {
    workflowId: string;
    name: string;
    started: number[];
    ended: Record<(typeof EXECUTION_ENDS)[number], number[]>;
  }[];
}

const dayOf = (iso: string) => Math.floor(Date.parse(`${iso}T00:00:00Z`) / DAY_MS);
const isoOf = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

/** The counters of days `first`…`last` (UTC day numbers): ranges of stats_daily's and step_counts' keys. */
export async function readAnalytics(
  env: Env,
  projectId: string,
  first: number,
  last: number,
): Promise<Analytics> {
  const days = Array.from({ length: last - first + 1 }, (_, i) => isoOf(first + i));
  const zeros = () => days.map(() => 0);
  const [stats, steps] = await env.DB.batch([
    env.DB.prepare(
      "SELECT day, metric, dim, n FROM stats_daily WHERE project_id = ?1 AND day BETWEEN ?2 AND ?3",
    ).bind(projectId, first, last),
    // And on the shard engine, the counters the pages keep (src/shard/pages.ts).
    env.DB.prepare(
      `SELECT w.id AS workflow_id, w.name, s.day, c.key AS k, c.value ->> 0 AS n
       FROM workflows w JOIN step_counts s ON s.workflow_id = w.id AND s.day BETWEEN ?2 AND ?3,
         json_each(s.counts) AS c
       WHERE w.project_id = ?1 AND c.key LIKE '$%'
       UNION ALL
       SELECT w.id, w.name, CAST(d.key AS INTEGER), c.key, c.value ->> 0
       FROM workflows w JOIN pages p ON p.project_id = w.project_id AND p.workflow_id = w.id,
         json_each(p.counts) AS d, json_each(d.value) AS c
       WHERE w.project_id = ?1 AND CAST(d.key AS INTEGER) BETWEEN ?2 AND ?3 AND c.key LIKE '$%'`,
    ).bind(projectId, first, last),
  ]);
  const emails = Object.fromEntries(EMAIL_METRICS.map((m) => [m, zeros()])) as Analytics["emails"];
  const contacts = { subscribed: zeros(), unsubscribed: zeros() };
  const events = new Map<string, number[]>();
  for (const r of (stats?.results ?? []) as { day: number; metric: string; dim: string; n: number }[]) {
    const i = r.day - first;
    const counts = r.metric === "email" ? emails[r.dim as EmailMetric] : undefined;
    if (counts) counts[i] = (counts[i] ?? 0) + r.n;
    if (r.metric !== "event") continue;
    if (r.dim === "contact.subscribed") contacts.subscribed[i] = (contacts.subscribed[i] ?? 0) + r.n;
    if (r.dim === "contact.unsubscribed") contacts.unsubscribed[i] = (contacts.unsubscribed[i] ?? 0) + r.n;
    const daily = events.get(r.dim) ?? zeros();
    daily[i] = (daily[i] ?? 0) + r.n;
    events.set(r.dim, daily);
  }
  const runs = new Map<string, Analytics["executions"][number]>();
  for (const r of (steps?.results ?? []) as {
    workflow_id: string;
    name: string;
    day: number;
    k: string;
    n: number;
  }[]) {
    let w = runs.get(r.workflow_id);
    if (!w) {
      w = {
        workflowId: r.workflow_id,
        name: r.name,
        started: zeros(),
        ended: Object.fromEntries(
          EXECUTION_ENDS.map((e) => [e, zeros()]),
        ) as Analytics["executions"][number]["ended"],
      };
      runs.set(r.workflow_id, w);
    }
    const i = r.day - first;
    if (r.k === "$start") w.started[i] = (w.started[i] ?? 0) + r.n;
    const end = r.k.startsWith("$end:") ? (r.k.slice(5) as (typeof EXECUTION_ENDS)[number]) : null;
    if (end && end in w.ended) w.ended[end][i] = (w.ended[end][i] ?? 0) + r.n;
  }
  return {
    from: isoOf(first),
    to: isoOf(last),
    days,
    emails,
    contacts,
    events: [...events]
      .map(([name, daily]) => ({ name, total: daily.reduce((a, b) => a + b, 0), daily }))
      .sort((a, b) => b.total - a.total || a.name.localeCompare(b.name)),
    executions: [...runs.values()].sort((a, b) => a.name.localeCompare(b.name)),
  };
}

/** The window a query names: at most 366 days, `from` not after `to`; else the field at fault and why. */
export function windowOf(
  q: z.output<typeof analyticsQuery>,
  now: number,
): { first: number; last: number } | { field: "from" | "to"; message: string } {
  const last = q.to ? dayOf(q.to) : Math.floor(now / DAY_MS);
  const first = q.from ? dayOf(q.from) : last - 29;
  if (Number.isNaN(last)) return { field: "to", message: "Not a day (YYYY-MM-DD)" };
  if (Number.isNaN(first)) return { field: "from", message: "Not a day (YYYY-MM-DD)" };
  if (first > last) return { field: "from", message: "`from` is after `to`" };
  if (last - first + 1 > 366) return { field: "from", message: "At most 366 days from `from` to `to`" };
  return { first, last };
}
