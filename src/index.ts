/** Worker entry: the HTTP app, the queue consumers and the cron sweep; exports the Durable Object classes. */
import { app } from "./app";
import type { Env } from "./env";
import { createLogger, errorFields } from "./log";
import { handleQueue } from "./queues";
import { sweep } from "./sweep";

export { ExecutionDO } from "../durable-objects/execution";
export { ShardDO } from "../durable-objects/shard";

export default {
  fetch: app.fetch,
  queue: handleQueue,
  async scheduled(controller, env, ctx) {
    const log = createLogger({ cron: controller.cron, scheduledTime: controller.scheduledTime });
    ctx.waitUntil(
      sweep(env, log).catch((err) => {
        log.error("sweep failed", errorFields(err));
        throw err;
      }),
    );
  },
} satisfies ExportedHandler<Env>;
