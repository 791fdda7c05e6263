/**
 * Sign-in, as a person does it in a real browser: the secret key for a session, the one-time link, refused
 * keys, the cookie that page scripts cannot read, a cross-origin write refused, sign-out, and the pages'
 * CSP (nothing the page loads or runs is refused by it).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Dashboard, screenshot, signIn, startDashboard } from "./browser";

let d: Dashboard;
beforeAll(async () => {
  d = await startDashboard();
});
afterAll(async () => {
  await d?.stop();
});

describe("signing in to the dashboard", () => {
  it("signs in with the secret key to a session cookie that page scripts cannot read, and signs out", async () => {
    const { context, page, errors } = await d.newPage();
    await page.goto(`${d.stack.base}/app/`);
    // Not signed in: the app sends the reader to the sign-in page.
    await expect.poll(() => new URL(page.url()).pathname).toBe("/app/sign-in");
    await signIn(d, page);
    await expect(page.getByRole("heading", { name: "Workflows", level: 1 }).isVisible()).resolves.toBe(true);

    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: "plunk_session", httpOnly: true, sameSite: "Strict", path: "/" });
    expect(cookie?.expires).toBeGreaterThan(Date.now() / 1000 + 11 * 3600);
    expect(await page.evaluate(() => document.cookie)).toBe("");
    // The key is gone from the page once it is exchanged.
    expect(await page.content()).not.toContain(d.project.secretKey);

    await page.getByRole("button", { name: "Sign out" }).click();
    await expect.poll(() => new URL(page.url()).pathname).toBe("/app/sign-in");
    expect(await context.cookies()).toEqual([]);
    await page.goto(`${d.stack.base}/app/workflows`);
    await expect.poll(() => new URL(page.url()).pathname).toBe("/app/sign-in");
    expect(errors.filter((e) => /Content Security Policy|Refused/.test(e))).toEqual([]);
    await context.close();
  });

  it("refuses a wrong key and a rotated key, in words, with the request id", async () => {
    const { context, page } = await d.newPage();
    await page.goto(`${d.stack.base}/app/sign-in`);
    await page.getByLabel("Secret key").fill("sk_not_a_real_key");
    await page.getByRole("button", { name: "Sign in" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/Invalid API key.*INVALID_API_KEY.*request req_/);
    expect(new URL(page.url()).pathname).toBe("/app/sign-in");

    // A project whose keys were rotated: its old key no longer signs in, and its sessions end.
    const made = await d.stack.admin("POST", "/admin/projects", { name: "Rotated" });
    const old = made.body.secretKey as string;
    const signedIn = await d.newPage();
    await signIn(d, signedIn.page, old);
    await d.stack.admin("POST", `/admin/projects/${made.body.id}/rotate-keys`, {});
    await page.getByLabel("Secret key").fill(old);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect
      .poll(async () => (await page.getByRole("alert").textContent()) ?? "")
      .toMatch(/INVALID_API_KEY/);
    // The session made with the old key ended: the next page sends it to sign in.
    await signedIn.page.reload();
    await expect.poll(() => new URL(signedIn.page.url()).pathname).toBe("/app/sign-in");
    await context.close();
    await signedIn.context.close();
  });

  it("signs in once with a one-time link; the same link again is refused with a message", async () => {
    const link = await d.stack.admin("POST", `/admin/projects/${d.project.id}/sign-in-links`, {});
    const first = await d.newPage();
    await first.page.goto(link.body.url);
    await expect.poll(() => new URL(first.page.url()).pathname).toBe("/app/workflows");
    const second = await d.newPage();
    await second.page.goto(link.body.url);
    await expect.poll(() => new URL(second.page.url()).pathname).toBe("/app/sign-in");
    expect(await second.page.getByRole("alert").textContent()).toMatch(/link is not valid/);
    await first.context.close();
    await second.context.close();
  });

  it("refuses a write from another origin that carries the session cookie", async () => {
    const { context, page } = await d.newPage();
    await signIn(d, page);
    const [cookie] = await context.cookies();
    // What a page elsewhere would send if the browser attached the cookie (SameSite=Strict already stops it).
    const res = await fetch(`${d.stack.base}/workflows`, {
      method: "POST",
      headers: {
        cookie: `plunk_session=${cookie?.value}`,
        origin: "https://evil.example",
        "content-type": "application/json",
      },
      body: JSON.stringify({ name: "Forged", eventName: "x" }),
    });
    expect(res.status).toBe(403);
    expect((await res.json()).error.code).toBe("FORBIDDEN");
    // From the page itself, the same write works.
    const ok = await page.evaluate(async () => {
      const r = await fetch("/workflows", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "From the page", eventName: "x" }),
      });
      return r.status;
    });
    expect(ok).toBe(201);
    await context.close();
  });

  it("cannot be framed, and runs no inline script", async () => {
    const { context, page, errors } = await d.newPage();
    const res = await page.goto(`${d.stack.base}/app/sign-in`);
    expect(res?.headers()["x-frame-options"]).toBe("DENY");
    expect(res?.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
    // An inline script injected into the page is refused by the CSP.
    const ran = await page.evaluate(() => {
      (window as unknown as { injected?: boolean }).injected = false;
      const s = document.createElement("script");
      s.textContent = "window.injected = true";
      document.body.appendChild(s);
      return (window as unknown as { injected?: boolean }).injected;
    });
    expect(ran).toBe(false);
    await expect.poll(() => errors.some((e) => /Content Security Policy/.test(e))).toBe(true);
    await context.close();
  });
});

describe("the API reference", () => {
  it("renders at /docs from this worker alone: every request it makes is to this origin", async () => {
    const { context, page, errors } = await d.newPage();
    const elsewhere: string[] = [];
    page.on("request", (r) => {
      const u = new URL(r.url());
      if (u.origin !== d.stack.base && u.protocol !== "data:") elsewhere.push(r.url());
    });
    const res = await page.goto(`${d.stack.base}/docs`);
    expect(res?.headers()["content-security-policy"]).toContain("script-src 'self'");
    await page.getByText("/v1/track").first().waitFor({ timeout: 20_000 });
    await page.getByText("/workflows/{id}/stats").first().waitFor();
    await screenshot(page, "docs");
    expect(elsewhere).toEqual([]);
    expect(errors.filter((e) => /Content Security Policy|Refused/.test(e))).toEqual([]);
    await context.close();
  });

  it("GET / leads a person to the dashboard", async () => {
    const { context, page } = await d.newPage();
    await page.goto(`${d.stack.base}/`);
    await expect.poll(() => new URL(page.url()).pathname).toBe("/app/sign-in");
    await context.close();
  });
});
