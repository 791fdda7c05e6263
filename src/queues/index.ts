/** The queue handler: each queue to its consumer (dead-letter queues end in `-dlq`). */

import type { Env } from "../env";
import { createLogger } from "../log";
import { consumeEmailDeadLetters, consumeEmails, type EmailQueueMessage } from "./emails";
import { consumeSegmentsQueue, type SegmentsQueueMessage } from "./segments";
import { consumeWebhookDeadLetters, consumeWebhooks, type WebhookQueueMessage } from "./webhooks";

export async function handleQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const log = createLogger({ queue: batch.queue });
  const dead = batch.queue.endsWith("-dlq");
  if (batch.queue.startsWith("webhooks")) {
    const b = batch as MessageBatch<WebhookQueueMessage>;
    return dead ? consumeWebhookDeadLetters(b, env, log) : consumeWebhooks(b, env, log);
  }
  if (batch.queue.startsWith("emails")) {
    const b = batch as MessageBatch<EmailQueueMessage>;
    return dead ? consumeEmailDeadLetters(b, env, log) : consumeEmails(b, env, log);
  }
  if (batch.queue.startsWith("segments")) {
    return consumeSegmentsQueue(batch as MessageBatch<SegmentsQueueMessage>, env, log);
  }
  log.error("message for an unknown queue", { count: batch.messages.length });
  batch.retryAll();
}
