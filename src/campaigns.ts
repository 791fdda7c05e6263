/**
 * Campaigns: a broadcast of a subject and body (or a template) to the subscribed contacts of the project,
 * of a segment, or that a filter matches. DRAFT → SCHEDULED (a time) → SENDING → SENT; CANCELLED from
 * SCHEDULED or SENDING.
 *
 * Sending is a fan-out through the `segments` queue, pages of the audience for up to 10 s a message: a page makes one
 * `emails` row per recipient, its id derived from (campaign, contact), and moves the campaign's cursor in
 * the same batch, then hands the page's emails to the `emails` queue. A delivery first takes the
 * campaign's 30 s lease, so a duplicate delivery does nothing; a page retried after a crash inserts no
 * email twice (the ids) and skips none (the cursor moved with the rows). A crash between the batch and the
 * queue is finished by the cron: emails left QUEUED are handed over again by the sweep, and a campaign whose
 * cursor has not moved for `STALLED_MS` gets its page message again.
 *
 * Each email is rendered from the campaign when the consumer sends it (src/queues/emails.ts), so no body is
 * stored per recipient. The counters are kept as things happen: `recipients` by the fan-out, `sent` and
 * `skipped` by the consumer, `delivered`…`complained` by SES's notifications (src/routes/sns.ts),
 * `unsubscribed` by the unsubscribe link of a campaign's email. The campaign is SENT once its audience is
 * fanned out and every email is sent or skipped.
 */
import { derivedId } from "./domain/ids";
import { matches, type SegmentCondition } from "./domain/segments";
import type { Env } from "./env";
import type { Logger } from "./log";
import { asSubject, contactsAfter, loadFacts } from "./segments";

export type Audience =
  | { type: "ALL" }
  | { type: "SEGMENT"; segmentId: string }
  | { type: "FILTER"; filter: SegmentCondition };

export interface CampaignPageMessage {
  kind: "campaign-page";
  /** The D1 binding of the campaign's project (src/db/databases.ts). */
  db?: string;
  campaignId: string;
}

/** Contacts read per page (each page also hands its emails to the queue, 100 a call). */
export const FANOUT_PAGE = 500;
const LEASE_MS = 30_000;
/** How long one message goes on to the next page before handing over to a new message (tests set 0). */
export const messageBudget = { ms: 10_000 };
/** A SENDING campaign whose cursor has not moved for this long lost its page message. */
export const STALLED_MS = 5 * 60_000;

interface CampaignRow {
  id: string;
  project_id: string;
  audience: string;
  cursor: string;
  status: string;
}

export const pageMessage = (env: Env, campaignId: string): CampaignPageMessage => ({
  kind: "campaign-page",
  db: env.DATABASE,
  campaignId,
});

/**
 * A page's emails (`?4`: [{id, c: contact id}]), one per recipient, by the contacts' key: CROSS JOIN keeps
 * the page's rows the outer loop (a plain join let SQLite scan the project's contacts for each page).
 */
export const FANOUT_INSERT = `INSERT OR IGNORE INTO emails (id, project_id, contact_id, campaign_id, source_type, type,
    status, to_email, created_at, updated_at)
  SELECT r.value ->> 'id', ?1, c.id, ?2, 'CAMPAIGN', 'MARKETING', 'QUEUED', c.email, ?3, ?3
  FROM json_each(?4) AS r CROSS JOIN contacts c ON c.project_id = ?1 AND c.id = r.value ->> 'c'`;

/** The statement that makes a campaign SENT once it is fanned out and every email is sent or skipped. */
export const FINISH_IF_DONE = `UPDATE campaigns SET status = 'SENT', finished_at = ?2, updated_at = ?2
  WHERE id = ?1 AND status = 'SENDING' AND fanned_out = 1 AND sent + skipped >= recipients`;

/** Starts sending: SCHEDULED or DRAFT → SENDING, and the first page's message. False if it was not so. */
export async function startSending(
  env: Env,
  campaignId: string,
  from: string[],
  now: number,
): Promise<boolean> {
  const moved = await env.DB.prepare(
    `UPDATE campaigns SET status = 'SENDING', started_at = ?2, updated_at = ?2
     WHERE id = ?1 AND status IN (SELECT value FROM json_each(?3))`,
  )
    .bind(campaignId, now, JSON.stringify(from))
    .run();
  if (moved.meta.changes === 0) return false;
  await env.SEGMENTS_QUEUE.send(pageMessage(env, campaignId), { contentType: "json" });
  return true;
}

/**
 * Pages of a campaign's fan-out (see the module's comment), one after the other for up to
 * `messageBudget`, each under its own lease; then the next message goes on from the cursor.
 */
export async function campaignPage(env: Env, log: Logger, m: CampaignPageMessage): Promise<void> {
  const start = Date.now();
  for (;;) {
    const held = Date.now();
    const c = await env.DB.prepare(
      `UPDATE campaigns SET lease_until = ?2 + ${LEASE_MS}
       WHERE id = ?1 AND status = 'SENDING' AND fanned_out = 0 AND (lease_until IS NULL OR lease_until < ?2)
       RETURNING id, project_id, audience, cursor, status`,
    )
      .bind(m.campaignId, held)
      .first<CampaignRow>();
    if (!c) return; // cancelled, fanned out, or worked by another delivery
    let next: "continue" | "stop";
    try {
      next = await fanOut(env, log, c);
    } catch (err) {
      // Let the retry of this message take the page again at once.
      await env.DB.prepare("UPDATE campaigns SET lease_until = NULL WHERE id = ?1 AND cursor = ?2")
        .bind(c.id, c.cursor)
        .run()
        .catch(() => {});
      throw err;
    }
    if (next === "stop") return;
    if (Date.now() - start >= messageBudget.ms) {
      await env.SEGMENTS_QUEUE.send(pageMessage(env, c.id), { contentType: "json" });
      return;
    }
  }
}

