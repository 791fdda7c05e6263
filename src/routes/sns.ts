/**
 * `POST /webhooks/sns`: Amazon SNS notifications for the SES configuration set. The signature is checked
 * before anything is believed; subscriptions are confirmed; each SES event updates its email record and
 * goes down the one event path as `email.*` (and `contact.unsubscribed` for a permanent bounce or a
 * complaint). An SNS message id is handled once: a replay changes nothing.
 */
import { Hono } from "hono";
import { z } from "zod";
import { emailCounter } from "../analytics";
import { statusChangeEvent, upsertContact } from "../db/contact-sql";
import { databaseOf, everyDatabase, projectEnv } from "../db/databases";
import { isUniqueViolation } from "../db/errors";
import type { EmailRow } from "../db/schema";
import { dispatchOrDefer } from "../dispatch";
import { newId, timedDerivedId } from "../domain/ids";
import { type InboundEmail, parseInbound, parseSesEvent, type SesEvent } from "../domain/ses-events";
import { emailField } from "../domain/track";
import type { Env } from "../env";
import { readRawBody } from "../http/body";
import type { AppEnv } from "../http/context";
import { ApiError, fieldError, notFound, validationError, zodFieldErrors } from "../http/errors";
import { isTrustedSnsUrl, type SnsMessage, verifySnsMessage } from "../integrations/sns";
import type { Logger } from "../log";
import { sentEventData } from "../queues/emails";
import { refreshSegments } from "../segments";

