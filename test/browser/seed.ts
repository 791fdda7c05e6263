/**
 * The browser tests' set-up for what sends email: the dashboard (browser.ts) with its emails going to a
 * local SES of the file's own (optionally through a proxy that can throttle it, as SES does), and SES's
 * notifications coming back through the development simulator, which posts them to PUBLIC_URL: the
 * worker itself. And `track`, an event tracked with the public key, as an app does.
 */
import { expect } from "vitest";
import { type LocalSes, type SesProxy, startLocalSes, startSesProxy } from "../e2e/local-servers";
import { type Dashboard, startDashboard } from "./browser";

export interface SesDashboard {
  d: Dashboard;
  ses: LocalSes;
  /** The proxy in front of SES, with `throttled: true`. */
  sesProxy: SesProxy | undefined;
  /** Stops the dashboard, the proxy and SES. */
  stop: () => Promise<void>;
}

/** Starts SES, its proxy (`throttled`) and the dashboard (no retry delays). */
export async function startSesDashboard(opts: {
  throttled: true;
}): Promise<SesDashboard & { sesProxy: SesProxy }>;
export async function startSesDashboard(opts?: { throttled?: false }): Promise<SesDashboard>;
export async function startSesDashboard(opts: { throttled?: boolean } = {}): Promise<SesDashboard> {
  let d: Dashboard | undefined;
  let ses: LocalSes | undefined;
  let sesProxy: SesProxy | undefined;
  const stop = async () => {
    await d?.stop();
    await sesProxy?.close();
    await ses?.stop();
  };
  try {
    ses = await startLocalSes();
    if (opts.throttled) sesProxy = await startSesProxy(ses.url);
    d = await startDashboard({ SES_ENDPOINT: (sesProxy ?? ses).url, RETRY_DELAY_SCALE: "0" });
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
