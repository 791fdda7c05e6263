/** The running state of one execution, as its Durable Object keeps it. */
import type { Operator } from "../domain/workflow/config";
import type { WorkflowSnapshot } from "../domain/workflow/snapshot";

export type ExecutionStatus = "RUNNING" | "WAITING" | "COMPLETED" | "EXITED" | "FAILED" | "CANCELLED";
export const isTerminal = (s: ExecutionStatus) => s !== "RUNNING" && s !== "WAITING";

export type Wait =
  | { kind: "delay"; stepId: string; until: number }
  | {
      kind: "event";
      stepId: string;
      eventName: string;
      since: number;
      until: number | null;
      /** The tests an event's data must pass to end the wait, values resolved when it was reached. */
      match?: WaitTest[];
    };

export interface WaitTest {
  field: string;
  operator: Operator;
  value?: unknown;
}

export interface StepLogEntry {
  id: string;
  stepId: string;
  seq: number;
  status: "RUNNING" | "WAITING" | "COMPLETED" | "FAILED" | "CANCELLED";
  startedAt: number;
  finishedAt: number | null;
  output: unknown;
  error: string | null;
}

/** The contact id of a schedule's run with no contact (the API shows it as null). */
export const NO_CONTACT = "";

export interface ExecutionInit {
  executionId: string;
  projectId: string;
  workflowId: string;
  contactId: string;
  triggerEventId: string | null;
  snapshot: WorkflowSnapshot;
  /** The trigger event's data. */
  event: Record<string, unknown>;
  /** The D1 binding of the project's data (src/db/databases.ts); unset in states saved before it: `DB`. */
  database?: string;
  startedAt: number;
  /**
   * Set by a dispatch whose only work is this start: the object marks the trigger event dispatched in its
   * first mirror (one D1 round trip less per event), so a crash before that mirror leaves it to the sweep.
   */
  marksEventDispatched?: boolean;
  /**
   * Claimed by an earlier call (a retried dispatch or page): the run may have ended and its object deleted
   * its state before this start, so an object with no state checks D1 before running it from the start.
   */
  retried?: boolean;
}

export interface ExecutionState extends ExecutionInit {
  status: ExecutionStatus;
  currentStepId: string | null;
  exitReason: string | null;
  completedAt: number | null;
  wait: Wait | null;
  /** Visits per step: part of every side effect's id, so a retried step repeats no effect. */
  visits: Record<string, number>;
  log: StepLogEntry[];
  /** Log entries (by seq) not yet mirrored to D1, and whether the execution row is. */
  dirtyLog: number[];
  dirty: boolean;
  /** What the one alarm is for. */
  alarm: { at: number; for: "wait" | "mirror" } | null;
  /** Whether an alarm may be set and not yet run (unset in states saved before it: maybe). */
  alarmSet?: boolean;
  /**
   * Whether D1 may hold a `waits` row of this execution (written by its mirror, and by nothing else):
   * false until a mirror writes one, and again once one deletes it. Unset in states saved before it existed.
   */
  waitRow?: boolean;
}

export interface StoredEventRef {
  id: string;
  name: string;
  data: Record<string, unknown>;
  createdAt: number;
}

export interface ExecutionSummary {
  id: string;
  status: ExecutionStatus;
  currentStepId: string | null;
}