/** The next page of the audience after `cursor`: the recipients' contact ids, the new cursor, and whether it ended. */
async function audiencePage(
  env: Env,
  projectId: string,
  audience: Audience,
  cursor: string,
): Promise<{ ids: string[]; last: string; done: boolean }> {
  if (audience.type === "FILTER") {
    const page = await contactsAfter(env, projectId, cursor, FANOUT_PAGE);
    const now = Date.now();
    const facts = await loadFacts(
      env,
      projectId,
      page.map((p) => p.id),
      [audience.filter],
      now,
    );
    const ids = page
      .filter((p) => p.subscribed && matches(audience.filter, asSubject(p), facts, now))
      .map((p) => p.id);
    return { ids, last: page[page.length - 1]?.id ?? cursor, done: page.length < FANOUT_PAGE };
  }
  const { results } =
    audience.type === "SEGMENT"
      ? await env.DB.prepare(
          `SELECT m.contact_id AS id FROM segment_members m
           JOIN contacts c ON c.project_id = m.project_id AND c.id = m.contact_id
           WHERE m.segment_id = ?1 AND m.contact_id > ?2 AND c.subscribed = 1 ORDER BY m.contact_id LIMIT ?3`,
        )
          .bind(audience.segmentId, cursor, FANOUT_PAGE)
          .all<{ id: string }>()
      : await env.DB.prepare(
          "SELECT id FROM contacts WHERE project_id = ?1 AND id > ?2 AND subscribed = 1 ORDER BY id LIMIT ?3",
        )
          .bind(projectId, cursor, FANOUT_PAGE)
          .all<{ id: string }>();
  const ids = results.map((r) => r.id);
  return { ids, last: ids[ids.length - 1] ?? cursor, done: ids.length < FANOUT_PAGE };
}

/** One page; whether the fan-out goes on. */
async function fanOut(env: Env, log: Logger, c: CampaignRow): Promise<"continue" | "stop"> {
  const audience = JSON.parse(c.audience) as Audience;
  const page = await audiencePage(env, c.project_id, audience, c.cursor);
  const rows = await Promise.all(
    page.ids.map(async (contactId) => ({ id: await derivedId("eml", c.id, contactId), c: contactId })),
  );
  const now = Date.now();
  const [, moved] = await env.DB.batch([
    env.DB.prepare(FANOUT_INSERT).bind(c.project_id, c.id, now, JSON.stringify(rows)),
    // changes(): the rows the insert made. Moved only from where this page read the cursor.
    env.DB.prepare(
      `UPDATE campaigns SET recipients = recipients + changes(), cursor = ?3, fanned_out = ?4, lease_until = NULL,
         updated_at = ?5
       WHERE id = ?1 AND cursor = ?2 AND status = 'SENDING'`,
    ).bind(c.id, c.cursor, page.last, page.done ? 1 : 0, now),
    env.DB.prepare(FINISH_IF_DONE).bind(c.id, now),
  ]);
  if ((moved?.meta.changes ?? 0) === 0) return "stop"; // moved meanwhile (this delivery outlived its lease)
  for (let i = 0; i < rows.length; i += 100) {
    await env.EMAILS_QUEUE.sendBatch(
      rows.slice(i, i + 100).map((r) => ({
        body: { kind: "email-send" as const, emailId: r.id, db: env.DATABASE },
        contentType: "json" as const,
      })),
    );
  }
  if (!page.done) return "continue";
  log.info("campaign fanned out", { campaignId: c.id });
  return "stop";
}

/**
 * The cron's part: SCHEDULED campaigns whose time has come start sending (at most 50 a database a minute),
 * and SENDING ones whose fan-out stalled (a lost message) get their page message again.
 */
export async function fireDueCampaigns(env: Env, log: Logger, now: number): Promise<number> {
  const { results: due } = await env.DB.prepare(
    "SELECT id FROM campaigns WHERE status = 'SCHEDULED' AND scheduled_at <= ?1 ORDER BY scheduled_at LIMIT 50",
  )
    .bind(now)
    .all<{ id: string }>();
  let started = 0;
  for (const { id } of due) if (await startSending(env, id, ["SCHEDULED"], now)) started++;
  if (started > 0) log.info("scheduled campaigns started", { campaigns: started });
  const { results: stalled } = await env.DB.prepare(
    "SELECT id FROM campaigns WHERE status = 'SENDING' AND fanned_out = 0 AND updated_at < ?1 LIMIT 50",
  )
    .bind(now - STALLED_MS)
    .all<{ id: string }>();
  if (stalled.length > 0) {
    await env.SEGMENTS_QUEUE.sendBatch(
      stalled.map((r) => ({ body: pageMessage(env, r.id), contentType: "json" as const })),
    );
    log.warn("sweep: resumed stalled campaigns", { count: stalled.length });
  }
  return started;
}
