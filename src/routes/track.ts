import { Hono } from "hono";
import { dispatchEventOrDefer, dispatchOrDefer } from "../dispatch";
import { splitTrackData, trackBody } from "../domain/track";
import { trackEvent } from "../events";
import { keyGone, trackAuth } from "../http/auth";
import { parseJson } from "../http/body";
import type { AppEnv } from "../http/context";
import { readIdempotency } from "../http/idempotency";
import { rateLimited, shardTrackLimit, takeAllowance } from "../http/rate-limit";
import { refreshSegments } from "../segments";
import { engineOf, shardCount, shardOf, shardStub } from "../shard/routing";

export const trackRoutes = new Hono<AppEnv>().post("/track", trackAuth, async (c) => {
  const project = c.get("project");
  const shardEngine = (await engineOf(c.env, project.id)) === "shard";
  // The limit runs before the body is read, but for a shard-engine project: its plain tracks are counted by
  // the shard they reach (which needs the email), the others by the binding once the body is known.
  if (!shardEngine) await takeAllowance(c, "TRACK_LIMITER");
  const { raw, data } = await parseJson(c, trackBody);
  const plain = shardEngine && c.req.header("idempotency-key") === undefined && data.subscribed === undefined;
  if (shardEngine && !plain) await takeAllowance(c, "TRACK_LIMITER");
  const now = Date.now();
  const idempotency = await readIdempotency(c, project.id, "track", raw, now);
  const split = splitTrackData(data.data);
  const log = c.get("log");
  // On the shard engine, a plain track is stored by its contact's shard with what it starts, in one
  // transaction (durable-objects/shard.ts); one with a key to replay or a status to change is stored here, and its
  // events handed to the shard like any stored event.
  if (plain) {
    const name = await shardOf(c.env, project.id, data.email);
    const out = await shardStub(c.env, name).track({
      shard: name,
      projectId: project.id,
      database: project.database,
      email: data.email,
      name: data.event,
      persistentData: split.persistent,
      eventData: split.event,
      now,
      keyCheck: c.get("keyCheck"),
      limit: shardTrackLimit(c.env, await shardCount(c.env, project.id)),
    });
    if (out === "key gone") throw keyGone(c.get("keyCheck"));
    if (out === "rate limited") {
      log.warn("rate limit exceeded", { shard: name });
      throw rateLimited();
    }
    if (out.hasSegments) c.executionCtx.waitUntil(refreshSegments(c.env, log, project.id, [out.contactId]));
    return c.json({
      success: true,
      data: { contact: out.contactId, event: out.eventId, timestamp: out.timestamp },
    });
  }
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
});
