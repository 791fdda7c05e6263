/**
 * The test files' side of the project's shared stack (shared-setup.ts): one `wrangler dev` for all the
 * files of the project, each file in projects of its own.
 */
import fs from "node:fs";
import { inject } from "vitest";
import { adminClient, type Stack } from "./stack";

const control = () => {
  const url = inject("sharedStack");
  if (!url) throw new Error("no shared stack: the project has no globalSetup of shared-setup.ts");
  return url;
};

/**
 * The shared stack, for a file that needs of the worker what `vars` says: SES_ENDPOINT, the file's own
 * local SES (or its proxy), which the worker's sends go to until `stop()`; any other variable must be one
 * the shared stack has (shared-setup.ts), or the file cannot share it. `stop()` leaves the stack running.
 */
export async function sharedStack(vars: Record<string, string> = {}): Promise<Stack> {
  const { SES_ENDPOINT: ses, ...rest } = vars;
  const res = await fetch(`${control()}/__control/stack`);
  const text = await res.text();
  if (!res.ok) throw new Error(`the shared stack did not start: ${text}`);
  const shared = JSON.parse(text) as { base: string; log: string; vars: Record<string, string> };
  for (const [k, v] of Object.entries(rest)) {
    if (shared.vars[k] !== v) throw new Error(`the shared stack has ${k}=${shared.vars[k]}, not ${v}`);
  }
  if (ses) await route(ses);
  return {
    base: shared.base,
    admin: adminClient(shared.base),
    output: () => (fs.existsSync(shared.log) ? fs.readFileSync(shared.log, "utf8") : ""),
    async stop() {
      if (ses) await route(null);
    },
    async kill() {
      throw new Error(
        "the shared stack cannot be killed: start a stack of its own (startStack with persist)",
      );
    },
  };
}

/** Where the worker's SES requests go: a file's local SES (or its proxy), or nowhere (`null`: refused). */
async function route(url: string | null): Promise<void> {
  const res = await fetch(`${control()}/__control/ses`, {
    method: url ? "PUT" : "DELETE",
    headers: { "content-type": "application/json" },
    body: url ? JSON.stringify({ url }) : undefined,
  });
  if (!res.ok) throw new Error(`SES route: ${res.status} ${await res.text()}`);
}

/** The shared Chromium's playwright endpoint (the browser project's globalSetup launches it when first asked). */
export async function sharedChromium(): Promise<string> {
  const res = await fetch(`${control()}/__control/chromium`);
  const text = await res.text();
  if (!res.ok) throw new Error(`the shared Chromium did not start: ${text}`);
  return (JSON.parse(text) as { wsEndpoint: string }).wsEndpoint;
}
