/**
 * The `webhooks` queue consumer: one signed request per delivery id, retried on API.md's schedule, each
 * attempt logged. A delivery row is claimed with a short lease before sending, and a delivery that has
 * succeeded is never sent again for the same generation (a replay starts a new one).
 */
import { forbiddenUrlReason } from "../domain/ssrf";
import { renderJsonStrings, renderTemplate } from "../domain/templates";
import type { Env } from "../env";
import { signatureHeader, signingSecrets } from "../integrations/signing";
import { errorFields, type Logger } from "../log";
import type { WebhookMessage } from "./messages";
import { contactLinks, templateVariables } from "./variables";

export type WebhookQueueMessage =
  | WebhookMessage
  | { kind: "webhook-replay"; deliveryId: string; generation: number };

/** Seconds to wait after attempt n (1-based) fails: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const RETRY_SCHEDULE_S = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
export const MAX_ATTEMPTS = RETRY_SCHEDULE_S.length + 1;
export const TIMEOUT_MS = 15_000;
const LEASE_MS = TIMEOUT_MS + 15_000;
const SNIPPET_CHARS = 1024;
const MAX_DELAY_S = 43_200; // Queues' limit for delaySeconds

export interface Attempt {
  at: string;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseSnippet: string | null;
  generation: number;
}

const isDev = (env: Env) => env.ENVIRONMENT === "development";

/** Development and tests may shrink the schedule (RETRY_DELAY_SCALE); production never does. */
function retryDelay(env: Env, attempt: number, retryAfter: number | null): number {
  const base = RETRY_SCHEDULE_S[attempt - 1] ?? RETRY_SCHEDULE_S[RETRY_SCHEDULE_S.length - 1] ?? 5;
  const jittered = base * (0.9 + Math.random() * 0.2);
  const delay = Math.max(jittered, retryAfter ?? 0);
  return Math.min(Math.round(delay * retryScale(env)), MAX_DELAY_S);
}

/** RETRY_DELAY_SCALE (0 to 1) shrinks retry delays in development and tests; production ignores it. */
export function retryScale(env: Env): number {
  const scale = Number(env.RETRY_DELAY_SCALE ?? "1");
  return env.ENVIRONMENT !== "production" && Number.isFinite(scale) && scale >= 0 && scale < 1 ? scale : 1;
}

function parseRetryAfter(value: string | null): number | null {
  if (!value) return null;
  const secs = Number(value);
  if (Number.isFinite(secs) && secs >= 0) return secs;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, (at - Date.now()) / 1000);
}

export async function consumeWebhooks(batch: MessageBatch<WebhookQueueMessage>, env: Env, log: Logger) {
  await Promise.all(
    batch.messages.map(async (msg) => {
      try {
        await handle(msg, env, log);
      } catch (err) {
        log.error("webhook consumer error; retrying", { ...errorFields(err) });
        msg.retry({ delaySeconds: 5 });
      }
    }),
  );
}

