/** Shared pieces of the reliability suite: a project with one of every resource, and D1 snapshots. */
import { env } from "cloudflare:workers";
import { expect, vi } from "vitest";
import { call, createProject, type TestProject, uniqueEmail } from "../helpers";

export interface Operation {
  method: string;
  /** OpenAPI form: /workflows/{id}/steps/{stepId} */
  path: string;
  auth: "admin" | "secret" | "public" | "none";
  hasBody: boolean;
  query: string[];
}

/** Every operation GET /openapi.json lists (a test holds it equal to the routes the app serves). */
export async function operations(): Promise<Operation[]> {
  const doc = (await call("GET", "/openapi.json")).body;
  const out: Operation[] = [];
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, o] of Object.entries(ops)) {
      const sec = JSON.stringify(o.security ?? []);
      out.push({
        method: method.toUpperCase(),
        path,
        auth: sec.includes("adminToken")
          ? "admin"
          : sec.includes("publicKey")
            ? "public"
            : sec.includes("secretKey")
              ? "secret"
              : "none",
        hasBody: Boolean(o.requestBody),
        query: (o.parameters ?? []).filter((p: any) => p.in === "query").map((p: any) => p.name),
      });
    }
  }
  return out;
}

export interface World {
  project: TestProject;
  contactId: string;
  contactEmail: string;
  templateId: string;
  segmentId: string;
  workflowId: string;
  stepId: string;
  transitionId: string;
  executionId: string;
  emailId: string;
  deliveryId: string;
  /** A valid unsubscribe token of the contact. */
  token: string;
  /** Path parameter values by name. */
  params: Record<string, string>;
}

