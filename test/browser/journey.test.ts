/**
 * Plunk's workflows guide, walked in a real browser as a person would: sign in, create a workflow, build
 * TRIGGER → CONDITION → WEBHOOK (to a loopback consumer that verifies signatures) and → DELAY →
 * SEND_EMAIL (to the local SES) in the visual editor, enable it, track its event from the editor, follow
 * the execution to the end with its step log, see the delivery and replay it; a refused definition shown
 * at its step; the lock banner and Cancel all executions. Screenshots for the docs are taken on the way.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Consumer, type LocalSes, startConsumer, startLocalSes } from "../e2e/local-servers";
import { button, type Dashboard, screenshot, signIn, startDashboard, unnamedControls } from "./browser";

let d: Dashboard;
let ses: LocalSes;
let consumer: Consumer;
let templateId: string;

beforeAll(async () => {
  ses = await startLocalSes();
  d = await startDashboard({ SES_ENDPOINT: ses.url, RETRY_DELAY_SCALE: "0" });
  consumer = await startConsumer(d.project.webhookSecret);
  // The guide's prerequisite: templates exist before the workflow.
  const tpl = await d.api("POST", "/templates", {
    name: "Welcome",
    subject: "Welcome, {{ email }}",
    body: "<p>Hello {{ data.name ?? 'there' }}, welcome aboard.</p>",
    from: "team@example.com",
    type: "TRANSACTIONAL",
  });
  expect(tpl.status).toBe(201);
  templateId = tpl.body.id;
});

afterAll(async () => {
  await consumer?.close();
  await d?.stop();
  await ses?.stop();
});

const path = (page: Page) => new URL(page.url()).pathname;
const node = (page: Page, type: string) => page.locator(`[data-step-type="${type}"]`);

async function addStepAt(page: Page, placeholder: string, type: string) {
  await button(page, placeholder).click();
  await button(page, type).click();
}

describe("the workflows guide in the browser", () => {
  let wfId: string;

  it("creates a workflow, builds its steps in the editor, saves, enables, and runs it from Try it", async () => {
    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);

    // Workflows → Create workflow: name, trigger event, re-entry.
    await page.getByText("No workflows yet").waitFor();
    await button(page, "Create workflow").click();
    await page.getByLabel("Name", { exact: true }).fill("Pro onboarding");
    await page.getByLabel("Trigger event").fill("signup");
    await page.getByRole("checkbox", { name: "Allow re-entry" }).check();
    await button(page, "Create workflow").click();
    await expect.poll(() => path(page), { timeout: 10_000 }).toMatch(/^\/app\/workflows\/wf_/);
    wfId = path(page).split("/").at(-1) as string;
    await node(page, "TRIGGER").waitFor();

    // CONDITION after the trigger: "Add step" adds at the end of the path when nothing is selected.
    await button(page, "Add step").click();
    await button(page, "Condition").click();
    await page.getByLabel("Name", { exact: true }).fill("Is pro?");
    await page.getByLabel("Field", { exact: true }).fill("event.plan");
    await page.getByLabel("Operator", { exact: true }).selectOption("equals");
    await page.getByLabel("Value", { exact: true }).fill("pro");

    // yes → WEBHOOK to the loopback consumer.
    await addStepAt(page, "Add step after Is pro? (yes)", "Webhook");
    await page.getByLabel("Name", { exact: true }).fill("Tell the CRM");
    await page.getByLabel("URL", { exact: true }).fill(`${consumer.url}/crm`);

    // no → DELAY → SEND_EMAIL.
    await addStepAt(page, "Add step after Is pro? (no)", "Delay");
    await page.getByLabel("Name", { exact: true }).fill("Wait a second");
    await page.getByLabel("Amount", { exact: true }).fill("1");
    await page.getByLabel("Unit", { exact: true }).selectOption("seconds");
    await addStepAt(page, "Add step after Wait a second", "Send email");
    await page.getByLabel("Name", { exact: true }).fill("Welcome email");
    await page.getByLabel("Template", { exact: true }).selectOption(templateId);

    // Unsaved edits can be undone: one more step, undone.
    await addStepAt(page, "Add step after Welcome email", "Exit");
    expect(await node(page, "EXIT").count()).toBe(1);
    await button(page, "Undo").click();
    expect(await node(page, "EXIT").count()).toBe(0);

    await button(page, "Save").click();
    await page.getByText("Saved.").waitFor({ timeout: 10_000 });
    const saved = await d.api("GET", `/workflows/${wfId}`);
    expect(saved.body.steps.map((s: any) => s.type).sort()).toEqual(
      ["CONDITION", "DELAY", "SEND_EMAIL", "TRIGGER", "WEBHOOK"].sort(),
    );
    const byType = Object.fromEntries(saved.body.steps.map((s: any) => [s.type, s]));
    expect(byType.CONDITION.config).toEqual({ field: "event.plan", operator: "equals", value: "pro" });
    expect(byType.WEBHOOK.config).toMatchObject({ url: `${consumer.url}/crm` });
    expect(byType.DELAY.config).toEqual({ amount: 1, unit: "seconds" });
    expect(byType.SEND_EMAIL.config).toEqual({ templateId });
    const branches = saved.body.transitions.map((t: any) => t.branch).sort();
    expect(branches).toEqual(["no", "yes", null, null].sort());
    // The canvas now names the saved steps by their ids, and labels the edges by branch.
    for (const s of saved.body.steps) {
      expect(await page.locator(`[data-step-id="${s.id}"]`).getAttribute("data-step-type")).toBe(s.type);
    }
    expect(await page.locator('[data-branch="yes"]').count()).toBe(1);
    expect(await page.locator('[data-branch="no"]').count()).toBe(1);

    // Enable, then track the trigger from the editor and follow the execution it starts.
    await button(page, "Enable").click();
    await button(page, "Disable").waitFor();
    await page.getByLabel("Contact email").fill("ada@example.com");
    await page.getByLabel("Event data (JSON, optional)").fill('{"plan": "pro", "name": "Ada"}');
    await button(page, "Track event").click();
    // Execution ids: exec_… on the objects engine, xpg_… on the shard engine (API.md, "Engines").
    const open = page.getByRole("link", { name: /^Open execution (exec|xpg)_/ });
    await open.waitFor({ timeout: 15_000 });
    await open.click();
    await expect.poll(() => path(page)).toMatch(new RegExp(`^/app/workflows/${wfId}/executions/(exec|xpg)_`));
    await page.getByText("COMPLETED").first().waitFor({ timeout: 20_000 });

    // The signed webhook reached the consumer, verified.
    await expect.poll(() => consumer.received.length, { timeout: 20_000 }).toBe(1);
    expect(consumer.received[0]).toMatchObject({ path: "/crm", verified: true });
    expect(consumer.received[0]?.body.contact.email).toBe("ada@example.com");

    // The step log: trigger, condition, webhook, each COMPLETED; the delivery, listed and linked.
    const log = page.getByRole("region", { name: "Step log" });
    await expect
      .poll(async () => (await log.getByText("COMPLETED").count()) >= 3, { timeout: 10_000 })
      .toBe(true);
    const deliveries = page.getByRole("region", { name: "Webhook deliveries" });
    await deliveries.getByText("DELIVERED").waitFor({ timeout: 20_000 });
    await screenshot(page, "execution", { fullPage: true });

    // The delivery's page: its attempt, then Replay sends it again under the same webhook id.
    await deliveries.getByRole("link", { name: /^whd_/ }).first().click();
    await expect.poll(() => path(page)).toMatch(/^\/app\/deliveries\/whd_/);
    await page.getByText("DELIVERED").first().waitFor();
    await button(page, "Replay").click();
    await expect.poll(() => consumer.received.length, { timeout: 20_000 }).toBe(2);
    expect(consumer.received[1]?.id).toBe(consumer.received[0]?.id);
    expect(consumer.received[1]?.verified).toBe(true);
    await expect
      .poll(async () => page.getByRole("row").filter({ hasText: "200" }).count(), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(2);

    // The other branch: DELAY then the email, through to the local SES.
    await page.goto(`${d.stack.base}/app/workflows/${wfId}`);
    await page.getByLabel("Contact email").fill("grace@example.com");
    await page.getByLabel("Event data (JSON, optional)").fill('{"plan": "free"}');
    await button(page, "Track event").click();
    await page.getByRole("link", { name: /^Open execution (exec|xpg)_/ }).click();
    await page.getByText("COMPLETED").first().waitFor({ timeout: 30_000 });
    await expect
      .poll(
        async () =>
          (await ses.emails()).filter((e) => e.destination?.to?.includes("grace@example.com")).length,
        {
          timeout: 20_000,
        },
      )
      .toBe(1);

    // The Executions tab: both runs, each row with its id and its status as text.
    await page.goto(`${d.stack.base}/app/workflows/${wfId}/executions`);
    const rows = page.locator("tr[data-execution-id]");
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    for (const row of await rows.all()) {
      expect(await row.getAttribute("data-execution-id")).toMatch(/^(exec|xpg)_/);
      expect(await row.textContent()).toContain("COMPLETED");
    }

    // The editor's counts: both executions passed the trigger, one down each branch.
    await page.goto(`${d.stack.base}/app/workflows/${wfId}`);
    const trigger = byType.TRIGGER.id as string;
    await expect
      .poll(async () => (await page.locator(`[data-step-id="${trigger}"]`).textContent()) ?? "", {
        timeout: 10_000,
      })
      .toMatch(/2 passed/);
    await screenshot(page, "editor");
    expect(errors.filter((e) => /Content Security Policy/.test(e))).toEqual([]);
  });

  it("builds a multi-branch Condition: a handle per branch with its name, and default", async () => {
    const { page, errors } = await d.newPage(1280);
    await signIn(d, page);
    const wf = await d.api("POST", "/workflows", { name: "Plans", eventName: "plan.chosen" });
    expect(wf.status).toBe(201);
    const tracked = await d.api("POST", "/v1/track", {
      event: "plan.chosen",
      email: "seats@example.com",
      data: { plan: "team", seats: 5 },
    });
    expect(tracked.status).toBe(200);
    await page.goto(`${d.stack.base}/app/workflows/${wf.body.id}`);
    await node(page, "TRIGGER").waitFor();

    await button(page, "Add step").click();
    await button(page, "Condition").click();
    await page.getByLabel("Name", { exact: true }).fill("Plan");
    await page.getByLabel("Form", { exact: true }).selectOption("multi");
    await page.getByLabel("Field", { exact: true }).fill("event.plan");
    // The field's suggestions include what the project's data holds (GET /workflows/fields): a
    // plan.chosen event (the trigger's) tracked with a seat count.
    await expect
      .poll(() => page.locator('#condition-field-suggestions option[value="event.seats"]').count(), {
        timeout: 10_000,
      })
      .toBe(1);
    await page.getByLabel("Branch 1 name", { exact: true }).fill("Pro");
    await page.getByLabel("Pro: value", { exact: true }).fill("pro");
    await button(page, "Add branch").click();
    await page.getByLabel("Branch 2 name", { exact: true }).fill("Team");
    await page.getByLabel("Team: value", { exact: true }).fill("team");
    await page.getByRole("button", { name: "Add branch" }).scrollIntoViewIfNeeded();
    await screenshot(page, "editor-multi-branch-form");

    // Each branch is a way out of its own, named on the canvas, and so is default.
    const cond = node(page, "CONDITION");
    for (const name of ["Pro", "Team", "default"]) {
      await cond.locator(".handle-label", { hasText: new RegExp(`^${name}$`) }).waitFor();
      await button(page, `Add step after Plan (${name})`).waitFor();
    }
    await addStepAt(page, "Add step after Plan (Pro)", "Webhook");
    await page.getByLabel("Name", { exact: true }).fill("Tell sales");
    await page.getByLabel("URL", { exact: true }).fill(`${consumer.url}/sales`);
    await addStepAt(page, "Add step after Plan (default)", "Exit");
    await screenshot(page, "editor-multi-branch");

    await button(page, "Save").click();
    await page.getByText("Saved.").waitFor({ timeout: 10_000 });
    const saved = await d.api("GET", `/workflows/${wf.body.id}/definition`);
    expect(saved.body.steps.condition.config).toEqual({
      mode: "multi",
      field: "event.plan",
      branches: [
        { id: "branch_1", name: "Pro", operator: "equals", value: "pro" },
        { id: "branch_2", name: "Team", operator: "equals", value: "team" },
      ],
    });
    expect(saved.body.transitions.map((t: any) => t.branch ?? null).sort()).toEqual(
      ["branch_1", "default", null].sort(),
    );
    // The saved edges are labelled by the branch names.
    await page.locator('.edge-label[data-branch="branch_1"]', { hasText: "Pro" }).waitFor();
    await page.locator('.edge-label[data-branch="default"]', { hasText: "default" }).waitFor();

    // Run it: a "pro" event goes down Pro to the consumer.
    await button(page, "Enable").click();
    await button(page, "Disable").waitFor();
    const before = consumer.received.length;
    await page.getByLabel("Contact email").fill("lin@example.com");
    await page.getByLabel("Event data (JSON, optional)").fill('{"plan": "pro"}');
    await button(page, "Track event").click();
    await expect.poll(() => consumer.received.length, { timeout: 20_000 }).toBe(before + 1);
    expect(consumer.received.at(-1)).toMatchObject({ path: "/sales", verified: true });
    expect(errors.filter((e) => /Content Security Policy/.test(e))).toEqual([]);
  });

  it("sends an email to another address: Send to, and its template checked on save", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    const wf = await d.api("POST", "/workflows", { name: "Deal won", eventName: "deal.won" });
    await page.goto(`${d.stack.base}/app/workflows/${wf.body.id}`);
    await node(page, "TRIGGER").waitFor();
    await button(page, "Add step").click();
    await button(page, "Send email").click();
    await page.getByLabel("Name", { exact: true }).fill("Tell the manager");
    await page.getByLabel("Template", { exact: true }).selectOption(templateId);
    await page.getByLabel("Send to", { exact: true }).selectOption("CUSTOM");
    // A template that does not parse comes back at its field, and nothing is saved.
    await page.getByLabel("Recipient address", { exact: true }).fill("{{ event.managerEmail");
    await button(page, "Save").click();
    await page
      .getByText(/Template error/)
      .first()
      .waitFor({ timeout: 10_000 });
    expect(Object.keys((await d.api("GET", `/workflows/${wf.body.id}/definition`)).body.steps)).toEqual([]);
    await page.getByLabel("Recipient address", { exact: true }).fill("{{ event.managerEmail }}");
    await expect
      .poll(async () => (await node(page, "SEND_EMAIL").textContent()) ?? "")
      .toContain("to {{ event.managerEmail }}");
    await button(page, "Save").click();
    await page.getByText("Saved.").waitFor({ timeout: 10_000 });
    const saved = await d.api("GET", `/workflows/${wf.body.id}/definition`);
    expect(saved.body.steps.send_email.config).toEqual({
      templateId,
      recipient: { type: "CUSTOM", email: "{{ event.managerEmail }}" },
    });
    await screenshot(page, "editor-send-to");
  });

  it("waits for an event that matches the trigger: Only events whose data match", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    const wf = await d.api("POST", "/workflows", { name: "Order paid", eventName: "order.placed" });
    await page.goto(`${d.stack.base}/app/workflows/${wf.body.id}`);
    await node(page, "TRIGGER").waitFor();
    await button(page, "Add step").click();
    await button(page, "Wait for event").click();
    await page.getByLabel("Event name", { exact: true }).fill("payment.succeeded");
    await button(page, "Add match").click();
    await page.getByLabel("Match 1 field", { exact: true }).fill("event.orderId");
    await page.getByLabel("Match 1: value", { exact: true }).fill("{{ trigger.orderId }}");
    await button(page, "Add match").click();
    await page.getByLabel("Match 2 field", { exact: true }).fill("event.receipt");
    await page.getByLabel("Match 2: operator", { exact: true }).selectOption("exists");
    await expect
      .poll(async () => (await node(page, "WAIT_FOR_EVENT").textContent()) ?? "")
      .toContain("where event.orderId, event.receipt match");
    await screenshot(page, "editor-wait-match");
    await button(page, "Save").click();
    await page.getByText("Saved.").waitFor({ timeout: 10_000 });
    const saved = await d.api("GET", `/workflows/${wf.body.id}/definition`);
    expect(saved.body.steps.wait_for_event.config).toEqual({
      eventName: "payment.succeeded",
      match: { "event.orderId": { equals: "{{ trigger.orderId }}" }, "event.receipt": { exists: true } },
    });
  });

  it("deletes a step and reconnects around it, or with the steps below it", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    const put = await d.api("PUT", "/workflows/wf_trim/definition", {
      id: "wf_trim",
      name: "Trim",
      eventName: "trim.me",
      steps: {
        wait: { type: "DELAY", config: { amount: 1, unit: "hours" } },
        hook: { type: "WEBHOOK", config: { url: `${consumer.url}/trim` } },
        bye: { type: "EXIT", config: {} },
      },
      transitions: [
        { from: "trigger", to: "wait" },
        { from: "wait", to: "hook" },
        { from: "hook", to: "bye" },
      ],
    });
    expect(put.status, JSON.stringify(put.body)).toBeLessThan(300);
    await page.goto(`${d.stack.base}/app/workflows/wf_trim`);
    await node(page, "DELAY").click();
    await button(page, "Delete and reconnect").click();
    expect(await node(page, "DELAY").count()).toBe(0);
    await node(page, "WEBHOOK").click();
    await button(page, "Delete with the steps below").click();
    expect(await node(page, "WEBHOOK").count()).toBe(0);
    expect(await node(page, "EXIT").count()).toBe(0);
    await button(page, "Undo").click();
    await node(page, "EXIT").waitFor();
    await button(page, "Save").click();
    await page.getByText("Saved.").waitFor({ timeout: 10_000 });
    const saved = await d.api("GET", "/workflows/wf_trim/definition");
    expect(Object.keys(saved.body.steps).sort()).toEqual(["bye", "hook"]);
    expect(saved.body.transitions).toEqual(
      expect.arrayContaining([
        { from: "trigger", to: "hook" },
        { from: "hook", to: "bye" },
      ]),
    );
    expect(saved.body.transitions).toHaveLength(2);
  });

  it("duplicates a workflow from the list, disabled, and opens the copy", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/workflows`);
    const row = page.locator('tr[data-workflow-id="wf_trim"]');
    await row.waitFor();
    await screenshot(page, "workflows");
    await row.getByRole("button", { name: "Duplicate", exact: true }).click();
    await expect.poll(() => path(page), { timeout: 10_000 }).toMatch(/^\/app\/workflows\/wf_(?!trim)/);
    await page.getByRole("heading", { name: "Trim (copy)" }).waitFor();
    const id = path(page).split("/").at(-1) as string;
    const copy = await d.api("GET", `/workflows/${id}`);
    expect(copy.body).toMatchObject({ name: "Trim (copy)", enabled: false, eventName: "trim.me" });
    expect(copy.body.steps.map((s: any) => s.type).sort()).toEqual(["EXIT", "TRIGGER", "WEBHOOK"]);
  });

  it("shows a refused definition at the step it names, and saves nothing", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/workflows/${wfId}`);
    await d.api("PATCH", `/workflows/${wfId}`, { enabled: false });
    await page.reload();
    await node(page, "SEND_EMAIL").waitFor();
    const before = await d.api("GET", `/workflows/${wfId}/definition`);
    // A second email with no template, after the first.
    await addStepAt(page, "Add step after Welcome email", "Send email");
    await button(page, "Save").click();
    const added = page.locator('[data-step-type="SEND_EMAIL"][data-step-key="send_email_2"]');
    await expect
      .poll(async () => (await added.textContent()) ?? "", { timeout: 10_000 })
      .toMatch(/templateId/);
    // Marked at that node, and at no other.
    expect(await page.locator(".has-problem[data-step-id]").count()).toBe(1);
    expect(await added.getAttribute("class")).toContain("has-problem");
    // The form field names the problem too, and the summary gives the request id.
    await page.getByText("Must be a template id").first().waitFor();
    expect(await page.getByRole("alert").first().textContent()).toMatch(/VALIDATION_ERROR.*request req_/);
    expect((await d.api("GET", `/workflows/${wfId}/definition`)).body).toEqual(before.body);
    await button(page, "Undo").click();
    expect(await page.locator('[data-step-key="send_email_2"]').count()).toBe(0);
  });

  it("locks the canvas while executions wait, and Cancel all executions unlocks it", async () => {
    const put = await d.api("PUT", "/workflows/wf_journey_lock/definition", {
      id: "wf_journey_lock",
      name: "Long wait",
      eventName: "trial.started",
      enabled: true,
      steps: { wait: { type: "DELAY", name: "Wait a day", config: { amount: 1, unit: "days" } } },
      transitions: [{ from: "trigger", to: "wait" }],
    });
    expect(put.status).toBe(201);
    for (const email of ["a@example.com", "b@example.com"]) {
      await fetch(`${d.stack.base}/v1/track`, {
        method: "POST",
        headers: { authorization: `Bearer ${d.project.publicKey}`, "content-type": "application/json" },
        body: JSON.stringify({ event: "trial.started", email }),
      });
    }
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/workflows/wf_journey_lock`);
    const banner = page.getByText(/This workflow has 2 active executions; its steps are locked\./);
    await banner.waitFor({ timeout: 15_000 });
    // Read-only: no placeholders to add steps, and Add step is not offered.
    expect(await page.getByRole("button", { name: /^Add step after/ }).count()).toBe(0);
    expect(
      await button(page, "Add step")
        .isEnabled()
        .catch(() => false),
    ).toBe(false);
    await screenshot(page, "editor-locked");

    await button(page, "Disable").click();
    await button(page, "Enable").waitFor();
    await button(page, "Cancel all executions").click();
    const dialog = page.getByRole("dialog");
    expect(await dialog.textContent()).toMatch(/irreversible/);
    expect(await dialog.textContent()).toMatch(/will not enter the workflow again/);
    await dialog.getByRole("button", { name: "Cancel them all" }).click();
    await banner.waitFor({ state: "detached", timeout: 15_000 });
    await button(page, "Add step after Wait a day").waitFor();
    const list = await d.api("GET", "/workflows/wf_journey_lock/executions");
    expect(list.body.data.map((e: any) => e.status)).toEqual(["CANCELLED", "CANCELLED"]);
  });

  it("works by keyboard, and every control has a name a screen reader can say", async () => {
    const { page } = await d.newPage(1280);
    await signIn(d, page);
    await page.goto(`${d.stack.base}/app/workflows/${wfId}`);
    await node(page, "DELAY").waitFor();
    // A step is focusable; Enter opens its panel with the cursor in its name.
    await page.locator('[data-step-type="DELAY"]').locator("xpath=ancestor::*[@tabindex][1]").focus();
    await page.keyboard.press("Enter");
    const name = page.getByLabel("Name", { exact: true });
    await expect.poll(() => name.evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.press("ControlOrMeta+a");
    await page.keyboard.type("Wait one second");
    await expect
      .poll(async () => (await node(page, "DELAY").textContent()) ?? "")
      .toContain("Wait one second");
    await page.keyboard.press("ControlOrMeta+z");
    // Every button and link, and every form field, has an accessible name.
    const unnamed = await unnamedControls(page);
    expect(unnamed).toEqual([]);
  });

  it("works at 390 px wide: the list, the editor and an execution", async () => {
    const { page } = await d.newPage(390);
    await signIn(d, page);
    await page.getByRole("link", { name: "Pro onboarding" }).waitFor();
    await screenshot(page, "workflows-390");
    // The row's actions, scrolled to inside the table: each button whole and reachable.
    const actions = page.locator('tr[data-workflow-id="wf_trim"] .row-actions');
    await actions.scrollIntoViewIfNeeded();
    for (const name of ["Enable", "Duplicate", "Delete"]) {
      expect(await actions.getByRole("button", { name, exact: true }).isVisible()).toBe(true);
    }
    await screenshot(page, "workflows-390-actions");
    await page.getByRole("link", { name: "Pro onboarding" }).click();
    await node(page, "CONDITION").waitFor();
    // Nothing overflows the page sideways: the canvas and the panel fit the width.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, "editor-390");
    // A step's panel: its form and its three ways to delete, within the width.
    await node(page, "CONDITION").click();
    await page
      .getByRole("button", { name: "Delete with the steps below", exact: true })
      .scrollIntoViewIfNeeded();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, "editor-390-panel");
  });
});
