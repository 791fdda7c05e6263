/**
 * What each step type does. The Execution DO calls `runStep` and applies the outcome; side effects go
 * through `StepEffects`, each keyed by an id derived from (execution, step, visit).
 */
import { derivedId, timedDerivedId } from "../domain/ids";
import { renderTemplate } from "../domain/templates";
import { evaluateCondition, resolveField } from "../domain/workflow/conditions";
import {
  DEFAULT_BRANCH,
  delayMs,
  isMultiCondition,
  type Operator,
  type StepConfig,
} from "../domain/workflow/config";
import type { SnapshotStep } from "../domain/workflow/snapshot";
import type { ContactView, EmailMessage, WebhookMessage } from "../queues/messages";
import { type ExecutionState, NO_CONTACT, type Wait, type WaitTest } from "./state";

/** A step that cannot succeed however often it is tried: the execution FAILS with this error. */
export class StepFailure extends Error {}

/** A schedule's run with no contact fails the step that needs one. */
function needContact(state: ExecutionState, step: SnapshotStep): void {
  if (state.contactId === NO_CONTACT)
    throw new StepFailure(
      `${step.type} needs a contact, and this run of a schedule without a segment has none`,
    );
}

export interface StepEffects {
  /** The contact as it is now (throws if it was deleted). */
  contact(): Promise<ContactView>;
  /** Hands the delivery on; a host that names deliveries itself (a shard) answers the id it gave. */
  enqueueWebhook(message: WebhookMessage): Promise<string | undefined>;
  enqueueEmail(message: EmailMessage): Promise<void>;
  /** Applies the update; a status change is stored as an event with `statusEventId`. */
  updateContact(
    update: StepConfig<"UPDATE_CONTACT">,
    statusEventId: string,
  ): Promise<{ statusChanged: boolean }>;
}

export type StepOutcome =
  | { kind: "next"; branch: string | null; output?: unknown }
  | { kind: "wait"; wait: Wait; output?: unknown }
  | { kind: "exit"; reason: string | null };

/** How late after its trigger an execution may start and still count events from the trigger on. */
export const FROM_TRIGGER_MS = 30_000;

/**
 * Where a WAIT_FOR_EVENT starts counting events. An execution starts after the request that tracked its
 * trigger has answered (dispatch runs after the answer), so a wait reached straight from the trigger
 * (through conditions only) counts the events tracked after the trigger's millisecond: an event the
 * client tracked right after the trigger is seen however soon it came, and an event stored with the
 * trigger (the subscription change of the same request) is not. Once the execution has waited or acted
 * (a delay, a wait, an email, a webhook, a contact update, whose own events must not count), or when it
 * starts more than `FROM_TRIGGER_MS` after its trigger (a dispatch the sweep finished, by which time a
 * later run may have used those events), it counts from the moment the wait is reached.
 */
export function waitSince(state: ExecutionState, now: number): number {
  const actedBefore = Object.entries(state.visits).some(([id, n]) => {
    const type = state.snapshot.steps[id]?.type;
    return n > 0 && type !== "TRIGGER" && type !== "CONDITION";
  });
  if (actedBefore || now - state.startedAt > FROM_TRIGGER_MS) return now;
  return Math.min(now, state.startedAt + 1);
}

/**
 * A WAIT_FOR_EVENT's `match` with its values resolved: each string is Liquid over `trigger` (the
 * execution's event data so far), `event` (the same) and `contact`, rendered now, when the wait is reached.
 * A template that fails to render fails the step.
 */
async function resolveMatch(
  match: NonNullable<StepConfig<"WAIT_FOR_EVENT">["match"]>,
  state: ExecutionState,
  effects: StepEffects,
): Promise<WaitTest[]> {
  const templated = Object.values(match).some((t) =>
    Object.values(t).some((v) => typeof v === "string" && v.includes("{")),
  );
  const contact =
    templated && JSON.stringify(match).includes("contact") && state.contactId !== NO_CONTACT
      ? await effects.contact()
      : null;
  const vars = {
    trigger: state.event,
    event: state.event,
    ...(contact
      ? { contact: { email: contact.email, subscribed: contact.subscribed, data: contact.data } }
      : {}),
  };
  const out: WaitTest[] = [];
  for (const [field, test] of Object.entries(match)) {
    const [operator, raw] = Object.entries(test)[0] as [Operator, unknown];
    let value = raw;
    if (typeof raw === "string" && raw.includes("{")) {
      try {
        value = await renderTemplate(raw, vars);
      } catch (err) {
        throw new StepFailure(`match ${field}: ${(err as Error).message}`);
      }
    }
    out.push(
      operator === "exists" || operator === "notExists" ? { field, operator } : { field, operator, value },
    );
  }
  return out;
}

