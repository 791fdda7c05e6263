// The no-op baseline of `npm run bench`: the same framework and the same request shape as
// POST /v1/track (JSON in, JSON out), and nothing else.
import { Hono } from "hono";

const app = new Hono();
app.get("/health", (c) => c.json({ ok: true }));
app.post("/v1/track", async (c) => {
  const body = await c.req.json();
  return c.json({ success: true, data: { event: body.event ?? null, timestamp: new Date().toISOString() } });
});

export default app;
