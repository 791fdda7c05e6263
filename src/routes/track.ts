import { Hono } from "hono";
import { dispatchLoadedOrDefer, dispatchOrDefer } from "../dispatch";
import { splitTrackData, trackBody } from "../domain/track";
import { trackEvent } from "../events";
import { projectAuth } from "../http/auth";
import { parseJson } from "../http/body";
import type { AppEnv } from "../http/context";
import { readIdempotency } from "../http/idempotency";
import { rateLimit } from "../http/rate-limit";
import { refreshSegments } from "../segments";

export const trackRoutes = new Hono<AppEnv>().post(
  "/track",
  projectAuth({ allowPublic: true }),
  rateLimit("TRACK_LIMITER"),
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
    // The batch that stored the event also read what its dispatch needs: with one event stored, dispatch
    // starts from those rows; with nothing to do, the event was stored as dispatched. After a status
    // change, both events are dispatched in order the usual way (an event already dispatched is skipped).
    if (result.stored.length > 1) await dispatchOrDefer(c.env, c.var.log, result.stored);
    else if (result.dispatch) {
      await dispatchLoadedOrDefer(c.env, c.var.log, result.dispatch.event, result.dispatch.rows);
    }
    if (result.hasSegments) await refreshSegments(c.env, c.var.log, project.id, [result.contactId]);
    return c.json({
      success: true,
      data: { contact: result.contactId, event: result.eventId, timestamp: result.timestamp },
    });
  },
);
