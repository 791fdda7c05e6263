/** Loopback servers for end-to-end tests: a webhook consumer that verifies signatures, and the local SES. */
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { Webhook } from "standardwebhooks";
import { freePort } from "./stack";

export interface Received {
  id: string;
  path: string;
  method: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  verified: boolean;
}

export interface Consumer {
  url: string;
  received: Received[];
  /** Decides the answer for each request (default 200). */
  respond: (req: Received, attempt: number) => { status: number; headers?: Record<string, string> };
  setSecret: (secret: string) => void;
  close: () => Promise<void>;
}

export async function startConsumer(secret: string): Promise<Consumer> {
  let verifier = new Webhook(secret);
  const counts = new Map<string, number>();
  const consumer: Consumer = {
    url: "",
    received: [],
    respond: () => ({ status: 200 }),
    setSecret: (s) => {
      verifier = new Webhook(s);
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => {
      raw += d;
    });
    req.on("end", () => {
      let verified = false;
      try {
        verifier.verify(raw, req.headers as Record<string, string>);
        verified = true;
      } catch {}
      const id = String(req.headers["webhook-id"] ?? "");
      const rec: Received = {
        id,
        path: req.url ?? "",
        method: req.method ?? "",
        headers: req.headers,
        body: raw ? JSON.parse(raw) : null,
        verified,
      };
      consumer.received.push(rec);
      const attempt = (counts.get(id) ?? 0) + 1;
      counts.set(id, attempt);
      const answer = consumer.respond(rec, attempt);
      res.writeHead(answer.status, { "content-type": "text/plain", ...answer.headers });
      res.end(`answer ${answer.status}`);
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  consumer.url = `http://127.0.0.1:${port}`;
  return consumer;
}

export interface LocalSes {
  url: string;
  emails: () => Promise<any[]>;
  stop: () => Promise<void>;
}

export async function startLocalSes(): Promise<LocalSes> {
  const port = await freePort();
  const bin = path.resolve(import.meta.dirname, "../../node_modules/.bin/aws-ses-v2-local");
  const child: ChildProcess = spawn(bin, ["--host", "127.0.0.1", "--port", String(port)], {
    stdio: "ignore",
  });
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/health-check`)).ok) break;
    } catch {}
    if (Date.now() > until) throw new Error("local SES did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    emails: async () => ((await (await fetch(`${url}/store`)).json()) as { emails: any[] }).emails,
    stop: async () => {
      child.kill("SIGTERM");
    },
  };
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface SesProxy {
  url: string;
  /** Answer the next n sends with 429 (SES throttling) before forwarding again. */
  throttleNext: (n: number) => void;
  sends: () => number;
  close: () => Promise<void>;
}

/** A proxy in front of the local SES that can throttle, as SES does under load. */
export async function startSesProxy(target: string): Promise<SesProxy> {
  let throttle = 0;
  let forwarded = 0;
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => {
      raw += d;
    });
    req.on("end", async () => {
      if (req.url?.startsWith("/v2/email/outbound-emails") && throttle > 0) {
        throttle--;
        res.writeHead(429, { "content-type": "application/json" });
        res.end(
          JSON.stringify({ message: "Maximum sending rate exceeded.", __type: "TooManyRequestsException" }),
        );
        return;
      }
      if (req.url?.startsWith("/v2/email/outbound-emails")) forwarded++;
      const upstream = await fetch(`${target}${req.url}`, {
        method: req.method,
        headers: Object.fromEntries(
          Object.entries(req.headers).filter(([k]) => !["host", "content-length", "connection"].includes(k)),
        ) as Record<string, string>,
        body: req.method === "GET" ? undefined : raw,
      });
      res.writeHead(upstream.status, { "content-type": "application/json" });
      res.end(await upstream.text());
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${port}`,
    throttleNext: (n) => {
      throttle = n;
    },
    sends: () => forwarded,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
