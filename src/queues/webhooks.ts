/**
 * The `webhooks` queue consumer: one signed request per delivery id, retried on API.md's schedule, each
 * attempt logged. A delivery row is claimed with a short lease before sending, and a delivery that has
 * succeeded is never sent again for the same generation (a replay starts a new one).
 */

import { envOfMessage } from "../db/databases";
import { forbiddenUrlReason, urlRulesFor } from "../domain/ssrf";
import { isTemplated, renderJsonStrings, renderTemplate } from "../domain/templates";
import type { Env } from "../env";
import { signatureHeader, signingSecrets } from "../integrations/signing";
import { errorFields, type Logger } from "../log";
import type { WebhookMessage } from "./messages";
import { contactLinks, templateVariables } from "./variables";

export type WebhookQueueMessage =
  | WebhookMessage
  // projectId: unset in replays queued before projects had databases of their own (those are in `DB`).
  | { kind: "webhook-replay"; deliveryId: string; generation: number; projectId?: string };

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
  /** On a failed attempt that will be tried again: when the next attempt is due. */
  nextAttemptAt?: string;
}

/** The delivery generation a message is for: 0 for the step's own message, a replay's number otherwise. */
const generationOf = (body: WebhookQueueMessage) => (body.kind === "webhook" ? 0 : body.generation);

