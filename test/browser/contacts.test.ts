/**
 * Contacts and the emails log in a real browser, as a person uses them: the contacts list searched by email,
 * filtered by subscription and paged; a contact's page with its data, its events newest first (paged, each
 * with the run it started), its workflow executions and its emails; Unsubscribe and Subscribe; Delete with
 * its confirmation; the emails log filtered by status; an email's page with its recipient, counters and the
 * execution that sent it; unknown ids; the pages at 390 px. Screenshots for the docs.
 *
 * Seeded through the API: contacts, events tracked with the public key, a workflow that sends a MARKETING
 * email on `signup` (to the local SES), an email by POST /v1/send, and SES's delivery, open and click for one
 * email through the development simulator (which posts to PUBLIC_URL: a loopback proxy to the worker).
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../e2e/local-servers";
import { button, type Dashboard, screenshot, signIn, unnamedControls } from "./browser";
import { type SesDashboard, startSesDashboard, track } from "./seed";

let harness: SesDashboard;
let d: Dashboard;
let wfId: string;
let ada: string;
let grace: string;
let linus: string;
let welcomeEmail: string;
let receiptEmail: string;

const emailsOf = async (contactId: string) =>
  (await d.api("GET", `/emails?contactId=${contactId}`)).body.data as any[];

beforeAll(async () => {
  harness = await startSesDashboard();
  d = harness.d;

  const tpl = await d.api("POST", "/templates", {
    name: "Welcome",
    subject: "Welcome, {{ data.name ?? email }}",
    body: "<p>Hello, welcome aboard.</p>",
    from: "team@example.com",
    type: "MARKETING",
  });
  expect(tpl.status).toBe(201);
  const def = await d.api("PUT", "/workflows/wf_welcome/definition", {
    id: "wf_welcome",
    name: "Welcome flow",
    eventName: "signup",
    enabled: true,
    steps: { welcome: { type: "SEND_EMAIL", name: "Welcome", config: { templateId: tpl.body.id } } },
    transitions: [{ from: "trigger", to: "welcome" }],
  });
  expect(def.status, JSON.stringify(def.body)).toBe(201);
  wfId = def.body.id;

  // 20 older contacts, so that the list has a second page.
  const bulk = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      d.api("POST", "/contacts", { email: `user${String(i).padStart(2, "0")}@bulk.test` }),
    ),
  );
  expect(bulk.every((r) => r.status === 201)).toBe(true);
  linus = (
    await d.api("POST", "/contacts", { email: "linus@other.org", subscribed: false, data: { os: "linux" } })
  ).body.id;
  // Grace signs up unsubscribed: her welcome email (MARKETING) is not sent.
  grace = await track(d, "grace@example.com", "signup", { name: "Grace" }, false);
  // Ada signs up: her welcome email is sent (to the local SES), then a receipt by POST /v1/send; SES's
  // delivery, open and click of the welcome come through the simulator. Each is an email.* event of hers.
  ada = await track(d, "ada@example.com", "signup", { name: "Ada", plan: "pro" });
  let seen: unknown;
  welcomeEmail = await until(
    "the welcome email sent",
    async () => {
      const all = await emailsOf(ada);
      seen = all;
      const m = all.find((e) => e.subject === "Welcome, Ada");
      return m?.status === "SENT" ? (m.id as string) : undefined;
    },
    30_000,
  ).catch((e) => debugging(new Error(`${e.message}: ${JSON.stringify(seen)}`)));
  const sent = await d.api("POST", "/v1/send", {
    to: "ada@example.com",
    subject: "Your receipt",
    body: "<p>Thanks.</p>",
    from: "billing@example.com",
  });
  expect(sent.status, JSON.stringify(sent.body)).toBe(200);
  receiptEmail = sent.body.data.emails[0].email;
  for (const kind of ["delivery", "open", "click"]) {
    const sim = await d.api("POST", "/dev/ses/simulate", { emailId: welcomeEmail, kind });
    expect(sim.status, JSON.stringify(sim.body)).toBe(202);
  }
  await until(
    "the receipt sent, and the welcome delivered, opened and clicked",
    async () => {
      const [welcome, receipt] = await Promise.all(
        [welcomeEmail, receiptEmail].map(async (id) => (await d.api("GET", `/emails/${id}`)).body),
      );
      return welcome.status === "DELIVERED" &&
        welcome.opens === 1 &&
        welcome.clicks === 1 &&
        receipt.status === "SENT"
        ? true
        : undefined;
    },
    30_000,
  ).catch(debugging);
  // Then 21 page views: the timeline's first page is all page views, the rest on the second.
  for (let i = 1; i <= 21; i++)
    await track(d, "ada@example.com", "page.viewed", { page: { value: `/docs/${i}`, persistent: false } });
  await until("Grace's email not sent", async () =>
    (await emailsOf(grace)).find((e) => e.status === "NOT_SENT"),
  );
});

/** A seed step that timed out: with the end of the worker's log, which says why. */
function debugging(err: unknown): never {
  const log = d.stack
    .output()
    .split("\n")
    .filter((l) => !/ (GET|POST) \/(emails|v1\/track)/.test(l))
    .slice(-40)
    .join("\n");
  throw new Error(`${(err as Error).message}\n--- wrangler dev:\n${log}`);
}

