/**
 * What retention keeps per execution and per event, in bytes (README "Limits", "Retention" quotes it).
 * A real execution (TRIGGER → WEBHOOK, delivered at the first attempt) gives the rows; they are cloned
 * CLONES times with ids of the same length, and the database's size (D1's `meta.size_after`) before and
 * after gives the bytes on disk per execution, its index entries and page overhead included. The sum of
 * `length()` of its columns gives the bytes of data alone.
 */
import { env } from "cloudflare:workers";
import { afterEach, expect, it, vi } from "vitest";
import { captureQueue, consume, createProject, uniqueEmail } from "./helpers";
import { createWorkflow, listExecutions, track } from "./workflow-helpers";

afterEach(() => vi.restoreAllMocks());

const CLONES = 5_000;
const cte = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${CLONES})`;
/** `id` with its last 7 characters replaced by the clone's number: the same length. */
const clone = (col: string) => `substr(${col}, 1, length(${col}) - 7) || printf('%07d', i)`;

async function sizeAfter(sql: string, ...params: unknown[]): Promise<number> {
  const r = await env.DB.prepare(sql)
    .bind(...params)
    .run();
  return (r.meta as { size_after: number }).size_after;
}

const rowBytes = async (table: string, columns: string[], where: string, ...params: unknown[]) =>
  (
    await env.DB.prepare(
      `SELECT coalesce(sum(${columns.map((c) => `coalesce(length(${c}), 0)`).join(" + ")}), 0) AS n FROM ${table} WHERE ${where}`,
    )
      .bind(...params)
      .first<{ n: number }>()
  )?.n ?? 0;

const columnsOf = async (table: string) =>
  (
    await env.DB.prepare(`SELECT name FROM pragma_table_info('${table}')`).all<{ name: string }>()
  ).results.map((r) => r.name);

it("measures the bytes of a retained execution and of an event", async () => {
  const hooks = captureQueue(env.WEBHOOKS_QUEUE);
  vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response("ok", { status: 200 }));
  const p = await createProject();
  const wf = await createWorkflow(p.secretKey, {
    eventName: "signup",
    steps: {
      hook: {
        type: "WEBHOOK",
        config: { url: "https://example.com/hooks/signup", body: { plan: "{{ event.plan }}" } },
      },
    },
    edges: [["trigger", "hook"]],
  });
  await track(p.secretKey, "signup", uniqueEmail("size"), { plan: "pro", source: "landing-page" });
  for (const m of hooks.sent) expect((await consume("webhooks", m)).acked).toBe(true);
  const [ex] = await listExecutions(p.secretKey, wf.id);
  expect(ex.status).toBe("COMPLETED");
  const delivery = await env.DB.prepare("SELECT id, status FROM webhook_deliveries WHERE execution_id = ?1")
    .bind(ex.id)
    .first<{ id: string; status: string }>();
  expect(delivery?.status).toBe("DELIVERED");

  // Data alone: every column's length, of the rows retention deletes (and of the enrollments row it keeps).
  const data = {
    execution: await rowBytes("executions", await columnsOf("executions"), "id = ?1", ex.id),
    delivery: await rowBytes(
      "webhook_deliveries",
      await columnsOf("webhook_deliveries"),
      "execution_id = ?1",
      ex.id,
    ),
    event: await rowBytes("events", await columnsOf("events"), "project_id = ?1", p.id),
    enrollment: await rowBytes("enrollments", await columnsOf("enrollments"), "workflow_id = ?1", wf.id),
  };

  // On disk: the same rows CLONES times over (ids of the same length), by the database's size.
  const cols = async (table: string, swap: Record<string, string>) =>
    (await columnsOf(table)).map((c) => swap[c] ?? c).join(", ");
  const insertClones = async (table: string, swap: Record<string, string>, where: string, param: string) =>
    `${cte} INSERT INTO ${table} (${(await columnsOf(table)).join(", ")}) SELECT ${await cols(table, swap)} FROM n, ${table} WHERE ${where.replace("?1", `'${param}'`)}`;
  const before = await sizeAfter("UPDATE projects SET updated_at = updated_at WHERE id = ?1", p.id);
  const executionSize = await sizeAfter(
    await insertClones("executions", { id: clone("id") }, "id = ?1", ex.id),
  );
  const withDeliveries = await sizeAfter(
    await insertClones(
      "webhook_deliveries",
      { id: clone("id"), execution_id: clone("execution_id") },
      "execution_id = ?1",
      ex.id,
    ),
  );
  const withEvents = await sizeAfter(
    await insertClones(
      "events",
      { id: clone("id"), contact_id: clone("contact_id") },
      "project_id = ?1",
      p.id,
    ),
  );
  const withEnrollments = await sizeAfter(
    await insertClones("enrollments", { contact_id: clone("contact_id") }, "workflow_id = ?1", wf.id),
  );
  const perRow = (a: number, b: number) => Math.round((b - a) / CLONES);
  const disk = {
    execution: perRow(before, executionSize),
    delivery: perRow(executionSize, withDeliveries),
    event: perRow(withDeliveries, withEvents),
    enrollment: perRow(withEvents, withEnrollments),
  };
  const retainedExecution = disk.execution + disk.delivery;
  console.log(
    JSON.stringify({
      clones: CLONES,
      dataBytes: data,
      diskBytesPerRow: disk,
      diskBytesPerRetainedExecution: retainedExecution,
      diskBytesPerEvent: disk.event,
    }),
  );
  expect(data.execution).toBeGreaterThan(0);
  expect(retainedExecution).toBeGreaterThan(data.execution + data.delivery);
  expect(disk.event).toBeGreaterThan(0);
});
