/**
 * The browser tests' set-up for what sends email: the dashboard (browser.ts) with its emails going to a
 * local SES (optionally through a proxy that can throttle it, as SES does), and SES's notifications coming
 * back through the development simulator, which posts them to PUBLIC_URL: a loopback proxy to the worker.
 * And `track`, an event tracked with the project's public key, as an app does.
 */
import http from "node:http";
import { expect } from "vitest";
import { type LocalSes, type SesProxy, startLocalSes, startSesProxy } from "../e2e/local-servers";
import { freePort } from "../e2e/stack";
import { type Dashboard, startDashboard } from "./browser";

/** A loopback server that passes every request to the worker (started after it, hence `setTarget`). */
async function startProxy(): Promise<{ url: string; server: http.Server; setTarget: (t: string) => void }> {
  let target = "";
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      try {
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(
            ([k, v]) => typeof v === "string" && !["host", "connection", "content-length"].includes(k),
          ),
        ) as Record<string, string>;
        const r = await fetch(`${target}${req.url}`, {
          method: req.method,
          headers,
          body: chunks.length ? Buffer.concat(chunks) : undefined,
        });
        res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "text/plain" });
        res.end(Buffer.from(await r.arrayBuffer()));
      } catch (err) {
        res.writeHead(502);
        res.end(String(err));
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${port}`, server, setTarget: (t) => (target = t) };
}

export interface SesDashboard {
  d: Dashboard;
  ses: LocalSes;
  /** The proxy in front of SES, with `throttled: true`. */
  sesProxy: SesProxy | undefined;
  /** Stops the dashboard, the proxies and SES. */
  stop: () => Promise<void>;
}

/** Starts SES, its proxy (`throttled`), the loopback proxy and the dashboard (no retry delays). */
export async function startSesDashboard(opts: {
  throttled: true;
}): Promise<SesDashboard & { sesProxy: SesProxy }>;
export async function startSesDashboard(opts?: { throttled?: false }): Promise<SesDashboard>;
export async function startSesDashboard(opts: { throttled?: boolean } = {}): Promise<SesDashboard> {
  let d: Dashboard | undefined;
  let ses: LocalSes | undefined;
  let sesProxy: SesProxy | undefined;
  let proxy: http.Server | undefined;
  const stop = async () => {
    await d?.stop();
    await sesProxy?.close();
    await ses?.stop();
    await new Promise((r) => (proxy ? proxy.close(r) : r(undefined)));
  };
  try {
    ses = await startLocalSes();
    if (opts.throttled) sesProxy = await startSesProxy(ses.url);
    const p = await startProxy();
    proxy = p.server;
    d = await startDashboard({
      SES_ENDPOINT: (sesProxy ?? ses).url,
      RETRY_DELAY_SCALE: "0",
      PUBLIC_URL: p.url,
    });
    p.setTarget(d.stack.base);
    return { d, ses, sesProxy, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** An event tracked with the public key, as an app does: it creates or updates its contact, whose id it answers. */
export async function track(
  d: Dashboard,
  email: string,
  event: string,
  data: Record<string, unknown> = {},
  subscribed?: boolean,
): Promise<string> {
  const res = await fetch(`${d.stack.base}/v1/track`, {
    method: "POST",
    headers: { authorization: `Bearer ${d.project.publicKey}`, "content-type": "application/json" },
    body: JSON.stringify({ event, email, data, subscribed }),
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text).data.contact as string;
}
