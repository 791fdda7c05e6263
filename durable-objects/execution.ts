/**
 * One workflow execution per object. It keeps the workflow snapshot, the context and the position in
 * its own storage, runs steps until it has to wait, holds one alarm for the wait's due time, and
 * mirrors its status and step log to D1 (the executions row holds both; step_counts, waits, enrollments).
 *
 * Every entry point runs one at a time (`serial`), moves the state by src/engine/machine.ts (which saves
 * after each step), and ends by mirroring. A step's effects carry ids derived from (execution, step,
 * visit), and the visit count is saved only after the step, so a retried alarm or call repeats a half-done
 * step under the same ids: its effects are no-ops.
 *
 * Once an execution has ended and D1 holds its final state (the executions row, the whole step log, the
 * enrollment freed, no waits row), the object deletes its storage and its alarm (`forget`): nothing is
 * kept per ended execution but D1's rows. What can still reach it then finds no state and does nothing:
 * a late alarm, an event, the sweep's kick (null: the sweep's fail-if-never-started leaves an ended row
 * alone); a cancel answers with D1's status; a start cannot come, as the claim refuses an execution whose
 * row exists. If the final mirror fails, the state stays, and the retry (alarm, sweep) mirrors, then forgets.
 */
import { DurableObject } from "cloudflare:workers";
import { projectEnv, REGISTRY_BINDING } from "../src/db/databases";
import { ADD_TO_STEP_COUNTS } from "../src/db/step-counts";
import { dispatchStored } from "../src/dispatch";
import { parseJsonObject } from "../src/domain/shapes";
import { updateContactRow } from "../src/engine/contact-update";
import { acceptEvent, advance, cancelState, endWait, type MachineHost } from "../src/engine/machine";
import {
  type ExecutionInit,
  type ExecutionState,
  type ExecutionStatus,
  type ExecutionSummary,
  isTerminal,
  type StoredEventRef,
} from "../src/engine/state";
import { type StepEffects, StepFailure } from "../src/engine/steps";
import type { Env } from "../src/env";
import { createLogger, errorFields, type Logger } from "../src/log";
import { refreshSegments } from "../src/segments";

const STATE_KEY = "state";

/**
 * Adds a mirror's step-log entries (`?3`: [seq, stepId, status] each) to the counters of workflow `?1` on
 * day `?2` (one row, {stepId: [passed, completed, failed]}): a visit is `passed` when the log of execution
 * `?4` in D1 does not hold it yet, `completed` or `failed` when it holds it with another status. Nothing is
 * written when nothing is added. An entry of seq -1 compares with the row's status instead: counted while
 * the row has not ended (the execution's end, for the analytics' `$end:<status>`).
 */
export const COUNT_STEPS = `WITH d AS (
    SELECT e.value ->> 1 AS step, e.value ->> 2 AS status,
      CASE WHEN e.value ->> 0 < 0
        THEN (SELECT CASE WHEN x.status IN ('RUNNING', 'WAITING') THEN NULL ELSE x.status END
          FROM executions x WHERE x.id = ?4)
        ELSE (SELECT json_extract(x.steps, '$[' || (e.value ->> 0) || '].status') FROM executions x WHERE x.id = ?4)
      END AS old
    FROM json_each(?3) AS e),
  inc AS (
    SELECT step, sum(old IS NULL) AS p, sum(status = 'COMPLETED' AND old IS NOT 'COMPLETED') AS c,
      sum(status = 'FAILED' AND old IS NOT 'FAILED') AS f
    FROM d GROUP BY step)
  INSERT INTO step_counts (workflow_id, day, counts)
  SELECT ?1, ?2, json_group_object(step, json_array(p, c, f)) FROM inc WHERE p + c + f > 0 HAVING count(*) > 0
  ${ADD_TO_STEP_COUNTS}`;
/** Set when a cancel reaches an object that has not started: a start arriving later must not run it. */
const CANCELLED_BEFORE_START_KEY = "cancelledBeforeStart";

/**
 * How many of a contact's events of the awaited name a wait with a `match` reads when it starts, for one
 * stored before its wait row was in D1 (those are milliseconds old: a burst of more is a limit, documented).
 */
