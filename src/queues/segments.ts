/**
 * The segments queue: a page of a segment's background fill or recompute (src/segments.ts), of a schedule's run
 * (src/schedules.ts), of a bulk change of contacts (src/contacts/bulk.ts) or of a campaign's fan-out
 * (src/campaigns.ts), by the message's kind; each
 * queues its next page until it is done. A page that throws is retried by the queue.
 */
import { type CampaignPageMessage, campaignPage } from "../campaigns";
import { type BulkJobMessage, bulkJobPage } from "../contacts/bulk";
import { envOfMessage, projectEnv } from "../db/databases";
import type { Env } from "../env";
import { errorFields, type Logger } from "../log";
import { type ScheduleRunMessage, scheduleRunPage } from "../schedules";
import { type BackfillMessage, backfillPage } from "../segments";

export type SegmentsQueueMessage =
  | BackfillMessage
  | ScheduleRunMessage
  | BulkJobMessage
  | CampaignPageMessage;

export async function consumeSegmentsQueue(
  batch: MessageBatch<SegmentsQueueMessage>,
  env: Env,
  log: Logger,
): Promise<void> {
  for (const msg of batch.messages) {
    const m = msg.body;
    try {
      if (m.kind === "schedule-run") await scheduleRunPage(projectEnv(env, m.db), log, m);
      else if (m.kind === "contact-bulk") await bulkJobPage(projectEnv(env, m.db), log, m);
      else if (m.kind === "campaign-page") await campaignPage(await envOfMessage(env, m), log, m);
      else await backfillPage(await envOfMessage(env, m), log, m);
      msg.ack();
    } catch (err) {
      const of =
        m.kind === "schedule-run"
          ? { workflowId: m.workflowId }
          : m.kind === "contact-bulk"
            ? { jobId: m.jobId }
            : m.kind === "campaign-page"
              ? { campaignId: m.campaignId }
              : { segmentId: m.segmentId };
      log.error(`${m.kind} page failed; retrying`, { ...of, ...errorFields(err) });
      msg.retry({ delaySeconds: 5 });
    }
  }
}
