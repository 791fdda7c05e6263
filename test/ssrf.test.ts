/** The SSRF guard for webhook URLs, as a unit, and the webhook consumer refusing such a URL at send. */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { forbiddenUrlReason, urlRulesFor, webhookUrlProblem } from "../src/domain/ssrf";
import worker from "../src/index";
import { handleQueue } from "../src/queues";
import type { WebhookMessage } from "../src/queues/messages";
import { call, createProject, fetchSettled } from "./helpers";

afterEach(() => {
  vi.restoreAllMocks();
});

const blocked = (url: string) => expect(forbiddenUrlReason(url), url).not.toBeNull();
const allowed = (url: string) => expect(forbiddenUrlReason(url), url).toBeNull();

describe("forbiddenUrlReason: IPv4", () => {
  it.each([
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/x",
    "http://127.255.255.254/",
    "http://127.1.2.3/",
    "http://0.0.0.0/",
    "http://0.1.2.3/",
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.0/",
    "http://172.16.0.1/",
    "http://172.20.10.1/",
    "http://172.31.255.255/",
    "http://192.168.0.1/",
    "http://192.168.255.255/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.0.1/",
    "http://100.64.0.0/",
    "http://100.64.0.1/",
    "http://100.127.255.255/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.2.1/",
    "http://192.0.2.255/",
    "https://10.0.0.1:443/hook",
    "http://127.0.0.1./",
    "http://user:pass@127.0.0.1/",
    "http://198.18.0.1/",
    "http://203.0.113.5/",
  ])("refuses %s", (url) => blocked(url));

  it.each([
    "http://172.15.255.255/",
    "http://172.32.0.0/",
    "http://100.63.255.255/",
    "http://100.128.0.0/",
    "http://11.0.0.1/",
    "http://126.255.255.255/",
    "http://128.0.0.1/",
    "http://169.253.255.255/",
    "http://169.255.0.0/",
    "http://192.167.255.255/",
    "http://192.169.0.0/",
    "http://223.255.255.255/",
    "http://93.184.216.34/",
    "http://1.1.1.1/",
    "http://8.8.8.8/",
  ])("allows %s", (url) => allowed(url));

  it("normalised decimal, hex and octal forms of 127.0.0.1 are refused", () => {
    // The WHATWG URL parser turns these into dotted IPv4 before the guard looks.
    expect(new URL("http://2130706433/").hostname).toBe("127.0.0.1");
    blocked("http://2130706433/");
    expect(new URL("http://0x7f000001/").hostname).toBe("127.0.0.1");
    blocked("http://0x7f000001/");
    expect(new URL("http://017700000001/").hostname).toBe("127.0.0.1");
    blocked("http://017700000001/");
    expect(new URL("http://0x7f.1/").hostname).toBe("127.0.0.1");
    blocked("http://0x7f.1/");
    expect(new URL("http://127.1/").hostname).toBe("127.0.0.1");
    blocked("http://127.1/");
    expect(new URL("http://0/").hostname).toBe("0.0.0.0");
    blocked("http://0/");
    expect(new URL("http://0xa9fea9fe/").hostname).toBe("169.254.169.254");
    blocked("http://0xa9fea9fe/");
    expect(new URL("http://012.0.0.1/").hostname).toBe("10.0.0.1");
    blocked("http://012.0.0.1/");
  });
});

describe("forbiddenUrlReason: IPv6", () => {
  it.each([
    "http://[::1]/",
    "http://[::]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[fe80::1]/",
    "http://[febf::1]/",
    "http://[fc00::1]/",
    "http://[fd12::1]/",
    "http://[fd12:3456:789a:1::1]/",
    "http://[ff02::1]/",
    "http://[ff05::2]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:192.168.1.1]/",
    "http://[64:ff9b::a00:1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002::1]/",
    "http://[2002:7f00:1::1]/",
    "http://[2001:db8::1]/",
    "http://[::127.0.0.1]/",
    "https://[::1]:8443/x",
  ])("refuses %s", (url) => blocked(url));

  it.each([
    "https://[2606:4700::1111]/",
    "https://[2606:4700:4700::1111]/hook",
    "http://[2001:4860:4860::8888]/",
    "http://[::ffff:93.184.216.34]/",
    "http://[fe00::1]/",
  ])("allows %s", (url) => allowed(url));
});

describe("forbiddenUrlReason: names and schemes", () => {
  it.each([
    "http://localhost/",
    "http://localhost:8787/x",
    "http://foo.localhost/",
    "http://a.b.localhost/",
    "http://LOCALHOST./",
    "http://LocalHost/",
    "http://foo.localhost./",
  ])("refuses the local name %s", (url) => blocked(url));

  it.each([
    "ftp://example.com/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "data:text/plain,hello",
    "gopher://example.com/",
    "ws://example.com/",
  ])("refuses the scheme of %s", (url) => {
    expect(forbiddenUrlReason(url)).toMatch(/http and https/);
  });

  it("refuses what is not a URL", () => {
    expect(forbiddenUrlReason("not a url")).toMatch(/valid URL/);
    expect(forbiddenUrlReason("")).toMatch(/valid URL/);
  });

  it.each([
    "https://example.com",
    "https://example.com/hooks?x=1",
    "http://example.com:8080/x",
    "http://93.184.216.34",
    "https://[2606:4700::1111]",
    "https://localhost.example.com/",
    "https://notlocalhost/",
  ])("allows %s", (url) => allowed(url));
});