async function handle(msg: Message<WebhookQueueMessage>, env: Env, log: Logger) {
  const body = msg.body;
  const now = Date.now();
  const generation = body.kind === "webhook" ? 0 : body.generation;
  // One round trip: record the delivery (first message only), claim it, and read its project's secrets.
  const statements: D1PreparedStatement[] = [];
  if (body.kind === "webhook") {
    statements.push(
      env.DB.prepare(
        `INSERT INTO webhook_deliveries (id, project_id, workflow_id, execution_id, step_id, url, method, status, message,
           attempts, generation, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'PENDING', ?8, '[]', 0, ?9, ?9) ON CONFLICT (id) DO NOTHING`,
      ).bind(
        body.deliveryId,
        body.projectId,
        body.workflowId,
        body.executionId,
        body.stepId,
        body.config.url,
        body.config.method,
        JSON.stringify(body),
        now,
      ),
    );
  }
  statements.push(
    env.DB.prepare(
      `UPDATE webhook_deliveries SET lease_until = ?3 WHERE id = ?1 AND status = 'PENDING' AND generation = ?2
         AND (lease_until IS NULL OR lease_until < ?4)
       RETURNING message, attempts`,
    ).bind(body.deliveryId, generation, now + LEASE_MS, now),
    env.DB.prepare(
      `SELECT webhook_secret, previous_webhook_secret, previous_webhook_secret_until, signing_secret FROM projects
       WHERE id = (SELECT project_id FROM webhook_deliveries WHERE id = ?1)`,
    ).bind(body.deliveryId),
  );
  const results = await env.DB.batch(statements);
  const claimed = results[statements.length - 2]?.results[0] as
    | { message: string; attempts: string }
    | undefined;
  const projectRow = results[statements.length - 1]?.results[0] as ProjectSecretsRow | undefined;
  if (!claimed) {
    const row = await env.DB.prepare(
      "SELECT status, generation, lease_until FROM webhook_deliveries WHERE id = ?1",
    )
      .bind(body.deliveryId)
      .first<{ status: string; generation: number; lease_until: number | null }>();
    if (row?.status === "PENDING" && row.generation === generation && (row.lease_until ?? 0) >= now) {
      msg.retry({ delaySeconds: Math.ceil(LEASE_MS / 1000) }); // another consumer holds it
    } else {
      msg.ack(); // done, failed, or replaced by a replay: nothing to send
    }
    return;
  }
  const message = JSON.parse(claimed.message) as WebhookMessage;
  const attempts = JSON.parse(claimed.attempts) as Attempt[];
  const attemptNo = attempts.filter((a) => a.generation === generation).length + 1;
  const dlog = log.child({
    deliveryId: body.deliveryId,
    executionId: message.executionId,
    attempt: attemptNo,
  });

  const project = projectRow
    ? {
        webhookSecret: projectRow.webhook_secret,
        previousWebhookSecret: projectRow.previous_webhook_secret,
        previousWebhookSecretUntil: projectRow.previous_webhook_secret_until,
        signingSecret: projectRow.signing_secret,
      }
    : null;
  const outcome = await deliver(env, message, now, project);
  const attempt: Attempt = { ...outcome.attempt, generation };
  const done = outcome.ok || outcome.final || attemptNo >= MAX_ATTEMPTS;
  const status = outcome.ok ? "DELIVERED" : done ? "FAILED" : "PENDING";
  await env.DB.prepare(
    `UPDATE webhook_deliveries SET attempts = json_insert(attempts, '$[#]', json(?2)), status = ?3, url = ?4,
       lease_until = NULL, updated_at = ?5 WHERE id = ?1 AND generation = ?6`,
  )
    .bind(body.deliveryId, JSON.stringify(attempt), status, outcome.url, Date.now(), generation)
    .run();
  if (done) {
    dlog[outcome.ok ? "info" : "warn"](outcome.ok ? "webhook delivered" : "webhook failed for good", {
      statusCode: attempt.statusCode,
      error: attempt.error,
    });
    msg.ack();
  } else {
    const delaySeconds = retryDelay(env, attemptNo, outcome.retryAfter);
    dlog.warn("webhook attempt failed; retrying", {
      statusCode: attempt.statusCode,
      error: attempt.error,
      delaySeconds,
    });
    msg.retry({ delaySeconds });
  }
}

interface DeliverOutcome {
  ok: boolean;
  /** No retry can help (410 Gone, a URL refused by the guard, a template that does not render). */
  final: boolean;
  retryAfter: number | null;
  url: string;
  attempt: Omit<Attempt, "generation">;
}

interface ProjectSecretsRow {
  webhook_secret: string;
  previous_webhook_secret: string | null;
  previous_webhook_secret_until: number | null;
  signing_secret: string | null;
}

interface ProjectSecrets {
  webhookSecret: string;
  previousWebhookSecret: string | null;
  previousWebhookSecretUntil: number | null;
  signingSecret: string | null;
}