const MISSED_EVENTS_SCANNED = 100;

export class ExecutionDO extends DurableObject<Env> {
  private state: ExecutionState | null | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  /** Events stored by steps (status changes), dispatched once the step loop has let go. */
  private toDispatch: { env: Env; projectId: string; ids: string[] } | null = null;
  /** The contact a step changed: its segments are re-evaluated once the loop lets go (the state may be gone). */
  private contactChanged: { env: Env; projectId: string; contactId: string } | null = null;
  private log: Logger = createLogger({ component: "execution" });
  /** The due time this object has set its alarm to since it was loaded (setAlarm is billed). */
  private armedAt: number | null = null;

  // ---- entry points -------------------------------------------------------------------------------

  /** Starts the execution; a second call (a retried dispatch) resumes whatever is unfinished. */
  async start(init: ExecutionInit): Promise<ExecutionSummary> {
    return this.entry(async () => {
      let s = await this.load();
      // A repeated claim's start may come after the run ended and its storage went: D1 has the final state.
      if (!s && init.retried && (await this.endedInD1(init.executionId, init.database))) return null;
      if (!s) {
        // Cancelled between the dispatch's claim and this start: keep it cancelled, run nothing.
        const cancelledAt = await this.ctx.storage.get<number>(CANCELLED_BEFORE_START_KEY);
        s = {
          ...init,
          status: cancelledAt === undefined ? "RUNNING" : "CANCELLED",
          currentStepId: init.snapshot.triggerStepId,
          exitReason: null,
          completedAt: cancelledAt ?? null,
          wait: null,
          visits: {},
          log: [],
          dirtyLog: [],
          dirty: true,
          alarm: null,
          alarmSet: false,
          waitRow: false,
        };
        this.state = s;
        this.log = createLogger({ executionId: s.executionId, projectId: s.projectId });
        // No log line of its own: the dispatch that starts it (or the route, for a start by hand) logs it.
        await this.save();
      } else {
        // A retried dispatch: mirror again (this also frees the enrollment if the run has ended).
        s.dirty = true;
        if (init.marksEventDispatched) s.marksEventDispatched = true;
      }
      return s;
    });
  }

  /** An event for this execution's contact: resumes a WAIT_FOR_EVENT that it satisfies. */
  async deliverEvent(event: StoredEventRef): Promise<{ accepted: boolean }> {
    let accepted = false;
    await this.entry(async () => {
      const s = await this.load();
      if (!s) return null;
      // Not saved here: the steps it leads to save, or the mirror and `forget` end it; a failure before
      // either throws to the dispatch, which the sweep repeats, and the stored wait accepts the event again.
      accepted = acceptEvent(s, event, Date.now());
      return s;
    });
    return { accepted };
  }

  /**
   * Cancels a running or waiting execution; an ended one is left as it is. With no state, `executionId`
   * (this object's name) tells an execution that ended, and forgot its state, from one not started yet.
   */
  async cancel(
    executionId?: string,
    database?: string,
  ): Promise<{ cancelled: boolean; status: ExecutionStatus | null }> {
    let cancelled = false;
    let ended: ExecutionStatus | null = null;
    const s = await this.entry(async () => {
      const s = await this.load();
      if (!s) {
        const endedAs = executionId ? await this.endedInD1(executionId, database) : null;
        if (endedAs) {
          // Ended, and its storage deleted once D1 had the final state: nothing to cancel, nothing to keep.
          ended = endedAs;
          return null;
        }
        // Not started (yet): the caller cancels the D1 row; remember it for a start that comes late.
        await this.ctx.storage.put(CANCELLED_BEFORE_START_KEY, Date.now());
        return null;
      }
      if (isTerminal(s.status)) return s;
      cancelState(s, Date.now());
      await this.ctx.storage.deleteAlarm();
      await this.save();
      cancelled = true;
      this.log.info("execution cancelled");
      return s;
    });
    return { cancelled, status: s?.status ?? ended };
  }

