/**
 * Segments in a real browser: a dynamic segment built in the builder (an AND of a contact field filter
 * and an OR of nested groups, one an event count), its live count following the filters as they change
 * (debounced), saved and shown in the list with its members once READY; a filter the API refuses shown
 * at its input; a segment of the older flat form opened as groups and saved; a static segment's members
 * added and removed by email (an unknown email named); a delete refused with 409 because another segment
 * reads it; and the builder at 390 px. Screenshots for the docs.
 */
import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  button,
  type Dashboard,
  described,
  screenshot,
  signIn,
  startDashboard,
  unnamedControls,
} from "./browser";
import { track } from "./seed";

let d: Dashboard;
let flatId: string;
let earlyId: string;
let followUpId: string;

beforeAll(async () => {
  d = await startDashboard();
  // vip: ada (2 purchases), grace (1 purchase, a referral), alan (no purchase); free: linus (3 purchases), margaret.
  await Promise.all([
    (async () => {
      await track(d, "ada@example.com", "purchase", { plan: "vip" });
      await track(d, "ada@example.com", "purchase");
    })(),
    (async () => {
      await track(d, "grace@example.com", "purchase", { plan: "vip" });
      await track(d, "grace@example.com", "referral");
    })(),
    track(d, "alan@example.com", "signup", { plan: "vip" }),
    (async () => {
      for (let i = 0; i < 3; i++) await track(d, "linus@example.com", "purchase", { plan: "free" });
    })(),
    track(d, "margaret@example.com", "signup", { plan: "free" }),
  ]);
  const flat = await d.api("POST", "/segments", {
    name: "Newsletter readers",
    condition: {
      match: "any",
      filters: [
        { field: "contact.data.plan", operator: "equals", value: "vip" },
        { field: "contact.email", operator: "contains", value: "linus" },
      ],
    },
  });
  expect(flat.status, JSON.stringify(flat.body)).toBe(201);
  flatId = flat.body.id;
  const early = await d.api("POST", "/segments", { name: "Early adopters", type: "STATIC" });
  expect(early.status, JSON.stringify(early.body)).toBe(201);
  earlyId = early.body.id;
  const followUp = await d.api("POST", "/segments", {
    name: "Early adopters follow-up",
    condition: { logic: "AND", groups: [{ filters: [{ segment: earlyId, operator: "in" }] }] },
  });
  expect(followUp.status, JSON.stringify(followUp.body)).toBe(201);
  followUpId = followUp.body.id;
});

afterAll(async () => {
  await d?.stop();
});

const path = (page: Page) => new URL(page.url()).pathname;
const group = (page: Page, name: string) => page.getByRole("group", { name: `Group ${name}`, exact: true });
const filter = (page: Page, n: number, g: string) =>
  page.getByRole("group", { name: `Filter ${n} of group ${g}`, exact: true });
const field = (scope: Locator, label: string) => scope.getByLabel(label, { exact: true });
const liveCount = (page: Page) => page.locator(".live-count output");
/** The live count once settled (not waiting for its debounce or its answer). */
async function settledCount(page: Page): Promise<string> {
  const out = liveCount(page);
  await expect.poll(() => out.getAttribute("aria-busy"), { timeout: 10_000 }).toBe("false");
  return (await out.textContent()) ?? "";
}
const expectCount = (page: Page, text: RegExp | string) =>
  expect
    .poll(
      async () =>
        (await liveCount(page).getAttribute("aria-busy")) === "false" ? liveCount(page).textContent() : "",
      {
        timeout: 10_000,
      },
    )
    .toMatch(text);

