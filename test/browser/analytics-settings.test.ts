/**
 * Analytics and Settings in a real browser.
 *
 * Analytics: the counters of what was seeded (emails by POST /v1/send to the local SES, with SES's
 * delivery, open, click, bounce and complaint through the development simulator; two workflows whose runs
 * complete, exit and are cancelled; tracked events; subscription changes, by hand and by the bounce and
 * the complaint) drawn as uPlot charts with
 * their legends, summaries and tables, the numbers checked against the seed; the range presets and a
 * custom range (an empty one, a refused one). Emails and executions are counted as they happen; events are
 * counted by the cron once they are older than its grace (a minute in production, ROLLUP_GRACE_SECONDS
 * here): first the page shows them not counted yet, and the last test runs the cron's handler
 * (`/cdn-cgi/handler/scheduled`, as `npm start` does) once they are old enough, and finds them.
 *
 * Settings: retention refused at its field (0) then saved (45); the time zone refused, then saved; the
 * webhook secret rotated (the new one shown, the 24 hours said); the keys rotated: the new ones shown once
 * with Copy, the old session signed out, the old key refused and the new one signing in.
 */
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../e2e/local-servers";
import {
  button,
  type Dashboard,
  described,
  ROLLUP_GRACE_SECONDS,
  screenshot,
  signIn,
  unnamedControls,
} from "./browser";
import { type SesDashboard, startSesDashboard, track } from "./seed";

let harness: SesDashboard;
let d: Dashboard;
/** When the last event was stored (the unsubscriptions SES's bounce and complaint make are the last): the cron counts events older than its grace. */
let lastEventAt = 0;
const today = new Date().toISOString().slice(0, 10);

const ok = (r: { status: number; body: any }, status = 200) => {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  return r.body;
};
const sumOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** What was seeded, as GET /analytics must count it (emails and executions at once, events after the cron). */
const EMAILS = { sent: 3, delivered: 2, opened: 1, clicked: 1, bounced: 1, complained: 1 };
// Linus unsubscribed by hand, then by his bounce; Grace by her complaint; Linus subscribed again by hand.
// Most frequent first, then by name.
const EVENTS: [string, number][] = [
  ["page.viewed", 4],
  ["contact.unsubscribed", 3],
  ["signup", 3],
  ["trial.started", 2],
  ["contact.subscribed", 1],
  ["purchase", 1],
];