/** A project holding one of each resource, so that every path parameter has a real id to point at. */
export async function buildWorld(name?: string, database = "DB"): Promise<World> {
  const project = await createProject(name, { database });
  const sk = project.secretKey;
  const ok = (res: { status: number; body: any }, status: number) => {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    return res.body;
  };
  const contactEmail = uniqueEmail("world");
  const contact = ok(
    await call("POST", "/contacts", { key: sk, body: { email: contactEmail, data: { plan: "pro" } } }),
    201,
  );
  const template = ok(
    await call("POST", "/templates", {
      key: sk,
      body: { name: "T", subject: "Hi {{ plan }}", body: "<p>Hello</p>", from: "team@example.com" },
    }),
    201,
  );
  const segment = ok(
    await call("POST", "/segments", {
      key: sk,
      body: {
        name: `Pro ${crypto.randomUUID().slice(0, 6)}`,
        condition: {
          match: "all",
          filters: [{ field: "contact.data.plan", operator: "equals", value: "pro" }],
        },
      },
    }),
    201,
  );
  const wf = ok(
    await call("POST", "/workflows", {
      key: sk,
      body: { name: "W", eventName: "world.start", enabled: false },
    }),
    201,
  );
  const step = ok(
    await call("POST", `/workflows/${wf.id}/steps`, {
      key: sk,
      body: { type: "DELAY", name: "wait", config: { amount: 1, unit: "days" } },
    }),
    201,
  );
  const transition = ok(
    await call("POST", `/workflows/${wf.id}/transitions`, {
      key: sk,
      body: { fromStepId: wf.steps[0].id, toStepId: step.id },
    }),
    201,
  );
  const sent = ok(
    await call("POST", "/v1/send", { key: sk, body: { to: contactEmail, subject: "S", body: "B" } }),
    200,
  );
  const deliveryId = `whd_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO webhook_deliveries (id, project_id, workflow_id, execution_id, step_id, url, method, status, message,
       attempts, generation, created_at, updated_at)
     VALUES (?1, ?2, ?3, 'exec_world', ?4, 'https://hooks.example.com/x', 'POST', 'FAILED', '{}', '[]', 0, ?5, ?5)`,
  )
    .bind(deliveryId, project.id, wf.id, step.id, now)
    .run();
  const executionId = `exec_world${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  await env.DB.prepare(
    `INSERT INTO executions (id, project_id, workflow_id, contact_id, status, current_step_id, context, started_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, 'COMPLETED', NULL, '{}', ?5, ?5)`,
  )
    .bind(executionId, project.id, wf.id, contact.id, now)
    .run();
  const { unsubscribeToken } = await import("../../src/domain/unsubscribe");
  const secret = await env.DB.prepare("SELECT signing_secret AS s FROM projects WHERE id = ?1")
    .bind(project.id)
    .first<{ s: string }>();
  const token = await unsubscribeToken(secret?.s ?? "", project.id, contact.id);
  return {
    project,
    contactId: contact.id,
    contactEmail,
    templateId: template.id,
    segmentId: segment.id,
    workflowId: wf.id,
    stepId: step.id,
    transitionId: transition.id,
    executionId,
    emailId: sent.data.emails[0].email,
    deliveryId,
    token,
    params: {},
  };
}

/** The concrete path of an operation in a world: `{id}` by the resource the path names. */
export function pathIn(op: Operation, w: World): string {
  const resource = op.path.split("/")[1] ?? "";
  const idFor: Record<string, string> = {
    admin: w.project.id,
    contacts: w.contactId,
    templates: w.templateId,
    segments: w.segmentId,
    workflows: w.workflowId,
    emails: w.emailId,
    "webhook-deliveries": w.deliveryId,
    unsubscribe: w.token,
    subscribe: w.token,
  };
  return op.path
    .replace("{id}", idFor[resource] ?? "x")
    .replace("{stepId}", w.stepId)
    .replace("{tid}", w.transitionId)
    .replace("{eid}", w.executionId)
    .replace("{token}", w.token);
}

/** The tables the app writes (not D1's or SQLite's own). */
export async function appTables(): Promise<string[]> {
  const rows = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%' ORDER BY name",
  ).all<{ name: string }>();
  return rows.results.map((r) => r.name);
}

/**
 * Every row of every app table, as one string: two equal snapshots mean nothing was written. A table is
 * read in its own order (rowid, or the primary key of a WITHOUT ROWID table): a full scan, no index.
 */
export async function snapshot(tables: string[]): Promise<string> {
  const results = await env.DB.batch(tables.map((t) => env.DB.prepare(`SELECT * FROM "${t}" NOT INDEXED`)));
  return JSON.stringify(results.map((r) => r.results));
}

/** Row counts of every app table. */
export async function counts(tables: string[]): Promise<Record<string, number>> {
  const results = await env.DB.batch(tables.map((t) => env.DB.prepare(`SELECT count(*) AS n FROM "${t}"`)));
  return Object.fromEntries(
    tables.map((t, i) => [t, (results[i]?.results[0] as { n: number } | undefined)?.n ?? 0]),
  );
}

/** The error envelope of API.md, with requestId = X-Request-Id; a message naming what was wrong. */
export function envelopeProblem(res: { status: number; headers: Headers; body: any }): string | null {
  const b = res.body;
  if (!b || typeof b !== "object") return `not JSON: ${String(b).slice(0, 200)}`;
  if (b.success !== false) return "success is not false";
  if (typeof b.error?.code !== "string" || !b.error.code) return "no error.code";
  if (b.error.statusCode !== res.status) return `statusCode ${b.error.statusCode} != ${res.status}`;
  if (!b.error.requestId || b.error.requestId !== res.headers.get("x-request-id"))
    return "requestId is not X-Request-Id";
  if (typeof b.timestamp !== "string") return "no timestamp";
  if (JSON.stringify(b).includes("    at ")) return "a stack trace";
  return null;
}

/**
 * Queued work would write to D1 in the background, between a request and its after-snapshot: the queues
 * hold still (what a request queues is covered by the suites of its own feature).
 */
export function holdQueues(): void {
  for (const q of [env.EMAILS_QUEUE, env.WEBHOOKS_QUEUE, env.SEGMENTS_QUEUE]) {
    vi.spyOn(q, "send").mockResolvedValue(undefined as never);
    vi.spyOn(q, "sendBatch").mockResolvedValue(undefined as never);
  }
}
