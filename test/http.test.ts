/** The shared HTTP layer: the error envelope, body reading, request ids, CORS and auth. */
import { env, exports } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ADMIN, call, createProject, expectEnvelope, type TestProject, uniqueEmail } from "./helpers";

const MIB = 1024 * 1024;

let p: TestProject;
beforeAll(async () => {
  p = await createProject();
});

/** A valid track body padded with a string so that its JSON is exactly `bytes` long. */
function paddedTrackBody(bytes: number, email = uniqueEmail("pad")): string {
  const empty = JSON.stringify({ event: "padded", email, data: { pad: "" } });
  return JSON.stringify({ event: "padded", email, data: { pad: "x".repeat(bytes - empty.length) } });
}

/** A body of `total` bytes as a stream whose length is not announced (no Content-Length). */
function streamOf(total: number, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) {
        controller.close();
        return;
      }
      const size = Math.min(chunk, total - sent);
      const bytes = new Uint8Array(size).fill(0x20);
      if (sent === 0) bytes[0] = 0x7b; // "{": looks like JSON from the start
      sent += size;
      controller.enqueue(bytes);
    },
  });
}

describe("unknown routes", () => {
  it("answer 404 NOT_FOUND in the JSON envelope with an X-Request-Id", async () => {
    const res = await call("GET", "/no/such/route");
    expectEnvelope(res, 404, "NOT_FOUND");
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    expect(new Date(res.body.timestamp).toISOString()).toBe(res.body.timestamp);
    expect(typeof res.body.error.message).toBe("string");
  });

  it("answer 404 for a known path with a method it does not have", async () => {
    const res = await call("GET", "/v1/track", { key: p.secretKey });
    expectEnvelope(res, 404, "NOT_FOUND");
  });

  it("give every answer its own request id", async () => {
    const a = await call("GET", "/nope");
    const b = await call("GET", "/nope");
    expect(a.headers.get("x-request-id")).not.toBe(b.headers.get("x-request-id"));
  });
});