async function deliver(
  env: Env,
  m: WebhookMessage,
  now: number,
  project: ProjectSecrets | null,
): Promise<DeliverOutcome> {
  const at = new Date(now).toISOString();
  const fail = (error: string, final: boolean, url = m.config.url): DeliverOutcome => ({
    ok: false,
    final,
    retryAfter: null,
    url,
    attempt: { at, statusCode: null, durationMs: 0, error, responseSnippet: null },
  });
  if (!project) return fail("The project no longer exists", true);

  const links = m.vars.contactId
    ? await contactLinks(env, project.signingSecret ?? "", m.vars.contactId)
    : { unsubscribeUrl: "", subscribeUrl: "", manageUrl: "" };
  const vars = templateVariables({
    contact: { id: m.vars.contactId ?? "", ...m.vars.contact },
    event: m.vars.event,
    links,
    workflow: m.vars.workflow,
    execution: m.vars.execution,
  });

  let url: string;
  let payload: string;
  const headers: Record<string, string> = {};
  try {
    url = (await renderTemplate(m.config.url, vars)).trim();
    for (const [name, value] of Object.entries(m.config.headers ?? {})) {
      headers[name.toLowerCase()] = await renderTemplate(value, vars);
    }
    const body =
      m.config.body === undefined
        ? {
            contact: m.vars.contact,
            workflow: m.vars.workflow,
            execution: m.vars.execution,
            event: m.vars.event,
          }
        : await renderJsonStrings(m.config.body, vars);
    payload = JSON.stringify(body);
  } catch (err) {
    return fail(`Template error: ${(err as Error).message}`, true);
  }
  const refused = forbiddenUrlReason(url);
  if (refused && !(isDev(env) && /^https?:/.test(url))) return fail(refused, true, url);
  if (Object.values(headers).some((v) => /[\r\n]/.test(v)))
    return fail("A header value contains CR or LF", true, url);

  const timestamp = Math.floor(now / 1000);
  const secrets = signingSecrets(project, now);
  const signed: Record<string, string> = {
    ...headers,
    "content-type": "application/json",
    "user-agent": "plunk-edge-webhooks/1",
    "webhook-id": m.deliveryId,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": await signatureHeader(secrets, m.deliveryId, timestamp, payload),
  };
  const started = Date.now();
  try {
    const res = await fetch(url, {
      method: m.config.method,
      headers: signed,
      body: m.config.method === "GET" ? undefined : payload,
      redirect: "manual",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await res.text().catch(() => "");
    const durationMs = Date.now() - started;
    const ok = res.status >= 200 && res.status < 300;
    const redirect = res.status >= 300 && res.status < 400;
    return {
      ok,
      final: res.status === 410,
      retryAfter: parseRetryAfter(res.headers.get("retry-after")),
      url,
      attempt: {
        at,
        statusCode: res.status,
        durationMs,
        error: ok ? null : redirect ? `Redirect (${res.status}) not followed` : `HTTP ${res.status}`,
        responseSnippet: text.slice(0, SNIPPET_CHARS),
      },
    };
  } catch (err) {
    const e = err as Error;
    const timedOut = e.name === "TimeoutError" || /timed? ?out/i.test(e.message);
    return {
      ok: false,
      final: false,
      retryAfter: null,
      url,
      attempt: {
        at,
        statusCode: null,
        durationMs: Date.now() - started,
        error: timedOut ? `Timed out after ${TIMEOUT_MS / 1000} s` : `Network error: ${e.message}`,
        responseSnippet: null,
      },
    };
  }
}

/** The dead-letter consumer: what the queue gave up on is FAILED, listed, and replayable. */
export async function consumeWebhookDeadLetters(
  batch: MessageBatch<WebhookQueueMessage>,
  env: Env,
  log: Logger,
) {
  for (const msg of batch.messages) {
    const generation = msg.body.kind === "webhook-replay" ? msg.body.generation : 0;
    await env.DB.prepare(
      `UPDATE webhook_deliveries SET status = 'FAILED', lease_until = NULL, updated_at = ?3
       WHERE id = ?1 AND generation = ?2 AND status = 'PENDING'`,
    )
      .bind(msg.body.deliveryId, generation, Date.now())
      .run();
    log.warn("webhook dead-lettered", { deliveryId: msg.body.deliveryId });
    msg.ack();
  }
}
