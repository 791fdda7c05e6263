/**
 * Per-project rate limits (API.md: 429 `RATE_LIMIT_EXCEEDED` with `Retry-After`), counted by the Workers
 * rate-limiting binding named in wrangler.toml (`[[ratelimits]]`), keyed by the project id. Runs after
 * auth. The binding's windows are at most 60 s long, so `Retry-After: 60` is always enough to wait.
 * Should the limiter itself fail, the request goes through (logged): a limit is no reason to lose an event.
 */
import { createMiddleware } from "hono/factory";
import type { Env } from "../env";
import { errorFields } from "../log";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";

export const RETRY_AFTER_S = 60;

type LimiterName = { [K in keyof Env]-?: Env[K] extends RateLimit ? K : never }[keyof Env];

export const rateLimit = (binding: LimiterName) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const projectId = c.get("project").id;
    let allowed = true;
    try {
      allowed = (await c.env[binding].limit({ key: projectId })).success;
    } catch (err) {
      c.get("log").error("rate limiter unavailable; request allowed", { binding, ...errorFields(err) });
    }
    if (!allowed) {
      c.get("log").warn("rate limit exceeded", { binding });
      throw new ApiError(
        429,
        "RATE_LIMIT_EXCEEDED",
        "Too many requests for this project; retry after the period",
        undefined,
        { "Retry-After": String(RETRY_AFTER_S) },
      );
    }
    await next();
  });