describe("X-Request-Id", () => {
  it("echoes a client's request id on success and in the error envelope", async () => {
    const ok = await call("GET", "/health", { headers: { "x-request-id": "client-req.42:abc" } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-request-id")).toBe("client-req.42:abc");

    const err = await call("GET", "/nope", { headers: { "x-request-id": "trace-123" } });
    expectEnvelope(err, 404, "NOT_FOUND");
    expect(err.headers.get("x-request-id")).toBe("trace-123");
    expect(err.body.error.requestId).toBe("trace-123");
  });

  it("replaces an unusable client id (too long, or odd characters) with its own", async () => {
    for (const given of ["x".repeat(129), "has space", 'quote"d', "<script>"]) {
      const res = await call("GET", "/health", { headers: { "x-request-id": given } });
      expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    }
  });

  it("is on authentication failures and on successful tracks", async () => {
    const unauth = await call("GET", "/contacts");
    expectEnvelope(unauth, 401, "MISSING_AUTH");
    const tracked = await call("POST", "/v1/track", {
      key: p.publicKey,
      body: { event: "x", email: uniqueEmail() },
    });
    expect(tracked.status).toBe(200);
    expect(tracked.headers.get("x-request-id")).toMatch(/^req_/);
  });
});

describe("the request log line", () => {
  afterEach(() => {
    vi.restoreAllMocks();
    env.REQUEST_LOG = "errors";
  });

  /** The parsed "request" lines written by `level` while `run` runs. */
  async function requestLines(level: "info" | "warn" | "error", run: () => Promise<unknown>) {
    const spy = vi.spyOn(console, level).mockImplementation(() => {});
    await run();
    return spy.mock.calls.map((args) => JSON.parse(String(args[0]))).filter((line) => line.msg === "request");
  }

  it("is written for an error (4xx as warn) with the route pattern, not for a success by default", async () => {
    expect(env.REQUEST_LOG).toBe("errors");
    const ok = await requestLines("info", () =>
      call("POST", "/v1/track", { key: p.publicKey, body: { event: "x", email: uniqueEmail() } }),
    );
    expect(ok).toEqual([]);
    const warned = await requestLines("warn", () =>
      call("GET", "/contacts/ctc_secret-looking-id", { headers: { "x-request-id": "log-test-1" } }),
    );
    expect(warned).toEqual([
      expect.objectContaining({
        level: "warn",
        requestId: "log-test-1",
        method: "GET",
        route: "/contacts/*",
        status: 401,
      }),
    ]);
    expect(JSON.stringify(warned)).not.toContain("secret-looking");
  });

  it("is written for every request with REQUEST_LOG=all", async () => {
    env.REQUEST_LOG = "all";
    const lines = await requestLines("info", () =>
      call("POST", "/v1/track", {
        key: p.publicKey,
        body: { event: "x", email: uniqueEmail() },
        headers: { "x-request-id": "log-test-2" },
      }),
    );
    expect(lines).toEqual([
      expect.objectContaining({
        level: "info",
        requestId: "log-test-2",
        route: "/v1/track",
        status: 200,
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain(p.publicKey);
  });
});

describe("request bodies", () => {
  it("refuses a body that is not JSON with 400 INVALID_REQUEST_BODY", async () => {
    for (const raw of ["not json", "{", "{'event': 'x'}", ""]) {
      const res = await call("POST", "/v1/track", {
        key: p.secretKey,
        raw,
        headers: { "content-type": "application/json" },
      });
      expectEnvelope(res, 400, "INVALID_REQUEST_BODY");
    }
  });

  it("refuses a missing body with 400", async () => {
    const res = await call("POST", "/v1/track", { key: p.secretKey });
    expectEnvelope(res, 400, "INVALID_REQUEST_BODY");
  });

  it("refuses JSON that is not an object (array, number, string, null, boolean) with 400", async () => {
    for (const raw of ["[]", '[{"event":"x"}]', "42", '"text"', "null", "true"]) {
      const res = await call("POST", "/v1/track", {
        key: p.secretKey,
        raw,
        headers: { "content-type": "application/json" },
      });
      expectEnvelope(res, 400, "INVALID_REQUEST_BODY");
    }
  });

  it("refuses a body that is not valid UTF-8 with 400", async () => {
    const email = uniqueEmail("utf8");
    const prefix = new TextEncoder().encode(`{"event":"x","email":"${email}","data":{"k":"`);
    const suffix = new TextEncoder().encode('"}}');
    const raw = new Uint8Array([...prefix, 0xff, 0xfe, 0xc3, ...suffix]);
    const res = await call("POST", "/v1/track", {
      key: p.secretKey,
      raw,
      headers: { "content-type": "application/json" },
    });
    expectEnvelope(res, 400, "INVALID_REQUEST_BODY");
    const contacts = await call("GET", `/contacts?search=${encodeURIComponent(email)}`, { key: p.secretKey });
    expect(contacts.body.data).toEqual([]);
  });

  it("accepts valid multi-byte UTF-8", async () => {
    const email = uniqueEmail("utf8ok");
    const res = await call("POST", "/v1/track", {
      key: p.secretKey,
      raw: new TextEncoder().encode(JSON.stringify({ event: "x", email, data: { city: "Zürich 東京 😀" } })),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(200);
    const contact = await call("GET", `/contacts/${res.body.data.contact}`, { key: p.secretKey });
    expect(contact.body.data).toEqual({ city: "Zürich 東京 😀" });
  });

  it("refuses a body over 1 MiB with a true Content-Length with 413 PAYLOAD_TOO_LARGE", async () => {
    const email = uniqueEmail("big");
    const raw = paddedTrackBody(MIB + 1, email);
    expect(new TextEncoder().encode(raw).length).toBe(MIB + 1);
    const res = await call("POST", "/v1/track", {
      key: p.secretKey,
      raw,
      headers: { "content-type": "application/json" },
    });
    expectEnvelope(res, 413, "PAYLOAD_TOO_LARGE");
    const contacts = await call("GET", `/contacts?search=${encodeURIComponent(email)}`, { key: p.secretKey });
    expect(contacts.body.data).toEqual([]);
  });

  it("accepts a body of exactly 1 MiB", async () => {
    const email = uniqueEmail("edge");
    const raw = paddedTrackBody(MIB, email);
    expect(new TextEncoder().encode(raw).length).toBe(MIB);
    const res = await call("POST", "/v1/track", {
      key: p.secretKey,
      raw,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(200);
    expect(res.body.success).toBe(true);
  });

  it("refuses a streamed body over 1 MiB without a Content-Length with 413", async () => {
    const res = await call("POST", "/v1/track", {
      key: p.secretKey,
      raw: streamOf(2 * MIB),
      headers: { "content-type": "application/json" },
    });
    expectEnvelope(res, 413, "PAYLOAD_TOO_LARGE");
  });

  it("reads a small streamed body without a Content-Length", async () => {
    const email = uniqueEmail("stream");
    const bytes = new TextEncoder().encode(JSON.stringify({ event: "streamed", email }));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 10));
        controller.enqueue(bytes.slice(10));
        controller.close();
      },
    });
    const res = await call("POST", "/v1/track", {
      key: p.secretKey,
      raw: stream,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(200);
    expect(res.body.success).toBe(true);
  });

  it("answers a schema failure with 422 VALIDATION_ERROR and a list of {field, message, code}", async () => {
    const res = await call("POST", "/v1/track", { key: p.secretKey, body: { data: 1 } });
    expectEnvelope(res, 422, "VALIDATION_ERROR");
    const errors = res.body.error.errors as { field: string; message: string; code: string }[];
    expect(Array.isArray(errors)).toBe(true);
    for (const e of errors) {
      expect(Object.keys(e).sort()).toEqual(["code", "field", "message"]);
      expect(typeof e.field).toBe("string");
      expect(typeof e.message).toBe("string");
      expect(e.message.length).toBeGreaterThan(0);
      expect(typeof e.code).toBe("string");
    }
    expect(errors.map((e) => e.field).sort()).toEqual(["data", "email", "event"]);
  });

  it("answers a query that fails its schema with 422 and the query field named", async () => {
    for (const q of ["limit=0", "limit=101", "limit=abc", "limit=1.5", "subscribed=yes", "cursor=%25%25"]) {
      const res = await call("GET", `/contacts?${q}`, { key: p.secretKey });
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors[0].field).toBe(q.split("=")[0]);
    }
  });

  it("has no errors[] on errors that are not validation errors", async () => {
    const res = await call("GET", "/nope");
    expect(res.body.error.errors).toBeUndefined();
  });
});

describe("CORS", () => {
  it("answers a preflight on /v1/track for any origin", async () => {
    for (const origin of ["https://shop.example", "http://localhost:3000"]) {
      const res = await call("OPTIONS", "/v1/track", {
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type, idempotency-key",
        },
      });
      expect(res.status).toBeGreaterThanOrEqual(200);
      expect(res.status).toBeLessThan(300);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(res.headers.get("access-control-allow-methods")).toMatch(/POST/);
      const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase();
      expect(allowed).toContain("authorization");
      expect(allowed).toContain("content-type");
      expect(allowed).toContain("idempotency-key");
      expect(res.headers.get("x-request-id")).toBeTruthy();
    }
  });

  it("allows a cross-origin track and exposes X-Request-Id", async () => {
    const res = await call("POST", "/v1/track", {
      key: p.publicKey,
      body: { event: "browser", email: uniqueEmail() },
      headers: { origin: "https://shop.example" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect((res.headers.get("access-control-expose-headers") ?? "").toLowerCase()).toContain("x-request-id");
  });

  it("sends the CORS headers on /v1/track's errors too, so a browser can read them", async () => {
    const origin = { origin: "https://shop.example" };
    const unauthorized = await call("POST", "/v1/track", {
      key: "pk_not_a_key",
      body: { event: "browser", email: uniqueEmail() },
      headers: origin,
    });
    const invalid = await call("POST", "/v1/track", {
      key: p.publicKey,
      body: { event: "browser", email: "not an email" },
      headers: origin,
    });
    for (const [res, status] of [
      [unauthorized, 401],
      [invalid, 422],
    ] as const) {
      expect(res.status).toBe(status);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect((res.headers.get("access-control-expose-headers") ?? "").toLowerCase()).toContain(
        "x-request-id",
      );
      expect(res.headers.get("x-request-id")).toBeTruthy();
    }
  });

  it("sends no CORS headers on /contacts, /project or /admin, preflight or not", async () => {
    const headers = {
      origin: "https://evil.example",
      "access-control-request-method": "GET",
      "access-control-request-headers": "authorization",
    };
    for (const path of ["/contacts", "/project", "/admin/projects"]) {
      const pre = await call("OPTIONS", path, { headers });
      expect(pre.status).toBeGreaterThanOrEqual(400);
      for (const [name] of pre.headers) expect(name.startsWith("access-control-")).toBe(false);
    }
    const get = await call("GET", "/contacts", {
      key: p.secretKey,
      headers: { origin: "https://evil.example" },
    });
    expect(get.status).toBe(200);
    for (const [name] of get.headers) expect(name.startsWith("access-control-")).toBe(false);
  });
});

describe("project auth", () => {
  it("refuses a missing or malformed Authorization header with 401 MISSING_AUTH", async () => {
    for (const authorization of [undefined, "", "Bearer", "Bearer   ", `Basic ${p.secretKey}`, p.secretKey]) {
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
      const res = await call("GET", "/contacts", { headers });
      expectEnvelope(res, 401, "MISSING_AUTH");
    }
    const track = await call("POST", "/v1/track", { body: { event: "x", email: uniqueEmail() } });
    expectEnvelope(track, 401, "MISSING_AUTH");
  });

  it("refuses an unknown key with 401 INVALID_API_KEY", async () => {
    for (const key of ["sk_unknown", "pk_unknown", "nonsense", `${p.secretKey}x`, ADMIN]) {
      const res = await call("GET", "/contacts", { key });
      expectEnvelope(res, 401, "INVALID_API_KEY");
    }
    const track = await call("POST", "/v1/track", {
      key: "pk_nope",
      body: { event: "x", email: uniqueEmail() },
    });
    expectEnvelope(track, 401, "INVALID_API_KEY");
  });

  it("does not accept a secret key presented as a public one, or the reverse", async () => {
    const swapped = `pk_${p.secretKey.slice(3)}`;
    const res = await call("POST", "/v1/track", { key: swapped, body: { event: "x", email: uniqueEmail() } });
    expectEnvelope(res, 401, "INVALID_API_KEY");
  });

  it("refuses a public key on /contacts and /project with 403 FORBIDDEN", async () => {
    const email = uniqueEmail("pkpost");
    for (const [method, path, body] of [
      ["GET", "/contacts", undefined],
      ["POST", "/contacts", { email }],
      ["GET", "/contacts/ctc_whatever", undefined],
      ["GET", "/project", undefined],
    ] as const) {
      const res = await call(method, path, { key: p.publicKey, body });
      expectEnvelope(res, 403, "FORBIDDEN");
    }
    const list = await call("GET", `/contacts?search=${email}`, { key: p.secretKey });
    expect(list.body.data).toEqual([]);
  });

  it("accepts the secret key and the public key on /v1/track", async () => {
    for (const key of [p.secretKey, p.publicKey]) {
      const res = await call("POST", "/v1/track", { key, body: { event: "x", email: uniqueEmail() } });
      expect(res.status).toBe(200);
      expect(res.body.success).toBe(true);
    }
  });

  it("accepts a case-insensitive Bearer scheme", async () => {
    const res = await exports.default.fetch("http://worker.test/project", {
      headers: { authorization: `bearer ${p.secretKey}` },
    });
    expect(res.status).toBe(200);
  });
});
