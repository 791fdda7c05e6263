import { Hono } from "hono";
import { dispatchEventOrDefer, dispatchOrDefer } from "../dispatch";
import { splitTrackData, trackBody } from "../domain/track";
import { trackEvent } from "../events";
import { keyGone, trackAuth } from "../http/auth";
import { parseJson } from "../http/body";
import type { AppEnv } from "../http/context";
import { readIdempotency } from "../http/idempotency";
import { rateLimit } from "../http/rate-limit";
import { refreshSegments } from "../segments";

export const trackRoutes = new Hono<AppEnv>().post(
  "/track",
  trackAuth,
  rateLimit("TRACK_LIMITER"),
  async (c) => {
    const { raw, data } = await parseJson(c, trackBody);
    const project = c.get("project");
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
      keyCheck: c.get("keyCheck"),
    });
    if (result === "key gone") throw keyGone(c.get("keyCheck"));
    if (result instanceof Response) return result;
    // The answer does not wait for dispatch: the event is stored (undispatched unless it has nothing to
    // do), so a dispatch cut short is finished by the cron sweep, and what it triggers happens either way.
    // With one event stored, dispatch starts from the event as the batch stored it; after a status change,
    // both events are dispatched in order the usual way (an event already dispatched is skipped).
    const log = c.get("log");
    const after = async () => {
      if (result.stored.length > 1) await dispatchOrDefer(c.env, log, project.id, result.stored);
      else if (result.dispatch) await dispatchEventOrDefer(c.env, log, result.dispatch);
      if (result.hasSegments) await refreshSegments(c.env, log, project.id, [result.contactId]);
    };
    if (result.stored.length > 1 || result.dispatch || result.hasSegments) c.executionCtx.waitUntil(after());
    return c.json({
      success: true,
      data: { contact: result.contactId, event: result.eventId, timestamp: result.timestamp },
    });
  },
);
