/**
 * SES's mailbox simulator, locally (development and tests only). An email that SES accepted for one of
 * SES's simulator addresses is followed by the SES event notifications real SES would publish for it, each
 * wrapped as an SNS Notification, signed with the development certificate (src/dev/sns-dev-key.ts, served
 * at GET /dev/sns-cert.pem) and POSTed to this worker's own POST /webhooks/sns: the same signature check,
 * handler and event path as production. POST /dev/ses/simulate makes one notification of any kind.
 *
 * The notifications travel as a message on the `emails` queue ({ kind: "ses-simulate" }), not from a
 * waitUntil: a post that fails (the worker busy restarting, a 5xx) is retried with the queue's backoff
 * instead of being lost, and it needs no queue of its own that production would have to create. Each
 * notification's SNS MessageId is fixed when the message is made (derived from the email id and the kind),
 * so a retried post, or a repeated one, is deduplicated by the sns_messages table like an SNS redelivery.
 */
import { base64 } from "../domain/crypto";
import { toHex } from "../domain/ids";
import type { Env } from "../env";
import { stringToSign } from "../integrations/sns";
import type { Logger } from "../log";
import { errorFields } from "../log";
import { DEV_SNS_KEY_PKCS8_PEM } from "./sns-dev-key";

export const SIMULATE_KINDS = ["delivery", "bounce", "complaint", "open", "click"] as const;
export type SimulateKind = (typeof SIMULATE_KINDS)[number];

export interface SimulatedNotification {
  kind: SimulateKind;
  /** The SNS MessageId: stable across retries of the queue message. */
  snsMessageId: string;
  bounceSubType?: "General" | "OnAccountSuppressionList";
  link?: string;
}

export interface SesSimulateMessage {
  kind: "ses-simulate";
  emailId: string;
  /** The D1 binding of the email's project (src/db/databases.ts). */
  db?: string;
  notifications: SimulatedNotification[];
}

/** Where /dev routes and the simulator exist: never in production (nor any environment not named here). */
export const devEnabled = (env: Pick<Env, "ENVIRONMENT">) =>
  env.ENVIRONMENT === "development" || env.ENVIRONMENT === "test";

export const DEV_CERT_PATH = "/dev/sns-cert.pem";
const SIMULATOR_DOMAIN = "simulator.amazonses.com";

type Scenario = Omit<SimulatedNotification, "snsMessageId">[];

/** What SES publishes for each simulator mailbox (AWS "Using the mailbox simulator"). */
const SCENARIOS: Record<string, Scenario> = {
  success: [{ kind: "delivery" }],
  bounce: [{ kind: "bounce", bounceSubType: "General" }],
  complaint: [{ kind: "delivery" }, { kind: "complaint" }],
  // The recipient's server accepts it, then auto-replies to the sender: SES publishes a delivery.
  ooto: [{ kind: "delivery" }],
  suppressionlist: [{ kind: "bounce", bounceSubType: "OnAccountSuppressionList" }],
};

/** The simulator scenario of an address (`bounce@…`, `bounce+label@…`), or null for any other address. */
export function simulatorScenario(address: string): Scenario | null {
  const at = address.lastIndexOf("@");
  if (at < 0 || address.slice(at + 1).toLowerCase() !== SIMULATOR_DOMAIN) return null;
  const box = address.slice(0, at).split("+")[0]?.toLowerCase() ?? "";
  return SCENARIOS[box] ?? null;
}

