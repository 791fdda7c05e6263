/**
 * The `emails` queue consumer: renders and sends one email per email id through SES, at most once on
 * our side (a row is claimed with a lease, and a sent row is never sent again), and stores `email.sent`
 * on the one event path. Workflow emails get their row here, keyed by the id the step derived.
 */
import { and, eq, lt, or, sql } from "drizzle-orm";
import { emailCounter } from "../analytics";
import { FINISH_IF_DONE } from "../campaigns";
import { envOfMessage } from "../db/databases";
import { campaigns, contacts, type EmailRow, emails, projects, templates } from "../db/schema";
import {
  consumeSimulation,
  queueSimulatorNotifications,
  type SesSimulateMessage,
} from "../dev/ses-simulator";
import { dispatchStored } from "../dispatch";
import { timedDerivedId } from "../domain/ids";
import { parseJsonObject } from "../domain/shapes";
import { renderTemplate } from "../domain/templates";
import { emailField } from "../domain/track";
import type { Env } from "../env";
import { db } from "../http/db";
import { sendEmail } from "../integrations/ses";
import { errorFields, type Logger } from "../log";
import type { EmailMessage } from "./messages";
import { contactLinks, templateVariables } from "./variables";
import { retryScale } from "./webhooks";

export type EmailQueueMessage =
  | EmailMessage
  | { kind: "email-send"; emailId: string; db?: string }
  // Development only: SES's mailbox simulator posting its notifications (src/dev/ses-simulator.ts).
  | SesSimulateMessage;

const LEASE_MS = 60_000;
const MAX_BACKOFF_S = 900;

export async function consumeEmails(batch: MessageBatch<EmailQueueMessage>, env: Env, log: Logger) {
  await Promise.all(
    batch.messages.map(async (msg) => {
      try {
        await handle(msg, await envOfMessage(env, msg.body), log.child({ emailId: msg.body.emailId }));
      } catch (err) {
        log.error("email consumer error; retrying", { emailId: msg.body.emailId, ...errorFields(err) });
        msg.retry({ delaySeconds: backoff(env, msg.attempts) });
      }
    }),
  );
}

/** 5 s, 10 s, 20 s, … up to 15 min, with jitter. */
const backoff = (env: Env, attempt: number) =>
  Math.min(
    MAX_BACKOFF_S,
    Math.round(5 * 2 ** Math.max(0, attempt - 1) * (0.9 + Math.random() * 0.2) * retryScale(env)),
  );