export const snsBody = z.object({
  Type: z.enum(["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]),
  MessageId: z.string().min(1).max(200),
  TopicArn: z.string().min(1).max(500),
  Message: z.string().max(262_144),
  Timestamp: z.string().min(1).max(100),
  SignatureVersion: z.string().max(5),
  Signature: z.string().min(1).max(4096),
  SigningCertURL: z.string().min(1).max(2048),
  Subject: z.string().max(500).optional(),
  SubscribeURL: z.string().max(4096).optional(),
  Token: z.string().max(4096).optional(),
});

const trust = (env: Env) => ({
  environment: env.ENVIRONMENT,
  devCertOrigin: env.SNS_DEV_CERT_ORIGIN,
  selfOrigin: env.PUBLIC_URL,
});

export const snsRoutes = new Hono<AppEnv>().post("/sns", async (c) => {
  const raw = await readRawBody(c);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ApiError(400, "INVALID_REQUEST_BODY", "Request body is not valid JSON");
  }
  const parsed = snsBody.safeParse(json);
  if (!parsed.success) throw validationError(zodFieldErrors(parsed.error));
  const m = parsed.data as SnsMessage;
  const topics = (c.env.SNS_TOPIC_ARNS ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  if (topics.length > 0 && !topics.includes(m.TopicArn)) {
    c.get("log").warn("sns message from a topic not in SNS_TOPIC_ARNS", { topicArn: m.TopicArn });
    throw new ApiError(403, "UNKNOWN_TOPIC", "This SNS topic is not one this deployment listens to");
  }
  const verdict = await verifySnsMessage(m, trust(c.env));
  if (!verdict.ok) {
    c.get("log").warn("sns message refused", { reason: verdict.reason, snsMessageId: m.MessageId });
    throw new ApiError(403, "INVALID_SIGNATURE", "The SNS signature could not be verified");
  }
  if (m.Type === "SubscriptionConfirmation") {
    if (!m.SubscribeURL || !isTrustedSnsUrl(m.SubscribeURL, trust(c.env))) {
      throw new ApiError(403, "INVALID_SIGNATURE", "SubscribeURL is not an SNS URL");
    }
    const res = await fetch(m.SubscribeURL, { redirect: "manual" });
    if (!res.ok) throw new ApiError(502, "SUBSCRIPTION_CONFIRMATION_FAILED", `SNS answered ${res.status}`);
    c.get("log").info("sns subscription confirmed", { topicArn: m.TopicArn });
    return c.json({ confirmed: true });
  }
  if (m.Type === "UnsubscribeConfirmation") return c.json({ ok: true });
  const inbound = parseInbound(m.Message);
  if (inbound)
    return c.json(await receiveInbound(c.env, c.get("log"), c.req.query("project"), m.MessageId, inbound));
  const event = parseSesEvent(m.Message, Date.now());
  if (!event) {
    c.get("log").info("sns notification ignored", { snsMessageId: m.MessageId });
    return c.json({ ok: true, handled: false });
  }
  // The email's project is in one of the databases: the first that knows the SES message id has it.
  let stored: Awaited<ReturnType<typeof applySesEvent>> = null;
  let projectDbEnv = c.env;
  for (const dbEnv of everyDatabase(c.env)) {
    stored = await applySesEvent(dbEnv, m.MessageId, event);
    projectDbEnv = dbEnv;
    if (stored !== null) break;
  }
  if (stored === null) {
    c.get("log").warn("ses event for an unknown message id", {
      messageId: event.messageId,
      kind: event.kind,
    });
    return c.json({ ok: true, handled: false });
  }
  await dispatchOrDefer(projectDbEnv, c.get("log"), stored.projectId, stored.eventIds);
  // A segment may read the email activity (src/domain/segments.ts), or a bounce's unsubscription.
  if (stored.eventIds.length > 0)
    await refreshSegments(projectDbEnv, c.get("log"), stored.projectId, [stored.contactId]);
  return c.json({ ok: true, handled: true });
});

/**
 * Applies one SES event in one batch: the SNS message id first (a replay fails there and rolls the rest
 * back), then the email record, then the events. Returns the ids of the events stored (none for a
 * replay) and whose they are, or null when no email has this SES message id.
 */
export async function applySesEvent(
  env: Env,
  snsMessageId: string,
  e: SesEvent,
): Promise<{ eventIds: string[]; projectId: string; contactId: string } | null> {
  const db = env.DB;
  const email = await db
    .prepare(
      `SELECT e.*, c.email AS contact_email FROM emails e
         LEFT JOIN contacts c ON c.project_id = e.project_id AND c.id = e.contact_id
        WHERE e.message_id = ?1`,
    )
    .bind(e.messageId)
    .first<Record<string, unknown>>();
  if (!email) return null;
  const row = {
    id: email.id as string,
    projectId: email.project_id as string,
    contactId: email.contact_id as string,
    templateId: email.template_id as string | null,
    sourceType: email.source_type as string,
    campaignId: email.campaign_id as string | null,
  } as EmailRow;
  const base = sentEventData(row, {
    subject: (email.subject as string) ?? "",
    from: (email.from_email as string) ?? "",
    fromName: (email.from_name as string | null) ?? null,
    messageId: e.messageId,
    sentAt: (email.sent_at as number) ?? e.at,
  });
  const { sentAt: _sentAt, ...common } = base;
  const at = new Date(e.at).toISOString();
  // Time-ordered by the SES event's own time, so a replayed message finds the same ids. The unsubscription
  // a bounce or complaint makes is timed when it is stored, as every contact.* event is: the analytics'
  // rollup counts those from a cursor over event ids (src/analytics.ts), and an SES time minutes old would
  // sort behind it. (A replay is refused by sns_messages before any of them is stored.)
  const eventId = await timedDerivedId("evt", e.at, "sns", snsMessageId, e.kind);
  const statusEventId = await timedDerivedId("evt", Date.now(), "sns", snsMessageId, "status");
  const insertEvent = (name: string, data: unknown, where = "") =>
    db
      .prepare(
        `INSERT OR IGNORE INTO events (id, project_id, contact_id, name, data, created_at)
         SELECT ?1, project_id, contact_id, ?2, ?3, ?4 FROM emails WHERE id = ?5 ${where}`,
      )
      .bind(eventId, name, JSON.stringify(data), Date.now(), row.id);
  // A campaign's email: its counter moves with the event, only if the statement just before stored it.
  const campaignId = email.campaign_id as string | null;
  // The project's analytics count the email events too (src/analytics.ts), chained the same way.
  const counted = (
    counter: "delivered" | "opened" | "clicked" | "bounced" | "complained" | "unsubscribed",
  ) => [
    ...(counter === "unsubscribed" ? [] : [emailCounter(db, row.projectId, counter, e.at)]),
    ...(campaignId
      ? [
          db
            .prepare(`UPDATE campaigns SET ${counter} = ${counter} + 1 WHERE id = ?1 AND changes() = 1`)
            .bind(campaignId),
        ]
      : []),
  ];
  const statements: D1PreparedStatement[] = [
    db.prepare("INSERT INTO sns_messages (id, received_at) VALUES (?1, ?2)").bind(snsMessageId, Date.now()),
  ];
  let unsubscribeReason: "bounce" | "complaint" | null = null;
  // An email to a SEND_EMAIL's CUSTOM recipient (the account manager) is not to the contact: its bounce or
  // complaint says nothing of the contact's address, so it is recorded and unsubscribes no one.
  const toContact = !email.to_email || email.to_email === email.contact_email;
  switch (e.kind) {
    case "delivery":
      statements.push(
        db
          .prepare(
            `UPDATE emails SET delivered_at = coalesce(delivered_at, ?2), updated_at = ?3,
               status = CASE WHEN status IN ('SENT', 'SENDING', 'QUEUED') THEN 'DELIVERED' ELSE status END WHERE id = ?1`,
          )
          .bind(row.id, e.at, Date.now()),
        insertEvent("email.delivery", { ...common, deliveredAt: at }),
        ...counted("delivered"),
      );
      break;
    case "open":
      statements.push(
        insertEvent("email.open", { ...common, openedAt: at, opens: 1, isFirstOpen: true }, "AND opens = 0"),
        ...counted("opened"),
        db
          .prepare(
            "UPDATE emails SET opens = opens + 1, opened_at = coalesce(opened_at, ?2), updated_at = ?3 WHERE id = ?1",
          )
          .bind(row.id, e.at, Date.now()),
      );
      break;
    case "click":
      statements.push(
        insertEvent(
          "email.click",
          { ...common, link: e.link, clickedAt: at, clicks: 1, isFirstClick: true },
          "AND clicks = 0",
        ),
        ...counted("clicked"),
        db
          .prepare(
            "UPDATE emails SET clicks = clicks + 1, clicked_at = coalesce(clicked_at, ?2), updated_at = ?3 WHERE id = ?1",
          )
          .bind(row.id, e.at, Date.now()),
      );
      break;
    case "bounce":
      if (e.bounceType === "Permanent") {
        statements.push(
          db
            .prepare("UPDATE emails SET status = 'BOUNCED', bounced_at = ?2, updated_at = ?3 WHERE id = ?1")
            .bind(row.id, e.at, Date.now()),
          insertEvent("email.bounce", { ...common, bounceType: "Permanent", bouncedAt: at }),
          ...counted("bounced"),
        );
        unsubscribeReason = "bounce";
      } else {
        statements.push(
          insertEvent("email.bounce", { ...common, bounceType: e.bounceType, transientBounce: true }),
        );
      }
      break;
    case "complaint":
      statements.push(
        db
          .prepare(
            "UPDATE emails SET status = 'COMPLAINED', complained_at = ?2, updated_at = ?3 WHERE id = ?1",
          )
          .bind(row.id, e.at, Date.now()),
        insertEvent("email.complaint", { ...common, complainedAt: at }),
        ...counted("complained"),
      );
      unsubscribeReason = "complaint";
      break;
  }
  let statusAt = -1;
  if (unsubscribeReason && toContact) {
    statusAt = statements.length;
    statements.push(
      statusChangeEvent(
        env,
        { contactId: row.contactId },
        {
          eventId: statusEventId,
          projectId: row.projectId,
          subscribed: false,
          now: Date.now(),
          data: { reason: unsubscribeReason },
        },
      ),
      ...counted("unsubscribed"),
      db
        .prepare("UPDATE contacts SET subscribed = 0, updated_at = ?3 WHERE project_id = ?1 AND id = ?2")
        .bind(row.projectId, row.contactId, Date.now()),
    );
  }
  let results: D1Result[];
  try {
    results = await db.batch(statements);
  } catch (err) {
    if (isUniqueViolation(err, "sns_messages")) {
      return { eventIds: [], projectId: row.projectId, contactId: row.contactId };
    }
    throw err;
  }
  const eventIds = [eventId];
  if (statusAt >= 0 && (results[statusAt]?.meta.changes ?? 0) > 0) eventIds.push(statusEventId);
  return { eventIds, projectId: row.projectId, contactId: row.contactId };
}

/**
 * An SES inbound `Received` notification: `email.received` for the sender, as a contact of the project
 * the subscription names (`/webhooks/sns?project=prj_…`; a new sender is created unsubscribed).
 */
async function receiveInbound(
  rootEnv: Env,
  log: Logger,
  projectId: string | undefined,
  snsMessageId: string,
  mail: InboundEmail,
) {
  if (!projectId)
    throw fieldError(
      "project",
      "Inbound subscriptions name their project: /webhooks/sns?project=prj_…",
      "required",
    );
  const database = projectId.length <= 100 ? await databaseOf(rootEnv, projectId) : null;
  if (!database) throw notFound("Project", "PROJECT_NOT_FOUND");
  const env = projectEnv(rootEnv, database);
  const project = { id: projectId };
  const sender = emailField.safeParse(mail.sender);
  if (!sender.success) {
    log.warn("inbound email from an address we cannot store", { snsMessageId });
    return { ok: true, handled: false };
  }
  const now = Date.now();
  const eventId = await timedDerivedId("evt", now, "sns", snsMessageId, "received");
  const db = env.DB;
  try {
    await db.batch([
      db.prepare("INSERT INTO sns_messages (id, received_at) VALUES (?1, ?2)").bind(snsMessageId, now),
      upsertContact(env, {
        id: newId("ctc", now),
        projectId,
        email: sender.data,
        subscribed: null,
        defaultSubscribed: false,
        data: {},
        now,
      }),
      db
        .prepare(
          `INSERT INTO events (id, project_id, contact_id, name, data, created_at)
           VALUES (?1, ?2, (SELECT id FROM contacts WHERE project_id = ?2 AND email = ?3), 'email.received', ?4, ?5)`,
        )
        .bind(eventId, projectId, sender.data, JSON.stringify(mail.data), now),
    ]);
  } catch (err) {
    if (isUniqueViolation(err, "sns_messages")) return { ok: true, handled: true };
    throw err;
  }
  await dispatchOrDefer(env, log, project.id, [eventId]);
  const contact = await db
    .prepare("SELECT id FROM contacts WHERE project_id = ?1 AND email = ?2")
    .bind(projectId, sender.data)
    .first<{ id: string }>();
  if (contact) await refreshSegments(env, log, projectId, [contact.id]);
  return { ok: true, handled: true };
}