/** A UUID-shaped SNS MessageId derived from its parts (SNS's own are UUIDs). */
export async function simulatedSnsMessageId(...parts: string[]): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(["ses-simulator", ...parts].join("\u0000")),
  );
  const h = toHex(new Uint8Array(digest)).slice(0, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * After the email consumer recorded an email SENT: if it went to a simulator mailbox (development and
 * tests only), queue the notifications SES would publish. Never fails the send: a queue error is logged.
 */
export async function queueSimulatorNotifications(
  env: Env,
  log: Logger,
  email: { id: string; to: string },
): Promise<void> {
  if (!devEnabled(env)) return;
  const scenario = simulatorScenario(email.to);
  if (!scenario) return;
  try {
    const notifications = await Promise.all(
      scenario.map(async (n) => ({ ...n, snsMessageId: await simulatedSnsMessageId(email.id, n.kind) })),
    );
    const message: SesSimulateMessage = {
      kind: "ses-simulate",
      emailId: email.id,
      db: env.DATABASE,
      notifications,
    };
    await env.EMAILS_QUEUE.send(message, { delaySeconds: 1 });
    log.info("ses mailbox simulator: notifications queued", { kinds: scenario.map((n) => n.kind) });
  } catch (err) {
    log.error("ses mailbox simulator: could not queue the notifications", errorFields(err));
  }
}

interface SimEmail {
  id: string;
  message_id: string | null;
  to_email: string;
  from_email: string | null;
  subject: string | null;
  sent_at: number | null;
}

/** The SES event-publishing record SES would send for one notification. */
export function sesEventRecord(env: Env, email: SimEmail & { message_id: string }, n: SimulatedNotification) {
  const now = new Date().toISOString();
  const from = email.from_email ?? "";
  const to = email.to_email;
  const feedbackId = `${n.snsMessageId}-000000`;
  const mail = {
    timestamp: new Date(email.sent_at ?? Date.now()).toISOString(),
    source: from,
    sourceArn: `arn:aws:ses:${env.SES_REGION}:000000000000:identity/${from.split("@")[1] ?? from}`,
    sendingAccountId: "000000000000",
    messageId: email.message_id,
    destination: [to],
    headersTruncated: false,
    commonHeaders: { from: [from], to: [to], messageId: email.message_id, subject: email.subject ?? "" },
    tags: env.SES_CONFIGURATION_SET ? { "ses:configuration-set": [env.SES_CONFIGURATION_SET] } : {},
  };
  const agent = "Mozilla/5.0 (plunk-edge SES mailbox simulator)";
  switch (n.kind) {
    case "delivery":
      return {
        eventType: "Delivery",
        mail,
        delivery: {
          timestamp: now,
          processingTimeMillis: 320,
          recipients: [to],
          smtpResponse: "250 2.6.0 Message received",
          reportingMTA: "a8-30.smtp-out.amazonses.com",
        },
      };
    case "bounce": {
      const suppressed = n.bounceSubType === "OnAccountSuppressionList";
      return {
        eventType: "Bounce",
        mail,
        bounce: {
          feedbackId,
          bounceType: "Permanent",
          bounceSubType: n.bounceSubType ?? "General",
          bouncedRecipients: [
            suppressed
              ? {
                  emailAddress: to,
                  action: "failed",
                  diagnosticCode:
                    "Amazon SES did not send the message to this address because it is on the suppression list for your account.",
                }
              : {
                  emailAddress: to,
                  action: "failed",
                  status: "5.1.1",
                  diagnosticCode: "smtp; 550 5.1.1 user unknown",
                },
          ],
          timestamp: now,
          reportingMTA: "dns; amazonses.com",
        },
      };
    }
    case "complaint":
      return {
        eventType: "Complaint",
        mail,
        complaint: {
          feedbackId,
          complaintSubType: null,
          complainedRecipients: [{ emailAddress: to }],
          timestamp: now,
          userAgent: "Amazon SES Mailbox Simulator",
          complaintFeedbackType: "abuse",
          arrivalDate: now,
        },
      };
    case "open":
      return { eventType: "Open", mail, open: { ipAddress: "192.0.2.1", timestamp: now, userAgent: agent } };
    case "click":
      return {
        eventType: "Click",
        mail,
        click: {
          ipAddress: "192.0.2.1",
          timestamp: now,
          userAgent: agent,
          link: n.link ?? "https://example.com/",
          linkTags: {},
        },
      };
  }
}

let signingKey: Promise<CryptoKey> | null = null;
function devKey(): Promise<CryptoKey> {
  signingKey ??= (async () => {
    const b64 = DEV_SNS_KEY_PKCS8_PEM.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    const der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return crypto.subtle.importKey("pkcs8", der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, [
      "sign",
    ]);
  })();
  return signingKey;
}

const base = (env: Env) => env.PUBLIC_URL.replace(/\/$/, "");

/** An SNS Notification carrying `record`, signed (SignatureVersion 2) with the development key. */
export async function signedNotification(env: Env, snsMessageId: string, record: unknown) {
  const topics = (env.SNS_TOPIC_ARNS ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  const unsigned = {
    Type: "Notification" as const,
    MessageId: snsMessageId,
    TopicArn: topics[0] ?? `arn:aws:sns:${env.SES_REGION}:000000000000:plunk-edge-dev-ses`,
    Subject: "Amazon SES Email Event Notification",
    Message: JSON.stringify(record),
    Timestamp: new Date().toISOString(),
    SignatureVersion: "2",
    SigningCertURL: `${base(env)}${DEV_CERT_PATH}`,
  };
  const sig = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    await devKey(),
    new TextEncoder().encode(stringToSign({ ...unsigned, Signature: "" })),
  );
  return { ...unsigned, Signature: base64(new Uint8Array(sig)) };
}

/**
 * The `emails` queue's `ses-simulate` message: each notification in order, signed and POSTed to
 * PUBLIC_URL/webhooks/sns. A network error or a 5xx throws (the queue retries the whole message; what was
 * already handled is deduplicated by its MessageId); a 4xx is a refusal that retrying cannot change, so it
 * is logged and the message is done.
 */
export async function consumeSimulation(env: Env, m: SesSimulateMessage, log: Logger): Promise<void> {
  if (!devEnabled(env)) {
    log.warn("ses mailbox simulator message outside development: dropped");
    return;
  }
  const email = await env.DB.prepare(
    "SELECT id, message_id, to_email, from_email, subject, sent_at FROM emails WHERE id = ?1",
  )
    .bind(m.emailId)
    .first<SimEmail>();
  if (!email?.message_id) {
    log.warn("ses mailbox simulator: the email is gone or has no SES message id");
    return;
  }
  const sent = { ...email, message_id: email.message_id };
  for (const n of m.notifications) {
    const body = JSON.stringify(await signedNotification(env, n.snsMessageId, sesEventRecord(env, sent, n)));
    const res = await fetch(`${base(env)}/webhooks/sns`, {
      method: "POST",
      headers: {
        "content-type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": "Notification",
        "x-amz-sns-message-id": n.snsMessageId,
        "user-agent": "Amazon Simple Notification Service Agent (plunk-edge simulator)",
      },
      body,
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    if (res.status >= 500)
      throw new Error(`POST /webhooks/sns answered ${res.status}: ${text.slice(0, 200)}`);
    if (!res.ok) {
      log.error("ses mailbox simulator: /webhooks/sns refused the notification", {
        status: res.status,
        kind: n.kind,
        body: text.slice(0, 300),
      });
      return;
    }
    log.info("ses mailbox simulator: notification posted", { kind: n.kind, snsMessageId: n.snsMessageId });
  }
}
