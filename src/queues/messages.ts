/** What the Execution DO puts on the queues: one message per step visit, its id derived from it. */
import type { StepConfig } from "../domain/workflow/config";

export interface ContactView {
  id: string;
  email: string;
  subscribed: boolean;
  data: Record<string, unknown>;
}

export interface WebhookMessage {
  kind: "webhook";
  /** `whd_…`: hash of (execution, step, visit); the consumer sends each id once. */
  deliveryId: string;
  projectId: string;
  workflowId: string;
  executionId: string;
  stepId: string;
  config: StepConfig<"WEBHOOK">;
  /** The execution's variables when the step ran (the default body, and Liquid's variables). */
  vars: {
    /** Null in a schedule's run with no contact. */
    contact: Omit<ContactView, "id"> | null;
    /** The contact's id (for `{{ id }}` and the signed links); absent in messages queued before it was added. */
    contactId?: string;
    workflow: { id: string; name: string };
    execution: { id: string; startedAt: string };
    event: Record<string, unknown>;
  };
}

export interface EmailMessage {
  kind: "email";
  /** The D1 binding of the project's data (src/db/databases.ts); unset in messages queued before it. */
  db?: string;
  /** `eml_…`: hash of (execution, step, visit); the consumer sends each id once. */
  emailId: string;
  projectId: string;
  workflowId: string;
  executionId: string;
  stepId: string;
  contactId: string;
  templateId: string;
  event: Record<string, unknown>;
  /** A CUSTOM recipient's address, a Liquid template rendered when the email is recorded. */
  recipient?: string;
}
