import { Hono } from "hono";
import { dispatchOrDefer } from "../dispatch";
import { splitTrackData, trackBody } from "../domain/track";
import { trackEvent } from "../events";
import { projectAuth } from "../http/auth";
import { parseJson } from "../http/body";
import type { AppEnv } from "../http/context";
import { readIdempotency } from "../http/idempotency";
import { refreshSegments } from "../segments";

export const trackRoutes = new Hono<AppEnv>().post(
  "/track",
  projectAuth({ allowPublic: true }),
  async (c) => {
    const { raw, data } = await parseJson(c, trackBody);
    const project = c.var.project;
    const now = Date.now();
    const idempotency = await readIdempotency(c, project.id, "track", raw, now);
    const split = splitTrackData(data.data);
    const result = await trackEvent(c.env, {
      projectId: project.id,
      email: data.email,
      name: data.event,
      subscribed: data.subscribed ?? null,
      persistentData: split.persistent,
      eventData: split.event,
      now,
      idempotency,
    });
    if (result instanceof Response) return result;
    await dispatchOrDefer(c.env, c.var.log, result.stored);
    await refreshSegments(c.env, c.var.log, project.id, [result.contactId]);
    return c.json({
      success: true,
      data: { contact: result.contactId, event: result.eventId, timestamp: result.timestamp },
    });
  },
);
