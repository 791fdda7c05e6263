/** Request id, the request's logger and its closing log line. */
import { createMiddleware } from "hono/factory";
import { newId } from "../domain/ids";
import { createLogger } from "../log";
import type { AppEnv } from "./context";

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const requestContext = createMiddleware<AppEnv>(async (c, next) => {
  const given = c.req.header("x-request-id");
  const requestId = given && CLIENT_ID.test(given) ? given : newId("req");
  c.set("requestId", requestId);
  c.set("log", createLogger({ requestId }));
  const started = Date.now();
  await next();
  c.header("X-Request-Id", requestId);
  // The route pattern, not the path: paths may carry tokens (unsubscribe links).
  c.var.log.info("request", {
    method: c.req.method,
    route: c.req.routePath,
    status: c.res.status,
    durationMs: Date.now() - started,
  });
});