afterAll(async () => {
  await harness?.stop();
});

const path = (page: Page) => new URL(page.url()).pathname + new URL(page.url()).search;
const heading = (page: Page, name: string, level = 1) =>
  page.getByRole("heading", { name, level, exact: true });
const contactRows = (page: Page) => page.locator("tr[data-contact-id]");
const rowEmails = (page: Page) => contactRows(page).locator("td:first-child").allTextContents();
const timeline = (page: Page) => page.getByRole("list", { name: "Events, newest first" });
const fitsWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth);

describe("contacts and emails in the dashboard", () => {
  it("lists the contacts: search by email, the subscription filter, pages, and an empty result", async () => {
    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Contacts" }).click();
    await heading(page, "Contacts").waitFor();
    expect(path(page)).toBe("/app/contacts");
    expect(await page.getByRole("link", { name: "Contacts" }).getAttribute("aria-current")).toBe("page");

    // Newest first, 20 to a page: Ada, Grace and Linus, then the bulk ones; the rest on page 2.
    await expect.poll(() => contactRows(page).count(), { timeout: 10_000 }).toBe(20);
    expect((await rowEmails(page)).slice(0, 3)).toEqual([
      "ada@example.com",
      "grace@example.com",
      "linus@other.org",
    ]);
    const adaRow = page.locator(`tr[data-contact-id="${ada}"]`);
    expect(await adaRow.textContent()).toMatch(/Subscribed.*name: Ada, plan: pro/);
    expect(await page.locator(`tr[data-contact-id="${grace}"]`).textContent()).toContain("Unsubscribed");
    await page.getByText("20 contacts shown").waitFor();
    expect(await unnamedControls(page)).toEqual([]);
    await screenshot(page, "contacts");

    const pager = page.getByRole("navigation", { name: "Contact pages" });
    expect(await pager.getByRole("button", { name: "← Newer" }).isDisabled()).toBe(true);
    await pager.getByRole("button", { name: "Older →" }).click();
    await pager.getByText("Page 2").waitFor();
    await expect.poll(() => contactRows(page).count()).toBe(3);
    for (const email of await rowEmails(page)) expect(email).toMatch(/@bulk\.test$/);
    expect(await pager.getByRole("button", { name: "Older →" }).isDisabled()).toBe(true);

    // Search: a part of the email, sent with Enter; the address keeps it, and the list starts at page 1.
    const search = page.getByLabel("Search by email");
    await search.fill("ADA@");
    await search.press("Enter");
    await expect.poll(() => rowEmails(page)).toEqual(["ada@example.com"]);
    expect(path(page)).toBe("/app/contacts?search=ADA%40");
    await page.getByText("1 contact shown with “ADA@” in the email").waitFor();
    expect(await page.getByRole("navigation", { name: "Contact pages" }).count()).toBe(0);

    // The subscription filter, alone and with a search.
    await search.fill("");
    await button(page, "Search").click();
    await page.getByLabel("Subscription").selectOption("false");
    await expect.poll(() => rowEmails(page)).toEqual(["grace@example.com", "linus@other.org"]);
    await search.fill("example.com");
    await button(page, "Search").click();
    await expect.poll(() => rowEmails(page)).toEqual(["grace@example.com"]);
    await page.getByText("1 unsubscribed contact shown").waitFor();

    // Nothing matches: said so, and Clear filters brings every contact back.
    await search.fill("nobody@nowhere");
    await button(page, "Search").click();
    await page.getByRole("region", { name: "No contacts match these filters" }).waitFor();
    expect(await contactRows(page).count()).toBe(0);
    await button(page, "Clear filters").click();
    await expect.poll(() => contactRows(page).count()).toBe(20);
    expect(await search.inputValue()).toBe("");
    expect(await page.getByLabel("Subscription").inputValue()).toBe("");
    expect(errors.filter((e) => /Content Security Policy/.test(e))).toEqual([]);
  });

  it("opens a contact: its data, events newest first and paged, its executions and emails; unsubscribes and subscribes", async () => {
    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/contacts`);
    await page.getByRole("link", { name: "ada@example.com" }).click();
    await heading(page, "ada@example.com").waitFor({ timeout: 10_000 });
    expect(path(page)).toBe(`/app/contacts/${ada}`);
    const summary = page.getByRole("region", { name: "Contact" });
    expect(await summary.textContent()).toMatch(/SubscriptionSubscribed/);
    expect(await summary.textContent()).toContain(ada);
    // The data merged from the events: the page views' `page` was for the events only.
    const data = JSON.parse((await summary.locator("pre.json").textContent()) ?? "{}");
    expect(data).toEqual({ name: "Ada", plan: "pro" });
    expect(await summary.locator("time").count()).toBe(2);

    // The timeline: newest first, 20 to a page; each event's data; the sign-up (and its run) on page 2.
    const items = timeline(page).locator("li");
    await expect.poll(() => items.count(), { timeout: 10_000 }).toBe(20);
    expect(await items.first().locator(".event-name").textContent()).toBe("page.viewed");
    expect(await items.first().locator(".event-data").textContent()).toBe('{"page":"/docs/21"}');
    expect(await items.nth(19).locator(".event-data").textContent()).toBe('{"page":"/docs/2"}');
    const times = await items
      .locator("time")
      .evaluateAll((els) => els.map((e) => e.getAttribute("datetime") ?? ""));
    expect([...times].sort().reverse()).toEqual(times);
    const eventPages = page.getByRole("navigation", { name: "Event pages" });
    await eventPages.getByRole("button", { name: "Older →" }).click();
    await eventPages.getByText("Page 2").waitFor();
    // The first page view, what SES said of the emails (in the order the queue took it), and the sign-up.
    await expect.poll(() => items.count()).toBe(7);
    const names = await items.locator(".event-name").allTextContents();
    expect(names[0]).toBe("page.viewed");
    expect(names.slice(1, 6).sort()).toEqual([
      "email.click",
      "email.delivery",
      "email.open",
      "email.sent",
      "email.sent",
    ]);
    const signup = items.nth(6);
    expect(await signup.locator(".event-name").textContent()).toBe("signup");
    expect(await signup.locator(".event-data").textContent()).toBe('{"name":"Ada","plan":"pro"}');
    expect(await signup.textContent()).toMatch(/Started: Welcome flow COMPLETED/);

    // Its workflow executions: the run the sign-up started, linked to the execution's page.
    const runs = page.locator("section", { has: heading(page, "Workflow executions", 2) });
    const run = runs.locator("tr[data-execution-id]");
    await expect.poll(() => run.count()).toBe(1);
    expect(await run.textContent()).toMatch(/Welcome flow.*COMPLETED.*started by signup/);
    const execId = (await run.getAttribute("data-execution-id")) as string;

    // Its emails, newest first: the receipt by /v1/send, the welcome by the workflow, each with its counters.
    const emails = page.locator("section", { has: heading(page, "Emails", 2) }).locator("tr[data-email-id]");
    await expect
      .poll(() => emails.allTextContents())
      .toEqual([
        expect.stringMatching(/^Your receiptSENT.*00$/),
        expect.stringMatching(/^Welcome, AdaDELIVERED.*11$/),
      ]);
    expect(await unnamedControls(page)).toEqual([]);
    // Back to the first page of events, and to the top, for the docs.
    await eventPages.getByRole("button", { name: "← Newer" }).click();
    await expect.poll(() => items.count()).toBe(20);
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, "contact");

    // Unsubscribe: said at once, kept by the API, and the change is the timeline's newest event.
    await button(page, "Unsubscribe").click();
    await page.getByRole("status").getByText("Unsubscribed ada@example.com").waitFor({ timeout: 10_000 });
    expect(await summary.textContent()).toMatch(/SubscriptionUnsubscribed/);
    expect((await d.api("GET", `/contacts/${ada}`)).body.subscribed).toBe(false);
    await expect
      .poll(() => items.first().locator(".event-name").textContent(), { timeout: 10_000 })
      .toBe("contact.unsubscribed");
    // And back.
    await button(page, "Subscribe").click();
    await page.getByRole("status").getByText("Subscribed ada@example.com").waitFor({ timeout: 10_000 });
    expect((await d.api("GET", `/contacts/${ada}`)).body.subscribed).toBe(true);
    await expect
      .poll(() => items.first().locator(".event-name").textContent(), { timeout: 10_000 })
      .toBe("contact.subscribed");

    // The run's link opens the execution's page.
    await run.getByRole("link", { name: execId }).click();
    await page.getByRole("heading", { name: `Execution ${execId}` }).waitFor({ timeout: 10_000 });
    expect(path(page)).toBe(`/app/workflows/${wfId}/executions/${execId}`);
    expect(errors.filter((e) => /Content Security Policy/.test(e))).toEqual([]);
  });

  it("shows the emails log filtered by status, and an email with its recipient, counters and execution", async () => {
    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Emails" }).click();
    await heading(page, "Emails").waitFor();
    const rows = page.locator("tr[data-email-id]");
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(3);
    await page.getByText("3 emails shown").waitFor();
    const byId = (id: string) => page.locator(`tr[data-email-id="${id}"]`);
    expect(await byId(receiptEmail).textContent()).toMatch(
      /^Your receiptSENTada@example\.comAPI \(\/v1\/send\)/,
    );
    expect(await byId(welcomeEmail).textContent()).toMatch(
      /^Welcome, AdaDELIVEREDada@example\.comWorkflow.*11$/,
    );
    expect(await unnamedControls(page)).toEqual([]);
    await screenshot(page, "emails");

    // By status: NOT_SENT is Grace's, with the reason; a status none has is an empty state.
    const status = page.getByLabel("Status");
    await status.selectOption("NOT_SENT");
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toMatch(
      /^\(not rendered: template Welcome\)NOT_SENTThe contact is unsubscribedgrace@example\.com/,
    );
    expect(path(page)).toBe("/app/emails?status=NOT_SENT");
    await status.selectOption("BOUNCED");
    await page.getByRole("region", { name: "No emails match these filters" }).waitFor();
    await status.selectOption("DELIVERED");
    await expect.poll(() => rows.count()).toBe(1);

    // The email's page.
    await rows.first().getByRole("link", { name: "Welcome, Ada" }).click();
    await heading(page, "Welcome, Ada").waitFor({ timeout: 10_000 });
    expect(path(page)).toBe(`/app/emails/${welcomeEmail}`);
    const fields = page.locator("dl.email-fields");
    expect(await fields.textContent()).toMatch(/StatusDELIVERED/);
    expect(await fields.textContent()).toMatch(/TypeMarketing.*TemplateWelcome/);
    const counters = page.getByRole("region", { name: "Engagement" });
    expect(await counters.textContent()).toBe("1open1click");
    const way = page.locator("section", { has: heading(page, "Timeline", 2) });
    for (const label of ["Created", "Sent", "Delivered", "First opened", "First clicked"])
      expect(await way.locator("dt", { hasText: label }).locator("+ dd time").count()).toBe(1);
    expect(await way.textContent()).toMatch(/Bouncednot yet/);
    // The execution that sent it (found through the contact's events), and the recipient, linked.
    const execution = page.getByRole("link", { name: "an execution of Welcome flow" });
    await execution.waitFor({ timeout: 10_000 });
    expect(await execution.getAttribute("href")).toMatch(
      // exec_… on the objects engine, xpg_… on the shard engine (API.md, "Engines").
      new RegExp(`^/app/workflows/${wfId}/executions/(exec|xpg)_`),
    );
    await fields.getByRole("link", { name: "ada@example.com" }).click();
    await heading(page, "ada@example.com").waitFor({ timeout: 10_000 });
    await page.goBack();
    await execution.click();
    await page.getByRole("heading", { name: /^Execution (exec|xpg)_/ }).waitFor({ timeout: 10_000 });

    // The receipt: made by the API, with no execution nor template.
    await page.goto(`${d.stack.base}/app/emails/${receiptEmail}`);
    await heading(page, "Your receipt").waitFor({ timeout: 10_000 });
    expect(await page.locator("dl.email-fields").textContent()).toMatch(/Made byAPI \(\/v1\/send\)/);
    expect(await page.getByRole("region", { name: "Engagement" }).textContent()).toBe("0opens0clicks");

    // From a contact's page to its emails in the log.
    await page.goto(`${d.stack.base}/app/contacts/${ada}`);
    await page.getByRole("link", { name: "See them in the emails log" }).click();
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    expect(path(page)).toBe(`/app/emails?contactId=${ada}`);
    await page.locator(".filter-chip").getByRole("link", { name: "ada@example.com" }).waitFor();
    expect(errors.filter((e) => /Content Security Policy/.test(e))).toEqual([]);
  });

  it("says so for an unknown contact or email id", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/contacts/ctc_does_not_exist`);
    await heading(page, "Contact not found").waitFor({ timeout: 10_000 });
    expect(await page.getByRole("alert").textContent()).toContain(
      "There is no contact with this id in this project",
    );
    expect(await page.getByRole("heading", { name: "Events" }).count()).toBe(0);
    await page.getByRole("alert").getByRole("link", { name: "Find the contact in the list" }).click();
    await heading(page, "Contacts").waitFor();

    await page.goto(`${d.stack.base}/app/emails/eml_does_not_exist`);
    await heading(page, "Email not found").waitFor({ timeout: 10_000 });
    expect(await page.getByRole("alert").textContent()).toContain(
      "There is no email with this id in this project",
    );
  });

  it("deletes a contact only after its confirmation", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/contacts/${linus}`);
    await heading(page, "linus@other.org").waitFor({ timeout: 10_000 });
    await button(page, "Delete contact").click();
    const dialog = page.getByRole("dialog", { name: "Delete this contact?" });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain("This cannot be undone.");
    // Kept: nothing happens.
    await dialog.getByRole("button", { name: "Keep" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect((await d.api("GET", `/contacts/${linus}`)).status).toBe(200);
    // Confirmed: gone, and back to the list, which says so and no longer has it.
    await button(page, "Delete contact").click();
    await dialog.getByRole("button", { name: "Yes, delete it" }).click();
    await page.getByRole("status").getByText("Deleted linus@other.org").waitFor({ timeout: 10_000 });
    expect(path(page)).toBe("/app/contacts");
    await expect.poll(() => contactRows(page).count()).toBe(20);
    expect(await page.getByRole("link", { name: "linus@other.org" }).count()).toBe(0);
    expect((await d.api("GET", `/contacts/${linus}`)).status).toBe(404);
  });

  it("fits at 390 px: the contacts list, a contact and an email", async () => {
    const { page } = await d.newPage(390);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/contacts`);
    await expect.poll(() => contactRows(page).count(), { timeout: 10_000 }).toBe(20);
    expect(await fitsWidth(page)).toBeLessThanOrEqual(390);

    await page.goto(`${d.stack.base}/app/contacts/${ada}`);
    await heading(page, "ada@example.com").waitFor({ timeout: 10_000 });
    await expect.poll(() => timeline(page).locator("li").count(), { timeout: 10_000 }).toBe(20);
    expect(await fitsWidth(page)).toBeLessThanOrEqual(390);
    for (const name of ["Unsubscribe", "Delete contact"]) {
      const box = await button(page, name).boundingBox();
      expect(box && box.x >= 0 && box.x + box.width <= 390).toBe(true);
    }
    await screenshot(page, "contact-390");

    await page.goto(`${d.stack.base}/app/emails/${welcomeEmail}`);
    await heading(page, "Welcome, Ada").waitFor({ timeout: 10_000 });
    await page.getByRole("link", { name: "an execution of Welcome flow" }).waitFor({ timeout: 10_000 });
    expect(await fitsWidth(page)).toBeLessThanOrEqual(390);
    // The log's table scrolls in its own box; the page does not.
    await page.goto(`${d.stack.base}/app/emails`);
    await expect.poll(() => page.locator("tr[data-email-id]").count(), { timeout: 10_000 }).toBe(3);
    expect(await fitsWidth(page)).toBeLessThanOrEqual(390);
  });
});
