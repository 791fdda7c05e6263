/**
 * A shard of a project on the shard engine (docs/engine.md): the contacts whose email hashes to it. It
 * stores their tracked events and runs the executions those events start, many to a D1 row (a page,
 * src/shard/pages.ts), instead of one Durable Object and one row each.
 *
 * - **Group commit.** What arrived while the previous commit was in flight goes in the next one: one read
 *   round trip (the workflows the events start, the contacts, first runs), then one D1 batch (one
 *   transaction) with the contacts upserted, the events inserted (already dispatched, with the ids of the
 *   executions they started), the pages, the per-step counters and the first runs. An idle shard commits at
 *   once, so nothing waits for a batch to fill.
 * - **An event and the executions it starts are stored in one transaction**, so there is no undispatched
 *   mark to set and clear for a tracked event; events stored elsewhere (a status change, the system's
 *   events) are dispatched by the same commit, which marks them dispatched (`dispatch`).
 * - **Steps run on the state in memory** (src/engine/machine.ts): those with no effect outside the
 *   execution (TRIGGER, CONDITION, DELAY, WAIT_FOR_EVENT, WEBHOOK, which only records its delivery, EXIT)
 *   before the commit that stores the start; the others (SEND_EMAIL, UPDATE_CONTACT) after it, each saved
 *   by a commit before the next step runs, with ids derived from (execution, step, visit) as before.
 * - **Webhooks are posted by the shard** once the commit holding them is stored (the delivery's id is the
 *   `webhook-id`, the same on every attempt), their outcomes committed with the next commit or alone after
 *   `LINGER_MS`, retries timed by the shard's one alarm, which also ends waits.
 * - **Restart**: the shard lists the pages holding its active executions in its own storage (one key,
 *   written when a page opens) and reloads them; an alarm then resumes what was running, posts what was
 *   not posted, and looks for events a waiting execution missed.
 */
import { DurableObject } from "cloudflare:workers";
import { isKeyGone, type KeyCheck } from "../src/db/contact-sql";
import { projectEnv } from "../src/db/databases";
import { buildSnapshot, dispatchStored, type RefusalReason } from "../src/dispatch";
import { newId } from "../src/domain/ids";
import { parseJsonObject } from "../src/domain/shapes";
import type { StepType } from "../src/domain/workflow/config";
import type { WorkflowSnapshot } from "../src/domain/workflow/snapshot";
import { updateContactRow } from "../src/engine/contact-update";
import { acceptEvent, advance, cancelState, endWait, type MachineHost } from "../src/engine/machine";
import { type ExecutionState, isTerminal, type StoredEventRef } from "../src/engine/state";
import { type StepEffects, StepFailure } from "../src/engine/steps";
import type { Env } from "../src/env";
import { limitWindow } from "../src/http/rate-limit";
import { createLogger, errorFields, type Logger } from "../src/log";
import type { ContactView } from "../src/queues/messages";
import { deliver, logAttempt, MAX_ATTEMPTS, type ProjectSecrets, retryDelay } from "../src/queues/webhooks";
import { refreshSegments } from "../src/segments";
import {
  DELETE_WAITS,
  deliveryIdOf,
  executionIdOf,
  GROUP_READ,
  type Hook,
  INSERT_EVENTS,
  MARK_DISPATCHED,
  newPageId,
  PAGE_SIZE,
  PAGES_PER_WRITE,
  parseExecutionId,
  RECORD_RUNS,
  type StoredExecution,
  TRACKS_READ,
  UPSERT_CONTACTS,
  WRITE_WAITS,
  writePages,
} from "../src/shard/pages";

/** How long an outcome (a webhook's result, a step after the start) waits for a track's commit to ride with. */
const LINGER_MS = 250;
/**
 * The alarm's grain: a wait ends, and a retry is posted, at most this long after its due time (each alarm
 * is a billed request and a commit of its own: under load they come in fours a second per shard at most).
 */
const ALARM_QUANTUM_MS = 250;
/** How long a dispatch's answer waits for the runs it set off (their steps after the commit). */
const DISPATCH_WAIT_MS = 10_000;
/** After a failed commit, before the next try when nothing else is waiting. */
const COMMIT_RETRY_MS = 200;
/** An execution whose step failed for a transient reason is tried again this much later. */
const RUN_RETRY_MS = 5_000;
/** The project's signing secrets are read at most this often (a rotation keeps the old one valid a while). */
const SECRETS_TTL_MS = 60_000;
/**
 * When the alarm looks again at a delivery whose first post has no stored outcome: a shard gone while the
 * post was on its way, or before its outcome was stored, is woken by that alarm and posts it again with the
 * same id, though no request comes to it. A post still on its way then (its timeout is 15 s) is left to
 * finish, and looked at again as long after.
 */
const POST_LEASE_MS = 5_000;
/** Steps that act outside the execution: run after the commit that stores the execution's start. */
const AFTER_COMMIT: ReadonlySet<StepType> = new Set(["SEND_EMAIL", "UPDATE_CONTACT"]);
/** How many of a contact's events of the awaited name a restarted shard reads for a wait (as ExecutionDO). */
const MISSED_EVENTS_SCANNED = 100;

export interface ShardTrack {
  /** This shard's name (`shardName`): its pages' owner. */
  shard: string;
  projectId: string;
  database: string;
  email: string;
  name: string;
  persistentData: Record<string, unknown>;
  eventData: Record<string, unknown>;
  now: number;
  keyCheck: KeyCheck;
  /**
   * This shard's share of the project's tracks per minute (`shardTrackLimit`): a track past it is refused,
   * "rate limited", and nothing of it is stored. Counted here, where every track of the contact arrives,
   * rather than by a call to the rate-limiting binding per request.
   */
  limit: number;
}

export type ShardTrackAnswer =
  | { contactId: string; eventId: string; timestamp: string; hasSegments: boolean }
  | "key gone"
  | "rate limited";

interface Meta {
  projectId: string;
  database: string;
  name: string;
}

type Exec = ExecutionState & { hooks?: Hook[] };

/** Per-step counters by UTC day: {day: {step: [passed, completed, failed]}}. */
type Counts = Record<string, Record<string, [number, number, number]>>;

interface LivePage {
  id: string;
  counts: Counts;
  workflowId: string;
  snapshot: WorkflowSnapshot;
  snapshotJson: string;
  execs: Exec[];
  /** Whether D1 has the page (its insert has been committed). */
  stored: boolean;
}

/** What D1 holds of an execution: its log's statuses and whether it has ended (the counters' baseline). */
interface Committed {
  log: string[];
  ended: boolean;
  waitRow: boolean;
}

interface PendingTrack {
  input: ShardTrack;
  resolve: (a: ShardTrackAnswer) => void;
  reject: (e: unknown) => void;
  /** Committed in a group of its own (its group failed: one bad track must not fail the others). */
  alone?: boolean;
}

