/**
 * Templates and campaigns in a real browser. The template editor: a Liquid subject and body with the
 * contact's data, its live preview (rendered by the worker, debounced, in a sandboxed frame with the
 * email's own styles applied) changing when a contact is chosen, a Liquid error shown at its field as it
 * is typed, created, a test send answered by SES (and SES's refusal, a 502, shown), an empty subject
 * refused at its field, and a delete refused with the workflow that uses the template. The campaign
 * composer: an audience of all subscribed contacts then a segment, with its live count; an empty subject
 * refused at its field; saved as a draft; a test send; a time in the past refused at its field; Send now
 * after a confirmation that names the count, followed SENDING → SENT on the page, then its stats with
 * SES's delivery, open and click; another scheduled in a time zone, shown at its time, unscheduled,
 * scheduled again and cancelled. The composer at 390 px. Screenshots for the docs.
 *
 * Emails go to the local SES (through a proxy that can throttle it, as SES does), and SES's notifications
 * come through the development simulator, which posts to PUBLIC_URL: a loopback proxy to the worker
 * (seed.ts).
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SesProxy, until } from "../e2e/local-servers";
import { button, type Dashboard, described, screenshot, signIn, unnamedControls } from "./browser";
import { type SesDashboard, startSesDashboard, track } from "./seed";

let harness: SesDashboard & { sesProxy: SesProxy };
let d: Dashboard;
let ada: string;
let receiptId: string;
let proId: string;
let projectZone: string;

beforeAll(async () => {
  harness = await startSesDashboard({ throttled: true });
  d = harness.d;

  // Subscribed: ada and grace (pro), alan (free); linus (pro) unsubscribed: no campaign goes to him.
  ada = await track(d, "ada@example.com", "signup", { name: "Ada", plan: "pro" });
  await track(d, "grace@example.com", "signup", { name: "Grace", plan: "pro" });
  await track(d, "alan@example.com", "signup", { name: "Alan", plan: "free" });
  await track(d, "linus@example.com", "signup", { name: "Linus", plan: "pro" }, false);
  const pro = await d.api("POST", "/segments", {
    name: "Pro plan",
    condition: {
      logic: "AND",
      groups: [{ filters: [{ field: "contact.data.plan", operator: "equals", value: "pro" }] }],
    },
  });
  expect(pro.status, JSON.stringify(pro.body)).toBe(201);
  proId = pro.body.id;
  // A template a workflow's step uses: it cannot be deleted.
  const receipt = await d.api("POST", "/templates", {
    name: "Receipt",
    subject: "Your receipt",
    body: "<p>Thanks for your order.</p>",
    from: "billing@example.com",
    fromName: "Acme Billing",
    type: "TRANSACTIONAL",
  });
  expect(receipt.status, JSON.stringify(receipt.body)).toBe(201);
  receiptId = receipt.body.id;
  const wf = await d.api("PUT", "/workflows/wf_receipts/definition", {
    id: "wf_receipts",
    name: "Receipts",
    eventName: "purchase",
    enabled: false,
    steps: { receipt: { type: "SEND_EMAIL", name: "Receipt", config: { templateId: receiptId } } },
    transitions: [{ from: "trigger", to: "receipt" }],
  });
  expect(wf.status, JSON.stringify(wf.body)).toBe(201);
  projectZone = (await d.api("GET", "/project")).body.timeZone;
  await until(
    "the segment filled",
    async () => (await d.api("GET", `/segments/${proId}`)).body.backfill === "READY",
  );
});

afterAll(async () => {
  await harness?.stop();
});

const path = (page: Page) => new URL(page.url()).pathname;
const heading = (page: Page, name: string) => page.getByRole("heading", { name, level: 1, exact: true });
const nav = (page: Page, name: string) =>
  page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
const input = (page: Page, name: string) => page.locator(`[name="${name}"]`);
const frameBody = (page: Page) => page.frameLocator('iframe[title="Email preview"]').locator("body");
const previewSubject = (page: Page) => page.locator("[data-preview-subject]");
const fitsWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth);
const cspErrors = (errors: string[]) => errors.filter((e) => /Content Security Policy/.test(e));
/** The preview as rendered: the frame's text, once the preview is not waiting for its debounce or answer. */
async function previewText(page: Page): Promise<string> {
  const busy = await page.locator(".email-preview-head output").getAttribute("aria-busy");
  return busy === "false" ? ((await frameBody(page).textContent()) ?? "").replace(/\s+/g, " ").trim() : "";
}
async function pickContact(page: Page, search: string, email: string) {
  await page.getByLabel("Preview as a contact").fill(search);
  await page.getByRole("list", { name: "Matching contacts" }).getByRole("button", { name: email }).click();
  await page.locator(".contact-picker-current").getByText(email).waitFor();
}

