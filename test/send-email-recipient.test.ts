// SEND_EMAIL to another recipient: the step's config and what the engine hands the emails queue (the
// consumer's side, rendering and sending, is in email-consumer.test.ts; SES's events in sns.test.ts).
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, captureQueue, createProject, expectEnvelope, uniqueEmail } from "./helpers";
import { createWorkflow, onlyExecution, track } from "./workflow-helpers";

afterEach(() => {
  vi.restoreAllMocks();
});

async function project() {
  const p = await createProject();
  const tpl = await call("POST", "/templates", {
    key: p.secretKey,
    body: {
      name: "Alert",
      subject: "{{ email }} signed up",
      body: "<p>{{ email }}</p>",
      from: "a@example.com",
    },
  });
  expect(tpl.status).toBe(201);
  return { p, templateId: tpl.body.id as string };
}

describe("SEND_EMAIL recipient", () => {
  it("is the contact by default, or a CUSTOM address whose template must parse", async () => {
    const { p, templateId } = await project();
    const wf = await createWorkflow(p.secretKey, { eventName: "recipient.cfg" });
    const step = (recipient: unknown) =>
      call("POST", `/workflows/${wf.id}/steps`, {
        key: p.secretKey,
        body: { type: "SEND_EMAIL", name: "Tell", config: { templateId, recipient } },
      });
    const bad: [unknown, string, string][] = [
      [{ type: "CUSTOM", email: "{{ event.managerEmail" }, "config.recipient.email", "invalid_template"],
      [{ type: "CUSTOM" }, "config.recipient.email", "invalid_type"],
      [{ type: "CUSTOM", email: "  " }, "config.recipient.email", "too_small"],
      [{ type: "MANAGER", email: "a@example.com" }, "config.recipient.type", "invalid_union"],
      [{ type: "CONTACT", email: "a@example.com" }, "config.recipient", "unrecognized_keys"],
    ];
    for (const [recipient, field, code] of bad) {
      const res = await step(recipient);
      expectEnvelope(res, 422, "VALIDATION_ERROR");
      expect(res.body.error.errors, JSON.stringify(recipient)).toContainEqual(
        expect.objectContaining({ field, code }),
      );
    }
    for (const recipient of [{ type: "CONTACT" }, { type: "CUSTOM", email: "{{ event.managerEmail }}" }]) {
      const res = await step(recipient);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.config.recipient).toEqual(recipient);
    }
  });

  it("hands the CUSTOM address's template to the emails queue with the contact's execution, once", async () => {
    const emails = captureQueue(env.EMAILS_QUEUE);
    const { p, templateId } = await project();
    const wf = await createWorkflow(p.secretKey, {
      eventName: "deal.won",
      steps: {
        tell: {
          type: "SEND_EMAIL",
          config: { templateId, recipient: { type: "CUSTOM", email: "{{ event.managerEmail }}" } },
        },
        own: { type: "SEND_EMAIL", config: { templateId } },
      },
      edges: [
        ["trigger", "tell"],
        ["tell", "own"],
      ],
    });
    const t = await track(p.publicKey, "deal.won", uniqueEmail(), { managerEmail: "boss@example.com" });
    expect((await onlyExecution(p.secretKey, wf.id)).status).toBe("COMPLETED");
    expect(emails.sent).toHaveLength(2);
    const [tell, own] = emails.sent;
    expect(tell).toMatchObject({
      kind: "email",
      contactId: t.contact,
      stepId: wf.steps.tell,
      recipient: "{{ event.managerEmail }}",
      event: { managerEmail: "boss@example.com" },
    });
    expect(own.stepId).toBe(wf.steps.own);
    expect(own.recipient).toBeUndefined();
  });
});
