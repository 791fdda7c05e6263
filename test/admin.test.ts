/** The /admin routes: projects, their keys (shown once, stored hashed), listing and rotation. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN, call, createProject, expectEnvelope, uniqueEmail } from "./helpers";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 3));

async function projectRow(id: string) {
  return env.DB.prepare("SELECT * FROM projects WHERE id = ?1").bind(id).first<Record<string, unknown>>();
}

describe("admin auth", () => {
  it("refuses a missing token with 401 MISSING_AUTH", async () => {
    expectEnvelope(await call("GET", "/admin/projects"), 401, "MISSING_AUTH");
    expectEnvelope(await call("POST", "/admin/projects", { body: { name: "x" } }), 401, "MISSING_AUTH");
  });

  it("refuses a wrong token with 401 INVALID_API_KEY", async () => {
    for (const key of ["wrong", `${ADMIN}x`, ADMIN.slice(0, -1), ADMIN.toUpperCase()]) {
      expectEnvelope(await call("GET", "/admin/projects", { key }), 401, "INVALID_API_KEY");
    }
  });

  it("refuses a project's keys with 403 FORBIDDEN, and creates nothing", async () => {
    const p = await createProject();
    const name = `forbidden-${crypto.randomUUID()}`;
    for (const key of [p.publicKey, p.secretKey]) {
      expectEnvelope(await call("GET", "/admin/projects", { key }), 403, "FORBIDDEN");
      expectEnvelope(await call("POST", "/admin/projects", { key, body: { name } }), 403, "FORBIDDEN");
      expectEnvelope(await call("POST", `/admin/projects/${p.id}/rotate-keys`, { key }), 403, "FORBIDDEN");
    }
    const row = await env.DB.prepare("SELECT count(*) AS n FROM projects WHERE name = ?1")
      .bind(name)
      .first<{ n: number }>();
    expect(row?.n).toBe(0);
    // The keys were not rotated by the refused call: they still work.
    expect((await call("GET", "/project", { key: p.secretKey })).status).toBe(200);
  });

  it("does not let the admin token use project routes", async () => {
    expectEnvelope(await call("GET", "/contacts", { key: ADMIN }), 401, "INVALID_API_KEY");
  });
});

describe("POST /admin/projects", () => {
  it("creates a project with 201 and pk_/sk_/whsec_ keys", async () => {
    const res = await call("POST", "/admin/projects", { key: ADMIN, body: { name: "Acme" } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: "Acme" });
    expect(res.body.id).toMatch(/^prj_/);
    expect(res.body.publicKey).toMatch(/^pk_[A-Za-z0-9_-]{20,}$/);
    expect(res.body.secretKey).toMatch(/^sk_[A-Za-z0-9_-]{20,}$/);
    expect(res.body.webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/=]{20,}$/);
    expect(new Date(res.body.createdAt).toISOString()).toBe(res.body.createdAt);
    // The keys work.
    const project = await call("GET", "/project", { key: res.body.secretKey });
    expect(project.status).toBe(200);
    expect(project.body).toMatchObject({ id: res.body.id, name: "Acme" });
    const tracked = await call("POST", "/v1/track", {
      key: res.body.publicKey,
      body: { event: "x", email: uniqueEmail() },
    });
    expect(tracked.status).toBe(200);
  });

  it("makes different keys for every project", async () => {
    const a = await createProject();
    const b = await createProject();
    expect(a.id).not.toBe(b.id);
    expect(a.publicKey).not.toBe(b.publicKey);
    expect(a.secretKey).not.toBe(b.secretKey);
    expect(a.webhookSecret).not.toBe(b.webhookSecret);
  });

  it("stores the keys hashed: the row holds their SHA-256 hex and never the keys", async () => {
    const p = await createProject();
    const row = await projectRow(p.id);
    expect(row).not.toBeNull();
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(p.publicKey);
    expect(stored).not.toContain(p.secretKey);
    expect(stored).not.toContain(p.publicKey.slice(3));
    expect(stored).not.toContain(p.secretKey.slice(3));
    expect(row?.public_key_hash).toBe(await sha256Hex(p.publicKey));
    expect(row?.secret_key_hash).toBe(await sha256Hex(p.secretKey));
    expect(row?.public_key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(p.publicKey.startsWith(String(row?.public_key_prefix))).toBe(true);
    expect(p.secretKey.startsWith(String(row?.secret_key_prefix))).toBe(true);
    expect(String(row?.secret_key_prefix).length).toBeLessThan(p.secretKey.length / 2);
  });

  it("trims the name", async () => {
    const res = await call("POST", "/admin/projects", { key: ADMIN, body: { name: "  Spaced  " } });
    expect(res.status).toBe(201);
    expect(res.body.name).toBe("Spaced");
    expect((await projectRow(res.body.id))?.name).toBe("Spaced");
  });

  it("refuses a missing, empty, blank, too long or non-string name with 422 on field name", async () => {
    for (const body of [
      {},
      { name: "" },
      { name: "   " },
      { name: "n".repeat(101) },
      { name: 42 },
      { name: null },
    ]) {
      const res = await call("POST", "/admin/projects", { key: ADMIN, body });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors.map((e: { field: string }) => e.field)).toEqual(["name"]);
    }
    const ok = await call("POST", "/admin/projects", { key: ADMIN, body: { name: "n".repeat(100) } });
    expect(ok.status).toBe(201);
  });

  it("puts a project on the shard engine with one shard unless it asks for more, and keeps both", async () => {
    const plain = await call("POST", "/admin/projects", { key: ADMIN, body: { name: "Default engine" } });
    expect(plain.status).toBe(201);
    expect(plain.body).toMatchObject({ engine: "shard", shards: 1 });
    expect(await projectRow(plain.body.id)).toMatchObject({ engine: "shard", shards: 1 });
    const four = await call("POST", "/admin/projects", {
      key: ADMIN,
      body: { name: "Four shards", engine: "shard", shards: 4 },
    });
    expect(four.body).toMatchObject({ engine: "shard", shards: 4 });
    expect(await projectRow(four.body.id)).toMatchObject({ shards: 4 });
    const objects = await call("POST", "/admin/projects", {
      key: ADMIN,
      body: { name: "Objects", engine: "objects" },
    });
    expect(objects.body.engine).toBe("objects");
    expect(objects.body.shards).toBeUndefined();
    const listed = await call("GET", "/admin/projects?limit=3", { key: ADMIN });
    expect(listed.body.data.map((p: { shards?: number }) => p.shards)).toEqual([undefined, 4, 1]);
  });

  it("refuses shards out of 1–16, not whole, or on the objects engine, with 422 on field shards", async () => {
    for (const body of [
      { name: "x", shards: 0 },
      { name: "x", shards: 17 },
      { name: "x", shards: 2.5 },
      { name: "x", shards: "4" },
      { name: "x", engine: "objects", shards: 2 },
    ]) {
      const res = await call("POST", "/admin/projects", { key: ADMIN, body });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors.map((e: { field: string }) => e.field)).toEqual(["shards"]);
    }
  });

  it("refuses a body that is not a JSON object with 400", async () => {
    for (const raw of ["nope", "[]", "7"]) {
      const res = await call("POST", "/admin/projects", { key: ADMIN, raw });
      expectEnvelope(res, 400, "INVALID_REQUEST_BODY");
    }
  });
});

describe("GET /admin/projects", () => {
  it("lists newest first with limit, cursor and hasMore, and shows no keys", async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push((await createProject(`Page ${i}`)).id);
      await tick();
    }
    const seen: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const res = await call("GET", `/admin/projects${query}`, { key: ADMIN });
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      expect(res.body.hasMore).toBe(res.body.cursor !== null);
      if (res.body.hasMore) expect(res.body.data).toHaveLength(2);
      seen.push(...res.body.data);
      cursor = res.body.cursor;
      pages++;
    } while (cursor && pages < 100);
    expect(cursor).toBeNull();

    const ids = seen.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const total = await env.DB.prepare("SELECT count(*) AS n FROM projects").first<{ n: number }>();
    expect(ids).toHaveLength(total?.n ?? -1);
    // The five made last are the first five, newest first.
    expect(ids.slice(0, 5)).toEqual([...made].reverse());
    const times = seen.map((p) => Date.parse(p.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    for (const p of seen) {
      expect(p).toHaveProperty("name");
      expect(p).not.toHaveProperty("publicKey");
      expect(p).not.toHaveProperty("secretKey");
      expect(p).not.toHaveProperty("webhookSecret");
      expect(JSON.stringify(p)).not.toMatch(/Hash/);
    }
  });

  it("defaults to 20 per page", async () => {
    for (let i = 0; i < 21; i++) await createProject();
    const res = await call("GET", "/admin/projects", { key: ADMIN });
    expect(res.body.data).toHaveLength(20);
    expect(res.body.hasMore).toBe(true);
    expect(typeof res.body.cursor).toBe("string");
  });

  it("refuses a bad limit or cursor with 422", async () => {
    for (const [q, field] of [
      ["limit=0", "limit"],
      ["limit=101", "limit"],
      ["limit=x", "limit"],
      ["cursor=garbage", "cursor"],
    ]) {
      const res = await call("GET", `/admin/projects?${q}`, { key: ADMIN });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors[0].field).toBe(field);
    }
  });
});

describe("POST /project/rotate-keys (the project's own settings)", () => {
  it("gives new keys once; the old secret key and its dashboard sessions stop, the new one works", async () => {
    const p = await createProject();
    const session = await call("POST", "/session", { body: { secretKey: p.secretKey } });
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    const cookie = (session.headers.get("set-cookie") ?? "").split(";")[0] as string;
    expect((await call("GET", "/project", { headers: { cookie } })).status).toBe(200);
    const res = await call("POST", "/project/rotate-keys", { key: p.secretKey });
    expect(res.status).toBe(200);
    expect(res.body.secretKey).toMatch(/^sk_/);
    expect(res.body.publicKey).toMatch(/^pk_/);
    expectEnvelope(await call("GET", "/project", { key: p.secretKey }), 401, "INVALID_API_KEY");
    expect((await call("GET", "/project", { headers: { cookie } })).status).toBe(401);
    const shown = await call("GET", "/project", { key: res.body.secretKey });
    expect(shown.body.secretKeyPrefix).toBe(res.body.secretKey.slice(0, shown.body.secretKeyPrefix.length));
    expectEnvelope(await call("POST", "/project/rotate-keys", { key: res.body.publicKey }), 403, "FORBIDDEN");
  });
});

describe("POST /admin/projects/:id/rotate-keys", () => {
  it("gives new keys; the old ones answer 401 and the new ones work", async () => {
    const p = await createProject();
    const email = uniqueEmail("rotate");
    // Both keys have tracked before the rotation, so this isolate holds both as seen valid (trackAuth).
    expect((await call("POST", "/v1/track", { key: p.publicKey, body: { event: "a", email } })).status).toBe(
      200,
    );
    const other = uniqueEmail("rotate-sk");
    expect(
      (await call("POST", "/v1/track", { key: p.secretKey, body: { event: "s", email: other } })).status,
    ).toBe(200);

    const res = await call("POST", `/admin/projects/${p.id}/rotate-keys`, { key: ADMIN });
    expect(res.status).toBe(200);
    expect(res.body.publicKey).toMatch(/^pk_/);
    expect(res.body.secretKey).toMatch(/^sk_/);
    expect(res.body.publicKey).not.toBe(p.publicKey);
    expect(res.body.secretKey).not.toBe(p.secretKey);

    // The old keys are still in this isolate's memory: the first track with each reaches the batch,
    // which must write nothing. The public key tries an unsubscribe of the known contact with an
    // idempotency key (three writes before the contact upsert); the secret key tries a new contact.
    expectEnvelope(
      await call("POST", "/v1/track", {
        key: p.publicKey,
        body: { event: "b", email, subscribed: false },
        headers: { "idempotency-key": "after-rotation" },
      }),
      401,
      "INVALID_API_KEY",
    );
    const ghost = uniqueEmail("rotate-ghost");
    expectEnvelope(
      await call("POST", "/v1/track", { key: p.secretKey, body: { event: "b", email: ghost } }),
      401,
      "INVALID_API_KEY",
    );
    const written = await env.DB.prepare(
      `SELECT (SELECT count(*) FROM contacts WHERE project_id = ?1 AND email = ?2) AS ghosts,
              (SELECT subscribed FROM contacts WHERE project_id = ?1 AND email = ?3) AS subscribed,
              (SELECT count(*) FROM events WHERE project_id = ?1 AND name IN ('b', 'contact.unsubscribed')) AS events,
              (SELECT count(*) FROM idempotency_keys WHERE key = 'after-rotation') AS keys`,
    )
      .bind(p.id, ghost, email)
      .first<{ ghosts: number; subscribed: number; events: number; keys: number }>();
    expect(written).toEqual({ ghosts: 0, subscribed: 1, events: 0, keys: 0 });
    // Forgotten after that: refused again, now by the lookup.
    expectEnvelope(
      await call("POST", "/v1/track", { key: p.publicKey, body: { event: "b", email } }),
      401,
      "INVALID_API_KEY",
    );
    expectEnvelope(await call("GET", "/contacts", { key: p.secretKey }), 401, "INVALID_API_KEY");
    expectEnvelope(await call("GET", "/project", { key: p.secretKey }), 401, "INVALID_API_KEY");

    expect(
      (await call("POST", "/v1/track", { key: res.body.publicKey, body: { event: "c", email } })).status,
    ).toBe(200);
    const list = await call("GET", `/contacts?search=${email}`, { key: res.body.secretKey });
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    // The same project: its contact kept its events across the rotation.
    const events = await call("GET", `/contacts/${list.body.data[0].id}/events`, { key: res.body.secretKey });
    expect(events.body.data.map((e: { name: string }) => e.name).sort()).toEqual(["a", "c"]);

    const row = await projectRow(p.id);
    expect(row?.public_key_hash).toBe(await sha256Hex(res.body.publicKey));
    expect(row?.secret_key_hash).toBe(await sha256Hex(res.body.secretKey));
    expect(JSON.stringify(row)).not.toContain(res.body.secretKey);
  });

  it("does not touch other projects' keys", async () => {
    const a = await createProject();
    const b = await createProject();
    expect((await call("POST", `/admin/projects/${a.id}/rotate-keys`, { key: ADMIN })).status).toBe(200);
    expect((await call("GET", "/project", { key: b.secretKey })).status).toBe(200);
  });

  it("answers 404 for an unknown project id", async () => {
    const res = await call("POST", "/admin/projects/prj_doesnotexist/rotate-keys", { key: ADMIN });
    expect(res.status).toBe(404);
    expect(res.body.success).toBe(false);
    expect(res.body.error.code).toMatch(/NOT_FOUND$/);
    expect(res.body.error.requestId).toBe(res.headers.get("x-request-id"));
  });
});