/** Whether an event's data passes a wait's tests (every one). */
export function matchesWait(tests: readonly WaitTest[] | undefined, data: Record<string, unknown>): boolean {
  if (!tests) return true;
  return tests.every((t) =>
    evaluateCondition(resolveField(t.field, { contact: EMPTY_CONTACT, event: data }), t.operator, t.value),
  );
}
const EMPTY_CONTACT = { email: "", subscribed: false, data: {} };

export async function runStep(
  state: ExecutionState,
  step: SnapshotStep,
  visit: number,
  now: number,
  effects: StepEffects,
): Promise<StepOutcome> {
  const effectId = (prefix: "whd" | "eml") => derivedId(prefix, state.executionId, step.id, visit);
  switch (step.type) {
    case "TRIGGER":
      return { kind: "next", branch: null };
    case "DELAY": {
      const until = now + delayMs(step.config as StepConfig<"DELAY">);
      return { kind: "wait", wait: { kind: "delay", stepId: step.id, until }, output: { until } };
    }
    case "WAIT_FOR_EVENT": {
      const c = step.config as StepConfig<"WAIT_FOR_EVENT">;
      // Events are a contact's: a run with no contact has none to wait for.
      needContact(state, step);
      const until = c.timeout ? now + c.timeout * 1000 : null;
      const match = c.match ? await resolveMatch(c.match, state, effects) : undefined;
      return {
        kind: "wait",
        wait: {
          kind: "event",
          stepId: step.id,
          eventName: c.eventName,
          since: waitSince(state, now),
          until,
          ...(match ? { match } : {}),
        },
        output: { eventName: c.eventName, until, ...(match ? { match } : {}) },
      };
    }
    case "CONDITION": {
      const c = step.config as StepConfig<"CONDITION">;
      const needsContact = c.field.startsWith("contact.");
      if (needsContact) needContact(state, step);
      const contact = needsContact ? await effects.contact() : { email: "", subscribed: false, data: {} };
      const actual = resolveField(c.field, { contact, event: state.event });
      if (isMultiCondition(c)) {
        // The first branch whose test holds, else `default` (the step is saved before the next runs, so a
        // retry after a crash goes on from the branch taken).
        const hit = c.branches.find((b) => evaluateCondition(actual, b.operator, b.value));
        const branch = hit?.id ?? DEFAULT_BRANCH;
        return { kind: "next", branch, output: { branch, actual: actual ?? null } };
      }
      const result = evaluateCondition(actual, c.operator, c.value);
      return { kind: "next", branch: result ? "yes" : "no", output: { result, actual: actual ?? null } };
    }
    case "WEBHOOK": {
      // A schedule's run with no contact posts `contact: null`.
      const contact = state.contactId === NO_CONTACT ? null : await effects.contact();
      const derived = await effectId("whd");
      const deliveryId =
        (await effects.enqueueWebhook({
          kind: "webhook",
          deliveryId: derived,
          projectId: state.projectId,
          workflowId: state.workflowId,
          executionId: state.executionId,
          stepId: step.id,
          config: step.config as StepConfig<"WEBHOOK">,
          vars: {
            contact: contact && { email: contact.email, subscribed: contact.subscribed, data: contact.data },
            ...(contact ? { contactId: contact.id } : {}),
            workflow: { id: state.snapshot.id, name: state.snapshot.name },
            execution: { id: state.executionId, startedAt: new Date(state.startedAt).toISOString() },
            event: state.event,
          },
        })) || derived;
      return { kind: "next", branch: null, output: { deliveryId } };
    }
    case "SEND_EMAIL": {
      needContact(state, step);
      const emailId = await effectId("eml");
      const { recipient } = step.config as StepConfig<"SEND_EMAIL">;
      await effects.enqueueEmail({
        kind: "email",
        emailId,
        projectId: state.projectId,
        workflowId: state.workflowId,
        executionId: state.executionId,
        stepId: step.id,
        contactId: state.contactId,
        templateId: (step.config as StepConfig<"SEND_EMAIL">).templateId,
        event: state.event,
        ...(recipient?.type === "CUSTOM" ? { recipient: recipient.email } : {}),
      });
      return { kind: "next", branch: null, output: { emailId } };
    }
    case "UPDATE_CONTACT": {
      const c = step.config as StepConfig<"UPDATE_CONTACT">;
      needContact(state, step);
      // Time-ordered (events are listed in id order): a retry after the change finds the status already
      // changed, and the conditional insert stores nothing, so the id need not repeat.
      const statusEventId = await timedDerivedId("evt", now, state.executionId, step.id, visit);
      const { statusChanged } = await effects.updateContact(c, statusEventId);
      return { kind: "next", branch: null, output: { statusChanged } };
    }
    case "EXIT":
      return { kind: "exit", reason: (step.config as StepConfig<"EXIT">).reason ?? null };
  }
}
