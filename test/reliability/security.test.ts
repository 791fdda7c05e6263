/**
 * Security: keys stored only as hashes; forged SNS messages, unsubscribe tokens and webhook signatures
 * refused (property-based where the input space allows). The SSRF list is test/ssrf.test.ts (IPv4 and IPv6
 * private, loopback, link-local and metadata ranges in every spelling, names and schemes, and the guard at
 * send time); constant-time comparison is timingSafeEqualString (src/domain/crypto.ts), used for keys,
 * the admin token and unsubscribe tokens.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import { handleQueue } from "../../src/queues";
import type { WebhookMessage } from "../../src/queues/messages";
import { ADMIN, call, createProject, uniqueEmail } from "../helpers";
import { appTables, snapshot } from "./fixtures";

afterEach(() => vi.restoreAllMocks());

describe("keys and tokens at rest", () => {
  it("no raw key (public, secret, rotated) and no admin token in any cell of any D1 table", async () => {
    const projects = await Promise.all([createProject(), createProject(), createProject()]);
    const rotated = await call("POST", `/admin/projects/${projects[0]?.id}/rotate-keys`, { key: ADMIN });
    expect(rotated.status).toBe(200);
    for (const p of projects) {
      await call("POST", "/v1/track", {
        key: p.publicKey,
        body: { event: "e", email: uniqueEmail(), data: { note: "x" } },
        headers: { "idempotency-key": "k1" },
      });
    }
    const raw = [
      ...projects.flatMap((p) => [p.publicKey, p.secretKey]),
      rotated.body.publicKey,
      rotated.body.secretKey,
      ADMIN,
    ] as string[];
    const tables = await appTables();
    const dump = await snapshot(tables);
    let cells = 0;
    for (const rows of JSON.parse(dump) as Record<string, unknown>[][]) {
      for (const row of rows) cells += Object.keys(row).length;
    }
    for (const key of raw) {
      expect(dump.includes(key), `a raw key is stored: ${key.slice(0, 6)}…`).toBe(false);
      // Nor its random part alone (a key stored without its prefix).
      expect(dump.includes(key.slice(3))).toBe(false);
    }
    // What is stored is the SHA-256 of the key.
    const p = projects[1];
    const hash = [
      ...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(p?.secretKey))),
    ]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    const row = await env.DB.prepare("SELECT secret_key_hash AS h FROM projects WHERE id = ?1")
      .bind(p?.id)
      .first<{ h: string }>();
    expect(row?.h).toBe(hash);
    console.log(
      `[reliability] keys at rest: ${raw.length} raw keys looked for in ${cells} cells of ${tables.length} tables; found 0`,
    );
  });

  it("property: any key that is not a project's own is 401, whatever its shape", async () => {
    const p = await createProject();
    let tried = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc
            .string({
              unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"),
              minLength: 1,
              maxLength: 60,
            })
            .map((s) => `sk_${s}`),
          fc.integer({ min: 0, max: p.secretKey.length - 1 }).map((i) => {
            const ch = p.secretKey[i] === "A" ? "B" : "A";
            return `${p.secretKey.slice(0, i)}${ch}${p.secretKey.slice(i + 1)}`;
          }),
          fc.constant(p.secretKey.slice(0, -1)),
          fc.constant(`${p.secretKey}A`),
        ),
        async (key) => {
          fc.pre(key !== p.secretKey);
          tried++;
          const res = await call("GET", "/project", { key });
          expect(res.status).toBe(401);
          expect(res.body.error.code).toBe("INVALID_API_KEY");
        },
      ),
      { numRuns: 150, seed: 7 },
    );
    console.log(`[reliability] forged keys: ${tried} tried, 0 accepted`);
  });
});

describe("forged SNS messages", () => {
  it("unsigned, badly signed, foreign-certificate and altered messages are refused (403, or 422 when unsigned) and change nothing", async () => {
    const fetched: string[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL) => {
      fetched.push(input instanceof Request ? input.url : String(input));
      return new Response("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", { status: 200 });
    });
    const tables = await appTables();
    const before = await snapshot(tables);
    const base = {
      Type: "Notification",
      MessageId: crypto.randomUUID(),
      TopicArn: "arn:aws:sns:us-east-1:123456789012:ses-events",
      Message: JSON.stringify({
        eventType: "Bounce",
        mail: { messageId: "ses-x" },
        bounce: { bounceType: "Permanent" },
      }),
      Timestamp: new Date().toISOString(),
      SignatureVersion: "2",
      Signature: btoa("x".repeat(256)),
      SigningCertURL: "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    };
    const forged: Record<string, unknown>[] = [
      { ...base, Signature: undefined },
      { ...base, Signature: "" },
      { ...base },
      { ...base, SigningCertURL: "https://evil.example.com/cert.pem" },
      { ...base, SigningCertURL: "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem" },
      { ...base, SigningCertURL: "http://sns.us-east-1.amazonaws.com/cert.pem" },
      { ...base, SigningCertURL: "https://sns.us-east-1.amazonaws.com@evil.example/cert.pem" },
      { ...base, SigningCertURL: "https://127.0.0.1/cert.pem" },
      { ...base, SigningCertURL: "file:///etc/passwd" },
      { ...base, SignatureVersion: "3" },
      { ...base, SignatureVersion: "0" },
      {
        ...base,
        Type: "SubscriptionConfirmation",
        SubscribeURL: "https://evil.example.com/confirm",
        Token: "t",
      },
      { ...base, Type: "SubscriptionConfirmation", SubscribeURL: "http://169.254.169.254/latest/meta-data" },
    ];
    let refused = 0;
    const byStatus: Record<number, number> = {};
    for (const m of forged) {
      const res = await call("POST", "/webhooks/sns", {
        body: m,
        headers: { "x-amz-sns-message-type": String(m.Type) },
      });
      // 422 when a field SNS always sends is missing (the schema), else 403 (the signature or the cert's host).
      expect([403, 422], `${JSON.stringify(m).slice(0, 200)} → ${JSON.stringify(res.body)}`).toContain(
        res.status,
      );
      byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
      refused++;
    }
    // Nothing but SNS hosts was ever fetched, and nothing was written.
    for (const url of fetched) expect(url).toMatch(/^https:\/\/sns\.[a-z0-9-]+\.amazonaws\.com\//);
    expect(await snapshot(tables)).toBe(before);
    console.log(
      `[reliability] forged SNS: ${refused} refused ${JSON.stringify(byStatus)}; fetched only SNS hosts (${fetched.length}); D1 unchanged`,
    );
  });
});

describe("unsubscribe tokens", () => {
  it("property: random tokens, and every one-character change of a real one, are 404 and change nothing", async () => {
    const p = await createProject();
    const email = uniqueEmail("tok");
    const tr = await call("POST", "/v1/track", { key: p.secretKey, body: { event: "e", email } });
    const contactId = tr.body.data.contact as string;
    const secret = (await env.DB.prepare("SELECT signing_secret AS s FROM projects WHERE id = ?1")
      .bind(p.id)
      .first<{ s: string }>()) as { s: string };
    const { unsubscribeToken } = await import("../../src/domain/unsubscribe");
    const token = await unsubscribeToken(secret.s, p.id, contactId);
    const tables = await appTables();
    const before = await snapshot(tables);
    let tried = 0;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 120 }),
          fc
            .string({ unit: fc.constantFrom(...alphabet), minLength: 43, maxLength: 43 })
            .map((sig) => `${contactId}.${sig}`),
          fc
            .record({ i: fc.nat({ max: token.length - 1 }), c: fc.constantFrom(...alphabet, ".") })
            .map(({ i, c }) => `${token.slice(0, i)}${c}${token.slice(i + 1)}`),
        ),
        fc.constantFrom("unsubscribe", "subscribe"),
        async (t, route) => {
          fc.pre(t !== token);
          tried++;
          const res = await call("POST", `/${route}/${encodeURIComponent(t)}`);
          expect(res.status, `${route}/${t} → ${res.status}`).toBe(404);
        },
      ),
      { numRuns: 200, seed: 11 },
    );
    expect(await snapshot(tables)).toBe(before);
    // The real token works.
    expect((await call("POST", `/unsubscribe/${token}`)).status).toBe(200);
    console.log(`[reliability] forged unsubscribe tokens: ${tried} tried, 0 accepted`);
  });
});

describe("webhook signatures", () => {
  it("property: a delivery verifies under its project's secret only; any change of body, id, time or secret fails", async () => {
    const p = await createProject();
    const other = await createProject();
    const sent: { body: string; headers: Record<string, string> }[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (_input, init) => {
      sent.push({ body: String(init?.body), headers: init?.headers as Record<string, string> });
      return new Response("ok");
    });
    const deliveryId = `whd_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
    const m: WebhookMessage = {
      kind: "webhook",
      deliveryId,
      projectId: p.id,
      workflowId: "wf_sig",
      executionId: "exec_sig",
      stepId: "stp_sig",
      config: { url: "https://hooks.example.com/in", method: "POST" },
      vars: {
        contact: { email: "ada@example.com", subscribed: true, data: { n: 1 } },
        workflow: { id: "wf_sig", name: "Sig" },
        execution: { id: "exec_sig", startedAt: new Date().toISOString() },
        event: { k: "v" },
      },
    };
    const batch = createMessageBatch("webhooks", [{ id: "m1", timestamp: new Date(), attempts: 1, body: m }]);
    await handleQueue(batch, env);
    await getQueueResult(batch, createExecutionContext());
    expect(sent).toHaveLength(1);
    const { body, headers } = sent[0] as (typeof sent)[number];
    const h = {
      "webhook-id": headers["webhook-id"] as string,
      "webhook-timestamp": headers["webhook-timestamp"] as string,
      "webhook-signature": headers["webhook-signature"] as string,
    };
    expect(new Webhook(p.webhookSecret).verify(body, h)).toEqual(JSON.parse(body));
    expect(() => new Webhook(other.webhookSecret).verify(body, h)).toThrow();
    let tried = 0;
    await fc.assert(
      fc.property(
        fc.oneof(
          fc
            .record({ i: fc.nat({ max: body.length - 1 }), c: fc.string({ minLength: 1, maxLength: 1 }) })
            .map(({ i, c }) => ({
              body: `${body.slice(0, i)}${c}${body.slice(i + 1)}`,
              h,
            })),
          fc.string({ minLength: 1, maxLength: 30 }).map((id) => ({ body, h: { ...h, "webhook-id": id } })),
          fc.integer({ min: -300, max: 300 }).map((d) => ({
            body,
            h: { ...h, "webhook-timestamp": String(Number(h["webhook-timestamp"]) + d) },
          })),
          fc
            .base64String({ minLength: 44, maxLength: 44 })
            .map((sig) => ({ body, h: { ...h, "webhook-signature": `v1,${sig}` } })),
        ),
        (forged) => {
          fc.pre(
            forged.body !== body ||
              forged.h["webhook-id"] !== h["webhook-id"] ||
              forged.h["webhook-timestamp"] !== h["webhook-timestamp"] ||
              forged.h["webhook-signature"] !== h["webhook-signature"],
          );
          tried++;
          expect(() => new Webhook(p.webhookSecret).verify(forged.body, forged.h)).toThrow();
        },
      ),
      { numRuns: 300, seed: 13 },
    );
    console.log(`[reliability] forged webhook signatures: ${tried} tried, 0 verified`);
  });
});