  /** The sweep's nudge: resume a stalled run, re-arm a lost alarm, mirror what D1 has not seen. */
  async kick(): Promise<ExecutionSummary | null> {
    return this.entry(async () => {
      const s = await this.load();
      if (!s) return null;
      const now = Date.now();
      if (s.status === "WAITING" && s.wait?.until != null && s.wait.until <= now) {
        if ((await this.ctx.storage.getAlarm()) === null) {
          s.alarm = { at: now, for: "wait" };
          await this.save();
          await this.ctx.storage.setAlarm(now);
          this.log.warn("alarm re-armed by the sweep", { due: s.wait.until });
        }
      }
      s.dirty = true;
      return s;
    });
  }

  override async alarm(): Promise<void> {
    await this.entry(async () => {
      const s = await this.load();
      if (!s) return null;
      const purpose = s.alarm;
      s.alarm = null;
      s.alarmSet = false;
      this.armedAt = null;
      if (purpose?.for === "wait") endWait(s, Date.now());
      // Not saved here: the next step saves, or the mirror and `forget` end it; a failure before either
      // throws, the platform retries the alarm, and the stored state (still waiting) is read again.
      return s;
    });
  }

  /** For tests and diagnostics: the state as stored. */
  async snapshotState(): Promise<ExecutionState | null> {
    return (await this.load()) ?? null;
  }

  // ---- the loop -----------------------------------------------------------------------------------

  /** Runs `fn` alone, then the steps until a wait or the end, then mirrors to D1. */
  private async entry(fn: () => Promise<ExecutionState | null>): Promise<ExecutionSummary> {
    const run = async () => {
      try {
        const s = await fn();
        if (!s) return null;
        await this.settle(s);
        return { id: s.executionId, status: s.status, currentStepId: s.currentStepId };
      } catch (err) {
        // Memory may be ahead of storage now: the next entry reads storage again.
        this.state = undefined;
        throw err;
      }
    };
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    const summary = await result;
    await this.dispatchPending();
    return summary as ExecutionSummary;
  }

  private async settle(s: ExecutionState): Promise<void> {
    for (;;) {
      await advance(s, this.host());
      await this.mirror(s);
      if (s.status !== "WAITING" || s.wait?.kind !== "event") break;
      // The wait row is in D1 now; an event stored before it was there was not handed to us.
      // The first that the wait accepts (with a `match`, an earlier one of the name may not pass it).
      const { results: missed } = await this.envOf(s)
        .DB.prepare(
          `SELECT id, name, data, created_at FROM events WHERE project_id = ?1 AND contact_id = ?2 AND name = ?3
           AND created_at >= ?4 AND id != ?5 ORDER BY created_at, id LIMIT ?6`,
        )
        .bind(
          s.projectId,
          s.contactId,
          s.wait.eventName,
          s.wait.since,
          s.triggerEventId ?? "",
          s.wait.match ? MISSED_EVENTS_SCANNED : 1,
        )
        .all<{ id: string; name: string; data: string; created_at: number }>();
      const now = Date.now();
      const accepted = missed.some((m) =>
        acceptEvent(
          s,
          { id: m.id, name: m.name, data: parseJsonObject(m.data), createdAt: m.created_at },
          now,
        ),
      );
      if (!accepted) break;
      await this.save();
    }
    // Ended, and mirrored (a failed mirror has thrown): D1 has the final state, the storage can go.
    if (isTerminal(s.status)) await this.forget(s);
    else await this.armAlarm(s);
  }

  /** Deletes the storage of an ended execution whose final state D1 holds: its alarm, then every key. */
  private async forget(s: ExecutionState): Promise<void> {
    // An alarm set and not yet run (a wait ended early by an event or a cancel); each call is billed.
    if (s.alarmSet !== false) await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.state = null;
  }

