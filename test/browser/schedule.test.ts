/**
 * Schedule triggers in a real browser: a workflow made on the workflows page to start on a cron schedule
 * (a bad cron shown at its field as typed and as the API refuses it, then a good one for a segment, its
 * next runs previewed in the project's time zone), its schedule edited in the editor's trigger panel and
 * saved (a refused one shown at the field, then a good one with a new step), enabled from the list with
 * its next run shown, its schedule still changeable while executions lock the steps, a run with no
 * contact on the execution page, and the form and the panel at 390 px. Screenshots for the docs.
 */
import type { Page } from "playwright-core";
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

const TZ = "Europe/Berlin";

let d: Dashboard;
let segmentId: string;

beforeAll(async () => {
  d = await startDashboard();
  // Schedules are read in the project's time zone.
  const tz = await d.api("PATCH", "/project", { timeZone: TZ });
  expect(tz.status, JSON.stringify(tz.body)).toBe(200);
  expect(tz.body.timeZone).toBe(TZ);
  const seg = await d.api("POST", "/segments", {
    name: "VIP customers",
    condition: { match: "all", filters: [{ field: "contact.data.plan", operator: "equals", value: "vip" }] },
  });
  expect(seg.status, JSON.stringify(seg.body)).toBe(201);
  segmentId = seg.body.id;
});

afterAll(async () => {
  await d?.stop();
});

const path = (page: Page) => new URL(page.url()).pathname;
const node = (page: Page, type: string) => page.locator(`[data-step-type="${type}"]`);
const cronInput = (page: Page) => page.getByLabel("Cron schedule", { exact: true });
const runFor = (page: Page) => page.getByLabel("Run for", { exact: true });
const nextRunsList = (page: Page) => page.getByRole("list", { name: /^Next runs/ });

/** An ISO time as a reader in Berlin sees it: "Mon 09:00". */
const inBerlin = (iso: string) =>
  new Intl.DateTimeFormat("en-GB", {
    timeZone: TZ,
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  })
    .format(new Date(iso))
    .replace(",", "");

/** The next runs previewed: their machine times, checked to be ahead and in order. */
async function previewedRuns(page: Page): Promise<string[]> {
  const times = nextRunsList(page).locator("time");
  await expect.poll(() => times.count(), { timeout: 10_000 }).toBe(3);
  const isos = await times.evaluateAll((els) => els.map((e) => e.getAttribute("datetime") ?? ""));
  const ms = isos.map((i) => Date.parse(i));
  expect(ms[0]).toBeGreaterThan(Date.now() - 60_000);
  expect([...ms].sort((a, b) => a - b)).toEqual(ms);
  return isos;
}