describe("templates in the dashboard", () => {
  it("writes a template with a live preview for a chosen contact, a Liquid error at its field, creates and test-sends it", async () => {
    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);
    await nav(page, "Templates").click();
    await heading(page, "Templates").waitFor();
    const row = page.locator(`tr[data-template-id="${receiptId}"]`);
    await row.waitFor({ timeout: 10_000 });
    expect(await row.locator("td").allTextContents()).toEqual([
      "Receipt",
      "Transactional",
      "Acme Billing <billing@example.com>",
      "Your receipt",
      expect.any(String),
    ]);
    expect(await unnamedControls(page)).toEqual([]);

    await page.getByRole("link", { name: "New template" }).click();
    await heading(page, "New template").waitFor();
    expect(path(page)).toBe("/app/templates/new");
    await input(page, "name").fill("Welcome");
    await input(page, "from").fill("team@example.com");
    await input(page, "fromName").fill("Acme");
    await input(page, "subject").fill('Welcome, {{ data.name ?? "there" }}');
    await input(page, "body").fill(
      '<h1 style="color: rgb(23, 92, 211)">Welcome</h1>\n<p>Hi {{ data.name ?? "there" }}, you are on the {{ plan ?? "free" }} plan.</p>\n<p><a href="{{ unsubscribeUrl }}">Unsubscribe</a></p>',
    );
    // Rendered by the worker for the example contact, 400 ms after the typing stops.
    await expect
      .poll(() => previewText(page), { timeout: 10_000 })
      .toBe("Welcome Hi there, you are on the free plan. Unsubscribe");
    expect(await previewSubject(page).textContent()).toBe("Welcome, there");
    // The frame runs no script, and the email's own style applies in it (through the CSSOM, not blocked
    // by the page's policy).
    const frame = page.locator('iframe[title="Email preview"]');
    expect(await frame.getAttribute("sandbox")).toBe("allow-same-origin");
    expect(
      await frameBody(page)
        .locator("h1")
        .evaluate((h) => getComputedStyle(h).color),
    ).toBe("rgb(23, 92, 211)");
    // The signed unsubscribe link of the (example) contact.
    expect(await frameBody(page).getByRole("link", { name: "Unsubscribe" }).getAttribute("href")).toMatch(
      /\/unsubscribe\/[^/]+$/,
    );

    // A contact chosen: its data in the subject and the body.
    await pickContact(page, "ada", "ada@example.com");
    await expect
      .poll(() => previewText(page), { timeout: 10_000 })
      .toBe("Welcome Hi Ada, you are on the pro plan. Unsubscribe");
    expect(await previewSubject(page).textContent()).toBe("Welcome, Ada");

    // A Liquid error, shown at the body as it is typed; the preview keeps the last version that rendered.
    const body = input(page, "body");
    await body.press("ControlOrMeta+End");
    await body.pressSequentially("{% if true %}");
    await expect.poll(() => body.getAttribute("aria-invalid"), { timeout: 10_000 }).toBe("true");
    expect(await described(body)).toMatch(/^tag \{% if true %\} not closed/);
    await page
      .locator(".preview-problem")
      .getByText("The preview shows the last version that rendered")
      .waitFor();
    expect(await frame.getAttribute("class")).toContain("is-stale");
    expect(await previewSubject(page).textContent()).toBe("Welcome, Ada");
    for (let i = 0; i < "{% if true %}".length; i++) await body.press("Backspace");
    await expect.poll(() => body.getAttribute("aria-invalid"), { timeout: 10_000 }).toBe(null);
    expect(await page.locator(".preview-problem").count()).toBe(0);
    expect(await unnamedControls(page)).toEqual([]);

    await button(page, "Create template").click();
    await heading(page, "Welcome").waitFor({ timeout: 10_000 });
    expect(path(page)).toMatch(/^\/app\/templates\/tpl_/);
    await page.getByRole("status").getByText("Created the template Welcome.").waitFor();
    const saved = (await d.api("GET", `/templates/${path(page).split("/").pop()}`)).body;
    expect(saved).toMatchObject({
      name: "Welcome",
      from: "team@example.com",
      fromName: "Acme",
      type: "MARKETING",
    });
    // Still previewed as Ada.
    await expect.poll(() => previewText(page), { timeout: 10_000 }).toContain("Hi Ada");
    await screenshot(page, "template-editor", { fullPage: true });

    // A test send of the saved template, rendered with Ada's data: SES's answer is shown.
    await input(page, "to").fill("tester@example.com");
    await button(page, "Send test").click();
    await page
      .getByRole("status")
      .getByText("Sent “Welcome, Ada” to tester@example.com")
      .waitFor({ timeout: 10_000 });
    expect((await harness.ses.emails()).some((m) => m.subject === "Welcome, Ada")).toBe(true);
    // SES refuses (throttled): the 502 is shown in words.
    harness.sesProxy.throttleNext(1);
    await button(page, "Send test").click();
    const refused = page.getByRole("alert").filter({ hasText: "The test was not sent" });
    await refused.waitFor({ timeout: 10_000 });
    expect(await refused.textContent()).toMatch(/SES did not accept the test email.*SEND_FAILED, HTTP 502/);

    // An empty subject: the API's refusal at the field.
    await input(page, "subject").fill("");
    await button(page, "Save template").click();
    await expect
      .poll(() => input(page, "subject").getAttribute("aria-invalid"), { timeout: 10_000 })
      .toBe("true");
    expect(await described(input(page, "subject"))).toBe("Must not be empty");
    expect((await d.api("GET", `/templates/${saved.id}`)).body.subject).toBe(
      'Welcome, {{ data.name ?? "there" }}',
    );
    expect(cspErrors(errors)).toEqual([]);
  });

  it("keeps a template a workflow uses, saying which, and deletes one after its confirmation", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/templates/${receiptId}`);
    await heading(page, "Receipt").waitFor({ timeout: 10_000 });
    await button(page, "Delete template").click();
    const dialog = page.getByRole("dialog", { name: "Delete this template?" });
    await button(dialog, "Yes, delete it").click();
    const refused = page.getByRole("alert").filter({ hasText: "The template was not deleted" });
    await refused.waitFor({ timeout: 10_000 });
    expect(await refused.textContent()).toContain(
      "The template is used by a SEND_EMAIL step of workflow wf_receipts",
    );
    expect(await refused.getByRole("link", { name: "open the workflow" }).getAttribute("href")).toBe(
      "/app/workflows/wf_receipts",
    );
    expect((await d.api("GET", `/templates/${receiptId}`)).status).toBe(200);

    const spare = await d.api("POST", "/templates", {
      name: "Spare",
      subject: "Spare",
      body: "<p>Spare</p>",
      from: "team@example.com",
    });
    await page.goto(`${d.stack.base}/app/templates/${spare.body.id}`);
    await heading(page, "Spare").waitFor({ timeout: 10_000 });
    await button(page, "Delete template").click();
    await button(dialog, "Yes, delete it").click();
    await page.getByRole("status").getByText("Deleted the template Spare.").waitFor({ timeout: 10_000 });
    expect(path(page)).toBe("/app/templates");
    expect((await d.api("GET", `/templates/${spare.body.id}`)).status).toBe(404);
  });
});

describe("campaigns in the dashboard", () => {
  it("composes a campaign for a segment with its audience count, test-sends it and sends it: SENDING, then SENT with stats", async () => {
    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);
    await nav(page, "Campaigns").click();
    await heading(page, "Campaigns").waitFor();
    await page.getByRole("region", { name: "No campaigns yet" }).waitFor({ timeout: 10_000 });
    await page.getByRole("link", { name: "New campaign" }).click();
    await heading(page, "New campaign").waitFor();

    // The audience: every subscribed contact (not Linus), then the Pro plan segment's subscribed members.
    const count = page.locator(".audience-count output");
    await expect.poll(() => count.getAttribute("data-count"), { timeout: 10_000 }).toBe("3");
    expect(await count.textContent()).toBe("3 subscribed contacts now");
    await page.getByLabel("A segment's subscribed members").check();
    expect(await count.textContent()).toBe("Choose a segment to see how many contacts get it.");
    await input(page, "segmentId").selectOption({ label: "Pro plan" });
    await expect.poll(() => count.getAttribute("data-count"), { timeout: 10_000 }).toBe("2");
    expect(await count.textContent()).toBe("2 subscribed contacts now");

    await input(page, "name").fill("Spring news");
    await input(page, "body").fill(
      '<h1>Spring news</h1>\n<p>Hi {{ data.name ?? "there" }}, here is what is new on the {{ plan }} plan.</p>',
    );
    // No subject: refused at the field by the API.
    await button(page, "Save draft").click();
    await expect
      .poll(() => input(page, "subject").getAttribute("aria-invalid"), { timeout: 10_000 })
      .toBe("true");
    expect(await described(input(page, "subject"))).toBe("Give a subject and a body, or a templateId");
    expect(path(page)).toBe("/app/campaigns/new");

    await input(page, "subject").fill("Spring news for {{ data.name ?? email }}");
    await input(page, "from").fill("news@example.com");
    await button(page, "Save draft").click();
    await expect.poll(() => path(page), { timeout: 10_000 }).toMatch(/^\/app\/campaigns\/cmp_/);
    const id = path(page).split("/").pop() as string;
    await heading(page, "Spring news").waitFor();
    await page.getByRole("status").getByText("Saved the draft Spring news.").waitFor();
    expect((await d.api("GET", `/campaigns/${id}`)).body).toMatchObject({
      status: "DRAFT",
      subject: "Spring news for {{ data.name ?? email }}",
      from: "news@example.com",
      audience: { type: "SEGMENT", segmentId: proId },
    });

    // The preview, for Grace.
    await expect.poll(() => previewText(page), { timeout: 10_000 }).toContain("Hi there");
    await pickContact(page, "grace", "grace@example.com");
    await expect
      .poll(() => previewText(page), { timeout: 10_000 })
      .toBe("Spring news Hi Grace, here is what is new on the pro plan.");
    expect(await previewSubject(page).textContent()).toBe("Spring news for Grace");
    expect(await unnamedControls(page)).toEqual([]);
    await expect.poll(() => count.getAttribute("data-count"), { timeout: 10_000 }).toBe("2");
    await screenshot(page, "campaign-compose", { fullPage: true });

    // A test, as Grace.
    await input(page, "to").fill("tester@example.com");
    await button(page, "Send test").click();
    await page
      .getByRole("status")
      .getByText("Sent a test, “Spring news for Grace”, to tester@example.com")
      .waitFor({ timeout: 10_000 });

    // A time passed: refused at the field.
    await page.getByLabel("Send at").fill("2020-01-01T09:00");
    await button(page, "Schedule").click();
    await expect
      .poll(() => page.getByLabel("Send at").getAttribute("aria-invalid"), { timeout: 10_000 })
      .toBe("true");
    expect(await described(page.getByLabel("Send at"))).toContain(
      "This time has passed: send it now instead",
    );
    expect((await d.api("GET", `/campaigns/${id}`)).body.status).toBe("DRAFT");

    // Send now: the confirmation names the count; the page follows it SENDING → SENT.
    await button(page, "Send now…").click();
    const dialog = page.getByRole("dialog", { name: "Send this campaign now?" });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain("Spring news goes to 2 subscribed contacts, starting now.");
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seen: string[] }).seen = seen;
      setInterval(() => {
        const badge = document.querySelector(".campaign-fields .badge")?.textContent;
        const progress = document.querySelector(".campaign-progress progress") ? "+progress" : "";
        const now = badge ? `${badge}${progress}` : "";
        if (now && seen[seen.length - 1] !== now) seen.push(now);
      }, 25);
    });
    await button(dialog, "Send to 2 contacts").click();
    const status = page.locator(".campaign-fields .badge");
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toBe("SENT");
    // The sampler reads the badge every 25 ms: the poll above may have read SENT between two of its reads.
    const sampled = () => page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    await expect.poll(async () => (await sampled()).at(-1), { timeout: 5_000 }).toBe("SENT");
    expect((await sampled())[0]).toBe("SENDING+progress");
    const stat = (k: string) => page.locator(`[data-stat="${k}"] .counter-value`).textContent();
    expect(await stat("recipients")).toBe("2");
    expect(await stat("sent")).toBe("2");
    expect(await page.locator(".campaign-progress").count()).toBe(0);
    const inbox = (await harness.ses.emails()).filter((m) =>
      String(m.subject).startsWith("Spring news for "),
    );
    expect(inbox.map((m) => m.subject).sort()).toEqual([
      "Spring news for Ada",
      "Spring news for Grace",
      "Spring news for Grace", // the test
    ]);

    // SES's delivery, open and click of Ada's email, through the simulator: the stats count them.
    const adas = (await d.api("GET", `/emails?contactId=${ada}`)).body.data as any[];
    const email = adas.find((m) => m.campaignId === id);
    for (const kind of ["delivery", "open", "click"]) {
      const sim = await d.api("POST", "/dev/ses/simulate", { emailId: email.id, kind });
      expect(sim.status, JSON.stringify(sim.body)).toBe(202);
    }
    await until(
      "the campaign's delivery, open and click counted",
      async () => {
        const s = (await d.api("GET", `/campaigns/${id}`)).body.stats;
        return s.delivered === 1 && s.opened === 1 && s.clicked === 1;
      },
      30_000,
    );
    await page.reload();
    await heading(page, "Spring news").waitFor({ timeout: 10_000 });
    expect(await stat("delivered")).toBe("1");
    expect(await stat("opened")).toBe("1");
    expect(await page.locator('[data-stat="opened"]').textContent()).toContain("50% open rate");
    expect(await page.locator('[data-stat="clicked"]').textContent()).toContain("50% click rate");
    expect(await page.locator(".campaign-fields").textContent()).toContain("Subscribed members of Pro plan");
    expect(await unnamedControls(page)).toEqual([]);
    // The email, rendered on demand.
    await page.getByText("The email", { exact: true }).click();
    await expect
      .poll(() => previewText(page), { timeout: 10_000 })
      .toBe("Spring news Hi there, here is what is new on the plan.");
    await screenshot(page, "campaign-sent", { fullPage: true });

    // The list: its status, counts and when.
    await nav(page, "Campaigns").click();
    const row = page.locator(`tr[data-campaign-id="${id}"]`);
    await row.waitFor({ timeout: 10_000 });
    expect(await row.locator("td").allTextContents()).toEqual([
      "Spring news",
      "SENT",
      "2",
      "2",
      "1",
      expect.stringMatching(/^Sent /),
    ]);
    expect(cspErrors(errors)).toEqual([]);
  });

  it("schedules a campaign in a time zone, shows its time, unschedules, schedules again and cancels it", async () => {
    const made = await d.api("POST", "/campaigns", {
      name: "Holiday sale",
      subject: "Holiday sale",
      body: "<p>20% off.</p>",
      from: "news@example.com",
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const id = made.body.id;
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/campaigns/${id}`);
    await heading(page, "Holiday sale").waitFor({ timeout: 10_000 });
    // The project's time zone by default.
    const zone = input(page, "timeZone");
    await expect.poll(() => zone.inputValue()).toBe(projectZone);
    await page.getByLabel("Send at").fill("2099-12-24T09:00");
    await zone.selectOption("America/New_York");
    await button(page, "Schedule").click();
    const when = page.locator(".scheduled-for");
    await when.waitFor({ timeout: 10_000 });
    expect(await page.locator(".campaign-fields .badge").textContent()).toBe("SCHEDULED");
    expect(await when.locator("time").getAttribute("datetime")).toBe("2099-12-24T14:00:00.000Z");
    expect(await when.textContent()).toMatch(/Thu, Dec 24, 2099, 9:00 AM EST in America\/New_York/);
    expect((await d.api("GET", `/campaigns/${id}`)).body).toMatchObject({
      status: "SCHEDULED",
      scheduledAt: "2099-12-24T14:00:00.000Z",
      timeZone: "America/New_York",
    });
    expect(await unnamedControls(page)).toEqual([]);

    // Unscheduled: a draft again, the composer keeping the zone it was scheduled in.
    await button(page, "Unschedule").click();
    await input(page, "timeZone").waitFor({ timeout: 10_000 });
    expect(await input(page, "timeZone").inputValue()).toBe("America/New_York");
    expect((await d.api("GET", `/campaigns/${id}`)).body.status).toBe("DRAFT");
    await page.getByLabel("Send at").fill("2099-12-31T18:30");
    await button(page, "Schedule").click();
    await when.waitFor({ timeout: 10_000 });
    expect(await when.locator("time").getAttribute("datetime")).toBe("2099-12-31T23:30:00.000Z");

    // Cancelled, after its confirmation.
    await button(page, "Cancel campaign…").click();
    const dialog = page.getByRole("dialog", { name: "Cancel this campaign?" });
    await button(dialog, "Yes, cancel it").click();
    await expect
      .poll(() => page.locator(".campaign-fields .badge").textContent(), { timeout: 10_000 })
      .toBe("CANCELLED");
    expect((await d.api("GET", `/campaigns/${id}`)).body.status).toBe("CANCELLED");
    expect(await button(page, "Cancel campaign…").count()).toBe(0);
  });

  it("fits at 390 px: the composer and the template editor", async () => {
    const draft = await d.api("POST", "/campaigns", {
      name: "Summer news",
      subject: "Summer news for {{ data.name ?? email }}",
      body: '<h1>Summer news</h1>\n<p>Hi {{ data.name ?? "there" }}.</p>',
      audience: { type: "SEGMENT", segmentId: proId },
    });
    const { page } = await d.newPage(390);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/campaigns/${draft.body.id}`);
    await heading(page, "Summer news").waitFor({ timeout: 10_000 });
    await expect
      .poll(() => page.locator(".audience-count output").getAttribute("data-count"), { timeout: 10_000 })
      .toBe("2");
    await expect.poll(() => previewText(page), { timeout: 10_000 }).toBe("Summer news Hi there.");
    expect(await fitsWidth(page)).toBeLessThanOrEqual(390);
    for (const name of ["Save draft", "Send test", "Schedule", "Send now…"]) {
      const box = await button(page, name).boundingBox();
      expect(box && box.x >= 0 && box.x + box.width <= 390, name).toBe(true);
    }
    await screenshot(page, "campaign-compose-390");
    await page.goto(`${d.stack.base}/app/templates/${receiptId}`);
    await heading(page, "Receipt").waitFor({ timeout: 10_000 });
    await expect.poll(() => previewText(page), { timeout: 10_000 }).toBe("Thanks for your order.");
    expect(await fitsWidth(page)).toBeLessThanOrEqual(390);
  });
});
