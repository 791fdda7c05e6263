/**
 * One `wrangler dev` for all the files of a test project (vitest `globalSetup`), instead of one per file:
 * starting it (migrations, then wrangler dev) takes most of half a minute on a 2-core machine. Each file
 * still works in projects of its own (created through the admin API), so files stay isolated.
 *
 * It runs in vitest's own process and serves, on loopback, a small control server whose URL the files get
 * with `inject("sharedStack")` (shared-stack.ts):
 * - `GET /__control/stack` starts the stack the first time it is asked (a run that has no file needing it
 *   starts none) and answers its base URL and where its output is written;
 * - `PUT /__control/ses` and `DELETE /__control/ses` point the worker's SES at the file's own local SES
 *   (or its throttling proxy), so that each file sees only its own emails: the control server is also the
 *   worker's SES_ENDPOINT and passes every other request to the SES of the file running now (the files of
 *   a project run one at a time). With no file's SES, a send is refused for good (400), so that a file's
 *   leftover emails never reach the next file's SES;
 * - `GET /__control/chromium` launches one Chromium (a playwright browser server) for the browser tests to
 *   connect to, each file with browser contexts of its own.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { freePort, type Stack, startStack } from "./stack";

declare module "vitest" {
  interface ProvidedContext {
    /** The control server of the project's shared stack (shared-setup.ts). */
    sharedStack: string;
  }
}

export interface SharedOptions {
  /** The worker's variables besides SES_ENDPOINT (the control server) and PUBLIC_URL (the worker itself). */
  vars?: Record<string, string>;
  /** Whether GET /__control/chromium may launch a browser server. */
  chromium?: boolean;
}

/** The variables the shared stack is started with: a file asking for other values cannot share it. */
const sharedVars = (vars: Record<string, string> = {}) => ({ RETRY_DELAY_SCALE: "0", ...vars });

export function sharedSetup(name: string, opts: SharedOptions = {}) {
  return async function setup(project: TestProject) {
    let stack: Promise<Stack> | undefined;
    let chromium: Promise<{ wsEndpoint: () => string; close: () => Promise<void> }> | undefined;
    let sesTarget: string | null = null;
    const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), `plunk-edge-${name}-`)), "wrangler.log");
    let controlUrl = "";
    const port = await freePort();

    const vars = sharedVars(opts.vars);
    // PUBLIC_URL: the worker itself (where the SES simulator posts SES's notifications).
    const startShared = () =>
      startStack(
        { ...vars, SES_ENDPOINT: controlUrl, PUBLIC_URL: `http://127.0.0.1:${port}` },
        { port, logFile: log },
      );

    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", async () => {
        const url = req.url ?? "/";
        const json = (status: number, body: unknown) => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify(body));
        };
        try {
          if (url === "/__control/stack") {
            stack ??= startShared();
            const s = await stack;
            return json(200, { base: s.base, log, vars });
          }
          if (url === "/__control/ses") {
            if (req.method === "PUT") sesTarget = JSON.parse(Buffer.concat(chunks).toString()).url;
            else sesTarget = null;
            return json(200, { target: sesTarget });
          }
          if (url === "/__control/chromium") {
            if (!opts.chromium) return json(404, { error: "no chromium for this project" });
            chromium ??= import("../browser/chromium").then((m) => m.launchChromiumServer());
            return json(200, { wsEndpoint: (await chromium).wsEndpoint() });
          }
          // The worker's SES requests: to the SES of the file running now.
          if (!sesTarget) {
            return json(400, {
              message: "No test file's SES is receiving now",
              __type: "MessageRejected",
            });
          }
          const headers = Object.fromEntries(
            Object.entries(req.headers).filter(
              ([k, v]) => typeof v === "string" && !["host", "connection", "content-length"].includes(k),
            ),
          ) as Record<string, string>;
          const upstream = await fetch(`${sesTarget}${url}`, {
            method: req.method,
            headers,
            body: req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks),
          });
          const out: Record<string, string> = {
            "content-type": upstream.headers.get("content-type") ?? "application/json",
          };
          const retryAfter = upstream.headers.get("retry-after");
          if (retryAfter) out["retry-after"] = retryAfter;
          res.writeHead(upstream.status, out);
          res.end(Buffer.from(await upstream.arrayBuffer()));
        } catch (err) {
          if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
          res.end(String(err));
        }
      });
    });
    const controlPort = await freePort();
    await new Promise<void>((r) => server.listen(controlPort, "127.0.0.1", () => r()));
    controlUrl = `http://127.0.0.1:${controlPort}`;
    project.provide("sharedStack", controlUrl);

    return async () => {
      await chromium?.then((c) => c.close()).catch(() => {});
      await stack?.then((s) => s.stop()).catch(() => {});
      await new Promise((r) => server.close(r));
      fs.rmSync(path.dirname(log), { recursive: true, force: true });
    };
  };
}
