/**
 * Tenants: a matrix over every operation of GET /openapi.json. Project B's keys on project A's ids (and on
 * filters naming them), A's keys crossed with B's ids, and every key where it does not belong: the answer is
 * 404, 401/403 or a refusal, never a byte of the other project's data, and nothing of the other project changes.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN, call } from "../helpers";
import {
  appTables,
  buildWorld,
  envelopeProblem,
  holdQueues,
  type Operation,
  operations,
  pathIn,
  snapshot,
  type World,
} from "./fixtures";

let ops: Operation[];
let tables: string[];
let a: World;
let b: World;
/** A project in the other database (DB_2): its keys must reach nothing of A's either. */
let c: World;

beforeAll(async () => {
  holdQueues();
  ops = await operations();
  tables = await appTables();
  a = await buildWorld("Tenant A");
  b = await buildWorld("Tenant B");
  c = await buildWorld("Tenant C", "DB_2");
});

/**
 * What of `w` must never appear in an answer to another project. (Not its contact's email: the attacker
 * names it in its own requests, and may well have a contact of its own with that address.)
 */
const secretsOf = (w: World) => [
  w.project.id,
  w.project.secretKey,
  w.project.publicKey,
  w.project.webhookSecret,
  w.contactId,
  w.templateId,
  w.segmentId,
  w.workflowId,
  w.stepId,
  w.transitionId,
  w.executionId,
  w.emailId,
  w.deliveryId,
];

/** Rows of project `w` (and rows keyed by its ids), to see that nothing of it changed. */
async function rowsOf(w: World): Promise<string> {
  const all = JSON.parse(await snapshot(tables)) as Record<string, unknown>[][];
  const ids = secretsOf(w).slice(4);
  return JSON.stringify(
    all.map((rows) =>
      rows.filter(
        (r) => r.project_id === w.project.id || r.id === w.project.id || ids.includes(String(r.id)),
      ),
    ),
  );
}

/** A body for the operation that names the victim's ids wherever a body can name one. */
function bodyFor(op: Operation, victim: World): unknown {
  const key = `${op.method} ${op.path}`;
  const bodies: Record<string, unknown> = {
    "POST /v1/track": { event: "cross", email: victim.contactEmail },
    "POST /v1/send": { to: victim.contactEmail, template: victim.templateId },
    "POST /contacts": { email: victim.contactEmail },
    // A CSV (sent as it is): the victim's email imported into the attacker's own project only.
    "POST /contacts/import": `email,subscribed,pwned\n${victim.contactEmail},false,true\n`,
    "POST /contacts/bulk": { action: "delete", ids: [victim.contactId] },
    "PATCH /contacts/{id}": { subscribed: false, data: { pwned: true } },
    "POST /templates": { name: "n", subject: "s", body: "b", from: "a@example.com" },
    "PATCH /templates/{id}": { name: "pwned" },
    "POST /segments": { name: "x", condition: { match: "all", filters: [] } },
    "PATCH /segments/{id}": { name: "pwned" },
    "POST /workflows": { name: "w", eventName: "e" },
    "PATCH /workflows/{id}": { name: "pwned", enabled: true },
    "POST /workflows/{id}/steps": { type: "DELAY", name: "d", config: { amount: 1, unit: "hours" } },
    "PATCH /workflows/{id}/steps/{stepId}": { name: "pwned" },
    "POST /workflows/{id}/transitions": { fromStepId: victim.stepId, toStepId: victim.stepId },
    "POST /workflows/{id}/transitions/{tid}/insert-step": {
      type: "DELAY",
      name: "d",
      config: { amount: 1, unit: "hours" },
    },
    "POST /workflows/{id}/duplicate": { name: "stolen" },
    "PUT /workflows/{id}/definition": { id: victim.workflowId, name: "pwned", eventName: "world.start" },
    "POST /workflows/{id}/executions": { email: victim.contactEmail },
    "POST /admin/projects": { name: "x" },
  };
  return bodies[key] ?? (op.hasBody ? {} : undefined);
}

/** Filters that name the victim's ids on list routes. */
function queryFor(op: Operation, victim: World): string {
  const q = new URLSearchParams();
  if (op.query.includes("contactId")) q.set("contactId", victim.contactId);
  if (op.query.includes("workflowId")) q.set("workflowId", victim.workflowId);
  if (op.query.includes("executionId")) q.set("executionId", victim.executionId);
  if (op.query.includes("search")) q.set("search", victim.contactEmail);
  if (op.query.includes("segmentId")) q.set("segmentId", victim.segmentId);
  return q.size ? `?${q}` : "";
}

const tally = { requests: 0, refused: 0, listedEmpty: 0 };

async function probe(op: Operation, path: string, key: string | undefined, victim: World, attacker: World) {
  const before = await rowsOf(victim);
  const body = bodyFor(op, victim);
  const res = await call(op.method, path, typeof body === "string" ? { key, raw: body } : { key, body });
  tally.requests++;
  const what = `${op.method} ${path} with ${attacker.project.name}'s key → ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
  const text = typeof res.body === "string" ? res.body : JSON.stringify(res.body);
  for (const s of secretsOf(victim)) {
    if (text.includes(s)) throw new Error(`the other project's ${s} leaked: ${what}`);
  }
  expect(res.status, what).toBeLessThan(500);
  if (res.status >= 400) {
    tally.refused++;
    expect(envelopeProblem(res), what).toBeNull();
    expect([401, 403, 404, 409, 422], what).toContain(res.status);
  } else {
    // Only what is the attacker's own: lists (filtered by the victim's ids: empty), creations in its project.
    // (A search by A's contact's email may find B's own contact of that address: its id is B's, checked above.)
    if (Array.isArray(res.body?.data) && /Id=/.test(queryFor(op, victim))) {
      expect(res.body.data, what).toEqual([]);
      tally.listedEmpty++;
    }
  }
  expect(await rowsOf(victim), `the other project changed: ${what}`).toBe(before);
}

