/**
 * Per-project rate limits (API.md: 429 `RATE_LIMIT_EXCEEDED` with `Retry-After`), counted by the Workers
 * rate-limiting binding named in wrangler.toml (`[[ratelimits]]`), keyed by the project id. Runs after
 * auth. The binding's windows are at most 60 s long, so `Retry-After: 60` is always enough to wait.
 * Should the limiter itself fail, the request goes through (logged): a limit is no reason to lose an event.
 * A plain track of a shard-engine project is counted by the shard it reaches instead (`shardTrackLimit`,
 * durable-objects/shard.ts): no call to the binding on the hot path.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { Env } from "../env";
import { errorFields } from "../log";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";

export const RETRY_AFTER_S = 60;

type LimiterName = { [K in keyof Env]-?: Env[K] extends RateLimit ? K : never }[keyof Env];

/** 429 `RATE_LIMIT_EXCEEDED` with `Retry-After`: a project over its limit (the binding's, or a shard's count). */
export function rateLimited(): ApiError {
  return new ApiError(
    429,
    "RATE_LIMIT_EXCEEDED",
    "Too many requests for this project; retry after the period",
    undefined,
    { "Retry-After": String(RETRY_AFTER_S) },
  );
}

/** Takes one request from the project's allowance in the binding; throws 429 once it is used up. */
export async function takeAllowance(c: Context<AppEnv>, binding: LimiterName): Promise<void> {
  const projectId = c.get("project").id;
  let allowed = true;
  try {
    allowed = (await c.env[binding].limit({ key: projectId })).success;
  } catch (err) {
    c.get("log").error("rate limiter unavailable; request allowed", { binding, ...errorFields(err) });
  }
  if (!allowed) {
    c.get("log").warn("rate limit exceeded", { binding });
    throw rateLimited();
  }
}

export const rateLimit = (binding: LimiterName) =>
  createMiddleware<AppEnv>(async (c, next) => {
    await takeAllowance(c, binding);
    await next();
  });

/**
 * A shard's share of the project's track limit per minute (`TRACK_LIMIT_PER_MINUTE`, split evenly between
 * its shards, which each count the tracks that reach them).
 */
export function shardTrackLimit(env: Env, shards: number): number {
  const perMinute = Number(env.TRACK_LIMIT_PER_MINUTE);
  const limit = Number.isFinite(perMinute) && perMinute > 0 ? perMinute : DEFAULT_TRACK_LIMIT;
  return Math.max(1, Math.ceil(limit / shards));
}

/** `TRACK_LIMIT_PER_MINUTE` when it is unset or not a positive number. */
export const DEFAULT_TRACK_LIMIT = 1000;

/** The minute a shard counts a track in (the binding's windows are aligned to the clock the same way). */
export const limitWindow = (now: number) => Math.floor(now / (RETRY_AFTER_S * 1000));