beforeAll(async () => {
  harness = await startSesDashboard();
  d = harness.d;

  // Onboarding: a pro plan completes (its contact updated), any other plan exits.
  ok(
    await d.api("PUT", "/workflows/wf_onboarding/definition", {
      id: "wf_onboarding",
      name: "Onboarding",
      eventName: "signup",
      enabled: true,
      steps: {
        pro: { type: "CONDITION", config: { field: "event.plan", operator: "equals", value: "pro" } },
        mark: { type: "UPDATE_CONTACT", config: { data: { onboarded: true } } },
        bye: { type: "EXIT", config: { reason: "not pro" } },
      },
      transitions: [
        { from: "trigger", to: "pro" },
        { from: "pro", to: "mark", branch: "yes" },
        { from: "pro", to: "bye", branch: "no" },
      ],
    }),
    201,
  );
  // Trial reminder: waits a day (one of its two runs is cancelled below).
  ok(
    await d.api("PUT", "/workflows/wf_trial/definition", {
      id: "wf_trial",
      name: "Trial reminder",
      eventName: "trial.started",
      enabled: true,
      steps: { wait: { type: "DELAY", config: { amount: 1, unit: "days" } } },
      transitions: [{ from: "trigger", to: "wait" }],
    }),
    201,
  );

  await track(d, "ada@example.com", "signup", { plan: "pro" });
  await track(d, "grace@example.com", "signup", { plan: "pro" });
  const linus = await track(d, "linus@example.com", "signup", { plan: "free" });
  await track(d, "ada@example.com", "trial.started");
  await track(d, "grace@example.com", "trial.started");
  for (let i = 0; i < 3; i++) await track(d, "ada@example.com", "page.viewed", { path: `/docs/${i}` });
  await track(d, "linus@example.com", "page.viewed", { path: "/pricing" });
  await track(d, "grace@example.com", "purchase", { amount: 42 });
  ok(await d.api("PATCH", `/contacts/${linus}`, { subscribed: false }));
  ok(await d.api("PATCH", `/contacts/${linus}`, { subscribed: true }));

  // Three emails; SES says: ada's delivered, opened, clicked; grace's delivered, then a complaint; linus's bounced.
  const sent: Record<string, string> = {};
  for (const to of ["ada@example.com", "grace@example.com", "linus@example.com"]) {
    const r = ok(
      await d.api("POST", "/v1/send", { to, subject: "Hello", body: "<p>Hi.</p>", from: "team@example.com" }),
    );
    sent[to] = r.data.emails[0].email;
  }
  await until(
    "the three emails sent",
    async () => {
      const all = (await d.api("GET", "/emails?limit=10")).body.data as any[];
      return all.filter((e) => e.status === "SENT").length === 3 ? true : undefined;
    },
    30_000,
  );
  const simulate = async (emailId: string | undefined, kind: string) =>
    ok(await d.api("POST", "/dev/ses/simulate", { emailId, kind }), 202);
  for (const kind of ["delivery", "open", "click"]) await simulate(sent["ada@example.com"], kind);
  for (const kind of ["delivery", "complaint"]) await simulate(sent["grace@example.com"], kind);
  await simulate(sent["linus@example.com"], "bounce");

  // One of the two waiting trial runs cancelled.
  const trials = await until("the trial runs waiting", async () => {
    const list = (await d.api("GET", "/workflows/wf_trial/executions")).body.data as any[];
    return list.length === 2 && list.every((e) => e.status === "WAITING") ? list : undefined;
  });
  ok(await d.api("DELETE", `/workflows/wf_trial/executions/${trials[0].id}`));

  // The counters, as the API answers them, before the pages are looked at.
  await until(
    "the emails' and executions' counters",
    async () => {
      const a = (await d.api("GET", "/analytics")).body;
      const emails = Object.fromEntries(Object.entries(a.emails).map(([k, v]) => [k, sumOf(v as number[])]));
      const runs = Object.fromEntries(
        (a.executions as any[]).map((w) => [
          w.name,
          [sumOf(w.started), ...["COMPLETED", "EXITED", "FAILED", "CANCELLED"].map((s) => sumOf(w.ended[s]))],
        ]),
      );
      return JSON.stringify(emails) === JSON.stringify(EMAILS) &&
        JSON.stringify(runs) ===
          JSON.stringify({ Onboarding: [3, 2, 1, 0, 0], "Trial reminder": [2, 0, 0, 0, 1] })
        ? true
        : undefined;
    },
    30_000,
  );
  lastEventAt = Date.now();
});

afterAll(async () => {
  await harness?.stop();
});

const path = (page: Page) => new URL(page.url()).pathname + new URL(page.url()).search;
const section = (page: Page, title: string) => page.getByRole("region", { name: title, exact: true });
/** The totals of a section: label → number. */
const totals = (scope: Locator) =>
  scope
    .locator(".totals > div")
    .evaluateAll((els) =>
      Object.fromEntries(
        els.map((el) => [
          el.querySelector("dt")?.textContent ?? "",
          Number((el.querySelector(".total-value")?.textContent ?? "").replace(/[^\d-]/g, "")),
        ]),
      ),
    );
/** A table's rows as text cells (header cell first). */
const rows = (table: Locator, part = "tbody") =>
  table
    .locator(`${part} tr`)
    .evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll("th, td")].map((c) => (c.textContent ?? "").trim())),
    );
const legend = (chart: Locator) => chart.locator(".u-legend .u-label").allTextContents();