/**
 * Every keyed operation with `attacker`'s secret and public keys on `victim`'s ids and filters (and, with
 * `back`, `victim`'s secret key on `attacker`'s); returns how many operations were covered.
 */
async function matrix(attacker: World, victim: World, back: boolean): Promise<number> {
  let covered = 0;
  for (const op of ops) {
    if (op.auth === "admin" || op.auth === "none") continue;
    // Acts on the key's own project only (no id to cross), and would end the keys the matrix goes on with:
    // test/admin.test.ts covers it.
    if (op.method === "POST" && op.path === "/project/rotate-keys") continue;
    covered++;
    const path = `${pathIn(op, victim)}${queryFor(op, victim)}`;
    await probe(op, path, attacker.project.secretKey, victim, attacker);
    await probe(op, path, attacker.project.publicKey, victim, attacker);
    if (back) {
      await probe(
        op,
        `${pathIn(op, attacker)}${queryFor(op, attacker)}`,
        victim.project.secretKey,
        attacker,
        victim,
      );
    }
  }
  return covered;
}

describe("tenant matrix over every operation", () => {
  it("B's secret and public keys on A's ids and A's filters: never A's data, A unchanged", {
    timeout: 30_000,
  }, async () => {
    // And the other way round: A's key on B's ids.
    const covered = await matrix(b, a, true);
    expect(covered).toBeGreaterThanOrEqual(40);
    console.log(
      `[reliability] tenants: ${covered} keyed operations, ${tally.requests} cross-project requests, refused ${tally.refused}, filtered lists empty ${tally.listedEmpty}, leaks 0`,
    );
  });

  it("C's keys (its project in DB_2) on A's ids and filters (A in DB): never A's data, A unchanged", {
    timeout: 30_000,
  }, async () => {
    expect(await matrix(c, a, false)).toBeGreaterThanOrEqual(40);
  });

  it("id routes with the other project's ids are exactly 404 (never 200, never 403 that confirms the id)", async () => {
    const idOps = ops.filter((o) => o.auth === "secret" && /\{(id|stepId|tid|eid)\}/.test(o.path));
    expect(idOps.length).toBeGreaterThanOrEqual(25);
    for (const op of idOps) {
      const res = await call(op.method, pathIn(op, a), { key: b.project.secretKey, body: bodyFor(op, a) });
      const what = `${op.method} ${op.path} → ${res.status} ${JSON.stringify(res.body)}`;
      if (op.method === "PUT" && op.path === "/workflows/{id}/definition") {
        // Create-or-replace with ids chosen by the client: ids are global, so a taken one is refused as such.
        expect(res.status, what).toBe(422);
        expect(res.body.error.errors[0], what).toMatchObject({ field: "id", code: "id_taken" });
        continue;
      }
      expect(res.status, what).toBe(404);
      expect(envelopeProblem(res)).toBeNull();
    }
    // Mixed: B's workflow with A's step, transition or execution ids is 404 too.
    for (const op of idOps.filter((o) => /\{(stepId|tid|eid)\}/.test(o.path))) {
      const path = pathIn(op, a).replace(a.workflowId, b.workflowId);
      const res = await call(op.method, path, { key: b.project.secretKey, body: bodyFor(op, a) });
      expect(res.status, `${op.method} ${path}`).toBe(404);
    }
  });

  it("keys where they do not belong: project keys on /admin 403, admin token on project routes 401, pk on sk routes 403", async () => {
    for (const op of ops) {
      const path = pathIn(op, a);
      if (op.auth === "admin") {
        for (const key of [a.project.secretKey, a.project.publicKey]) {
          const res = await call(op.method, path, { key, body: bodyFor(op, a) });
          expect(res.status, `${op.method} ${op.path}`).toBe(403);
          expect(envelopeProblem(res)).toBeNull();
        }
      } else if (op.auth === "secret" || op.auth === "public") {
        const admin = await call(op.method, path, { key: ADMIN, body: bodyFor(op, a) });
        expect(admin.status, `${op.method} ${op.path} with the admin token`).toBe(401);
        if (op.auth === "secret") {
          const pk = await call(op.method, path, { key: a.project.publicKey, body: bodyFor(op, a) });
          expect(pk.status, `${op.method} ${op.path} with the public key`).toBe(403);
        }
        const none = await call(op.method, path, { body: bodyFor(op, a) });
        expect(none.status).toBe(401);
      }
    }
  });

  it("unsubscribe tokens: A's contact with B's signature, or B's token edited to name A's contact, are 404", async () => {
    const forged = `${a.contactId}.${b.token.split(".")[1]}`;
    for (const path of [`/unsubscribe/${forged}`, `/subscribe/${forged}`]) {
      const before = await rowsOf(a);
      for (const method of ["GET", "POST"]) {
        const res = await call(method, path);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(String(res.body)).toContain("This link is not valid");
      }
      expect(await rowsOf(a)).toBe(before);
    }
  });

  it("rotated keys: the old keys of A stop at once; B is untouched", async () => {
    const c = await buildWorld("Tenant C");
    const rotated = await call("POST", `/admin/projects/${c.project.id}/rotate-keys`, { key: ADMIN });
    expect(rotated.status).toBe(200);
    expect((await call("GET", "/project", { key: c.project.secretKey })).status).toBe(401);
    expect((await call("GET", "/project", { key: rotated.body.secretKey })).status).toBe(200);
    expect((await call("GET", "/project", { key: b.project.secretKey })).status).toBe(200);
  });
});
