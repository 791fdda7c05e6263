/**
 * The Worker's bindings: the interface `wrangler types` generates from wrangler.toml (and the secrets
 * named in .dev.vars.example) into worker-configuration.d.ts. Regenerate it with `npm run types` after
 * changing wrangler.toml; `npm test` fails while it is stale.
 *
 * Vars and secrets:
 * - ENVIRONMENT: "production" | "development" (npm start) | "test" (the test suite).
 * - RETRY_DELAY_SCALE: development and tests only, multiplies retry delays.
 * - SNS_DEV_CERT_ORIGIN: development and tests only, one more trusted SNS certificate origin.
 * - SNS_TOPIC_ARNS: the SNS topics /webhooks/sns accepts; empty accepts any.
 * - DEFAULT_FROM: the sender when neither a request nor a template names one.
 * - REQUEST_LOG: "errors" (a line per request answered 4xx/5xx) or "all" (a line per request).
 * - ADMIN_TOKEN, SES_ACCESS_KEY_ID, SES_SECRET_ACCESS_KEY: secrets (an unset one is undefined at run time).
 */
export type Env = Cloudflare.Env;
