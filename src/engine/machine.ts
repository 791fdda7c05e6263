/**
 * An execution's moves, on its state alone: run steps until a wait or the end, take an awaited event,
 * end a wait at its due time, cancel. Where the state is kept is the host's business (an Execution DO's
 * storage today; a shard's page in the engine's next design, docs/engine.md): the host gives the step
 * effects and a `save` that makes the state durable. The rules that make retries safe live here:
 * a step is saved before the next runs (its visit count is in the ids of the next one's effects), and
 * a step's visit is counted only once it has run, so a step repeated after a crash repeats its ids.
 */
import { derivedId } from "../domain/ids";
import { nextStepId } from "../domain/workflow/graph";
import type { Logger } from "../log";
import type { ExecutionState, StepLogEntry, StoredEventRef } from "./state";
import { matchesWait, runStep, type StepEffects, StepFailure } from "./steps";

export interface MachineHost {
  effects(s: ExecutionState): StepEffects;
  /** Makes the state durable (the host's storage). */
  save(): Promise<void>;
  log: Logger;
  /**
   * Whether `step` may run now; the loop stops before one that may not (the execution stays RUNNING at it).
   * A shard runs the steps with no effect outside the execution before the commit that stores its start,
   * and the others after (durable-objects/shard.ts). Unset: every step may run.
   */
  canRun?(step: { type: string }): boolean;
}

/** Runs steps while the execution is RUNNING: until it waits, ends, or a step fails for good. */
export async function advance(s: ExecutionState, host: MachineHost): Promise<void> {
  while (s.status === "RUNNING" && s.currentStepId) {
    const step = s.snapshot.steps[s.currentStepId];
    const now = Date.now();
    if (!step) {
      s.status = "FAILED";
      s.completedAt = now;
      s.dirty = true;
      await host.save();
      break;
    }
    if (host.canRun && !host.canRun(step)) break;
    const visit = (s.visits[step.id] ?? 0) + 1;
    const entry: StepLogEntry = {
      id: await derivedId("sx", s.executionId, step.id, visit),
      stepId: step.id,
      seq: s.log.length,
      status: "RUNNING",
      startedAt: now,
      finishedAt: null,
      output: null,
      error: null,
    };
    let outcome: Awaited<ReturnType<typeof runStep>>;
    try {
      outcome = await runStep(s, step, visit, now, host.effects(s));
    } catch (err) {
      if (!(err instanceof StepFailure)) throw err; // transient: the caller or the platform retries
      s.visits[step.id] = visit;
      s.log.push(entry);
      finishEntry(s, entry, "FAILED", Date.now(), null, err.message);
      s.status = "FAILED";
      s.completedAt = Date.now();
      s.dirty = true;
      host.log.warn("step failed", { stepId: step.id, error: err.message });
      await host.save();
      break;
    }
    s.visits[step.id] = visit;
    s.log.push(entry);
    s.dirtyLog.push(entry.seq);
    s.dirty = true;
    if (outcome.kind === "wait") {
      entry.status = "WAITING";
      entry.output = outcome.output ?? null;
      s.status = "WAITING";
      s.wait = outcome.wait;
      // What the alarm will be for, saved with the step (the host sets it once the state is mirrored).
      if (outcome.wait.until !== null) {
        s.alarm = { at: outcome.wait.until, for: "wait" };
        s.alarmSet = true;
      }
    } else if (outcome.kind === "exit") {
      finishEntry(s, entry, "COMPLETED", Date.now(), { reason: outcome.reason });
      s.status = "EXITED";
      s.exitReason = outcome.reason;
      s.completedAt = Date.now();
    } else {
      finishEntry(s, entry, "COMPLETED", Date.now(), outcome.output ?? null);
      moveOn(s, step.id, outcome.branch, Date.now());
    }
    // A TRIGGER has no effect and one way on: repeated after a crash, it does the same. Every other step
    // is saved before the next runs (its visit count is in the ids of the next one's effects).
    if (step.type !== "TRIGGER") await host.save();
  }
}

/** Follows `branch` out of `stepId`; with no way on, the execution is COMPLETED. */
export function moveOn(s: ExecutionState, stepId: string, branch: string | null, now: number): void {
  const next = nextStepId(s.snapshot.transitions, stepId, branch);
  s.wait = null;
  s.dirty = true;
  if (next) {
    s.status = "RUNNING";
    s.currentStepId = next;
  } else {
    s.status = "COMPLETED";
    s.completedAt = now;
  }
}

/** Ends a WAIT_FOR_EVENT that `event` satisfies, and moves on by `event`; false if it does not. */
export function acceptEvent(s: ExecutionState, event: StoredEventRef, now: number): boolean {
  const w = s.wait;
  if (s.status !== "WAITING" || w?.kind !== "event" || w.eventName !== event.name) return false;
  if (event.id === s.triggerEventId || event.createdAt < w.since) return false;
  if (w.until !== null && event.createdAt >= w.until) return false;
  // An event of the name whose data does not pass the wait's `match` leaves the wait as it is.
  if (!matchesWait(w.match, event.data)) return false;
  s.event = { ...s.event, ...event.data };
  const entry = entryFor(s, w.stepId);
  if (entry) finishEntry(s, entry, "COMPLETED", now, { ...(entry.output as object), eventId: event.id });
  s.alarm = null;
  moveOn(s, w.stepId, "event", now);
  return true;
}

/** A wait's due time has come: a DELAY moves on, a WAIT_FOR_EVENT by `timeout`. */
export function endWait(s: ExecutionState, now: number): void {
  if (s.status !== "WAITING" || !s.wait || s.wait.until === null) return;
  const entry = entryFor(s, s.wait.stepId);
  if (entry) finishEntry(s, entry, "COMPLETED", now, { ...(entry.output as object), timedOut: true });
  moveOn(s, s.wait.stepId, s.wait.kind === "delay" ? null : "timeout", now);
}

/** Cancels a RUNNING or WAITING execution (its current step's entry CANCELLED too). */
export function cancelState(s: ExecutionState, now: number): void {
  const current = s.log[s.log.length - 1];
  if (current && (current.status === "WAITING" || current.status === "RUNNING")) {
    finishEntry(s, current, "CANCELLED", now);
  }
  s.status = "CANCELLED";
  s.completedAt = now;
  s.wait = null;
  s.alarm = null;
  s.dirty = true;
}

function entryFor(s: ExecutionState, stepId: string): StepLogEntry | undefined {
  const last = s.log[s.log.length - 1];
  return last?.stepId === stepId ? last : undefined;
}

function finishEntry(
  s: ExecutionState,
  entry: StepLogEntry,
  status: StepLogEntry["status"],
  now: number,
  output: unknown = entry.output,
  error: string | null = null,
): void {
  entry.status = status;
  entry.finishedAt = now;
  entry.output = output;
  entry.error = error;
  if (!s.dirtyLog.includes(entry.seq)) s.dirtyLog.push(entry.seq);
  s.dirty = true;
}