describe("schedule triggers in the dashboard", () => {
  let wfId: string;

  it("creates a schedule workflow from the form: a bad cron at its field, then a good one for a segment", async () => {
    // A segment that will be gone by the time the form is sent.
    const gone = await d.api("POST", "/segments", {
      name: "Trial users",
      condition: {
        match: "all",
        filters: [{ field: "contact.data.plan", operator: "equals", value: "trial" }],
      },
    });
    const goneId = gone.body.id as string;
    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);
    await button(page, "Create workflow").click();
    await page.getByLabel("Name", { exact: true }).fill("Weekly digest");
    // An event by default; a schedule swaps the event's field for the cron, the segment and the preview.
    expect(await page.getByRole("radio", { name: "An event" }).isChecked()).toBe(true);
    await page.getByRole("radio", { name: "A schedule" }).check();
    expect(await page.getByLabel("Trigger event").count()).toBe(0);
    expect(await runFor(page).inputValue()).toBe("");
    await expect
      .poll(async () => runFor(page).locator("option").allTextContents())
      .toEqual(["No contact (once per run)", "Each member of Trial users", "Each member of VIP customers"]);

    // A bad cron: said at the field as it is typed, with no runs previewed.
    await cronInput(page).fill("61 9 * * 1");
    await expect.poll(() => cronInput(page).getAttribute("aria-invalid")).toBe("true");
    expect(await described(cronInput(page))).toMatch(/Not a five-field cron schedule: .*minute/);
    expect(await nextRunsList(page).count()).toBe(0);
    // Sent anyway, the API refuses it (422) and its message is shown at the same field; nothing made.
    await button(page, "Create workflow").click();
    await page.getByText("Could not create the workflow").waitFor({ timeout: 10_000 });
    expect(await page.getByRole("alert").filter({ hasText: "VALIDATION_ERROR" }).textContent()).toContain(
      "schedule.cron",
    );
    expect(await described(cronInput(page))).toMatch(/Not a five-field cron schedule: .*minute/);
    expect(path(page)).toBe("/app/workflows");
    expect((await d.api("GET", "/workflows")).body.data).toEqual([]);

    // A good one: the error goes, and its next three runs show in the project's time zone.
    await cronInput(page).fill("0 9 * * 1");
    await expect.poll(() => cronInput(page).getAttribute("aria-invalid")).toBe(null);
    expect(await described(cronInput(page))).not.toMatch(/Not a five-field/);
    for (const iso of await previewedRuns(page)) expect(inBerlin(iso)).toBe("Mon 09:00");
    expect(await page.locator(".next-runs .time-zone").textContent()).toBe(TZ);

    // A segment deleted after it was chosen: the API's refusal is shown at "Run for", which then says so.
    await runFor(page).selectOption(goneId);
    expect((await d.api("DELETE", `/segments/${goneId}`)).status).toBe(204);
    await button(page, "Create workflow").click();
    await expect.poll(() => described(runFor(page)), { timeout: 10_000 }).toMatch(/No segment with this id/);
    expect(await runFor(page).getAttribute("aria-invalid")).toBe("true");
    await expect
      .poll(async () => runFor(page).locator("option").allTextContents())
      .toContain(`${goneId} (not found)`);
    expect((await d.api("GET", "/workflows")).body.data).toEqual([]);

    // Cancelled and opened again, the form starts afresh (on an event); filled in for the docs.
    await button(page, "Cancel").click();
    await button(page, "Create workflow").click();
    expect(await page.getByRole("radio", { name: "An event" }).isChecked()).toBe(true);
    expect(await page.getByText("Could not create the workflow").count()).toBe(0);
    await page.getByLabel("Name", { exact: true }).fill("Weekly digest");
    await page.getByLabel("Description", { exact: false }).fill("Monday's news for VIP customers");
    await page.getByRole("radio", { name: "A schedule" }).check();
    await cronInput(page).fill("0 9 * * 1");
    await runFor(page).selectOption(segmentId);
    for (const iso of await previewedRuns(page)) expect(inBerlin(iso)).toBe("Mon 09:00");
    expect(await unnamedControls(page)).toEqual([]);
    await screenshot(page, "workflows-create-schedule", { fullPage: true });

    await button(page, "Create workflow").click();
    await expect.poll(() => path(page), { timeout: 10_000 }).toMatch(/^\/app\/workflows\/wf_/);
    wfId = path(page).split("/").at(-1) as string;
    const made = await d.api("GET", `/workflows/${wfId}`);
    expect(made.body).toMatchObject({
      name: "Weekly digest",
      eventName: null,
      enabled: false,
      schedule: { cron: "0 9 * * 1", segmentId, nextRunAt: null },
    });
    // The header says the schedule, whom it runs for, and that it has no next run while disabled.
    const header = page.locator(".workflow-header");
    await expect
      .poll(async () => (await header.textContent()) ?? "")
      .toMatch(/Schedule 0 9 \* \* 1 \(Europe\/Berlin\), for each member of VIP customers/);
    expect(await header.textContent()).toContain("no next run while disabled");
    // "Try it" has no event to track: it says so.
    await page.getByText("This workflow starts on its schedule, not on a tracked event").waitFor();
    expect(await page.getByLabel("Contact email").count()).toBe(0);
    expect(errors.filter((e) => /Content Security Policy/.test(e))).toEqual([]);
  });

  it("edits the schedule in the trigger panel, shows a refused one at the field, and saves", async () => {
    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/workflows/${wfId}`);
    const trigger = node(page, "TRIGGER");
    await expect
      .poll(async () => (await trigger.textContent()) ?? "", { timeout: 10_000 })
      .toContain("Every 0 9 * * 1 · VIP customers");

    // The trigger's panel: the cron and the segment, editable; the time zone and the next runs.
    await trigger.click();
    const panel = page.locator(".step-panel");
    await expect.poll(() => cronInput(page).inputValue()).toBe("0 9 * * 1");
    expect(await cronInput(page).isEditable()).toBe(true);
    await expect.poll(() => runFor(page).inputValue()).toBe(segmentId);
    expect(await panel.locator(".time-zone").textContent()).toBe(TZ);
    for (const iso of await previewedRuns(page)) expect(inBerlin(iso)).toBe("Mon 09:00");
    expect(await unnamedControls(page)).toEqual([]);
    await screenshot(page, "editor-schedule");

    // A cron the server refuses: shown as typed, then at the field and the node after Save; nothing saved.
    await cronInput(page).fill("0 9 * *");
    expect(await described(cronInput(page))).toMatch(/Not a five-field cron schedule/);
    await button(page, "Save").click();
    await page.getByText("The workflow was not saved").waitFor({ timeout: 10_000 });
    await expect.poll(async () => (await trigger.getAttribute("class")) ?? "").toMatch(/has-problem/);
    expect(await described(cronInput(page))).toMatch(/Not a five-field cron schedule/);
    expect((await d.api("GET", `/workflows/${wfId}`)).body.schedule.cron).toBe("0 9 * * 1");

    // A good one, with a step after the trigger: saved with the whole definition.
    await cronInput(page).fill("30 7 * * *");
    await expect
      .poll(async () => (await trigger.textContent()) ?? "")
      .toContain("Every 30 7 * * * · VIP customers");
    for (const iso of await previewedRuns(page)) expect(inBerlin(iso)).toMatch(/ 07:30$/);
    await button(page, "Add step").click();
    await button(page, "Delay").click();
    await button(page, "Save").click();
    await page.getByText("Saved.").waitFor({ timeout: 10_000 });
    const saved = await d.api("GET", `/workflows/${wfId}`);
    expect(saved.body.schedule).toEqual({ cron: "30 7 * * *", segmentId, nextRunAt: null });
    expect(saved.body.eventName).toBe(null);
    const byType = Object.fromEntries(saved.body.steps.map((s: any) => [s.type, s]));
    expect(byType.TRIGGER.config).toEqual({ schedule: { cron: "30 7 * * *", segmentId } });
    expect(byType.DELAY.config).toEqual({ amount: 1, unit: "days" });
    const def = await d.api("GET", `/workflows/${wfId}/definition`);
    expect(def.body.schedule).toEqual({ cron: "30 7 * * *", segmentId });
    expect(def.body.eventName).toBeUndefined();
    // Saved: no problem left at the node, and the panel shows the saved schedule.
    await expect.poll(async () => (await trigger.getAttribute("class")) ?? "").not.toMatch(/has-problem/);

    // Back to no contact: once per run, saved too.
    await trigger.click();
    await runFor(page).selectOption("");
    await expect
      .poll(async () => (await trigger.textContent()) ?? "")
      .toContain("Every 30 7 * * * · no contact");
    await button(page, "Save").click();
    await page.getByText("Saved.").waitFor({ timeout: 10_000 });
    expect((await d.api("GET", `/workflows/${wfId}`)).body.schedule.segmentId).toBe(null);
    await trigger.click();
    await runFor(page).selectOption(segmentId);
    await button(page, "Save").click();
    await page.getByText("Saved.").waitFor({ timeout: 10_000 });
    expect((await d.api("GET", `/workflows/${wfId}`)).body.schedule.segmentId).toBe(segmentId);
    expect(errors.filter((e) => /Content Security Policy/.test(e))).toEqual([]);
  });

  it("enables it from the list, which then shows its next run", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    const row = page.locator(`tr[data-workflow-id="${wfId}"]`);
    await row.waitFor();
    // The segment's name, once GET /segments answered.
    await expect
      .poll(async () => (await row.textContent()) ?? "", { timeout: 10_000 })
      .toContain("for each member of VIP customers");
    expect(await row.textContent()).toContain("30 7 * * *");
    expect(await row.textContent()).toContain("No next run while disabled");
    await row.getByRole("button", { name: "Enable", exact: true }).click();
    await row.getByRole("button", { name: "Disable", exact: true }).waitFor();
    const next = row.locator(".next-run time");
    await next.waitFor({ timeout: 10_000 });
    const api = await d.api("GET", `/workflows/${wfId}`);
    expect(api.body.enabled).toBe(true);
    const nextRunAt = api.body.schedule.nextRunAt as string;
    expect(Date.parse(nextRunAt)).toBeGreaterThan(Date.now());
    expect(inBerlin(nextRunAt)).toMatch(/ 07:30$/);
    expect(await next.getAttribute("datetime")).toBe(nextRunAt);
    expect(await row.textContent()).toMatch(/Next run .*\b7:30/);
    await screenshot(page, "workflows-schedule");
  });

  it("changes the schedule while executions lock the steps, and shows a run with no contact", async () => {
    // A run started by hand waits in the DELAY: the steps are locked.
    const started = await d.api("POST", `/workflows/${wfId}/executions`, { email: "ada@example.com" });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const execId = started.body.id as string;
    await expect
      .poll(async () => (await d.api("GET", `/workflows/${wfId}/executions/${execId}`)).body.status, {
        timeout: 20_000,
      })
      .toBe("WAITING");

    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/workflows/${wfId}`);
    await page.getByText(/its steps are locked/).waitFor({ timeout: 15_000 });
    await node(page, "DELAY").click();
    expect(await page.getByLabel("Amount", { exact: true }).isEditable()).toBe(false);
    await node(page, "TRIGGER").click();
    await page.getByText("the schedule can still be changed").waitFor();
    await cronInput(page).fill("0 8 * * *");
    await button(page, "Save").click();
    await page.getByText("Saved.").waitFor({ timeout: 10_000 });
    const saved = await d.api("GET", `/workflows/${wfId}`);
    expect(saved.body.schedule.cron).toBe("0 8 * * *");
    expect(saved.body.schedule.nextRunAt).not.toBe(null);
    expect(inBerlin(saved.body.schedule.nextRunAt)).toMatch(/ 08:00$/);
    expect(saved.body.activeExecutions).toBe(1);

    // The execution page of a run with no contact (as a schedule without a segment starts): said so,
    // and no contact looked up. (The answer is rewritten here: no such run can be started by hand.)
    const contactLookups: string[] = [];
    page.on("request", (r) => {
      if (new URL(r.url()).pathname.startsWith("/contacts/")) contactLookups.push(r.url());
    });
    const apiPath = `/workflows/${wfId}/executions/${execId}`;
    await page.route(
      (url) => url.pathname === apiPath,
      async (route) => {
        const res = await route.fetch();
        await route.fulfill({ response: res, json: { ...(await res.json()), contactId: null } });
      },
    );
    await page.goto(`${d.stack.base}/app/workflows/${wfId}/executions/${execId}`);
    await page.getByText("No contact (a scheduled run)").waitFor({ timeout: 10_000 });
    expect(contactLookups).toEqual([]);
    await d.api("POST", `/workflows/${wfId}/executions/cancel-all`, {});
    await expect
      .poll(async () => (await d.api("GET", `/workflows/${wfId}`)).body.activeExecutions, { timeout: 15_000 })
      .toBe(0);
  });

  it("fits at 390 px: the create form with a schedule, and the trigger panel", async () => {
    const { page } = await d.newPage(390);
    await signIn(d, page);
    await button(page, "Create workflow").click();
    await page.getByRole("radio", { name: "A schedule" }).check();
    await cronInput(page).fill("@daily");
    await runFor(page).selectOption(segmentId);
    await previewedRuns(page);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    for (const l of [cronInput(page), runFor(page), button(page, "Create workflow")]) {
      const box = await l.boundingBox();
      expect(box && box.x >= 0 && box.x + box.width <= 390).toBe(true);
    }
    await nextRunsList(page).scrollIntoViewIfNeeded();
    await screenshot(page, "workflows-create-schedule-390");

    await page.goto(`${d.stack.base}/app/workflows/${wfId}`);
    await node(page, "TRIGGER").click();
    await nextRunsList(page).scrollIntoViewIfNeeded();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, "editor-schedule-390");
  });
});
