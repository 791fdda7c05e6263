/**
 * Request id, the request's logger and its closing log line. The closing line is written for every
 * request answered with an error (4xx as warn, 5xx as error) and, with `REQUEST_LOG = "all"`, for every
 * request: a successful request is already an invocation log of the platform (Workers Logs; `wrangler dev`
 * prints it too), and its dispatch line carries its request id and names the executions it started.
 */
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
  // Set on the answer's own headers: hono's `c.header` after the answer exists copies the whole Response
  // first. An answer whose headers are immutable (one a binding made) takes the copy.
  try {
    c.res.headers.set("X-Request-Id", requestId);
  } catch {
    c.header("X-Request-Id", requestId);
  }
  const status = c.res.status;
  if (status < 400 && c.env.REQUEST_LOG !== "all") return;
  // The route pattern, not the path: paths may carry tokens (unsubscribe links).
  const fields = { method: c.req.method, route: c.req.routePath, status, durationMs: Date.now() - started };
  if (status >= 500) c.get("log").error("request", fields);
  else if (status >= 400) c.get("log").warn("request", fields);
  else c.get("log").info("request", fields);
});