/** Development and tests may shrink the schedule (RETRY_DELAY_SCALE); production never does. */
export function retryDelay(env: Env, attempt: number, retryAfter: number | null): number {
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

/**
 * A batch is claimed with one D1 round trip and finished with one more, whatever its size: the per-message
 * statements (record, claim, secrets; then the attempt) go in one `batch()` each. Should a batch's claim
 * fail (a D1 batch is one transaction, so one bad message fails all), each message is claimed alone, so
 * that one message cannot hold the others back.
 */
export async function consumeWebhooks(batch: MessageBatch<WebhookQueueMessage>, env: Env, log: Logger) {
  // A batch's messages are claimed together per database (their projects' databases).
  for (const [projectEnv, msgs] of await byDatabase(env, batch.messages))
    await handleGroup(msgs, projectEnv, log);
}

/** Messages grouped by the database of their project (src/db/databases.ts). */
async function byDatabase<M extends { body: { projectId?: string } }>(
  env: Env,
  messages: readonly M[],
): Promise<Map<Env, M[]>> {
  const groups = new Map<Env, M[]>();
  const envs = new Map<string, Env>();
  for (const m of messages) {
    const e = await envOfMessage(env, m.body);
    const key = e.DATABASE ?? "";
    const shared = envs.get(key) ?? e;
    envs.set(key, shared);
    groups.set(shared, [...(groups.get(shared) ?? []), m]);
  }
  return groups;
}

interface Claimed {
  msg: Message<WebhookQueueMessage>;
  generation: number;
  message: WebhookMessage;
  attemptNo: number;
  project: ProjectSecrets | null;
}

async function handleGroup(msgs: readonly Message<WebhookQueueMessage>[], env: Env, log: Logger) {
  const now = Date.now();
  let claims: (Claimed | null)[];
  try {
    claims = await claimGroup(msgs, env, now);
  } catch (err) {
    if (msgs.length > 1) {
      log.warn("webhook batch claim failed; claiming one by one", {
        count: msgs.length,
        ...errorFields(err),
      });
      await Promise.all(msgs.map((m) => handleGroup([m], env, log)));
      return;
    }
    log.error("webhook consumer error; retrying", { ...errorFields(err) });
    for (const m of msgs) m.retry({ delaySeconds: 5 });
    return;
  }
  const unclaimed = msgs.filter((_, i) => !claims[i]);
  const claimed = claims.filter((c): c is Claimed => c !== null);
  await Promise.all([
    ...unclaimed.map((m) => settleUnclaimed(m, env, log, now)),
    claimed.length > 0 ? deliverGroup(claimed, env, log, now) : null,
  ]);
}

/** What a claim returns: the message, its attempts, and the project's secrets (NULL once it is gone). */
const CLAIMED = `RETURNING message, attempts,
  (SELECT json_object('webhook_secret', webhook_secret, 'previous_webhook_secret', previous_webhook_secret,
     'previous_webhook_secret_until', previous_webhook_secret_until, 'signing_secret', signing_secret)
   FROM projects WHERE projects.id = webhook_deliveries.project_id) AS project`;

/**
 * The statements that record a delivery and claim it (a first message: the insert is the claim, with its
 * lease; a redelivered one finds the row and claims it by the update, which the fresh lease of an insert in
 * the same batch refuses), each returning the claimed row. One D1 row written for a claim, not two.
 */
function claimStatements(env: Env, body: WebhookQueueMessage, now: number): D1PreparedStatement[] {
  const generation = generationOf(body);
  const statements: D1PreparedStatement[] = [];
  if (body.kind === "webhook") {
    statements.push(
      env.DB.prepare(
        `INSERT INTO webhook_deliveries (id, project_id, workflow_id, execution_id, step_id, url, method, status, message,
           attempts, generation, lease_until, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'PENDING', ?8, '[]', 0, ?10, ?9, ?9) ON CONFLICT (id) DO NOTHING
         ${CLAIMED}`,
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
        now + LEASE_MS,
      ),
    );
  }
  statements.push(
    env.DB.prepare(
      `UPDATE webhook_deliveries SET lease_until = ?3 WHERE id = ?1 AND status = 'PENDING' AND generation = ?2
         AND (lease_until IS NULL OR lease_until < ?4)
       ${CLAIMED}`,
    ).bind(body.deliveryId, generation, now + LEASE_MS, now),
  );
  return statements;
}

/** Records and claims every message of the group in one round trip; null for a message not claimed. */
async function claimGroup(
  msgs: readonly Message<WebhookQueueMessage>[],
  env: Env,
  now: number,
): Promise<(Claimed | null)[]> {
  const perMessage = msgs.map((m) => claimStatements(env, m.body, now));
  const results = await env.DB.batch(perMessage.flat());
  let at = 0;
  return msgs.map((msg, i) => {
    const n = perMessage[i]?.length ?? 0;
    // The insert's row (a first message) or the update's (a redelivered one): at most one of them.
    const claimed = results
      .slice(at, at + n)
      .map((r) => r.results[0])
      .find((row) => row !== undefined) as
      | { message: string; attempts: string; project: string | null }
      | undefined;
    at += n;
    if (!claimed) return null;
    const p = claimed.project === null ? null : (JSON.parse(claimed.project) as ProjectSecretsRow);
    const generation = generationOf(msg.body);
    const attempts = JSON.parse(claimed.attempts) as Attempt[];
    return {
      msg,
      generation,
      message: JSON.parse(claimed.message) as WebhookMessage,
      attemptNo: attempts.filter((a) => a.generation === generation).length + 1,
      project: p
        ? {
            webhookSecret: p.webhook_secret,
            previousWebhookSecret: p.previous_webhook_secret,
            previousWebhookSecretUntil: p.previous_webhook_secret_until,
            signingSecret: p.signing_secret,
          }
        : null,
    };
  });
}

/** A message whose delivery was not claimed: another consumer holds it (later), or it is done (ack). */
async function settleUnclaimed(msg: Message<WebhookQueueMessage>, env: Env, log: Logger, now: number) {
  const generation = generationOf(msg.body);
  try {
    const row = await env.DB.prepare(
      "SELECT status, generation, lease_until FROM webhook_deliveries WHERE id = ?1",
    )
      .bind(msg.body.deliveryId)
      .first<{ status: string; generation: number; lease_until: number | null }>();
    if (row?.status === "PENDING" && row.generation === generation && (row.lease_until ?? 0) >= now) {
      msg.retry({ delaySeconds: Math.ceil(LEASE_MS / 1000) }); // another consumer holds it
    } else {
      msg.ack(); // done, failed, or replaced by a replay: nothing to send
    }
  } catch (err) {
    log.error("webhook consumer error; retrying", { deliveryId: msg.body.deliveryId, ...errorFields(err) });
    msg.retry({ delaySeconds: 5 });
  }
}

/** Sends every claimed delivery, then records all the attempts in one round trip and acks or retries. */
async function deliverGroup(claimed: Claimed[], env: Env, log: Logger, now: number) {
  const sent = await Promise.all(
    claimed.map(async (c) => {
      let outcome: DeliverOutcome;
      try {
        outcome = await deliver(env, c.message, now, c.project);
      } catch (err) {
        log.error("webhook consumer error; retrying", {
          deliveryId: c.msg.body.deliveryId,
          ...errorFields(err),
        });
        c.msg.retry({ delaySeconds: 5 });
        return null;
      }
      const final = outcome.ok || outcome.final || c.attemptNo >= MAX_ATTEMPTS;
      // Decided once, with its jitter: the retry's delay, and when the attempt says the next is due.
      const delaySeconds = final ? null : retryDelay(env, c.attemptNo, outcome.retryAfter);
      const attempt: Attempt = {
        ...outcome.attempt,
        generation: c.generation,
        ...(delaySeconds === null
          ? {}
          : { nextAttemptAt: new Date(Date.now() + delaySeconds * 1000).toISOString() }),
      };
      const status = outcome.ok ? "DELIVERED" : final ? "FAILED" : "PENDING";
      const record = env.DB.prepare(
        `UPDATE webhook_deliveries SET attempts = json_insert(attempts, '$[#]', json(?2)), status = ?3, url = ?4,
           lease_until = NULL, updated_at = ?5 WHERE id = ?1 AND generation = ?6`,
      ).bind(c.msg.body.deliveryId, JSON.stringify(attempt), status, outcome.url, Date.now(), c.generation);
      return { c, outcome, attempt, final, delaySeconds, record };
    }),
  );
  const done = sent.filter((d) => d !== null);
  const recorded = await recordAll(
    env,
    done.map((d) => ({ deliveryId: d.c.msg.body.deliveryId, statement: d.record })),
    log,
  );
  done.forEach(({ c, outcome, attempt, final, delaySeconds }, i) => {
    const dlog = log.child({
      deliveryId: c.msg.body.deliveryId,
      executionId: c.message.executionId,
      attempt: c.attemptNo,
    });
    if (!recorded[i]) {
      // Sent but not recorded: retried once the lease has run out (the delivery id makes it one to the receiver).
      c.msg.retry({ delaySeconds: 5 });
    } else {
      logAttempt(env, dlog, outcome.ok, final, attempt, delaySeconds);
      if (final) c.msg.ack();
      else c.msg.retry({ delaySeconds: delaySeconds ?? 5 });
    }
  });
}

/**
 * An attempt's log line, by both engines: a failed one always; a delivered one only with
 * `REQUEST_LOG = "all"` (every delivery is in GET /webhook-deliveries either way).
 */
export function logAttempt(
  env: Env,
  log: Logger,
  ok: boolean,
  final: boolean,
  attempt: { statusCode: number | null; error: string | null },
  delaySeconds: number | null,
): void {
  const fields = { statusCode: attempt.statusCode, error: attempt.error };
  if (!final) log.warn("webhook attempt failed; retrying", { ...fields, delaySeconds });
  else if (!ok) log.warn("webhook failed for good", fields);
  else if (env.REQUEST_LOG === "all") log.info("webhook delivered", fields);
}

/** Runs the attempts' statements in one batch; should it fail, each alone. Says which were written. */
async function recordAll(
  env: Env,
  records: { deliveryId: string; statement: D1PreparedStatement }[],
  log: Logger,
): Promise<boolean[]> {
  if (records.length > 1) {
    try {
      await env.DB.batch(records.map((r) => r.statement));
      return records.map(() => true);
    } catch (err) {
      log.warn("webhook batch record failed; recording one by one", {
        count: records.length,
        ...errorFields(err),
      });
    }
  }
  return Promise.all(
    records.map(({ deliveryId, statement }) =>
      statement.run().then(
        () => true,
        (err) => {
          log.error("webhook attempt not recorded; retrying", { deliveryId, ...errorFields(err) });
          return false;
        },
      ),
    ),
  );
}

export interface DeliverOutcome {
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

export interface ProjectSecrets {
  webhookSecret: string;
  previousWebhookSecret: string | null;
  previousWebhookSecretUntil: number | null;
  signingSecret: string | null;
}

export async function deliver(
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

  // The contact's links (three signed tokens) only when a template may read them.
  const templated =
    isTemplated(m.config.url) ||
    Object.values(m.config.headers ?? {}).some(isTemplated) ||
    (m.config.body !== undefined && isTemplated(JSON.stringify(m.config.body)));
  const links =
    templated && m.vars.contactId
      ? await contactLinks(env, project.signingSecret ?? "", m.projectId, m.vars.contactId)
      : { unsubscribeUrl: "", subscribeUrl: "", manageUrl: "" };
  const vars = templateVariables({
    contact: {
      id: m.vars.contactId ?? "",
      ...(m.vars.contact ?? { email: "", subscribed: false, data: {} }),
    },
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
  const refused = forbiddenUrlReason(url, urlRulesFor(env.ENVIRONMENT));
  if (refused) return fail(refused, true, url);
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
    const generation = generationOf(msg.body);
    await (await envOfMessage(env, msg.body)).DB.prepare(
      `UPDATE webhook_deliveries SET status = 'FAILED', lease_until = NULL, updated_at = ?3
       WHERE id = ?1 AND generation = ?2 AND status = 'PENDING'`,
    )
      .bind(msg.body.deliveryId, generation, Date.now())
      .run();
    log.warn("webhook dead-lettered", { deliveryId: msg.body.deliveryId });
    msg.ack();
  }
}
