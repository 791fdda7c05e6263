/** The Hono app: shared middleware, then one router per resource. */
import { Hono } from "hono";
import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "./http/context";
import { DOCS_CSP, serveDashboard, serveDocsAsset, withPageHeaders } from "./http/dashboard";
import { ApiError, errorResponse } from "./http/errors";
import { requestContext } from "./http/request-context";
import { errorFields } from "./log";
import { docsPage, openApiDocument } from "./openapi";
import { adminRoutes } from "./routes/admin";
import { analyticsRoutes } from "./routes/analytics";
import { campaignRoutes } from "./routes/campaigns";
import { contactRoutes } from "./routes/contacts";
import { contactBulkRoutes } from "./routes/contacts-bulk";
import { deliveryRoutes } from "./routes/deliveries";
import { devRoutes } from "./routes/dev";
import { emailRoutes } from "./routes/emails";
import { eventRoutes } from "./routes/events";
import { projectRoutes } from "./routes/project";
import { segmentRoutes } from "./routes/segments";
import { sendRoutes } from "./routes/send";
import { sessionRoutes } from "./routes/session";
import { snsRoutes } from "./routes/sns";
import { templateRoutes } from "./routes/templates";
import { trackRoutes } from "./routes/track";
import { unsubscribeRoutes } from "./routes/unsubscribe";
import { workflowRoutes } from "./routes/workflows";

const preflight = cors({
  origin: "*",
  allowMethods: ["POST", "OPTIONS"],
  allowHeaders: ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"],
  exposeHeaders: ["X-Request-Id"],
  maxAge: 86400,
});

/**
 * CORS for `/v1/*` (browsers track with the public key): hono's `cors` answers preflights; any other
 * request gets its two headers once its response (or error) exists. Hono's `cors` would set them before
 * the route runs, which makes a placeholder response that the route's own is then copied over.
 */
const v1Cors = createMiddleware<AppEnv>(async (c, next) => {
  if (c.req.method === "OPTIONS") return preflight(c, next);
  await next();
  c.res.headers.set("Access-Control-Allow-Origin", "*");
  c.res.headers.set("Access-Control-Expose-Headers", "X-Request-Id");
});

export const app = new Hono<AppEnv>()
  .use(requestContext)
  .use("/v1/*", v1Cors)
  .get("/health", (c) => c.json({ ok: true }))
  .get("/openapi.json", (c) => c.json(openApiDocument()))
  .get("/docs", (c) => withPageHeaders(c, c.html(docsPage), DOCS_CSP))
  .get("/docs/*", serveDocsAsset)
  .get("/", (c) => c.redirect("/app/", 302))
  .get("/app", (c) => c.redirect("/app/", 301))
  .get("/app/*", serveDashboard)
  .route("/session", sessionRoutes)
  .route("/admin", adminRoutes)
  .route("/v1", trackRoutes)
  .route("/v1", sendRoutes)
  // Before contactRoutes: /contacts/export and /contacts/bulk are not contact ids.
  .route("/contacts", contactBulkRoutes)
  .route("/contacts", contactRoutes)
  .route("/project", projectRoutes)
  .route("/workflows", workflowRoutes)
  .route("/templates", templateRoutes)
  .route("/segments", segmentRoutes)
  .route("/campaigns", campaignRoutes)
  .route("/analytics", analyticsRoutes)
  .route("/emails", emailRoutes)
  .route("/events", eventRoutes)
  .route("/webhook-deliveries", deliveryRoutes)
  .route("/webhooks", snsRoutes)
  .route("/dev", devRoutes)
  .route("/", unsubscribeRoutes);

app.notFound((c) =>
  errorResponse(c, new ApiError(404, "NOT_FOUND", `No route for ${c.req.method} ${c.req.path}`)),
);

app.onError((err, c) => {
  if (err instanceof ApiError) return errorResponse(c, err);
  if (err instanceof HTTPException) {
    const status = Math.min(err.status, 500) as ContentfulStatusCode;
    return errorResponse(
      c,
      new ApiError(status, status === 500 ? "INTERNAL_SERVER_ERROR" : "BAD_REQUEST", err.message),
    );
  }
  c.get("log")?.error("unhandled error", errorFields(err));
  return errorResponse(c, new ApiError(500, "INTERNAL_SERVER_ERROR", "Internal server error"));
});

export type App = typeof app;