describe("analytics and settings in the dashboard", () => {
  it("draws the emails and executions counted as they happen, with legends and tables; events wait for the cron", async () => {
    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Analytics" }).click();
    await page.getByRole("heading", { name: "Analytics", level: 1 }).waitFor();
    expect(path(page)).toBe("/app/analytics");
    expect(await button(page, "Last 30 days").getAttribute("aria-pressed")).toBe("true");

    const emails = section(page, "Emails");
    await emails.locator(".totals").waitFor();
    expect(await totals(emails)).toEqual({
      Sent: 3,
      Delivered: 2,
      Opened: 1,
      Clicked: 1,
      Bounced: 1,
      Complained: 1,
    });
    // The chart: uPlot's canvas, its legend, its summary in words, and its numbers in a table.
    const emailsChart = emails.getByRole("figure", { name: "Emails by day" });
    expect(await emailsChart.locator("canvas").count()).toBeGreaterThan(0);
    expect(await legend(emailsChart)).toEqual([
      "Day",
      "Sent",
      "Delivered",
      "Opened",
      "Clicked",
      "Bounced",
      "Complained",
    ]);
    expect(await emailsChart.locator(".u-legend").textContent()).toContain("3 in all");
    const summary = await emailsChart.getByRole("img").getAttribute("aria-label");
    expect(summary).toMatch(
      /^Line chart of emails by day, .*: 3 sent, 2 delivered, 1 opened, 1 clicked, 1 bounced and 1 complained, most on .* \(3\)\./,
    );
    await emailsChart.getByText("The numbers by day").click();
    const byDay = emailsChart.locator(".chart-table table");
    const days = await rows(byDay);
    expect(days).toHaveLength(30);
    expect(days.at(-1)?.slice(1)).toEqual(["3", "2", "1", "1", "1", "1"]);
    expect(days.slice(0, -1).every((r) => r.slice(1).every((n) => n === "0"))).toBe(true);
    expect(await rows(byDay, "tfoot")).toEqual([["Total", "3", "2", "1", "1", "1", "1"]]);

    // Executions: a table of the workflows' totals, and a chart of all or one.
    const runs = section(page, "Workflow executions");
    const runsTable = runs.locator("table.executions-table");
    expect(await rows(runsTable)).toEqual([
      ["Onboarding", "3", "2", "1", "0", "0"],
      ["Trial reminder", "2", "0", "0", "0", "1"],
    ]);
    expect(await rows(runsTable, "tfoot")).toEqual([["All workflows", "5", "2", "1", "0", "1"]]);
    const runsChart = runs.getByRole("figure", { name: "Executions by day: all workflows" });
    expect(await runsChart.locator("canvas").count()).toBeGreaterThan(0);
    expect(await legend(runsChart)).toEqual(["Day", "Started", "Completed", "Exited", "Failed", "Cancelled"]);
    await runs
      .getByRole("combobox", { name: "Workflow in the chart" })
      .selectOption({ label: "Trial reminder" });
    const trialChart = runs.getByRole("figure", { name: "Executions by day: Trial reminder" });
    expect(await trialChart.getByRole("img").getAttribute("aria-label")).toContain(
      "2 started, 0 completed, 0 exited, 0 failed and 1 cancelled",
    );
    await runs.getByRole("link", { name: "Onboarding" }).waitFor();

    // Events and subscription changes are counted by the cron, which has not run: empty states, no chart.
    const events = section(page, "Events");
    await events.getByRole("region", { name: "No events counted in these days" }).waitFor();
    expect(await events.locator("canvas").count()).toBe(0);
    await section(page, "Contacts")
      .getByRole("region", { name: "No subscription changes in these days" })
      .waitFor();
    expect(await unnamedControls(page)).toEqual([]);

    // The last 7 days: in the address, the same counts.
    const asked: string[] = [];
    page.on("request", (r) => {
      const u = new URL(r.url());
      if (u.pathname === "/analytics") asked.push(u.search);
    });
    await button(page, "Last 7 days").click();
    await expect.poll(() => path(page)).toBe("/app/analytics?range=7");
    expect(await button(page, "Last 7 days").getAttribute("aria-pressed")).toBe("true");
    await expect.poll(async () => (await rows(byDay)).length).toBe(7);
    expect(await totals(emails)).toMatchObject({ Sent: 3, Bounced: 1 });
    const from7 = new Date(Date.now() - 6 * 86_400_000).toISOString().slice(0, 10);
    expect(asked).toContain(`?from=${from7}&to=${today}`);

    // A custom range with nothing in it: every part says so.
    await page.getByLabel("From", { exact: true }).fill("2025-01-01");
    await page.getByLabel("To", { exact: true }).fill("2025-01-31");
    await button(page, "Show these days").click();
    await expect.poll(() => path(page)).toBe("/app/analytics?from=2025-01-01&to=2025-01-31");
    await page.getByRole("region", { name: "No emails in these days" }).waitFor();
    await page.getByRole("region", { name: "No executions in these days" }).waitFor();
    expect(await page.locator("canvas").count()).toBe(0);
    expect(await page.locator(".range-line").textContent()).toContain("Jan 1 – Jan 31, 2025");
    // A range backwards is refused at its field, and not asked for.
    await page.getByLabel("To", { exact: true }).fill("2024-12-01");
    await button(page, "Show these days").click();
    expect(await described(page.getByLabel("To", { exact: true }))).toBe("The last day is before the first");
    expect(path(page)).toBe("/app/analytics?from=2025-01-01&to=2025-01-31");
    expect(errors).toEqual([]);
  });

  it("saves the retention and the time zone (refusals at their fields), and rotates the webhook secret", async () => {
    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
    await page.getByRole("heading", { name: "Settings", level: 1 }).waitFor();
    const project = section(page, "Project");
    expect(await project.locator("dd").first().textContent()).toBe("Browser tests");
    await project.getByText(d.project.id, { exact: true }).waitFor();
    const keys = section(page, "API keys");
    await keys.locator("code").first().waitFor();
    const prefixes = await keys.locator("code").allTextContents();
    expect(prefixes).toHaveLength(2);
    expect(d.project.publicKey.startsWith((prefixes[0] as string).replace("…", ""))).toBe(true);
    expect(d.project.secretKey.startsWith((prefixes[1] as string).replace("…", ""))).toBe(true);
    expect(await page.content()).not.toContain(d.project.secretKey);

    const retention = page.getByLabel("Retention (days)", { exact: true });
    const zone = page.getByLabel("Time zone", { exact: true });
    const save = button(page, "Save settings");
    expect(await retention.inputValue()).toBe("30");
    expect(await zone.inputValue()).toBe("UTC");
    expect(await save.isDisabled()).toBe(true);
    // 0 days: the API's 422 at the field.
    await retention.fill("0");
    await save.click();
    await expect.poll(() => retention.getAttribute("aria-invalid")).toBe("true");
    expect(await described(retention)).toMatch(/^Too small.*>=\s*1 \| 1 to 365/);
    expect((await d.api("GET", "/project")).body.retentionDays).toBe(30);
    await retention.fill("45");
    await save.click();
    await page.getByText("Saved.").waitFor();
    expect(await retention.getAttribute("aria-invalid")).toBeNull();
    expect((await d.api("GET", "/project")).body.retentionDays).toBe(45);

    // A zone that is not one, then Europe/Berlin (the hint says the time there).
    await zone.fill("Mars/Olympus");
    expect(await page.getByText("This browser does not know this zone.").count()).toBe(1);
    await save.click();
    await expect.poll(() => zone.getAttribute("aria-invalid")).toBe("true");
    expect(await described(zone)).toMatch(
      /^Must be an IANA time zone.* \| .*This browser does not know this zone\.$/,
    );
    await zone.fill("Europe/Berlin");
    expect(await described(zone)).toMatch(/Now there: .*(GMT\+1|GMT\+2|CET|CEST)/);
    await save.click();
    await page.getByText("Saved.").waitFor();
    expect((await d.api("GET", "/project")).body).toMatchObject({
      retentionDays: 45,
      timeZone: "Europe/Berlin",
    });

    // The webhook secret: hidden, then rotated after a confirmation; the new one shown, the 24 hours said.
    const webhook = section(page, "Webhook signing secret");
    expect(await webhook.textContent()).not.toContain(d.project.webhookSecret);
    await button(webhook, "Rotate webhook secret").click();
    const confirm = page.getByRole("dialog", { name: "Rotate the webhook signing secret?" });
    expect(await confirm.textContent()).toContain("keeps signing beside it for 24 hours");
    await button(confirm, "Yes, make a new secret").click();
    const notice = webhook.getByRole("status").filter({ hasText: "A new secret signs" });
    await notice.waitFor();
    const until24h = await notice.locator("time").getAttribute("datetime");
    expect(Date.parse(until24h ?? "") - Date.now()).toBeGreaterThan(23.9 * 3600_000);
    const secret = await webhook.getByLabel("Signing secret", { exact: true }).inputValue();
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(d.project.webhookSecret);
    expect((await d.api("GET", "/project")).body.webhookSecret).toBe(secret);
    d.project.webhookSecret = secret;
    expect(await unnamedControls(page)).toEqual([]);
    await screenshot(page, "settings", { fullPage: true });
    // The two refusals above are the API's 422s, logged by the browser; nothing else.
    expect(errors.filter((e) => !/status of 422/.test(e))).toEqual([]);
  });

  it("rotates the keys: shown once with Copy, the old session and key refused, the new key signs in", async () => {
    const old = { ...d.project };
    // A session made with the old key, in another browser.
    const other = await d.newPage(1280);
    await signIn(d, other.page);

    const { context, page, errors } = await d.newPage(1280);
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: d.stack.base });
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/settings`);
    await button(page, "Rotate keys").click();
    const confirm = page.getByRole("dialog", { name: "Rotate the API keys?" });
    const warning = await confirm.textContent();
    expect(warning).toContain("the old ones stop working at once");
    expect(warning).toContain("This session ends too");
    await button(confirm, "Yes, rotate the keys").click();

    const shown = page.getByRole("dialog", { name: "Your new API keys" });
    await shown.waitFor();
    expect(await shown.textContent()).toContain("they are not shown again");
    const publicKey = await shown.getByLabel("Public key", { exact: true }).inputValue();
    const secretKey = await shown.getByLabel("Secret key", { exact: true }).inputValue();
    expect(publicKey).toMatch(/^pk_/);
    expect(secretKey).toMatch(/^sk_/);
    expect(secretKey).not.toBe(old.secretKey);
    await button(shown, "Copy the secret key").click();
    await shown.getByText("Copied.").waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secretKey);
    expect(await unnamedControls(page)).toEqual([]);
    // Escape does not lose them.
    await page.keyboard.press("Escape");
    await new Promise((r) => setTimeout(r, 200));
    expect(await shown.isVisible()).toBe(true);

    // The old secret key is refused at once, by the API and for signing in; the old sessions are over.
    const refused = await fetch(`${d.stack.base}/project`, {
      headers: { authorization: `Bearer ${old.secretKey}` },
    });
    expect(refused.status).toBe(401);
    d.project.publicKey = publicKey;
    d.project.secretKey = secretKey;
    await other.page.reload();
    await expect.poll(() => path(other.page), { timeout: 10_000 }).toBe("/app/sign-in");

    await button(shown, "I have copied them: sign in again").click();
    await expect.poll(() => path(page)).toBe("/app/sign-in");
    expect(await shown.count()).toBe(0);
    await page.getByLabel("Secret key").fill(old.secretKey);
    await button(page, "Sign in").click();
    await page.getByText("Sign-in refused").waitFor();
    await signIn(d, page, secretKey);
    await page.goto(`${d.stack.base}/app/settings`);
    await section(page, "API keys").locator("code").first().waitFor();
    const prefixes = await section(page, "API keys").locator("code").allTextContents();
    expect(publicKey.startsWith((prefixes[0] as string).replace("…", ""))).toBe(true);
    expect(secretKey.startsWith((prefixes[1] as string).replace("…", ""))).toBe(true);
    // Never shown again.
    expect(await page.content()).not.toContain(secretKey);
    expect(errors.filter((e) => !/status of 401/.test(e))).toEqual([]);
    await other.context.close();
  });

  it("draws the events and subscription changes once the cron has counted them, at 1280 and 390 px", async () => {
    // The cron counts events older than its grace: wait for the seeded ones to be, then run its handler.
    const wait = lastEventAt + ROLLUP_GRACE_SECONDS * 1000 + 2_000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const counted = await until(
      "the events counted",
      async () => {
        await fetch(`${d.stack.base}/cdn-cgi/handler/scheduled`).then((r) => r.text());
        const a = (await d.api("GET", "/analytics")).body;
        const got = JSON.stringify((a.events as any[]).map((e) => [e.name, e.total]));
        return got === JSON.stringify(EVENTS) ? a : undefined;
      },
      30_000,
    );
    expect(counted.contacts).toEqual({
      subscribed: counted.days.map((day: string) => (day === today ? 1 : 0)),
      unsubscribed: counted.days.map((day: string) => (day === today ? 3 : 0)),
    });

    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/analytics?range=7`);
    const events = section(page, "Events");
    const chart = events.getByRole("figure", { name: "The top 5 events by day" });
    await chart.waitFor();
    expect(await chart.locator("canvas").count()).toBeGreaterThan(0);
    expect(await legend(chart)).toEqual(["Day", ...EVENTS.slice(0, 5).map(([n]) => n)]);
    expect(await chart.getByRole("img").getAttribute("aria-label")).toContain(
      "4 page.viewed, 3 contact.unsubscribed, 3 signup, 2 trial.started and 1 contact.subscribed",
    );
    const table = events.locator("table.events-table");
    expect((await rows(table)).map((r) => r.slice(0, 2))).toEqual(EVENTS.map(([n, t]) => [n, String(t)]));
    expect((await rows(table, "tfoot"))[0]?.slice(0, 2)).toEqual(["All events", "14"]);
    const contacts = section(page, "Contacts");
    expect(await totals(contacts)).toEqual({ Subscribed: 1, Unsubscribed: 3, "Net change": -2 });
    const contactsChart = contacts.getByRole("figure", {
      name: "Contacts subscribed and unsubscribed by day",
    });
    expect(await legend(contactsChart)).toEqual(["Day", "Subscribed", "Unsubscribed"]);
    expect(await unnamedControls(page)).toEqual([]);
    await screenshot(page, "analytics", { fullPage: true });

    const narrow = await d.newPage(390);
    await signIn(d, narrow.page);
    await narrow.page.goto(`${d.stack.base}/app/analytics?range=7`);
    await section(narrow.page, "Emails").locator("canvas").first().waitFor();
    // Nothing wider than the screen but the tables, which scroll inside their frames.
    const overflow = await narrow.page.evaluate(() => document.documentElement.scrollWidth);
    expect(overflow).toBeLessThanOrEqual(390);
    const canvasWidth = await section(narrow.page, "Emails")
      .locator(".chart-plot")
      .evaluate((el) => el.getBoundingClientRect().width);
    expect(canvasWidth).toBeLessThanOrEqual(390);
    expect(await unnamedControls(narrow.page)).toEqual([]);
    // The picture for the docs: from the emails' totals and chart down.
    await narrow.page.evaluate(() => document.getElementById("emails-title")?.scrollIntoView());
    await screenshot(narrow.page, "analytics-390");
    expect([...errors, ...narrow.errors]).toEqual([]);
  });
});