describe("one rule in every environment: development only allows loopback hosts", () => {
  const dev = urlRulesFor("development");
  it.each([
    "http://127.0.0.1:8080/hook",
    "http://127.1.2.3/x",
    "http://localhost:3000/",
    "http://api.localhost/",
    "http://[::1]:9000/x",
  ])("development allows the loopback %s; production and the tests refuse it", (url) => {
    expect(forbiddenUrlReason(url, dev)).toBeNull();
    expect(forbiddenUrlReason(url, urlRulesFor("production"))).not.toBeNull();
    expect(forbiddenUrlReason(url, urlRulesFor("test"))).not.toBeNull();
  });

  it.each([
    "http://10.0.0.1/",
    "http://192.168.1.10/",
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00::1]/",
    "http://0.0.0.0/",
  ])("development still refuses the private or reserved %s", (url) => {
    expect(forbiddenUrlReason(url, dev)).toMatch(/private or reserved/);
  });

  it.each(["ftp://127.0.0.1/", "file:///etc/passwd", "ws://localhost/"])(
    "development refuses the scheme of %s, at save too",
    (url) => {
      expect(forbiddenUrlReason(url, dev)).toMatch(/http and https/);
      expect(webhookUrlProblem(url, dev)).toMatch(/http and https/);
    },
  );

  it("a WEBHOOK step is checked when it is saved in development as everywhere: http(s) only, loopback allowed", async () => {
    const devEnv = { ...env, ENVIRONMENT: "development" };
    const p = await createProject();
    const send = async (method: string, path: string, body: unknown) => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(
        new Request(`http://worker.test${path}`, {
          method,
          headers: { authorization: `Bearer ${p.secretKey}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
        devEnv,
        ctx,
      );
      return { status: res.status, body: (await res.json()) as any };
    };
    const wf = await send("POST", "/workflows", { name: "Dev hooks", eventName: "x" });
    expect(wf.status).toBe(201);
    const step = (url: string) =>
      send("POST", `/workflows/${wf.body.id}/steps`, { type: "WEBHOOK", name: "hook", config: { url } });
    for (const url of ["ftp://127.0.0.1/x", "http://10.1.2.3/x", "http://169.254.169.254/"]) {
      const res = await step(url);
      expect(res.status, url).toBe(422);
      expect(res.body.error.errors[0]).toMatchObject({ field: "config.url", code: "forbidden_url" });
    }
    expect((await step("http://127.0.0.1:9999/hook")).status).toBe(201);
    expect((await step("https://example.com/hook")).status).toBe(201);
    // The same loopback URL is refused outside development.
    const prod = await fetchSettled(
      new Request(`http://worker.test/workflows/${wf.body.id}/steps`, {
        method: "POST",
        headers: { authorization: `Bearer ${p.secretKey}`, "content-type": "application/json" },
        body: JSON.stringify({
          type: "WEBHOOK",
          name: "hook",
          config: { url: "http://127.0.0.1:9999/hook" },
        }),
      }),
    );
    expect(prod.status).toBe(422);
  });
});

describe("webhook consumer: the guard at send", () => {
  it("a message to http://127.0.0.1/x ends FAILED with one attempt naming the guard, and nothing is fetched", async () => {
    expect(env.ENVIRONMENT).toBe("test");
    const project = await createProject();
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    const deliveryId = `whd_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
    const body: WebhookMessage = {
      kind: "webhook",
      deliveryId,
      projectId: project.id,
      workflowId: "wf_ssrf",
      executionId: "exec_ssrf",
      stepId: "stp_ssrf",
      config: { url: "http://127.0.0.1/x", method: "POST" },
      vars: {
        contact: { email: "a@example.com", subscribed: true, data: {} },
        workflow: { id: "wf_ssrf", name: "SSRF" },
        execution: { id: "exec_ssrf", startedAt: new Date().toISOString() },
        event: {},
      },
    };
    const batch = createMessageBatch("webhooks", [{ id: "m1", timestamp: new Date(), attempts: 1, body }]);
    const ctx = createExecutionContext();
    await handleQueue(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual(["m1"]);
    expect(result.retryMessages).toEqual([]);
    expect(fetchSpy).not.toHaveBeenCalled();

    const res = await call("GET", `/webhook-deliveries/${deliveryId}`, { key: project.secretKey });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("FAILED");
    expect(res.body.attempts).toHaveLength(1);
    expect(res.body.attempts[0].statusCode).toBeNull();
    expect(res.body.attempts[0].error).toMatch(/loopback, private or reserved/);
  });

  it("a URL that Liquid renders into a private address is refused too", async () => {
    const project = await createProject();
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    const deliveryId = `whd_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
    const body: WebhookMessage = {
      kind: "webhook",
      deliveryId,
      projectId: project.id,
      workflowId: "wf_ssrf",
      executionId: "exec_ssrf",
      stepId: "stp_ssrf",
      config: { url: "http://{{ data.host }}/x", method: "POST" },
      vars: {
        contact: { email: "a@example.com", subscribed: true, data: { host: "169.254.169.254" } },
        workflow: { id: "wf_ssrf", name: "SSRF" },
        execution: { id: "exec_ssrf", startedAt: new Date().toISOString() },
        event: {},
      },
    };
    const batch = createMessageBatch("webhooks", [{ id: "m1", timestamp: new Date(), attempts: 1, body }]);
    const ctx = createExecutionContext();
    await handleQueue(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual(["m1"]);
    expect(fetchSpy).not.toHaveBeenCalled();
    const res = await call("GET", `/webhook-deliveries/${deliveryId}`, { key: project.secretKey });
    expect(res.body.status).toBe("FAILED");
    expect(res.body.url).toBe("http://169.254.169.254/x");
    expect(res.body.attempts).toHaveLength(1);
    expect(res.body.attempts[0].error).toMatch(/loopback, private or reserved/);
  });
});
