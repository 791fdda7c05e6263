import type { ExecutionDO } from "../durable-objects/execution";

/** The Worker's bindings, as wrangler.toml names them. */
export interface Env {
  DB: D1Database;
  EXECUTIONS: DurableObjectNamespace<ExecutionDO>;
  WEBHOOKS_QUEUE: Queue<unknown>;
  EMAILS_QUEUE: Queue<unknown>;
  SEGMENTS_QUEUE: Queue<unknown>;
  ENVIRONMENT: string;
  PUBLIC_URL: string;
  SES_REGION: string;
  SES_ENDPOINT: string;
  SES_CONFIGURATION_SET: string;
  /** Development and tests only: multiplies retry delays (e.g. 0 for immediate retries). */
  RETRY_DELAY_SCALE?: string;
  /** The sender used when neither the request nor the template names one. */
  DEFAULT_FROM?: string;
  /** Comma-separated SNS topic ARNs /webhooks/sns accepts; empty accepts any (set it in production). */
  SNS_TOPIC_ARNS?: string;
  /** Development and tests only: one more origin whose SNS signing certificates are trusted. */
  SNS_DEV_CERT_ORIGIN?: string;
  ADMIN_TOKEN?: string;
  SES_ACCESS_KEY_ID?: string;
  SES_SECRET_ACCESS_KEY?: string;
}
