/** `GET /analytics?from&to`: the project's counters by UTC day (src/analytics.ts says where each comes from). */
import { Hono } from "hono";
import { analyticsQuery, readAnalytics, windowOf } from "../analytics";
import { projectAuth } from "../http/auth";
import { parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { fieldError } from "../http/errors";

export const analyticsRoutes = new Hono<AppEnv>().use(projectAuth()).get("/", async (c) => {
  const q = parseQuery(c, analyticsQuery);
  const w = windowOf(q, Date.now());
  if ("field" in w) throw fieldError(w.field, w.message, "invalid_window");
  return c.json(await readAnalytics(c.env, c.get("project").id, w.first, w.last));
});
