/** Dashboard sessions: sign-in by key or one-time link, the cookie's flags, Origin on writes, rotation, sign-out. */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { ADMIN, type Call, call, createProject, expectEnvelope } from "./helpers";

const ORIGIN = "http://worker.test";

/** The cookie pair (`plunk_session=…`) a response set, or null. */
function cookieOf(res: Call): string | null {
  const set = res.headers.get("set-cookie");
  const m = set?.match(/plunk_session=([^;]*)/);
  return m?.[1] ? `plunk_session=${m[1]}` : null;
}

async function signIn(secretKey: string): Promise<string> {
  const res = await call("POST", "/session", { body: { secretKey }, headers: { origin: ORIGIN } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const cookie = cookieOf(res);
  if (!cookie) throw new Error("no session cookie");
  return cookie;
}

const withCookie = (cookie: string, origin?: string) => ({
  cookie,
  ...(origin === undefined ? {} : { origin }),
});

async function signInLink(projectId: string, ttlSeconds?: number): Promise<string> {
  const res = await call("POST", `/admin/projects/${projectId}/sign-in-links`, {
    key: ADMIN,
    body: ttlSeconds === undefined ? {} : { ttlSeconds },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return new URL(res.body.url).pathname;
}

describe("POST /session", () => {
  it("exchanges a secret key for an HttpOnly, SameSite=Strict cookie with an expiry, and names the project", async () => {
    const p = await createProject("Signed in");
    const res = await call("POST", "/session", { body: { secretKey: p.secretKey } });
    expect(res.status).toBe(201);
    expect(res.body.project).toEqual({ id: p.id, name: "Signed in" });
    const set = res.headers.get("set-cookie") as string;
    expect(set).toMatch(/^plunk_session=[A-Za-z0-9_-]{43};/);
    expect(set).toContain("HttpOnly");
    expect(set).toContain("SameSite=Strict");
    expect(set).toContain("Path=/");
    expect(set).toMatch(/Max-Age=43200/);
    expect(Date.parse(res.body.expiresAt) - Date.now()).toBeGreaterThan(11 * 3_600_000);
    // The key itself is never in the answer, and the cookie is not the key.
    expect(JSON.stringify(res.body)).not.toContain(p.secretKey);
    expect(set).not.toContain(p.secretKey);

    const cookie = cookieOf(res) as string;
    const me = await call("GET", "/session", { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(me.body.project.id).toBe(p.id);
    const list = await call("GET", "/workflows", { headers: { cookie } });
    expect(list.status).toBe(200);
  });

  it("marks the cookie Secure outside development and the tests", async () => {
    const p = await createProject();
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(`${ORIGIN}/session`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ secretKey: p.secretKey }),
      }),
      { ...env, ENVIRONMENT: "production" },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(201);
    expect(res.headers.get("set-cookie")).toContain("Secure");
  });

  it("refuses a wrong key, a public key, no key, and a sign-in posted from another site", async () => {
    const p = await createProject();
    expectEnvelope(
      await call("POST", "/session", { body: { secretKey: "sk_nope" } }),
      401,
      "INVALID_API_KEY",
    );
    const pk = await call("POST", "/session", { body: { secretKey: p.publicKey } });
    expectEnvelope(pk, 422, "VALIDATION_ERROR");
    expect(pk.body.error.errors[0].field).toBe("secretKey");
    expectEnvelope(await call("POST", "/session", { body: {} }), 422, "VALIDATION_ERROR");
    const foreign = await call("POST", "/session", {
      body: { secretKey: p.secretKey },
      headers: { origin: "https://evil.example" },
    });
    expectEnvelope(foreign, 403, "FORBIDDEN");
    expect(foreign.headers.get("set-cookie")).toBeNull();
  });
});

describe("the session cookie on project routes", () => {
  it("allows a write only from this origin (Origin checked), reads from anywhere the cookie goes", async () => {
    const p = await createProject();
    const cookie = await signIn(p.secretKey);
    const body = { name: "From the dashboard", eventName: "signup" };
    const noOrigin = await call("POST", "/workflows", { body, headers: withCookie(cookie) });
    expectEnvelope(noOrigin, 403, "FORBIDDEN");
    const foreign = await call("POST", "/workflows", {
      body,
      headers: withCookie(cookie, "https://evil.example"),
    });
    expectEnvelope(foreign, 403, "FORBIDDEN");
    expect((await call("GET", "/workflows", { key: p.secretKey })).body.data).toHaveLength(0);

    const ok = await call("POST", "/workflows", { body, headers: withCookie(cookie, ORIGIN) });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    const del = await call("DELETE", `/workflows/${ok.body.id}`, { headers: withCookie(cookie, "null") });
    expectEnvelope(del, 403, "FORBIDDEN");
    // A browser that sends no Origin still says where the request comes from, in a header scripts cannot set.
    const crossSite = { cookie, "sec-fetch-site": "cross-site" };
    expectEnvelope(
      await call("DELETE", `/workflows/${ok.body.id}`, { headers: crossSite }),
      403,
      "FORBIDDEN",
    );
    const sameSite = { cookie, "sec-fetch-site": "same-site" };
    expectEnvelope(await call("DELETE", `/workflows/${ok.body.id}`, { headers: sameSite }), 403, "FORBIDDEN");
    const sameOrigin = { cookie, "sec-fetch-site": "same-origin" };
    expect((await call("DELETE", `/workflows/${ok.body.id}`, { headers: sameOrigin })).status).toBe(204);
  });

  it("tracks an event from the dashboard with the cookie, and refuses it from another origin", async () => {
    const p = await createProject();
    const cookie = await signIn(p.secretKey);
    const body = { event: "tried", email: "ada@example.com" };
    const ok = await call("POST", "/v1/track", { body, headers: withCookie(cookie, ORIGIN) });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.success).toBe(true);
    const foreign = await call("POST", "/v1/track", {
      body,
      headers: withCookie(cookie, "https://evil.example"),
    });
    expectEnvelope(foreign, 403, "FORBIDDEN");
    const events = await call("GET", `/contacts/${ok.body.data.contact}/events`, { key: p.secretKey });
    expect(events.body.data.filter((e: any) => e.name === "tried")).toHaveLength(1);
  });

  it("never mixes a key and a cookie: a request with Authorization is judged by its key alone", async () => {
    const a = await createProject();
    const b = await createProject();
    const cookieA = await signIn(a.secretKey);
    expectEnvelope(
      await call("GET", "/workflows", { key: "sk_wrong", headers: { cookie: cookieA } }),
      401,
      "INVALID_API_KEY",
    );
    await call("POST", "/workflows", { key: b.secretKey, body: { name: "B's", eventName: "x" } });
    const asB = await call("GET", "/workflows", { key: b.secretKey, headers: { cookie: cookieA } });
    expect(asB.body.data.map((w: any) => w.name)).toEqual(["B's"]);
  });

  it("keeps projects apart: a session sees its own project only", async () => {
    const a = await createProject();
    const b = await createProject();
    const wf = await call("POST", "/workflows", { key: b.secretKey, body: { name: "B", eventName: "x" } });
    const cookieA = await signIn(a.secretKey);
    expectEnvelope(
      await call("GET", `/workflows/${wf.body.id}`, { headers: { cookie: cookieA } }),
      404,
      "WORKFLOW_NOT_FOUND",
    );
  });

  it("ends when the project's keys are rotated", async () => {
    const p = await createProject();
    const cookie = await signIn(p.secretKey);
    expect((await call("GET", "/session", { headers: { cookie } })).status).toBe(200);
    const rotated = await call("POST", `/admin/projects/${p.id}/rotate-keys`, { key: ADMIN, body: {} });
    expect(rotated.status).toBe(200);
    expectEnvelope(await call("GET", "/session", { headers: { cookie } }), 401, "INVALID_SESSION");
    expectEnvelope(await call("GET", "/workflows", { headers: { cookie } }), 401, "MISSING_AUTH");
    expectEnvelope(
      await call("POST", "/v1/track", {
        body: { event: "x", email: "a@example.com" },
        headers: withCookie(cookie, ORIGIN),
      }),
      401,
      "MISSING_AUTH",
    );
    // The old key no longer signs in; the new one does.
    expectEnvelope(
      await call("POST", "/session", { body: { secretKey: p.secretKey } }),
      401,
      "INVALID_API_KEY",
    );
    await signIn(rotated.body.secretKey);
  });

  it("ends at its expiry, and the sweep forgets expired sessions", async () => {
    const p = await createProject();
    const cookie = await signIn(p.secretKey);
    await env.DB.prepare("UPDATE sessions SET expires_at = ?1 WHERE project_id = ?2")
      .bind(Date.now() - 1, p.id)
      .run();
    expectEnvelope(await call("GET", "/session", { headers: { cookie } }), 401, "INVALID_SESSION");
    const { sweep } = await import("../src/sweep");
    const { createLogger } = await import("../src/log");
    await sweep(env, createLogger({}));
    const left = await env.DB.prepare("SELECT count(*) AS n FROM sessions WHERE project_id = ?1")
      .bind(p.id)
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
  });
});

describe("DELETE /session (sign out)", () => {
  it("ends the session and clears the cookie", async () => {
    const p = await createProject();
    const cookie = await signIn(p.secretKey);
    const out = await call("DELETE", "/session", { headers: withCookie(cookie, ORIGIN) });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(/plunk_session=;.*Max-Age=0/);
    expectEnvelope(await call("GET", "/session", { headers: { cookie } }), 401, "INVALID_SESSION");
    expectEnvelope(await call("GET", "/workflows", { headers: { cookie } }), 401, "MISSING_AUTH");
  });

  it("is refused from another origin (a page elsewhere cannot sign you out)", async () => {
    const p = await createProject();
    const cookie = await signIn(p.secretKey);
    expectEnvelope(
      await call("DELETE", "/session", { headers: withCookie(cookie, "https://evil.example") }),
      403,
      "FORBIDDEN",
    );
    expect((await call("GET", "/session", { headers: { cookie } })).status).toBe(200);
  });
});

describe("one-time sign-in links", () => {
  it("signs in once and sends the browser to /app/; a second use goes to the sign-in page", async () => {
    const p = await createProject();
    const path = await signInLink(p.id);
    expect(path).toMatch(/^\/session\/link\/[A-Za-z0-9_-]{43}$/);
    const first = await call("GET", path);
    expect(first.status).toBe(303);
    expect(first.headers.get("location")).toBe("/app/");
    expect(first.headers.get("cache-control")).toBe("no-store");
    const cookie = cookieOf(first) as string;
    expect((await call("GET", "/session", { headers: { cookie } })).body.project.id).toBe(p.id);
    const again = await call("GET", path);
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toBe("/app/sign-in?error=link");
    expect(cookieOf(again)).toBeNull();
  });

  it("signs in exactly once under 10 concurrent uses of one link", async () => {
    const p = await createProject();
    const path = await signInLink(p.id);
    const results = await Promise.all(Array.from({ length: 10 }, () => call("GET", path)));
    const signedIn = results.filter((r) => r.headers.get("location") === "/app/");
    expect(signedIn).toHaveLength(1);
    expect(results.filter((r) => cookieOf(r) !== null)).toHaveLength(1);
  });

  it("is refused once expired, after a key rotation, or when it is not a link at all", async () => {
    const p = await createProject();
    const expired = await signInLink(p.id, 60);
    await env.DB.prepare("UPDATE sign_in_links SET expires_at = ?1 WHERE project_id = ?2")
      .bind(Date.now() - 1, p.id)
      .run();
    expect((await call("GET", expired)).headers.get("location")).toBe("/app/sign-in?error=link");

    const beforeRotation = await signInLink(p.id);
    await call("POST", `/admin/projects/${p.id}/rotate-keys`, { key: ADMIN, body: {} });
    const res = await call("GET", beforeRotation);
    expect(res.headers.get("location")).toBe("/app/sign-in?error=link");
    expect(cookieOf(res)).toBeNull();

    expect((await call("GET", "/session/link/not-a-token")).headers.get("location")).toBe(
      "/app/sign-in?error=link",
    );
  });

  it("is made only with the admin token, for a project that exists, with a bounded lifetime", async () => {
    const p = await createProject();
    expectEnvelope(
      await call("POST", `/admin/projects/${p.id}/sign-in-links`, { key: p.secretKey, body: {} }),
      403,
      "FORBIDDEN",
    );
    expectEnvelope(
      await call("POST", "/admin/projects/prj_nope/sign-in-links", { key: ADMIN, body: {} }),
      404,
      "PROJECT_NOT_FOUND",
    );
    const tooLong = await call("POST", `/admin/projects/${p.id}/sign-in-links`, {
      key: ADMIN,
      body: { ttlSeconds: 8 * 86_400 },
    });
    expectEnvelope(tooLong, 422, "VALIDATION_ERROR");
    expect(tooLong.body.error.errors[0].field).toBe("ttlSeconds");
  });
});

describe("the dashboard's pages", () => {
  it("are served at /app/ with a strict CSP, no framing, and the app for deep links", async () => {
    const page = await call("GET", "/app/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const csp = page.headers.get("content-security-policy") as string;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(String(page.body)).toContain('<div id="root">');
    // No inline script: every <script> has a src.
    expect(String(page.body)).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);

    const deep = await call("GET", "/app/workflows/wf_x/executions");
    expect(deep.status).toBe(200);
    expect(String(deep.body)).toContain('<div id="root">');
    expect(deep.headers.get("x-frame-options")).toBe("DENY");

    const script = String(page.body).match(/src="(\/app\/assets\/[^"]+\.js)"/)?.[1] as string;
    const js = await call("GET", script);
    expect(js.status).toBe(200);
    expect(js.headers.get("cache-control")).toContain("immutable");
    expect((await call("GET", "/app/assets/missing.js")).status).toBe(404);
  });

  it("sends / and /app to the dashboard", async () => {
    const root = await call("GET", "/");
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/app/");
    expect((await call("GET", "/app")).headers.get("location")).toBe("/app/");
  });
});
