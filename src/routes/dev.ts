/**
 * `/dev/*`: development only (ENVIRONMENT "development" or "test"); every one is 404 NOT_FOUND elsewhere,
 * production included, before any other check.
 *
 * - `GET /dev/sns-cert.pem`: the development SNS signing certificate (src/dev/sns-dev-key.ts), which
 *   /webhooks/sns trusts from the worker's own PUBLIC_URL origin in development and tests.
 * - `POST /dev/ses/simulate`: SES's notification of one kind for one of the project's sent emails, signed
 *   and posted to /webhooks/sns through the `emails` queue (src/dev/ses-simulator.ts); 202.
 */
import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { z } from "zod";
import {
  devEnabled,
  type SesSimulateMessage,
  SIMULATE_KINDS,
  type SimulatedNotification,
  simulatedSnsMessageId,
} from "../dev/ses-simulator";
import { DEV_SNS_CERT_PEM } from "../dev/sns-dev-key";
import { projectAuth } from "../http/auth";
import { parseJson } from "../http/body";
import type { AppEnv } from "../http/context";
import { ApiError } from "../http/errors";

export const simulateBody = z
  .object({
    emailId: z.string().min(1).max(100),
    kind: z.enum(SIMULATE_KINDS),
    /** The link clicked (kind "click" only); default https://example.com/. */
    link: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .optional(),
  })
  .refine((b) => b.link === undefined || b.kind === "click", {
    path: ["link"],
    message: "link is only for kind click",
    params: { code: "not_allowed" },
  });

const devOnly = createMiddleware<AppEnv>(async (c, next) => {
  if (!devEnabled(c.env)) throw new ApiError(404, "NOT_FOUND", `No route for ${c.req.method} ${c.req.path}`);
  await next();
});

export const devRoutes = new Hono<AppEnv>()
  .use(devOnly)
  .get("/sns-cert.pem", (c) => {
    c.header("content-type", "text/plain; charset=utf-8");
    return c.body(DEV_SNS_CERT_PEM);
  })
  .post("/ses/simulate", projectAuth(), async (c) => {
    const { data } = await parseJson(c, simulateBody);
    const project = c.get("project");
    const email = await c.env.DB.prepare(
      "SELECT id, status, message_id FROM emails WHERE project_id = ?1 AND id = ?2",
    )
      .bind(project.id, data.emailId)
      .first<{ id: string; status: string; message_id: string | null }>();
    if (!email) {
      throw new ApiError(404, "EMAIL_NOT_FOUND", "Email not found", [
        { field: "emailId", message: "No email with this id in this project", code: "not_found" },
      ]);
    }
    if (!email.message_id) {
      throw new ApiError(409, "EMAIL_NOT_SENT", "The email has no SES message id yet", [
        {
          field: "emailId",
          message: `SES has not accepted this email (status ${email.status}): there is nothing to simulate`,
          code: "not_sent",
        },
      ]);
    }
    // Delivery, bounce and complaint happen once per email, as with SES: the same MessageId as the
    // simulator mailboxes' own, so a repeat is deduplicated. Each open or click is one more.
    const once = data.kind === "delivery" || data.kind === "bounce" || data.kind === "complaint";
    const snsMessageId = once
      ? await simulatedSnsMessageId(email.id, data.kind)
      : await simulatedSnsMessageId(email.id, data.kind, crypto.randomUUID());
    const notification: SimulatedNotification = {
      kind: data.kind,
      snsMessageId,
      ...(data.kind === "bounce" ? { bounceSubType: "General" as const } : {}),
      ...(data.kind === "click" ? { link: data.link ?? "https://example.com/" } : {}),
    };
    const message: SesSimulateMessage = {
      kind: "ses-simulate",
      emailId: email.id,
      db: c.env.DATABASE,
      notifications: [notification],
    };
    await c.env.EMAILS_QUEUE.send(message);
    return c.json({ emailId: email.id, kind: data.kind, messageId: snsMessageId }, 202);
  });