/** A workflow's SEND_EMAIL: the row, made once from the template and the contact. */
async function recordWorkflowEmail(env: Env, m: EmailMessage, now: number): Promise<void> {
  const d = db(env);
  const [template] = await d
    .select()
    .from(templates)
    .where(and(eq(templates.projectId, m.projectId), eq(templates.id, m.templateId)));
  const [contact] = await d
    .select()
    .from(contacts)
    .where(and(eq(contacts.projectId, m.projectId), eq(contacts.id, m.contactId)));
  const to = contact && m.recipient !== undefined ? await customRecipient(m, contact) : null;
  const error = !template
    ? "The template no longer exists"
    : !contact
      ? "The contact no longer exists"
      : (to?.error ?? null);
  await d
    .insert(emails)
    .values({
      id: m.emailId,
      projectId: m.projectId,
      contactId: m.contactId,
      templateId: m.templateId,
      workflowExecutionId: m.executionId,
      sourceType: "WORKFLOW",
      type: template?.type ?? "TRANSACTIONAL",
      status: error ? "FAILED" : "QUEUED",
      error,
      toEmail: to?.email ?? contact?.email ?? "",
      data: JSON.stringify(m.event),
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing();
}

/**
 * A SEND_EMAIL's CUSTOM recipient: its template rendered over the contact and the event (as the email's
 * body sees them, without the contact's links), and checked to be one address.
 */
async function customRecipient(
  m: EmailMessage,
  contact: { id: string; email: string; subscribed: boolean; data: string },
): Promise<{ email: string; error: null } | { email: string; error: string }> {
  let rendered: string;
  try {
    rendered = await renderTemplate(
      m.recipient ?? "",
      templateVariables({
        contact: {
          id: contact.id,
          email: contact.email,
          subscribed: contact.subscribed,
          data: parseJsonObject(contact.data),
        },
        event: m.event,
      }),
    );
  } catch (err) {
    return { email: "", error: `Recipient template error: ${(err as Error).message}` };
  }
  const parsed = emailField.safeParse(rendered);
  if (!parsed.success)
    return {
      email: rendered.trim().slice(0, 254),
      error: `The recipient is "${rendered.trim().slice(0, 100)}", not an email address`,
    };
  return { email: parsed.data, error: null };
}

async function handle(msg: Message<EmailQueueMessage>, env: Env, log: Logger) {
  const body = msg.body;
  if (body.kind === "ses-simulate") {
    await consumeSimulation(env, body, log);
    return msg.ack();
  }
  const now = Date.now();
  if (body.kind === "email") await recordWorkflowEmail(env, body, now);
  const d = db(env);
  // The claim returns the row: one round trip for both.
  const [email] = await d
    .update(emails)
    .set({ status: "SENDING", leaseUntil: now + LEASE_MS, updatedAt: now })
    .where(
      and(
        eq(emails.id, body.emailId),
        or(eq(emails.status, "QUEUED"), and(eq(emails.status, "SENDING"), lt(emails.leaseUntil, now))),
      ),
    )
    .returning();
  if (!email) {
    const row = await env.DB.prepare("SELECT status, lease_until FROM emails WHERE id = ?1")
      .bind(body.emailId)
      .first<{ status: string; lease_until: number | null }>();
    if (row?.status === "SENDING") msg.retry({ delaySeconds: Math.ceil(LEASE_MS / 1000) });
    else msg.ack(); // sent, suppressed or failed already: never twice
    return;
  }
  const finish = async (status: string, error: string | null) => {
    const now = Date.now();
    const statements = [
      env.DB.prepare(
        "UPDATE emails SET status = ?2, error = ?3, lease_until = NULL, updated_at = ?4 WHERE id = ?1",
      ).bind(email.id, status, error, now),
    ];
    // A campaign's email that will not be sent is counted as skipped (a retryable one goes back to QUEUED).
    if (email.campaignId && status !== "QUEUED")
      statements.push(...countCampaignEmail(env, email.campaignId, "skipped", now));
    await env.DB.batch(statements);
  };
  // What the email is made of, in one round trip: the contact, the project, and a campaign's subject and
  // body (or template), read now (none once it is cancelled), and the template.
  const [contactRows, projectRows, campaignRows, templateRows] = await d.batch([
    d
      .select()
      .from(contacts)
      .where(and(eq(contacts.projectId, email.projectId), eq(contacts.id, email.contactId))),
    d.select().from(projects).where(eq(projects.id, email.projectId)),
    d
      .select()
      .from(campaigns)
      .where(eq(campaigns.id, email.campaignId ?? "")),
    // The email's template, else its campaign's.
    d
      .select()
      .from(templates)
      .where(
        eq(
          templates.id,
          sql`coalesce(${email.templateId}, (SELECT template_id FROM campaigns WHERE id = ${email.campaignId ?? ""}))`,
        ),
      ),
  ]);
  const contact = contactRows[0];
  const project = projectRows[0];
  const campaign = campaignRows[0];
  const template = templateRows[0];
  if (email.campaignId && campaign?.status !== "SENDING") {
    await finish("NOT_SENT", "The campaign was cancelled");
    return msg.ack();
  }
  if (!contact || !project) {
    await finish("FAILED", "The contact no longer exists");
    return msg.ack();
  }
  if (email.type === "MARKETING" && !contact.subscribed) {
    await finish("NOT_SENT", "The contact is unsubscribed");
    log.info("marketing email not sent: contact unsubscribed");
    return msg.ack();
  }
  const templateId = email.templateId ?? campaign?.templateId ?? null;
  if (templateId && !template) {
    await finish("FAILED", "The template no longer exists");
    return msg.ack();
  }

  const links = await contactLinks(
    env,
    project.signingSecret ?? "",
    email.projectId,
    contact.id,
    email.campaignId,
  );
  const given = parseJsonObject(email.data);
  // A /v1/send's `data` are template variables (Plunk: `{{ firstName }}`), over the contact's data.
  const sendData = email.sourceType === "WORKFLOW" ? {} : given;
  const vars = templateVariables({
    contact: {
      id: contact.id,
      email: contact.email,
      subscribed: contact.subscribed,
      data: { ...parseJsonObject(contact.data), ...sendData },
    },
    event: given,
    links,
  });
  let subject: string;
  let html: string;
  // What the /v1/send request gave overrides the template's values (Plunk: the template's are defaults).
  try {
    subject = await renderTemplate(email.subject ?? campaign?.subject ?? template?.subject ?? "", vars);
    html = await renderTemplate(email.body ?? campaign?.body ?? template?.body ?? "", vars);
  } catch (err) {
    await finish("FAILED", `Template error: ${(err as Error).message}`);
    return msg.ack();
  }
  const from = email.from ?? campaign?.from ?? template?.from ?? env.DEFAULT_FROM ?? "";
  const fromName = email.fromName ?? campaign?.fromName ?? template?.fromName ?? null;
  const replyTo = email.replyTo ?? campaign?.replyTo ?? template?.replyTo ?? null;
  const headers: Record<string, string> = email.headers
    ? (JSON.parse(email.headers) as Record<string, string>)
    : {};
  // A CUSTOM recipient is not the contact: its mail client is not offered the contact's unsubscribe.
  const to = email.toEmail || contact.email;
  if (email.type === "MARKETING" && to === contact.email) {
    headers["List-Unsubscribe"] = `<${links.unsubscribeUrl}>`;
    headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click";
  }

  const result = await sendEmail(env, { from, fromName, to, replyTo, subject, html, headers });
  if (!result.ok) {
    if (result.retry) {
      await finish("QUEUED", result.error);
      const delaySeconds = Math.max(
        backoff(env, msg.attempts),
        Math.ceil((result.retryAfter ?? 0) * retryScale(env)),
      );
      log.warn("SES refused for now; retrying", { status: result.status, delaySeconds });
      msg.retry({ delaySeconds });
    } else {
      await finish("FAILED", result.error);
      log.warn("SES refused the email", { status: result.status, error: result.error });
      msg.ack();
    }
    return;
  }
  const sentAt = Date.now();
  const eventId = await timedDerivedId("evt", sentAt, "email.sent", email.id);
  const eventData = sentEventData(email, { subject, from, fromName, messageId: result.messageId, sentAt });
  const [, stored] = await env.DB.batch([
    env.DB.prepare(
      `UPDATE emails SET status = 'SENT', message_id = ?2, subject = ?3, from_email = ?4, from_name = ?5,
         sent_at = ?6, error = NULL, lease_until = NULL, updated_at = ?6 WHERE id = ?1`,
    ).bind(email.id, result.messageId, subject, from, fromName, sentAt),
    // Stored dispatched when nothing could take it (no workflow starts on email.sent, no execution of the
    // contact waits for it), as a tracked event is (src/events.ts): then there is no dispatch to run.
    env.DB.prepare(
      `INSERT OR IGNORE INTO events (id, project_id, contact_id, name, data, created_at, dispatched_at)
       VALUES (?1, ?2, ?3, 'email.sent', ?4, ?5,
         CASE WHEN EXISTS (SELECT 1 FROM workflows WHERE project_id = ?2 AND event_name = 'email.sent')
           OR EXISTS (SELECT 1 FROM waits WHERE project_id = ?2 AND contact_id = ?3 AND event_name = 'email.sent')
         THEN NULL ELSE ?5 END)
       RETURNING dispatched_at IS NULL AS undispatched`,
    ).bind(eventId, email.projectId, email.contactId, JSON.stringify(eventData), sentAt),
    // Counted with the event: a retried batch whose event exists counts nothing twice.
    emailCounter(env.DB, email.projectId, "sent", sentAt),
    ...(email.campaignId ? countCampaignEmail(env, email.campaignId, "sent", sentAt) : []),
  ]);
  log.info("email sent", { messageId: result.messageId });
  await queueSimulatorNotifications(env, log, { id: email.id, to });
  msg.ack();
  if (!(stored?.results[0] as { undispatched: number } | undefined)?.undispatched) return;
  try {
    await dispatchStored(env, log, email.projectId, [eventId]);
  } catch (err) {
    log.error("email.sent dispatch failed; left to the sweep", errorFields(err));
  }
}

/** The payload of `email.*` events, as Plunk's webhook guide has it, plus `emailId` (as Plunk's handler adds). */
export function sentEventData(
  email: Pick<EmailRow, "id" | "templateId" | "sourceType" | "campaignId">,
  sent: { subject: string; from: string; fromName: string | null; messageId: string; sentAt: number },
) {
  return {
    emailId: email.id,
    subject: sent.subject,
    from: sent.from,
    fromName: sent.fromName,
    messageId: sent.messageId,
    templateId: email.templateId,
    campaignId: email.campaignId ?? null,
    sourceType: email.sourceType,
    sentAt: new Date(sent.sentAt).toISOString(),
  };
}

/**
 * A campaign's email sent or skipped: its counter, counted only when the statement just before changed a
 * row (the email.sent event stored, the email's row moved), then SENT if it was the last one.
 */
function countCampaignEmail(env: Env, campaignId: string, counter: "sent" | "skipped", now: number) {
  return [
    env.DB.prepare(
      `UPDATE campaigns SET ${counter} = ${counter} + 1, updated_at = ?2 WHERE id = ?1 AND changes() = 1`,
    ).bind(campaignId, now),
    env.DB.prepare(FINISH_IF_DONE).bind(campaignId, now),
  ];
}

export async function consumeEmailDeadLetters(batch: MessageBatch<EmailQueueMessage>, env: Env, log: Logger) {
  for (const msg of batch.messages) {
    if (msg.body.kind === "ses-simulate") {
      log.warn("ses mailbox simulator notifications dead-lettered", { emailId: msg.body.emailId });
      msg.ack();
      continue;
    }
    const dbEnv = await envOfMessage(env, msg.body);
    const now = Date.now();
    await dbEnv.DB.batch([
      dbEnv.DB.prepare(
        `UPDATE emails SET status = 'FAILED', error = coalesce(error, 'Gave up after retries'), lease_until = NULL,
           updated_at = ?2 WHERE id = ?1 AND status IN ('QUEUED', 'SENDING')`,
      ).bind(msg.body.emailId, now),
      // A campaign's email given up is skipped: counted only if the update above changed it.
      dbEnv.DB.prepare(
        `UPDATE campaigns SET skipped = skipped + 1, updated_at = ?2
         WHERE id = (SELECT campaign_id FROM emails WHERE id = ?1) AND changes() = 1`,
      ).bind(msg.body.emailId, now),
      dbEnv.DB.prepare(
        FINISH_IF_DONE.replace("WHERE id = ?1", "WHERE id = (SELECT campaign_id FROM emails WHERE id = ?1)"),
      ).bind(msg.body.emailId, now),
    ]);
    log.warn("email dead-lettered", { emailId: msg.body.emailId });
    msg.ack();
  }
}