  /** One alarm: set after the state it guards is saved; cleared when nothing is due. */
  private async armAlarm(s: ExecutionState): Promise<void> {
    const due = s.status === "WAITING" && s.wait?.until != null ? s.wait.until : null;
    if (due === null) {
      if (s.alarm) {
        s.alarm = null;
        await this.save();
      }
      if (s.alarmSet !== false) {
        await this.ctx.storage.deleteAlarm();
        s.alarmSet = false;
        this.armedAt = null;
      }
      return;
    }
    if (s.alarm?.at !== due || !s.alarmSet) {
      s.alarm = { at: due, for: "wait" };
      s.alarmSet = true;
      await this.save();
    }
    // Set once per due time while this object is in memory (each call is billed as a row written).
    if (this.armedAt !== due) {
      await this.ctx.storage.setAlarm(due);
      this.armedAt = due;
    }
  }

  // ---- effects ------------------------------------------------------------------------------------

  /** What the step machine (src/engine/machine.ts) needs of this object. */
  private host(): MachineHost {
    return { effects: (st) => this.effects(st), save: () => this.save(), log: this.log };
  }

  private effects(s: ExecutionState): StepEffects {
    const env = this.envOf(s);
    return {
      contact: async () => {
        const row = await env.DB.prepare(
          "SELECT id, email, subscribed, data FROM contacts WHERE project_id = ?1 AND id = ?2",
        )
          .bind(s.projectId, s.contactId)
          .first<{ id: string; email: string; subscribed: number; data: string }>();
        if (!row) throw new StepFailure("The contact no longer exists");
        return {
          id: row.id,
          email: row.email,
          subscribed: Boolean(row.subscribed),
          data: parseJsonObject(row.data),
        };
      },
      enqueueWebhook: async (message) => {
        await env.WEBHOOKS_QUEUE.send(message, { contentType: "json" });
      },
      enqueueEmail: async (message) => {
        await env.EMAILS_QUEUE.send({ ...message, db: env.DATABASE }, { contentType: "json" });
      },
      updateContact: async (update, statusEventId) => {
        const { statusChanged } = await updateContactRow(
          env,
          s.projectId,
          s.contactId,
          update,
          statusEventId,
        );
        if (statusChanged) {
          this.toDispatch ??= { env, projectId: s.projectId, ids: [] };
          this.toDispatch.ids.push(statusEventId);
        }
        this.contactChanged = { env, projectId: s.projectId, contactId: s.contactId };
        return { statusChanged };
      },
    };
  }

  private async dispatchPending(): Promise<void> {
    const changed = this.contactChanged;
    if (changed) {
      this.contactChanged = null;
      await refreshSegments(changed.env, this.log, changed.projectId, [changed.contactId]);
    }
    const pending = this.toDispatch;
    if (!pending) return;
    this.toDispatch = null;
    const ids = pending.ids;
    try {
      await dispatchStored(pending.env, this.log, pending.projectId, ids);
    } catch (err) {
      // Stored: the sweep finishes the dispatch.
      this.log.error("dispatch from a step failed; left to the sweep", {
        eventIds: ids,
        ...errorFields(err),
      });
    }
  }

  // ---- storage and the D1 mirror ------------------------------------------------------------------

  /** The env whose `DB` is the database of this execution's project (recorded by its start). */
  /** The final status D1 holds for an execution whose object has no state, or null if it has not ended. */
  private async endedInD1(executionId: string, database?: string): Promise<ExecutionStatus | null> {
    const row = await projectEnv(this.env, database ?? REGISTRY_BINDING)
      .DB.prepare("SELECT status FROM executions WHERE id = ?1")
      .bind(executionId)
      .first<{ status: ExecutionStatus }>();
    return row && isTerminal(row.status) ? row.status : null;
  }

  private envOf(s: ExecutionState): Env {
    return projectEnv(this.env, s.database ?? REGISTRY_BINDING);
  }

  private async load(): Promise<ExecutionState | null> {
    if (this.state === undefined) {
      this.state = (await this.ctx.storage.get<ExecutionState>(STATE_KEY)) ?? null;
      if (this.state)
        this.log = createLogger({ executionId: this.state.executionId, projectId: this.state.projectId });
    }
    return this.state;
  }

  private async save(): Promise<void> {
    await this.ctx.storage.put(STATE_KEY, this.state);
  }