/** A start by hand: no event, the re-entry rule applied by this shard. */
export interface ShardStart {
  shard: string;
  projectId: string;
  database: string;
  snapshot: WorkflowSnapshot;
  contact: ContactView;
  /** The execution's context (`event`). */
  data: Record<string, unknown>;
  startedAt: number;
  /**
   * A schedule's run: (workflow, due time, contact) hashed. A run whose key the contact's enrollments row
   * already holds is not started again (a page of the schedule's run delivered twice).
   */
  runKey?: string;
}

export type ShardStartAnswer = { executionId: string } | { refused: RefusalReason | "already started" };

interface PendingStart {
  input: ShardStart;
  resolve: (a: ShardStartAnswer) => void;
  reject: (e: unknown) => void;
}

interface PendingDispatch {
  ids: string[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface WorkflowRow {
  id: string;
  name: string;
  event_name: string;
  allow_reentry: number;
}

export class ShardDO extends DurableObject<Env> {
  private meta: Meta | null = null;
  private tracks: PendingTrack[] = [];
  private dispatches: PendingDispatch[] = [];
  private starts: PendingStart[] = [];
  private pages = new Map<string, LivePage>();
  /**
   * Pages changed since `arm` last looked: the alarm is at or before every other page's due times, so
   * `arm` looks at these only (all of them when no alarm is set): a shard holding thousands of waiting
   * executions does not go through them all at every run and post.
   */
  private toArm = new Set<LivePage>();
  private byId = new Map<string, { page: LivePage; exec: Exec }>();
  private committed = new Map<string, Committed>();
  private committedHooks = new Set<string>();
  private dirty = new Set<string>();
  private open = new Map<string, LivePage>();
  private listed: string[] = [];
  /** The active execution of each (workflow, contact), for the re-entry rule. */
  private active = new Map<string, string>();
  /** Runs of no-re-entry workflows started by the group being committed (D1 has them once it is). */
  private ran = new Set<string>();
  /** The JSON of executions that will not change (`jsonOf`). */
  private frozen = new WeakMap<Exec, string>();
  /** A snapshot's JSON (what a page stores once), made once per snapshot the shard holds. */
  private snapshotJson = new WeakMap<WorkflowSnapshot, string>();
  /** The workflows each event name starts, as of the project's `workflows_version` they were read at. */
  private workflows: { version: number; byName: Map<string, WorkflowSnapshot[]> } | null = null;
  private committing: Promise<void> | null = null;
  private lingering: ReturnType<typeof setTimeout> | null = null;
  private flush = false;
  private startedSeq = 0;
  private doneSeq = 0;
  private persistWaiters: { need: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private alarmAt: number | null = null;
  private posting = new Set<string>();
  private running = new Map<string, Promise<void>>();
  private retryAt = new Map<string, number>();
  private secrets: { at: number; value: ProjectSecrets | null } | null = null;
  private contactReads = new Map<
    string,
    { resolve: (c: ContactView | null) => void; reject: (e: unknown) => void }[]
  >();
  private contactTimer: ReturnType<typeof setTimeout> | null = null;
  private log: Logger = createLogger({ component: "shard" });
  /** Tracks admitted in the current minute (`limitWindow`), against `ShardTrack.limit`. */
  private admitted = { window: -1, count: 0 };

  /** The reload of a restarted shard (what a test of a restart awaits). */
  readonly loaded: Promise<void>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.loaded = ctx.blockConcurrencyWhile(() => this.load());
  }

  // ---- entry points -------------------------------------------------------------------------------

  /** Stores a tracked event (and its contact) with the executions it starts; answers once committed. */
  track(input: ShardTrack): Promise<ShardTrackAnswer> {
    this.know(input, input.shard);
    // The minute's count (in memory: a restarted shard starts it again, as the binding's count is a guard
    // against floods, not an exact quota).
    const window = limitWindow(Date.now());
    if (this.admitted.window !== window) this.admitted = { window, count: 0 };
    if (this.admitted.count >= input.limit) return Promise.resolve("rate limited");
    this.admitted.count++;
    return new Promise((resolve, reject) => {
      this.tracks.push({ input, resolve, reject });
      this.kick();
    });
  }

  /** Dispatches events stored elsewhere (not yet dispatched): starts what they trigger, marks them dispatched. */
  async dispatch(projectId: string, database: string, name: string, ids: string[]): Promise<void> {
    this.know({ projectId, database }, name);
    await new Promise<void>((resolve, reject) => {
      this.dispatches.push({ ids, resolve, reject });
      this.kick();
    });
  }

  /** Starts an execution by hand (no event), by the re-entry rule; answers once its start is stored. */
  start(input: ShardStart): Promise<ShardStartAnswer> {
    this.know(input, input.shard);
    return new Promise((resolve, reject) => {
      this.starts.push({ input, resolve, reject });
      this.kick();
    });
  }

  /** Cancels a running or waiting execution of this shard; null if it is not active here. */
  async cancel(executionId: string): Promise<{ status: string } | null> {
    const [done] = await this.cancelWhere((e) => e.executionId === executionId);
    if (!done) return null;
    this.log.info("execution cancelled", { executionId });
    return { status: done.status };
  }

  /** The project's secrets changed (a webhook secret rotated): the next post reads them again. */
  async forgetSecrets(): Promise<void> {
    this.secrets = null;
  }

  /** Cancels every running or waiting execution of a workflow in this shard; answers how many. */
  async cancelAll(workflowId: string): Promise<number> {
    return (await this.cancelWhere((e) => e.workflowId === workflowId)).length;
  }

  /** Cancels the running and waiting executions of these contacts (they are being deleted). */
  async cancelContacts(contactIds: string[]): Promise<number> {
    const ids = new Set(contactIds);
    return (await this.cancelWhere((e) => ids.has(e.contactId))).length;
  }

  /** Cancels the active executions `match` picks (all of them are in memory), stored before it answers. */
  private async cancelWhere(match: (e: Exec) => boolean): Promise<Exec[]> {
    // A run under way finishes its step first (as an Execution DO's calls run one at a time): a step that
    // ends after the cancel would move the execution on again.
    const picked = [...this.byId.values()].filter(({ exec }) => !isTerminal(exec.status) && match(exec));
    await Promise.allSettled(picked.flatMap(({ exec }) => this.running.get(exec.executionId) ?? []));
    const now = Date.now();
    const cancelled: Exec[] = [];
    const touched = new Set<LivePage>();
    for (const { exec, page } of picked) {
      if (isTerminal(exec.status)) continue;
      cancelState(exec, now);
      this.settled(exec);
      cancelled.push(exec);
      touched.add(page);
    }
    await Promise.all([...touched].map((p) => this.persist(p)));
    return cancelled;
  }

  /** Sends a delivery again (a new generation of attempts); false if this shard has no such delivery. */
  async replay(executionId: string, deliveryId: string): Promise<boolean> {
    const at = await this.pageOf(executionId);
    const h = at?.exec.hooks?.find((x) => x.id === deliveryId);
    if (!at || !h) return false;
    this.frozen.delete(at.exec);
    h.generation++;
    h.status = "PENDING";
    h.due = null;
    h.updatedAt = Date.now();
    await this.persist(at.page);
    this.postDue([at.page]);
    this.log.info("webhook replay queued", { deliveryId, generation: h.generation });
    return true;
  }

  /** An execution of this shard: in memory, or its page read back from D1 (an ended one's). */
  private async pageOf(executionId: string): Promise<{ page: LivePage; exec: Exec } | null> {
    const hit = this.byId.get(executionId);
    if (hit) return hit;
    const at = parseExecutionId(executionId);
    const meta = this.meta;
    if (!at || !meta) return null;
    const row = await this.db
      .prepare(
        "SELECT id, workflow_id, owner, snapshot, body, counts FROM pages WHERE id = ?1 AND owner = ?2",
      )
      .bind(at.pageId, meta.name)
      .first<{ id: string; workflow_id: string; snapshot: string; body: string; counts: string }>();
    if (!row) return null;
    this.adopt(row);
    return this.byId.get(executionId) ?? null;
  }

  /** A page read from D1 taken into memory, as D1 has it. */
  private adopt(row: {
    id: string;
    workflow_id: string;
    snapshot: string;
    body: string;
    counts: string;
  }): LivePage {
    const meta = this.meta as Meta;
    const snapshot = JSON.parse(row.snapshot) as WorkflowSnapshot;
    const page: LivePage = {
      id: row.id,
      workflowId: row.workflow_id,
      snapshot,
      snapshotJson: row.snapshot,
      execs: [],
      stored: true,
      counts: JSON.parse(row.counts) as Counts,
    };
    page.execs = (JSON.parse(row.body) as StoredExecution[]).map((e) => ({
      // The objects engine's mirror fields, which a page does not store (pages stored before kept them).
      dirtyLog: [],
      dirty: false,
      alarm: null,
      ...e,
      snapshot,
      projectId: meta.projectId,
      workflowId: row.workflow_id,
      database: meta.database,
    }));
    this.pages.set(page.id, page);
    for (const e of page.execs) {
      this.byId.set(e.executionId, { page, exec: e });
      this.committed.set(e.executionId, this.viewOf(e));
      for (const h of e.hooks ?? []) this.committedHooks.add(h.id);
      if (!isTerminal(e.status)) this.active.set(`${e.workflowId}|${e.contactId}`, e.executionId);
    }
    return page;
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    await this.resume();
    const now = Date.now();
    const work: Promise<void>[] = [];
    for (const { exec, page } of this.byId.values()) {
      if (exec.status === "WAITING" && exec.wait?.until != null && exec.wait.until <= now) {
        endWait(exec, now);
        this.changed(page);
        work.push(this.run(exec, page));
      } else if (exec.status === "RUNNING" && (this.retryAt.get(exec.executionId) ?? 0) <= now) {
        work.push(this.run(exec, page));
      }
    }
    work.push(...this.postDue());
    // The alarm's own work, stored before it returns (the posts its runs make go on after it; a shard gone
    // before their outcomes are stored posts them again when it restarts, with the same ids).
    await Promise.allSettled(work);
    await this.committedAll();
    await this.arm();
  }

  // ---- group commit -------------------------------------------------------------------------------

  private know(p: { projectId: string; database: string }, name: string): void {
    if (this.meta) return;
    this.meta = { projectId: p.projectId, database: p.database, name };
    this.log = createLogger({ component: "shard", projectId: p.projectId, shard: this.meta.name });
  }

  private get db(): D1Database {
    if (!this.meta) throw new Error("shard used before it knows its project");
    return projectEnv(this.env, this.meta.database).DB;
  }

  private kick(): void {
    if (this.committing) return;
    this.committing = (async () => {
      try {
        await this.commitLoop();
      } finally {
        this.committing = null;
      }
      if (this.hasWork()) this.kick();
    })();
  }

  private async commitLoop(): Promise<void> {
    while (this.hasWork()) {
      this.flush = false;
      if (this.lingering) clearTimeout(this.lingering);
      this.lingering = null;
      const first = this.tracks[0];
      const tracks = first?.alone ? this.tracks.splice(0, 1) : this.takeTracks();
      const dispatches = first?.alone ? [] : this.dispatches.splice(0);
      const starts = first?.alone ? [] : this.starts.splice(0);
      try {
        await this.commitGroup(tracks, dispatches, starts);
      } catch (err) {
        const guard = /NOT NULL constraint failed: events\.contact_id/.test(String(err));
        const others = dispatches.length + starts.length;
        const requeue = () => {
          this.tracks.unshift(...tracks);
          this.dispatches.unshift(...dispatches);
          this.starts.unshift(...starts);
        };
        if (guard) {
          // A contact was made by another writer between the read and the write, or the project's workflows
          // changed since this shard read them: read again.
          this.workflows = null;
          requeue();
        } else if (tracks.length > 1 || (tracks.length === 1 && others > 0)) {
          // One bad track (its key rotated) fails the whole transaction: each is committed alone, and the
          // rest of the group after them.
          for (const t of tracks) t.alone = true;
          requeue();
        } else if (tracks.length === 1 && isKeyGone(err)) {
          tracks[0]?.resolve("key gone");
        } else {
          for (const t of tracks) t.reject(err);
          for (const d of dispatches) d.reject(err);
          for (const st of starts) st.reject(err);
        }
        this.failWaiters(err);
        if (guard)
          this.log.info("shard commit read again: a contact or the workflows changed since its read");
        else this.log.warn("shard commit failed", { tracks: tracks.length, ...errorFields(err) });
        if (this.tracks.length === 0) await new Promise((r) => setTimeout(r, COMMIT_RETRY_MS));
      }
    }
  }

  private hasWork(): boolean {
    const waiting = this.tracks.length + this.dispatches.length + this.starts.length;
    return waiting > 0 || (this.flush && this.dirty.size > 0);
  }

  private takeTracks(): PendingTrack[] {
    const n = this.tracks.findIndex((t) => t.alone);
    return this.tracks.splice(0, n === -1 ? this.tracks.length : n);
  }

  private async commitGroup(
    tracks: PendingTrack[],
    dispatches: PendingDispatch[],
    starts: PendingStart[],
  ): Promise<void> {
    const meta = this.meta as Meta;
    const db = this.db;
    const now = Date.now();
    const seq = ++this.startedSeq;
    const storedIds = dispatches.flatMap((d) => d.ids);
    const emails = [...new Set(tracks.map((t) => t.input.email))];
    const names = [...new Set(tracks.map((t) => t.input.name))];

    // 1. What the events decide: the workflows they start, the contacts (as they will be), first runs. A
    // group of tracks whose names this shard knows start no workflow, and no execution here waits for,
    // needs none of it: the batch holds the workflows' version it knew against the project's row.
    let read: Awaited<ReturnType<ShardDO["readForGroup"]>> | null = null;
    const pairs = starts.map((st) => [st.input.snapshot.id, st.input.contact.id, st.input.runKey ?? ""]);
    const known = this.workflows;
    // What this shard's executions wait for: looked at only for names that start nothing.
    let waitedFor: Set<string> | null = null;
    const waited = () => {
      waitedFor ??= this.waitedNames();
      return waitedFor;
    };
    const noRead =
      known !== null &&
      dispatches.length === 0 &&
      starts.length === 0 &&
      names.every((n) => known.byName.get(n)?.length === 0) &&
      !names.some((n) => waited().has(n));
    // Tracks alone whose names the shard knows read only their contacts and earlier runs.
    const cached =
      known !== null &&
      dispatches.length === 0 &&
      starts.length === 0 &&
      names.every((n) => known.byName.has(n))
        ? known
        : null;
    if (!noRead && (tracks.length > 0 || storedIds.length > 0 || starts.length > 0)) {
      read = await this.readForGroup(db, meta, names, emails, storedIds, pairs, cached);
      // The workflows changed since the shard learnt them: what it knew is stale, read them.
      if (cached && read.version !== cached.version)
        read = await this.readForGroup(db, meta, names, emails, storedIds, pairs, null);
      if (this.workflows?.version !== read.version)
        this.workflows = { version: read.version, byName: new Map() };
      for (const n of names) this.workflows.byName.set(n, read.snapshots.get(n) ?? []);
    }
    const version = read?.version ?? known?.version ?? 0;
    const guess = (email: string, data: Record<string, unknown>): ContactView => ({
      id: newId("ctc", now),
      email,
      subscribed: true,
      data,
    });

    // 2. The events, in order, and what each starts (its first steps run now, in memory).
    const statements: D1PreparedStatement[] = [];
    const started: { exec: Exec; page: LivePage }[] = [];
    const answers: { contactId: string; eventId: string; timestamp: string; hasSegments: boolean }[] = [];
    // A tracked event's contact is named by its email until the upsert says its id (`stored` ones by id).
    const toWaits: { ref: StoredEventRef; contactId: string; stored?: boolean }[] = [];
    const contactRows: unknown[][] = [];
    const eventRows: unknown[][] = [];
    for (const t of tracks) {
      const i = t.input;
      const contact = read ? read.predict(i.email, i.persistentData) : guess(i.email, i.persistentData);
      const eventId = newId("evt", now);
      const ref: StoredEventRef = { id: eventId, name: i.name, data: i.eventData, createdAt: now };
      const execs = await this.startFor(read, ref, contact, started);
      contactRows.push([
        contact.id,
        i.email,
        JSON.stringify(i.persistentData),
        i.keyCheck.column,
        i.keyCheck.hash,
      ]);
      eventRows.push([
        eventId,
        i.email,
        i.name,
        JSON.stringify(i.eventData),
        execs.length > 0 ? JSON.stringify(execs) : null,
        // Held against the upsert's contact when the read predicted it (executions were started for it).
        read ? contact.id : null,
      ]);
      answers.push({
        contactId: contact.id,
        eventId,
        timestamp: new Date(now).toISOString(),
        hasSegments: false,
      });
      toWaits.push({ ref, contactId: i.email });
    }
    const contactsAt = tracks.length > 0 ? statements.length : -1;
    const eventsAt = tracks.length > 0 ? statements.length + 1 : -1;
    if (tracks.length > 0) {
      statements.push(
        db.prepare(UPSERT_CONTACTS).bind(meta.projectId, JSON.stringify(contactRows), now),
        db.prepare(INSERT_EVENTS).bind(meta.projectId, now, JSON.stringify(eventRows), version),
      );
    }
    const marked: [string, string | null][] = [];
    for (const { ref, contact } of read?.stored ?? []) {
      const execs = contact ? await this.startFor(read, ref, contact, started) : [];
      marked.push([ref.id, execs.length > 0 ? JSON.stringify(execs) : null]);
      if (contact) toWaits.push({ ref, contactId: contact.id, stored: true });
    }
    if (marked.length > 0)
      statements.push(db.prepare(MARK_DISPATCHED).bind(now, meta.projectId, JSON.stringify(marked)));
    // Starts by hand: no event lists them, so a workflow without re-entry remembers the contact in a row.
    const startAnswers: ShardStartAnswer[] = [];
    const runs: [string, string, string][] = [];
    for (const st of starts) {
      const { snapshot, contact, data, startedAt, runKey } = st.input;
      const refused =
        runKey && read?.startedRuns.has(runKey)
          ? "already started"
          : this.refusal(read, snapshot, contact.id);
      if (refused) {
        startAnswers.push({ refused });
        continue;
      }
      const exec = await this.startOne(snapshot, contact, null, data, startedAt, started);
      startAnswers.push({ executionId: exec.executionId });
      if (!snapshot.allowReentry || runKey) runs.push([snapshot.id, contact.id, runKey ?? exec.executionId]);
    }
    if (runs.length > 0) statements.push(db.prepare(RECORD_RUNS).bind(now, JSON.stringify(runs)));

    // 3. The pages changed (the new executions' among them), their counters, first runs and waits.
    const pages = [...this.dirty].map((id) => this.pages.get(id)).filter((p): p is LivePage => !!p);
    this.dirty.clear();
    const day = String(Math.floor(now / 86_400_000));
    const counts = new Map<string, Counts>();
    const waitsOn: [string, string, string, number][] = [];
    const waitsOff: string[] = [];
    const views = new Map<string, Committed>();
    for (const p of pages) {
      for (const e of p.execs) {
        const view = this.viewOf(e);
        const before = this.committed.get(e.executionId);
        if (before && sameView(before, view)) continue;
        const c = counts.get(p.id) ?? structuredClone(p.counts);
        counts.set(p.id, c);
        c[day] ??= {};
        this.count(c[day], e, before);
        if (view.waitRow && e.wait?.kind === "event")
          waitsOn.push([e.executionId, e.contactId, e.wait.eventName, e.wait.since]);
        else if (before?.waitRow && !view.waitRow) waitsOff.push(e.executionId);
        views.set(e.executionId, view);
      }
    }
    for (let i = 0; i < pages.length; i += PAGES_PER_WRITE) {
      const some = pages.slice(i, i + PAGES_PER_WRITE);
      const values = some.flatMap((p) => [
        p.id,
        p.workflowId,
        p.execs.filter(isActive).length,
        p.stored ? "" : p.snapshotJson,
        `[${p.execs.map((e) => this.jsonOf(e)).join(",")}]`,
        JSON.stringify(counts.get(p.id) ?? p.counts),
      ]);
      statements.push(db.prepare(writePages(some.length)).bind(meta.projectId, meta.name, now, ...values));
    }
    if (waitsOn.length > 0)
      statements.push(db.prepare(WRITE_WAITS).bind(meta.projectId, JSON.stringify(waitsOn)));
    if (waitsOff.length > 0) statements.push(db.prepare(DELETE_WAITS).bind(JSON.stringify(waitsOff)));

    // A page is listed in this object's storage before D1 holds active executions in it.
    const unlisted = pages.filter((p) => !this.listed.includes(p.id));
    if (unlisted.length > 0) {
      this.listed = [...this.listed.filter((id) => this.pages.has(id)), ...unlisted.map((p) => p.id)];
      await this.ctx.storage.put({ listed: this.listed, meta });
    }

    // The alarm covers the deliveries this commit stores before it stores them (their lease): every page
    // the commit writes is looked at, new executions' among them.
    for (const p of pages) this.toArm.add(p);
    await this.arm();
    let results: D1Result[];
    try {
      results = statements.length > 0 ? await db.batch(statements) : [];
    } catch (err) {
      // Nothing of the batch is stored (one transaction): the new executions go, the pages are written again.
      for (const { exec, page } of started) this.unstart(exec, page);
      for (const p of pages) if (this.pages.has(p.id)) this.dirty.add(p.id);
      throw err;
    }

    // 4. Stored: answer, and do what follows the commit. D1 now holds this group's runs (its events list
    // them, or enrollments rows): the next group's read finds them, so memory of them can go.
    this.ran.clear();
    for (const p of pages) {
      p.stored = true;
      p.counts = counts.get(p.id) ?? p.counts;
    }
    for (const [id, v] of views) this.committed.set(id, v);
    for (const p of pages)
      for (const e of p.execs) for (const h of e.hooks ?? []) this.committedHooks.add(h.id);
    const segments = results[eventsAt]?.results[0] as { has_segments: number } | undefined;
    const ids = new Map(
      ((results[contactsAt]?.results ?? []) as { id: string; email: string }[]).map((r) => [r.email, r.id]),
    );
    tracks.forEach((t, n) => {
      const a = answers[n] as (typeof answers)[number];
      t.resolve({
        ...a,
        contactId: ids.get(t.input.email) ?? a.contactId,
        hasSegments: Boolean(segments?.has_segments),
      });
    });
    for (const w of toWaits) if (!w.stored) w.contactId = ids.get(w.contactId) ?? w.contactId;

    starts.forEach((st, n) => {
      st.resolve(startAnswers[n] as ShardStartAnswer);
    });
    this.doneSeq = seq;
    this.releaseWaiters();
    if (started.length > 0) {
      this.log.info("executions started", {
        started: started.map(({ exec }) => ({
          executionId: exec.executionId,
          workflowId: exec.workflowId,
          eventId: exec.triggerEventId,
        })),
      });
    }
    this.prune(pages);
    const setOff: Promise<void>[] = [];
    for (const { exec, page } of started) if (exec.status === "RUNNING") setOff.push(this.run(exec, page));
    for (const w of toWaits) setOff.push(...this.offerToWaits(w.ref, w.contactId, now));
    // A dispatch (the system's events, from work that is not a client's request) answers once the runs it
    // set off have reached a wait or their end (bounded by DISPATCH_WAIT_MS); a track answers at its commit.
    if (dispatches.length > 0) {
      const settled = Promise.race([
        Promise.allSettled(setOff),
        new Promise((r) => setTimeout(r, DISPATCH_WAIT_MS)),
      ])
        .then(() => this.committedAll())
        .then(() => {
          for (const d of dispatches) d.resolve();
        });
      this.background(settled);
    }
    this.postDue(pages);
    await this.arm();
  }

  /** One statement: the workflows these events start, their contacts, the stored events, earlier runs. */
  private async readForGroup(
    db: D1Database,
    meta: Meta,
    names: string[],
    emails: string[],
    storedIds: string[],
    pairs: string[][],
    cached: { byName: Map<string, WorkflowSnapshot[]> } | null,
  ) {
    const known = cached ? names.flatMap((n) => cached.byName.get(n) ?? []) : [];
    const row = await db
      .prepare(cached ? TRACKS_READ : GROUP_READ)
      .bind(
        meta.projectId,
        JSON.stringify(names),
        JSON.stringify(storedIds),
        JSON.stringify(emails),
        JSON.stringify(pairs),
        ...(cached ? [JSON.stringify(known.filter((w) => !w.allowReentry).map((w) => w.id))] : []),
      )
      .first<Record<string, string | null>>();
    const list = <T>(v: string | null | undefined) => JSON.parse(v ?? "[]") as T[];
    const workflows = list<WorkflowRow>(row?.workflows);
    const steps = list<{ id: string; workflow_id: string; type: StepType; name: string; config: string }>(
      row?.steps,
    );
    const transitions = list<{
      workflow_id: string;
      from_step_id: string;
      to_step_id: string;
      branch: string | null;
    }>(row?.transitions);
    const snapshots = new Map<string, WorkflowSnapshot[]>(
      cached ? names.map((n) => [n, cached.byName.get(n) ?? []]) : [],
    );
    for (const w of workflows) {
      const snap = buildSnapshot(w, steps, transitions);
      if (snap) snapshots.set(w.event_name, [...(snapshots.get(w.event_name) ?? []), snap]);
    }
    const byEmail = new Map<string, ContactView>();
    for (const [id, email, subscribed, data] of list<[string, string, number, Record<string, unknown>]>(
      row?.contacts,
    ))
      byEmail.set(email, { id, email, subscribed: Boolean(subscribed), data });
    const stored = list<
      [
        string,
        string,
        string,
        Record<string, unknown>,
        number,
        string | null,
        number,
        Record<string, unknown>,
      ]
    >(row?.stored).map(([id, contactId, name, data, createdAt, email, subscribed, cdata]) => ({
      ref: { id, name, data, createdAt } as StoredEventRef,
      contact:
        email === null
          ? null
          : ({ id: contactId, email, subscribed: Boolean(subscribed), data: cdata } as ContactView),
    }));
    const now = Date.now();
    return {
      version: Number(row?.version ?? 0),
      snapshots,
      stored,
      ranBefore: new Set(list<string>(row?.ran)),
      startedRuns: new Set(list<string>(row?.started_runs)),
      /** The contact as this track's upsert will leave it (a shallow merge, as the SQL does). */
      predict(email: string, data: Record<string, unknown>): ContactView {
        const was = byEmail.get(email);
        const next = was
          ? { ...was, data: { ...was.data, ...data } }
          : { id: newId("ctc", now), email, subscribed: true, data };
        byEmail.set(email, next);
        return next;
      },
    };
  }

  /**
   * Starts what event `ref` of `contact` triggers, by the re-entry rule, and runs each start's first steps
   * (those with no effect outside it); returns the new executions' ids.
   */
  private async startFor(
    read: Awaited<ReturnType<ShardDO["readForGroup"]>> | null,
    ref: StoredEventRef,
    contact: ContactView,
    started: { exec: Exec; page: LivePage }[],
  ): Promise<[string, string][]> {
    const ids: [string, string][] = [];
    for (const snapshot of read?.snapshots.get(ref.name) ?? []) {
      const refused = this.refusal(read, snapshot, contact.id);
      if (refused) {
        // Nothing is a silent no-op: the workflow the event triggers but did not start, and why.
        this.log.info("workflows not started", {
          eventId: ref.id,
          event: ref.name,
          contactId: contact.id,
          notStarted: [{ workflowId: snapshot.id, name: snapshot.name, reason: refused }],
        });
        continue;
      }
      const exec = await this.startOne(snapshot, contact, ref.id, ref.data, ref.createdAt, started);
      ids.push([exec.executionId, snapshot.id]);
    }
    return ids;
  }

  /** The event names executions of this shard wait for. */
  private waitedNames(): Set<string> {
    const names = new Set<string>();
    for (const { exec } of this.byId.values()) {
      if (exec.status === "WAITING" && exec.wait?.kind === "event") names.add(exec.wait.eventName);
    }
    return names;
  }

  /**
   * An execution as its page stores it, in JSON. One that has ended with its deliveries finished does not
   * change again (a replay forgets it), so its JSON is made once: a page is rewritten whole at each commit
   * that moves one of its executions, and most of them are done.
   */
  private jsonOf(e: Exec): string {
    const hit = this.frozen.get(e);
    if (hit !== undefined) return hit;
    const json = JSON.stringify(stored(e));
    if (!isActive(e)) this.frozen.set(e, json);
    return json;
  }

  /** Why the re-entry rule refuses a run of `snapshot` for the contact now, or null if it allows it. */
  private refusal(
    read: Awaited<ReturnType<ShardDO["readForGroup"]>> | null,
    snapshot: WorkflowSnapshot,
    contactId: string,
  ): RefusalReason | null {
    const key = `${snapshot.id}|${contactId}`;
    if (this.active.has(key)) return "active run";
    if (!snapshot.allowReentry && (this.ran.has(key) || read?.ranBefore.has(key)))
      return "re-entry not allowed";
    return null;
  }

  /** A new execution in its workflow's open page, its first steps run (those with no effect outside it). */
  private async startOne(
    snapshot: WorkflowSnapshot,
    contact: ContactView,
    triggerEventId: string | null,
    data: Record<string, unknown>,
    startedAt: number,
    started: { exec: Exec; page: LivePage }[],
  ): Promise<Exec> {
    const meta = this.meta as Meta;
    const key = `${snapshot.id}|${contact.id}`;
    const page = this.place(snapshot);
    const exec: Exec = {
      executionId: executionIdOf(page.id, page.execs.length),
      projectId: meta.projectId,
      workflowId: snapshot.id,
      contactId: contact.id,
      triggerEventId,
      snapshot,
      event: data,
      database: meta.database,
      startedAt,
      status: "RUNNING",
      currentStepId: snapshot.triggerStepId,
      exitReason: null,
      completedAt: null,
      wait: null,
      visits: {},
      log: [],
      dirtyLog: [],
      dirty: true,
      alarm: null,
    };
    page.execs.push(exec);
    this.byId.set(exec.executionId, { page, exec });
    this.active.set(key, exec.executionId);
    if (!snapshot.allowReentry) this.ran.add(key);
    started.push({ exec, page });
    await advance(exec, {
      effects: () => this.effects(exec, contact),
      save: async () => {},
      log: this.log,
      canRun: (step) => !AFTER_COMMIT.has(step.type as StepType),
    });
    this.settled(exec);
    return exec;
  }

  /** Takes back a start whose commit failed. */
  private unstart(exec: Exec, page: LivePage): void {
    page.execs.splice(page.execs.indexOf(exec), 1);
    this.byId.delete(exec.executionId);
    const key = `${exec.workflowId}|${exec.contactId}`;
    if (this.active.get(key) === exec.executionId) this.active.delete(key);
    this.ran.delete(key);
    if (page.execs.length === 0 && !page.stored) {
      this.pages.delete(page.id);
      if (this.open.get(page.workflowId) === page) this.open.delete(page.workflowId);
    }
  }

  /** The workflow's open page for this snapshot (a new one when it is full or the workflow changed). */
  private place(snapshot: WorkflowSnapshot): LivePage {
    let json = this.snapshotJson.get(snapshot);
    if (json === undefined) {
      json = JSON.stringify(snapshot);
      this.snapshotJson.set(snapshot, json);
    }
    let page = this.open.get(snapshot.id);
    if (!page || page.execs.length >= PAGE_SIZE || page.snapshotJson !== json) {
      page = {
        id: newPageId(Date.now()),
        workflowId: snapshot.id,
        snapshot,
        snapshotJson: json,
        execs: [],
        stored: false,
        counts: {},
      };
      this.open.set(snapshot.id, page);
      this.pages.set(page.id, page);
    }
    this.dirty.add(page.id);
    return page;
  }

  /** Adds an execution's moves since the last commit to a day's per-step counters (as COUNT_STEPS does). */
  private count(c: Counts[string], e: Exec, before: Committed | undefined): void {
    const add = (key: string, status: string, old: string | undefined) => {
      const row = c[key] ?? [0, 0, 0];
      c[key] = row;
      if (old === undefined) row[0]++;
      if (status === "COMPLETED" && old !== "COMPLETED") row[1]++;
      if (status === "FAILED" && old !== "FAILED") row[2]++;
    };
    e.log.forEach((entry, i) => {
      const old = before?.log[i];
      if (old === entry.status) return;
      add(entry.stepId, entry.status, old);
      if (i === 0) add("$start", entry.status, old);
    });
    if (isTerminal(e.status) && !before?.ended) add(`$end:${e.status}`, e.status, undefined);
  }

  private viewOf(e: Exec): Committed {
    return {
      log: e.log.map((l) => l.status),
      ended: isTerminal(e.status),
      waitRow: e.status === "WAITING" && e.wait?.kind === "event",
    };
  }

  /** Whether the last commit's work has been followed by one more (what a step's save waits for). */
  private persist(page: LivePage): Promise<void> {
    this.changed(page);
    this.flush = true;
    const need = this.startedSeq + 1;
    const p = new Promise<void>((resolve, reject) => this.persistWaiters.push({ need, resolve, reject }));
    this.kick();
    return p;
  }

  private releaseWaiters(): void {
    const ready = this.persistWaiters.filter((w) => w.need <= this.doneSeq);
    this.persistWaiters = this.persistWaiters.filter((w) => w.need > this.doneSeq);
    for (const w of ready) w.resolve();
  }

  private failWaiters(err: unknown): void {
    const all = this.persistWaiters;
    this.persistWaiters = [];
    for (const w of all) w.reject(err);
  }

  /** A page's change goes with the next commit, or alone after LINGER_MS. */
  private changed(page: LivePage): void {
    this.dirty.add(page.id);
    this.toArm.add(page);
    this.lingering ??= setTimeout(() => {
      this.lingering = null;
      this.flush = true;
      this.kick();
    }, LINGER_MS);
  }

  /** Resolves once everything changed so far is committed (an alarm's work, before it returns). */
  private async committedAll(): Promise<void> {
    if (this.dirty.size === 0 && !this.committing) return;
    this.flush = true;
    this.kick();
    while (this.committing) await this.committing;
  }

  /** Pages whose executions and deliveries have all ended leave memory (D1 has them whole). */
  private prune(pages: LivePage[]): void {
    for (const p of pages) {
      if (this.open.get(p.workflowId) === p && p.execs.length < PAGE_SIZE) continue;
      if (p.execs.some(isActive) || this.dirty.has(p.id)) continue;
      this.pages.delete(p.id);
      for (const e of p.execs) {
        this.byId.delete(e.executionId);
        this.committed.delete(e.executionId);
        for (const h of e.hooks ?? []) this.committedHooks.delete(h.id);
      }
    }
  }

  // ---- running executions ---------------------------------------------------------------------------

  /** Runs an execution's steps after a commit (each saved by a commit before the next), then its webhooks. */
  private run(exec: Exec, page: LivePage): Promise<void> {
    // A run under way may have passed the move that called for this one (a wait ended as it finished):
    // this one follows it, and does nothing if there is nothing left to run.
    const already = this.running.get(exec.executionId);
    if (already) return already.then(() => this.run(exec, page));
    const contactOf = async (): Promise<ContactView> => {
      const contact = await this.readContact(exec.contactId);
      if (!contact) throw new StepFailure("The contact no longer exists");
      return contact;
    };
    // A step is made durable before a step that acts outside the execution runs (a branch taken before an
    // email must not change on a retry); moves in between are committed with the next commit. A retry
    // after a crash repeats them from the stored state, with the same ids (nothing they did left the shard).
    const beforeEffect = () => {
      const step = exec.currentStepId ? exec.snapshot.steps[exec.currentStepId] : undefined;
      return exec.status === "RUNNING" && step !== undefined && AFTER_COMMIT.has(step.type);
    };
    const host: MachineHost = {
      effects: () => this.effects(exec, null, contactOf),
      save: async () => {
        if (beforeEffect()) await this.persist(page);
        else this.changed(page);
      },
      log: this.log.child({ executionId: exec.executionId }),
    };
    const job = (async () => {
      try {
        if (beforeEffect() && this.dirty.has(page.id)) await this.persist(page);
        await advance(exec, host);
        this.retryAt.delete(exec.executionId);
        // A webhook the run asked for is posted once stored: stored now rather than after the linger.
        if ((exec.hooks ?? []).some((h) => !this.committedHooks.has(h.id))) await this.persist(page);
      } catch (err) {
        this.log.error("execution step failed; tried again later", {
          executionId: exec.executionId,
          ...errorFields(err),
        });
        this.retryAt.set(exec.executionId, Date.now() + RUN_RETRY_MS);
      } finally {
        this.running.delete(exec.executionId);
        this.settled(exec);
        this.changed(page);
      }
      this.postDue([page]);
      await this.arm();
    })();
    this.running.set(exec.executionId, job);
    this.background(job);
    return job;
  }

  /** Contacts asked for in one turn of the event loop are read in one statement (an alarm's due runs). */
  private readContact(id: string): Promise<ContactView | null> {
    return new Promise((resolve, reject) => {
      const waiting = this.contactReads.get(id) ?? [];
      waiting.push({ resolve, reject });
      this.contactReads.set(id, waiting);
      this.contactTimer ??= setTimeout(() => void this.flushContactReads(), 0);
    });
  }

  private async flushContactReads(): Promise<void> {
    const reads = this.contactReads;
    this.contactReads = new Map();
    this.contactTimer = null;
    try {
      const { results } = await this.db
        .prepare(
          `SELECT c.id, c.email, c.subscribed, c.data FROM json_each(?2) AS m
           CROSS JOIN contacts c ON c.project_id = ?1 AND c.id = m.value`,
        )
        .bind((this.meta as Meta).projectId, JSON.stringify([...reads.keys()]))
        .all<{ id: string; email: string; subscribed: number; data: string }>();
      const found = new Map(results.map((r) => [r.id, r]));
      for (const [id, waiting] of reads) {
        const r = found.get(id);
        const view = r
          ? { id: r.id, email: r.email, subscribed: Boolean(r.subscribed), data: parseJsonObject(r.data) }
          : null;
        for (const w of waiting) w.resolve(view);
      }
    } catch (err) {
      for (const waiting of reads.values()) for (const w of waiting) w.reject(err);
    }
  }

  /** Work that goes on after the call that set it off: a failure is logged (each kind retries itself). */
  private background(p: Promise<unknown>): void {
    p.catch((err) => this.log.error("shard background work failed", errorFields(err)));
  }

  /** After a move: an ended execution frees its (workflow, contact) for the next run. */
  private settled(exec: Exec): void {
    if (!isTerminal(exec.status)) return;
    const key = `${exec.workflowId}|${exec.contactId}`;
    if (this.active.get(key) === exec.executionId) this.active.delete(key);
  }

  /** Hands a stored event to this contact's executions waiting for it (after its commit). */
  private offerToWaits(ref: StoredEventRef, contactId: string, now: number): Promise<void>[] {
    const runs: Promise<void>[] = [];
    // A contact has at most one active execution of a workflow: looked up for each workflow with pages here.
    const workflows = new Set([...this.pages.values()].map((p) => p.workflowId));
    for (const workflowId of workflows) {
      const at = this.byId.get(this.active.get(`${workflowId}|${contactId}`) ?? "");
      if (!at) continue;
      const { exec, page } = at;
      // WAITING: its run, if one is still finishing, has left the step loop; the next run follows it.
      if (exec.status !== "WAITING") continue;
      if (acceptEvent(exec, ref, now)) {
        this.changed(page);
        runs.push(this.run(exec, page));
      }
    }
    return runs;
  }

  private effects(exec: Exec, contact: ContactView | null, read?: () => Promise<ContactView>): StepEffects {
    const env = projectEnv(this.env, (this.meta as Meta).database);
    return {
      contact: async () => {
        if (contact) return contact;
        if (!read) throw new Error("no contact");
        return read();
      },
      enqueueWebhook: async (message) => {
        const id = deliveryIdOf(exec.executionId, message.deliveryId);
        exec.hooks ??= [];
        if (!exec.hooks.some((h) => h.id === id)) {
          const now = Date.now();
          exec.hooks.push({
            id,
            stepId: message.stepId,
            message: { ...message, deliveryId: id },
            status: "PENDING",
            attempts: [],
            due: null,
            url: message.config.url,
            generation: 0,
            createdAt: now,
            updatedAt: now,
          });
        }
        return id;
      },
      enqueueEmail: async (message) => {
        await env.EMAILS_QUEUE.send({ ...message, db: env.DATABASE }, { contentType: "json" });
      },
      updateContact: async (update, statusEventId) => {
        const { statusChanged } = await updateContactRow(
          env,
          exec.projectId,
          exec.contactId,
          update,
          statusEventId,
        );
        // Its status event goes to this shard's next commit (the contact is its), and the contact's segments
        // follow. Neither is lost if the object goes first: the event is stored undispatched (the sweep
        // dispatches it), and the segments are refreshed by the contact's next change.
        this.background(
          (async () => {
            if (statusChanged) await dispatchStored(env, this.log, exec.projectId, [statusEventId]);
            await refreshSegments(env, this.log, exec.projectId, [exec.contactId]);
          })(),
        );
        return { statusChanged };
      },
    };
  }

  // ---- webhooks -----------------------------------------------------------------------------------

  /** Posts every committed delivery that is due and not in flight (of these pages, or of every page). */
  private postDue(pages: Iterable<LivePage> = this.pages.values()): Promise<void>[] {
    const now = Date.now();
    const posts: Promise<void>[] = [];
    for (const page of pages) {
      for (const exec of page.execs) {
        for (const h of exec.hooks ?? []) {
          if (h.status !== "PENDING" || (h.due ?? 0) > now) continue;
          if (!this.committedHooks.has(h.id) || this.posting.has(h.id)) continue;
          const post = this.post(h, page);
          this.background(post);
          posts.push(post);
        }
      }
    }
    return posts;
  }

  private async post(h: Hook, page: LivePage): Promise<void> {
    this.posting.add(h.id);
    try {
      const env = projectEnv(this.env, (this.meta as Meta).database);
      const now = Date.now();
      const outcome = await deliver(env, h.message, now, await this.projectSecrets());
      const attemptNo = h.attempts.filter((a) => a.generation === h.generation).length + 1;
      const final = outcome.ok || outcome.final || attemptNo >= MAX_ATTEMPTS;
      const delaySeconds = final ? null : retryDelay(env, attemptNo, outcome.retryAfter);
      h.url = outcome.url;
      h.updatedAt = Date.now();
      h.attempts.push({
        ...outcome.attempt,
        generation: h.generation,
        ...(delaySeconds === null
          ? {}
          : { nextAttemptAt: new Date(Date.now() + delaySeconds * 1000).toISOString() }),
      });
      h.status = outcome.ok ? "DELIVERED" : final ? "FAILED" : "PENDING";
      h.due = delaySeconds === null ? null : Date.now() + delaySeconds * 1000;
      const dlog = this.log.child({
        deliveryId: h.id,
        executionId: h.message.executionId,
        attempt: attemptNo,
      });
      logAttempt(this.env, dlog, outcome.ok, final, outcome.attempt, delaySeconds);
      this.changed(page);
    } catch (err) {
      h.due = Date.now() + RUN_RETRY_MS;
      this.toArm.add(page);
      this.log.error("webhook post failed; tried again later", { deliveryId: h.id, ...errorFields(err) });
    } finally {
      this.posting.delete(h.id);
    }
    await this.arm();
  }

  private async projectSecrets(): Promise<ProjectSecrets | null> {
    const now = Date.now();
    if (this.secrets && now - this.secrets.at < SECRETS_TTL_MS) return this.secrets.value;
    const p = await this.db
      .prepare(
        `SELECT webhook_secret, previous_webhook_secret, previous_webhook_secret_until, signing_secret
         FROM projects WHERE id = ?1`,
      )
      .bind((this.meta as Meta).projectId)
      .first<{
        webhook_secret: string;
        previous_webhook_secret: string | null;
        previous_webhook_secret_until: number | null;
        signing_secret: string | null;
      }>();
    const value = p
      ? {
          webhookSecret: p.webhook_secret,
          previousWebhookSecret: p.previous_webhook_secret,
          previousWebhookSecretUntil: p.previous_webhook_secret_until,
          signingSecret: p.signing_secret,
        }
      : null;
    this.secrets = { at: now, value };
    return value;
  }

  // ---- timers and restart -------------------------------------------------------------------------

  /** One alarm for the shard's earliest due time, set only when that moves earlier. */
  private async arm(): Promise<void> {
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    const pages = this.alarmAt === null ? [...this.pages.values()] : [...this.toArm];
    this.toArm.clear();
    for (const exec of pages.flatMap((p) => (this.pages.has(p.id) ? p.execs : []))) {
      if (exec.status === "WAITING" && exec.wait?.until != null) next = Math.min(next, exec.wait.until);
      const retry = this.retryAt.get(exec.executionId);
      if (exec.status === "RUNNING" && retry !== undefined) next = Math.min(next, retry);
      for (const h of exec.hooks ?? []) {
        if (h.status !== "PENDING") continue;
        // A first post (no due time) is leased: looked at again once the lease is over, should its
        // outcome not be stored by then. One on its way or not stored yet: a lease from now.
        const leased = this.posting.has(h.id) || !this.committedHooks.has(h.id) ? now : h.updatedAt;
        next = Math.min(next, h.due ?? leased + POST_LEASE_MS);
      }
    }
    if (!Number.isFinite(next)) return;
    // Due times are rounded up to the quantum: what falls due together is one alarm, one commit.
    const at = Math.ceil(next / ALARM_QUANTUM_MS) * ALARM_QUANTUM_MS;
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  /** A restarted shard: its listed pages back in memory; an alarm now resumes what was under way. */
  private async load(): Promise<void> {
    const got = await this.ctx.storage.get<string[] | Meta>(["listed", "meta"]);
    const meta = got.get("meta") as Meta | undefined;
    this.listed = (got.get("listed") as string[] | undefined) ?? [];
    if (!meta) return;
    this.know(meta, meta.name);
    if (this.listed.length === 0) return;
    const { results } = await this.db
      .prepare(
        "SELECT p.id, p.workflow_id, p.snapshot, p.body, p.counts FROM json_each(?1) AS m CROSS JOIN pages p ON p.id = m.value",
      )
      .bind(JSON.stringify(this.listed))
      .all<{ id: string; workflow_id: string; snapshot: string; body: string; counts: string }>();
    for (const row of results) {
      const execs = JSON.parse(row.body) as StoredExecution[];
      if (execs.some(isActive)) this.adopt(row);
    }
    this.resuming = true;
    this.alarmAt = Date.now();
    await this.ctx.storage.setAlarm(this.alarmAt);
  }

  private resuming = false;

  /** After a restart: running executions resumed, and each wait offered the events it may have missed. */
  private async resume(): Promise<void> {
    if (!this.resuming) return;
    this.resuming = false;
    for (const { exec, page } of this.byId.values()) {
      if (exec.status === "RUNNING") this.retryAt.set(exec.executionId, 0);
      const w = exec.wait;
      if (exec.status !== "WAITING" || w?.kind !== "event") continue;
      const { results } = await this.db
        .prepare(
          `SELECT id, name, data, created_at FROM events WHERE project_id = ?1 AND contact_id = ?2 AND name = ?3
           AND created_at >= ?4 AND id != ?5 ORDER BY created_at, id LIMIT ?6`,
        )
        .bind(
          exec.projectId,
          exec.contactId,
          w.eventName,
          w.since,
          exec.triggerEventId ?? "",
          MISSED_EVENTS_SCANNED,
        )
        .all<{ id: string; name: string; data: string; created_at: number }>();
      const now = Date.now();
      for (const m of results) {
        const ref = { id: m.id, name: m.name, data: parseJsonObject(m.data), createdAt: m.created_at };
        if (acceptEvent(exec, ref, now)) {
          this.changed(page);
          this.retryAt.set(exec.executionId, 0);
          break;
        }
      }
    }
  }
}

/** An execution not ended, or a delivery of it not finished: its page stays in the shard's memory. */
function isActive(e: Pick<Exec, "status" | "hooks">): boolean {
  return !isTerminal(e.status) || (e.hooks ?? []).some((h) => h.status === "PENDING");
}

function sameView(a: Committed, b: Committed): boolean {
  return a.ended === b.ended && a.waitRow === b.waitRow && a.log.join() === b.log.join();
}

/** The state a page stores: the page holds the project, workflow and snapshot once. */
function stored(e: Exec): StoredExecution {
  const {
    snapshot: _s,
    projectId: _p,
    workflowId: _w,
    database: _d,
    dirtyLog: _l,
    dirty: _y,
    alarm: _a,
    alarmSet: _as,
    ...rest
  } = e;
  return rest;
}
