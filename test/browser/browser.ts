/**
 * Browser tests' harness: a real Chromium (the binary the npm package @sparticuz/chromium ships, as no
 * browser can be downloaded here) driven by playwright-core, against `wrangler dev` serving the built
 * dashboard (test/e2e/stack.ts), with a project of its own and helpers to sign in. The `wrangler dev` and
 * the Chromium are the browser project's, shared by its files (global-setup.ts, test/e2e/shared-setup.ts):
 * each file has its own project and its own browser contexts.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { expect } from "vitest";
import { sharedChromium, sharedStack } from "../e2e/shared-stack";
import type { Stack } from "../e2e/stack";

export { ROLLUP_GRACE_SECONDS } from "./global-setup";

/**
 * Where screenshots go: docs/screenshots (shown in the README) when UPDATE_SCREENSHOTS=1, else a temporary
 * folder, so that a test run leaves the working tree as it found it.
 */
export const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.resolve(import.meta.dirname, "../../docs/screenshots")
  : path.join(os.tmpdir(), "plunk-edge-screenshots");

export interface Project {
  id: string;
  publicKey: string;
  secretKey: string;
  webhookSecret: string;
}

export interface Dashboard {
  stack: Stack;
  browser: Browser;
  project: Project;
  /** A fresh browser context (its own cookies) with a page at the given width. */
  newPage: (width?: number) => Promise<{ context: BrowserContext; page: Page; errors: string[] }>;
  /** The secret-key API of the test's project. */
  api: (method: string, p: string, body?: unknown) => Promise<{ status: number; body: any }>;
  stop: () => Promise<void>;
}

/**
 * The dashboard for a test file: the shared stack (`vars` as sharedStack takes them: SES_ENDPOINT is the
 * file's own SES) with a new project, and the shared Chromium.
 */
export async function startDashboard(vars: Record<string, string> = {}): Promise<Dashboard> {
  const built = path.resolve(import.meta.dirname, "../../dashboard/dist/app/index.html");
  if (!fs.existsSync(built)) throw new Error("the dashboard is not built: run `npm run build:dashboard`");
  const stack = await sharedStack(vars);
  let browser: Browser | undefined;
  try {
    const made = await stack.admin("POST", "/admin/projects", { name: "Browser tests" });
    if (made.status !== 201) throw new Error(`project: ${made.status} ${JSON.stringify(made.body)}`);
    browser = await chromium.connect(await sharedChromium());
    return dashboard(stack, browser, made.body as Project);
  } catch (err) {
    await browser?.close().catch(() => {});
    await stack.stop();
    throw err;
  }
}

function dashboard(stack: Stack, browser: Browser, project: Project): Dashboard {
  const api = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${stack.base}${p}`, {
      method,
      headers: { authorization: `Bearer ${project.secretKey}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: res.status === 204 ? null : await res.json() };
  };
  return {
    stack,
    browser,
    project,
    api,
    async newPage(width = 1280) {
      const context = await browser.newContext({ viewport: { width, height: width > 600 ? 860 : 844 } });
      const page = await context.newPage();
      // What the page itself complains about (CSP violations, uncaught errors) fails the tests that look.
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(e.message));
      return { context, page, errors };
    },
    async stop() {
      // Connected to the shared Chromium: closes this file's contexts and leaves the browser running.
      await browser.close().catch(() => {});
      await stack.stop();
    },
  };
}

/** Signs in through the sign-in page with a secret key, as a person does. */
export async function signIn(d: Dashboard, page: Page, secretKey = d.project.secretKey): Promise<void> {
  await page.goto(`${d.stack.base}/app/sign-in`);
  await page.getByLabel("Secret key").fill(secretKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect.poll(() => new URL(page.url()).pathname, { timeout: 15_000 }).toBe("/app/workflows");
}

/** A screenshot for the docs (docs/screenshots/<name>.png with UPDATE_SCREENSHOTS=1). */
export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: opts.fullPage ?? false });
}

/** Every button, link and form field on the page has an accessible name. */
export const unnamedControls = (page: Page) =>
  page.evaluate(() => {
    const out: string[] = [];
    for (const el of document.querySelectorAll<HTMLElement>("button, a[href], input, select, textarea")) {
      const labelled =
        el.getAttribute("aria-label") ||
        el.getAttribute("aria-labelledby") ||
        (el as HTMLInputElement).labels?.length ||
        el.getAttribute("title") ||
        (el.tagName !== "INPUT" &&
          el.tagName !== "SELECT" &&
          el.tagName !== "TEXTAREA" &&
          el.textContent?.trim());
      if (!labelled && el.getAttribute("type") !== "hidden") out.push(el.outerHTML.slice(0, 120));
    }
    return out;
  });

/** The button named exactly `name`, in the page or a part of it. */
export const button = (scope: Page | Locator, name: string) =>
  scope.getByRole("button", { name, exact: true });

/** The texts of what describes a field (`aria-describedby`: its hint, its error), joined with " | ". */
export const described = (field: Locator) =>
  field.evaluate((el) =>
    (el.getAttribute("aria-describedby") ?? "")
      .split(/\s+/)
      .filter(Boolean)
      .map((id) => document.getElementById(id)?.textContent ?? "")
      .join(" | "),
  );
