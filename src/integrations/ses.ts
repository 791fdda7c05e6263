/** Amazon SES v2 `SendEmail` (POST /v2/email/outbound-emails), signed by aws4fetch. */
import { AwsClient } from "aws4fetch";
import type { Env } from "../env";

export interface OutgoingEmail {
  from: string;
  fromName: string | null;
  to: string;
  replyTo: string | null;
  subject: string;
  html: string;
  headers: Record<string, string>;
}

export type SesResult =
  | { ok: true; messageId: string }
  | { ok: false; retry: boolean; status: number; error: string; retryAfter?: number };

function endpoint(env: Pick<Env, "SES_ENDPOINT" | "SES_REGION">): string {
  const base = env.SES_ENDPOINT || `https://email.${env.SES_REGION}.amazonaws.com`;
  return `${base.replace(/\/$/, "")}/v2/email/outbound-emails`;
}

/** `"Name" <addr>` with the name quoted as RFC 5322 wants. */
export function formatAddress(email: string, name: string | null): string {
  if (!name) return email;
  return `"${name.replace(/["\\\r\n]/g, (c) => (c === "\r" || c === "\n" ? " " : `\\${c}`))}" <${email}>`;
}

export async function sendEmail(env: Env, email: OutgoingEmail): Promise<SesResult> {
  const client = new AwsClient({
    accessKeyId: env.SES_ACCESS_KEY_ID ?? "",
    secretAccessKey: env.SES_SECRET_ACCESS_KEY ?? "",
    region: env.SES_REGION,
    service: "ses",
    retries: 0,
  });
  const body = {
    FromEmailAddress: formatAddress(email.from, email.fromName),
    Destination: { ToAddresses: [email.to] },
    ...(email.replyTo ? { ReplyToAddresses: [email.replyTo] } : {}),
    Content: {
      Simple: {
        Subject: { Data: email.subject, Charset: "UTF-8" },
        Body: { Html: { Data: email.html, Charset: "UTF-8" } },
        Headers: Object.entries(email.headers).map(([Name, Value]) => ({ Name, Value })),
      },
    },
    ...(env.SES_CONFIGURATION_SET ? { ConfigurationSetName: env.SES_CONFIGURATION_SET } : {}),
  };
  let res: Response;
  try {
    res = await client.fetch(endpoint(env), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    return { ok: false, retry: true, status: 0, error: `SES unreachable: ${(err as Error).message}` };
  }
  const text = await res.text();
  if (res.ok) {
    const messageId = (JSON.parse(text) as { MessageId?: string }).MessageId;
    if (messageId) return { ok: true, messageId };
    return { ok: false, retry: true, status: res.status, error: "SES answered without a MessageId" };
  }
  const retryAfter = Number(res.headers.get("retry-after") ?? "");
  return {
    ok: false,
    retry: res.status === 429 || res.status >= 500 || /Throttl|TooManyRequests/i.test(text),
    status: res.status,
    error: `SES ${res.status}: ${text.slice(0, 300)}`,
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfter } : {}),
  };
}