describe("segments in the dashboard", () => {
  let vipId: string;

  it("builds a nested condition with a live count, saves it, and lists it with its members once READY", async () => {
    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Segments" }).click();
    await page.getByRole("heading", { name: "Segments", level: 1 }).waitFor();
    await page.getByRole("link", { name: "New segment" }).click();
    expect(path(page)).toBe("/app/segments/new");
    await page.getByLabel("Name", { exact: true }).fill("VIP buyers");
    await page.getByLabel("Description", { exact: false }).fill("VIP plan, and two purchases or a referral");

    // A new filter is incomplete: the live count says so instead of counting.
    expect(await settledCount(page)).toBe("Complete the filters to see how many contacts match.");
    const counts: string[] = [];
    page.on("request", (r) => {
      if (r.method() === "POST" && new URL(r.url()).pathname === "/segments/count")
        counts.push(r.postData() ?? "");
    });
    const f1 = filter(page, 1, "1");
    expect(await field(f1, "Filter on").inputValue()).toBe("field");
    expect(await field(f1, "Field").inputValue()).toBe("contact.data");
    await field(f1, "Data key").fill("plan");
    expect(await field(f1, "Operator").inputValue()).toBe("equals");
    // Typed a key at a time: one count once the typing stops (400 ms), not one per key.
    await field(f1, "Value").pressSequentially("vip", { delay: 60 });
    await expectCount(page, "3 contacts match now");
    expect(counts.length).toBe(1);
    expect(JSON.parse(counts[0] as string)).toEqual({
      condition: {
        logic: "AND",
        groups: [{ filters: [{ field: "contact.data.plan", operator: "equals", value: "vip" }] }],
      },
    });

    // Nested groups in group 1 (OR by default): at least 2 purchases, or a referral.
    await button(page, "Add nested groups to group 1").click();
    const n1 = filter(page, 1, "1.1");
    await field(n1, "Filter on").selectOption("event");
    await field(n1, "Event name").fill("purchase");
    expect(await field(n1, "Operator").inputValue()).toBe("triggered");
    await field(n1, "At least (times)").fill("2");
    await expectCount(page, "1 contact matches now"); // ada
    await button(page, "Add group (nested in group 1)").click();
    const n2 = filter(page, 1, "1.2");
    await field(n2, "Filter on").selectOption("event");
    await field(n2, "Event name").fill("referral");
    const nestedLogic = group(page, "1").getByLabel("Nested groups of group 1 match", { exact: true });
    await nestedLogic.selectOption("OR");
    await expectCount(page, "2 contacts match now"); // ada, grace
    // AND: nobody has both; back to OR.
    await nestedLogic.selectOption("AND");
    await expectCount(page, "0 contacts match now");
    await nestedLogic.selectOption("OR");
    await expectCount(page, "2 contacts match now");
    // A filter changed: at least 1 purchase lets grace in by either way, still 2; 3 purchases: linus is not vip.
    await field(n1, "At least (times)").fill("3");
    await expectCount(page, "1 contact matches now"); // grace, by her referral
    await field(n1, "At least (times)").fill("2");
    await expectCount(page, "2 contacts match now");

    // A group added and removed at the top level.
    await button(page, "Add group (top level)").click();
    expect(await page.getByLabel("Contacts match", { exact: true }).inputValue()).toBe("AND");
    await expect.poll(settledCount.bind(null, page)).toMatch(/^Complete the filters/);
    await button(page, "Remove group 2").click();
    await expectCount(page, "2 contacts match now");
    expect(await page.getByLabel("Contacts match", { exact: true }).count()).toBe(0);

    expect(await unnamedControls(page)).toEqual([]);
    await screenshot(page, "segment-builder", { fullPage: true });

    await button(page, "Create segment").click();
    await expect.poll(() => path(page), { timeout: 10_000 }).toMatch(/^\/app\/segments\/seg_/);
    vipId = path(page).split("/").at(-1) as string;
    const made = await d.api("GET", `/segments/${vipId}`);
    expect(made.body).toMatchObject({ name: "VIP buyers", type: "DYNAMIC", slug: "vip-buyers" });
    expect(made.body.condition).toEqual({
      logic: "AND",
      groups: [
        {
          filters: [{ field: "contact.data.plan", operator: "equals", value: "vip" }],
          conditions: {
            logic: "OR",
            groups: [
              { filters: [{ event: "purchase", operator: "triggered", count: 2 }] },
              { filters: [{ event: "referral", operator: "triggered" }] },
            ],
          },
        },
      ],
    });

    // Its page: the condition in words, then its members once the background fill is done.
    await page.getByRole("heading", { name: "VIP buyers", level: 1 }).waitFor();
    const summary = page.locator(".seg-summary").first();
    expect(await summary.textContent()).toContain("data.plan equals vip");
    expect(await summary.textContent()).toContain("purchase triggered at least 2 times");
    await page.locator(".badge", { hasText: "READY" }).waitFor({ timeout: 20_000 });
    expect(await page.locator(".segment-count").textContent()).toBe("2");
    const members = page.getByRole("table", { name: "Members" });
    await expect
      .poll(async () => (await members.locator("tbody td:first-child").allTextContents()).sort(), {
        timeout: 10_000,
      })
      .toEqual(["ada@example.com", "grace@example.com"]);

    // The list: name, type, members and status.
    await page.getByRole("link", { name: "Segments", exact: true }).first().click();
    const row = page.locator(`tr[data-segment-id="${vipId}"]`);
    await row.waitFor();
    await expect
      .poll(async () => (await row.locator("td").allTextContents()).slice(0, 4))
      .toEqual(["VIP buyersVIP plan, and two purchases or a referral", "DYNAMIC", "2", "READY"]);
    await expect
      .poll(async () =>
        (await page.locator(`tr[data-segment-id="${flatId}"] td`).allTextContents()).slice(1, 4),
      )
      .toEqual(["DYNAMIC", "4", "READY"]);
    expect(await unnamedControls(page)).toEqual([]);
    await screenshot(page, "segments");
    expect(errors.filter((e) => /Content Security Policy/.test(e))).toEqual([]);
  });

  it("shows a filter the API refuses at its input, then saves it fixed", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/segments/new`);
    await page.getByLabel("Name", { exact: true }).fill("Recent buyers");
    const f1 = filter(page, 1, "1");
    await field(f1, "Filter on").selectOption("event");
    await field(f1, "Event name").fill("purchase");
    await field(f1, "Operator").selectOption("triggeredWithin");
    // No amount: incomplete, not counted.
    await expectCount(page, /^Complete the filters/);
    await button(page, "Create segment").click();
    await page.getByText("The segment was not created").waitFor({ timeout: 10_000 });
    const amount = field(f1, "Amount");
    expect(await amount.getAttribute("aria-invalid")).toBe("true");
    expect(await described(amount)).toBe("triggeredWithin needs a value and a unit");
    expect(await page.getByRole("alert").filter({ hasText: "VALIDATION_ERROR" }).textContent()).toContain(
      "condition.groups.0.filters.0.value",
    );
    expect(path(page)).toBe("/app/segments/new");
    expect((await d.api("GET", "/segments")).body.data.map((s: any) => s.name)).not.toContain(
      "Recent buyers",
    );

    // Fixed: the message goes, the count comes, and it saves.
    await amount.fill("30");
    await expect.poll(() => amount.getAttribute("aria-invalid")).toBe(null);
    await expectCount(page, "3 contacts match now");
    await button(page, "Create segment").click();
    await expect.poll(() => path(page), { timeout: 10_000 }).toMatch(/^\/app\/segments\/seg_/);
    const made = await d.api("GET", `/segments/${path(page).split("/").at(-1)}`);
    expect(made.body.condition).toEqual({
      logic: "AND",
      groups: [{ filters: [{ event: "purchase", operator: "triggeredWithin", value: 30, unit: "days" }] }],
    });
  });

  it("opens a segment of the older flat form as groups, and saves it as groups", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/segments/${flatId}`);
    await page.getByRole("heading", { name: "Newsletter readers", level: 1 }).waitFor();
    await page.getByRole("link", { name: "Edit", exact: true }).click();
    await page.getByText("written in the first form").waitFor();
    // match: any → an OR of one-filter groups.
    expect(await page.getByLabel("Contacts match", { exact: true }).inputValue()).toBe("OR");
    const f1 = filter(page, 1, "1");
    const f2 = filter(page, 1, "2");
    expect(await field(f1, "Data key").inputValue()).toBe("plan");
    expect(await field(f1, "Value").inputValue()).toBe("vip");
    expect(await field(f2, "Field").inputValue()).toBe("contact.email");
    expect(await field(f2, "Operator").inputValue()).toBe("contains");
    expect(await field(f2, "Value").inputValue()).toBe("linus");
    await expectCount(page, "4 contacts match now");

    // Only the description changed: the condition is not sent, and stays as it was.
    await page.getByLabel("Description", { exact: false }).fill("Read the newsletter");
    await button(page, "Save segment").click();
    await page.getByRole("heading", { name: "Newsletter readers", level: 1 }).waitFor();
    await expect
      .poll(async () => (await d.api("GET", `/segments/${flatId}`)).body.description)
      .toBe("Read the newsletter");
    expect((await d.api("GET", `/segments/${flatId}`)).body.condition.match).toBe("any");

    // A filter changed: saved as groups, and its members recomputed.
    await page.getByRole("link", { name: "Edit", exact: true }).click();
    await field(filter(page, 1, "2"), "Value").fill("margaret@");
    await expectCount(page, "4 contacts match now");
    await button(page, "Save segment").click();
    await page.getByRole("heading", { name: "Newsletter readers", level: 1 }).waitFor();
    const saved = await d.api("GET", `/segments/${flatId}`);
    expect(saved.body.condition).toEqual({
      logic: "OR",
      groups: [
        { filters: [{ field: "contact.data.plan", operator: "equals", value: "vip" }] },
        { filters: [{ field: "contact.email", operator: "contains", value: "margaret@" }] },
      ],
    });
    const members = page.getByRole("table", { name: "Members" });
    await expect
      .poll(async () => (await members.locator("tbody td:first-child").allTextContents()).sort(), {
        timeout: 20_000,
      })
      .toEqual(["ada@example.com", "alan@example.com", "grace@example.com", "margaret@example.com"]);
  });

  it("makes a static segment and adds and removes its members by email", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/segments/new`);
    await page.getByLabel("Name", { exact: true }).fill("Beta testers");
    await page.getByRole("radio", { name: "Static" }).check();
    expect(await page.locator(".live-count").count()).toBe(0);
    await button(page, "Create segment").click();
    await expect.poll(() => path(page), { timeout: 10_000 }).toMatch(/^\/app\/segments\/seg_/);
    const id = path(page).split("/").at(-1) as string;
    await page.getByRole("heading", { name: "Beta testers", level: 1 }).waitFor();
    await page.getByText("Add contacts by email above.").waitFor();

    const emails = page.getByLabel("Emails, one a line");
    const answer = page.locator(".members-answer");
    // A bad email: said at the field, with the email.
    await emails.fill("ada@example.com\nnot-an-email");
    await button(page, "Add members").click();
    await expect.poll(() => emails.getAttribute("aria-invalid"), { timeout: 10_000 }).toBe("true");
    expect(await described(emails)).toMatch(/^not-an-email: /);

    await emails.fill("ada@example.com\ngrace@example.com\nnobody@example.com\n");
    await button(page, "Add members").click();
    await expect
      .poll(async () => (await answer.textContent()) ?? "", { timeout: 10_000 })
      .toContain("Added 2");
    expect(await answer.textContent()).toContain("0 unchanged");
    expect(await answer.textContent()).toContain("No contact with this email: nobody@example.com");
    expect(await emails.getAttribute("aria-invalid")).toBe(null);
    const members = page.getByRole("table", { name: "Members" });
    await expect
      .poll(async () => (await members.locator("tbody td:first-child").allTextContents()).sort(), {
        timeout: 10_000,
      })
      .toEqual(["ada@example.com", "grace@example.com"]);
    await expect.poll(() => page.locator(".segment-count").textContent()).toBe("2");
    expect(await page.locator(".badge", { hasText: "READY" }).count()).toBe(0);
    expect(await unnamedControls(page)).toEqual([]);
    await screenshot(page, "segment-static", { fullPage: true });

    // Again: nothing changes.
    await emails.fill("ada@example.com");
    await button(page, "Add members").click();
    await expect
      .poll(async () => (await answer.textContent()) ?? "", { timeout: 10_000 })
      .toMatch(/Added 0, 1 unchanged \(already members\)/);

    // Removed.
    await emails.fill("grace@example.com");
    await button(page, "Remove members").click();
    await expect
      .poll(async () => (await answer.textContent()) ?? "", { timeout: 10_000 })
      .toContain("Removed 1");
    await expect
      .poll(async () => members.locator("tbody td:first-child").allTextContents(), { timeout: 10_000 })
      .toEqual(["ada@example.com"]);
    const api = await d.api("GET", `/segments/${id}/contacts`);
    expect(api.body.data.map((c: any) => c.email)).toEqual(["ada@example.com"]);
  });

  it("shows the 409 of a segment another one reads, and deletes one nothing uses", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/segments/${earlyId}`);
    await page.getByRole("heading", { name: "Early adopters", level: 1 }).waitFor();
    await button(page, "Delete").click();
    const dialog = page.getByRole("dialog");
    await button(dialog, "Delete segment").click();
    const alert = dialog.getByRole("alert");
    await alert.waitFor({ timeout: 10_000 });
    expect(await alert.textContent()).toContain("The segment is in use");
    expect(await alert.textContent()).toContain(
      `Segment "Early adopters follow-up" (${followUpId}) reads this segment's members: change it first`,
    );
    expect(await alert.textContent()).toContain("HTTP 409");
    await button(dialog, "Keep").click();
    expect(await dialog.isVisible()).toBe(false);
    expect((await d.api("GET", `/segments/${earlyId}`)).status).toBe(200);

    // The follow-up reads it through "member of": shown with its name in the builder, then deleted.
    await page.goto(`${d.stack.base}/app/segments/${followUpId}/edit`);
    const f1 = filter(page, 1, "1");
    await expect.poll(() => field(f1, "Segment").inputValue()).toBe(earlyId);
    expect(await field(f1, "Segment").locator("option:checked").textContent()).toBe("Early adopters");
    expect(await field(f1, "Operator").inputValue()).toBe("in");
    await page.getByRole("link", { name: "Cancel" }).click();
    await button(page, "Delete").click();
    await button(page.getByRole("dialog"), "Delete segment").click();
    await expect.poll(() => path(page), { timeout: 10_000 }).toBe("/app/segments");
    await page.locator(`tr[data-segment-id="${earlyId}"]`).waitFor();
    expect(await page.locator(`tr[data-segment-id="${followUpId}"]`).count()).toBe(0);
    expect((await d.api("GET", `/segments/${followUpId}`)).status).toBe(404);
  });

  it("fits at 390 px: the builder with nested groups, and a segment's page", async () => {
    const { page } = await d.newPage(390);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/segments/${vipId}/edit`);
    const n1 = filter(page, 1, "1.1");
    await expect.poll(() => field(n1, "Event name").inputValue(), { timeout: 10_000 }).toBe("purchase");
    await field(n1, "Operator").selectOption("triggeredWithin");
    await field(n1, "Amount").fill("30");
    await expectCount(page, "2 contacts match now");
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    for (const l of [field(n1, "Amount"), field(n1, "Unit"), button(page, "Save segment")]) {
      const box = await l.boundingBox();
      expect(box && box.x >= 0 && box.x + box.width <= 390).toBe(true);
    }
    // From the condition's heading: the live count, then the groups.
    await page
      .getByRole("heading", { name: "Condition", level: 2 })
      .evaluate((h) => window.scrollTo(0, h.getBoundingClientRect().top + window.scrollY - 8));
    await screenshot(page, "segment-builder-390");

    await page.goto(`${d.stack.base}/app/segments/${vipId}`);
    await page.getByRole("table", { name: "Members" }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  });
});
