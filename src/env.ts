/**
 * The Worker's bindings: the interface `wrangler types` generates from wrangler.toml (and the secrets
 * named in .dev.vars.example) into worker-configuration.d.ts. Regenerate it with `npm run types` after
 * changing wrangler.toml; `npm test` fails while it is stale.
 *
 * Vars and secrets:
 * - ENVIRONMENT: "production" | "development" (npm start) | "test" (the test suite).
 * - RETRY_DELAY_SCALE: development and tests only, multiplies retry delays.
 * - ROLLUP_GRACE_SECONDS: development and tests only, how old an event is before the analytics count it.
 * - SNS_DEV_CERT_ORIGIN: development and tests only, one more trusted SNS certificate origin.
 * - SNS_TOPIC_ARNS: the SNS topics /webhooks/sns accepts; empty accepts any.
 * - DEFAULT_FROM: the sender when neither a request nor a template names one.
 * - REQUEST_LOG: "errors" (a line per request answered 4xx/5xx, and per webhook attempt that fails) or
 *   "all" (also a line per request answered 2xx/3xx and per webhook delivered).
 * - TRACK_LIMIT_PER_MINUTE: POST /v1/track's limit per project per minute, counted by a shard-engine
 *   project's shards (split evenly between them); other tracks are counted by the TRACK_LIMITER binding.
 * - ADMIN_TOKEN, SES_ACCESS_KEY_ID, SES_SECRET_ACCESS_KEY: secrets (an unset one is undefined at run time).
 *
 * D1 bindings `DB`, `DB_2`, …: the projects' databases, `DB` the registry (src/db/databases.ts). The
 * fields below are not bindings: `projectEnv` sets them on an env whose `DB` is one project's database.
 */
declare global {
  namespace Cloudflare {
    interface Env {
      /** The binding name of `DB` when it is a project's database (set by `projectEnv`). */
      readonly DATABASE?: string;
      /** The registry (`DB` of the Worker's own env), when `DB` is a project's database. */
      readonly REGISTRY?: D1Database;
      /** The Worker's own env, under a project's. */
      readonly ROOT_ENV?: Cloudflare.Env;
    }
  }
}

export type Env = Cloudflare.Env;