  /** Writes what D1 has not seen: the executions row, new step log entries, the wait, the enrollment. */
  private async mirror(s: ExecutionState): Promise<void> {
    if (!s.dirty && s.dirtyLog.length === 0) return;
    const db = this.envOf(s).DB;
    const now = Date.now();
    const wakeAt = s.status === "WAITING" && s.wait?.until != null ? s.wait.until : null;
    // Per-step counters first: their increments compare the entries with the log the row holds before this
    // mirror writes it (a mirror repeated after a crash finds them there, and adds nothing).
    const counted: [number, string, string][] = s.dirtyLog.flatMap((seq) => {
      const e = s.log[seq];
      if (!e) return [];
      // The analytics' counters ride in the same row (src/analytics.ts): `$start` with the first entry
      // (counted once, as the entry), and `$end:<status>` once the execution has ended, counted while the
      // row D1 holds has not ended yet (seq -1).
      return e.seq === 0
        ? [
            [e.seq, e.stepId, e.status],
            [0, "$start", e.status],
          ]
        : [[e.seq, e.stepId, e.status]];
    });
    if (isTerminal(s.status)) counted.push([-1, `$end:${s.status}`, s.status]);
    const statements: D1PreparedStatement[] = [];
    if (counted.length > 0) {
      statements.push(
        db
          .prepare(COUNT_STEPS)
          .bind(s.workflowId, Math.floor(now / 86_400_000), JSON.stringify(counted), s.executionId),
      );
    }
    statements.push(
      db
        .prepare(
          `INSERT INTO executions (id, project_id, workflow_id, contact_id, trigger_event_id, status, current_step_id,
             exit_reason, context, steps, wake_at, started_at, completed_at, updated_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
           ON CONFLICT (id) DO UPDATE SET status = excluded.status, current_step_id = excluded.current_step_id,
             exit_reason = excluded.exit_reason, context = excluded.context, steps = excluded.steps,
             wake_at = excluded.wake_at, completed_at = excluded.completed_at, updated_at = excluded.updated_at`,
        )
        .bind(
          s.executionId,
          s.projectId,
          s.workflowId,
          s.contactId,
          s.triggerEventId,
          s.status,
          s.currentStepId,
          s.exitReason,
          JSON.stringify({ event: s.event }),
          JSON.stringify(s.log),
          wakeAt,
          s.startedAt,
          s.completedAt,
          now,
        ),
    );
    // This object is the only writer of its waits row: with none written (or deleted since), none to delete.
    // (A state saved before `waitRow` existed has it unset: deleted to be sure.)
    const wait = s.status === "WAITING" && s.wait?.kind === "event" ? s.wait : null;
    if (wait) {
      statements.push(
        db
          .prepare(
            `INSERT INTO waits (execution_id, project_id, contact_id, event_name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (execution_id) DO UPDATE SET event_name = excluded.event_name, created_at = excluded.created_at`,
          )
          .bind(s.executionId, s.projectId, s.contactId, wait.eventName, wait.since),
      );
    } else if (s.waitRow !== false) {
      statements.push(db.prepare("DELETE FROM waits WHERE execution_id = ?1").bind(s.executionId));
    }
    if (isTerminal(s.status)) {
      statements.push(
        db
          .prepare(
            `UPDATE enrollments SET active_execution_id = NULL, updated_at = ?4
             WHERE workflow_id = ?1 AND contact_id = ?2 AND active_execution_id = ?3`,
          )
          .bind(s.workflowId, s.contactId, s.executionId, now),
      );
    }
    if (s.marksEventDispatched && s.triggerEventId) {
      statements.push(
        db
          .prepare(
            "UPDATE events SET dispatched_at = ?2 WHERE project_id = ?3 AND id = ?1 AND dispatched_at IS NULL",
          )
          .bind(s.triggerEventId, now, s.projectId),
      );
    }
    await db.batch(statements);
    // Not saved: the next save (or `forget`) records it. Should the object go first, its stored state
    // still says dirty, and the next entry mirrors again: every statement above is idempotent.
    s.dirty = false;
    s.dirtyLog = [];
    s.marksEventDispatched = false;
    s.waitRow = wait !== null;
  }
}
