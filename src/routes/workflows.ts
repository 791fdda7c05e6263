/** Workflow definitions: workflows, their steps and transitions, and the lock (API.md "Workflows"). */
import { and, asc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { CONTACTS_SAMPLED, contactFields, EVENTS_SAMPLED, eventFields } from "../db/discovery";
import { workflowSteps, workflows, workflowTransitions } from "../db/schema";
import { assertUnlocked, loadWorkflow, stepReferenceProblem } from "../db/workflows";
import { newId } from "../domain/ids";
import type { StepOut, TransitionOut, WorkflowOut, WorkflowStatsOut } from "../domain/responses";
import { storedSchedule } from "../domain/schedule";
import { iso } from "../domain/shapes";
import {
  branchesOf,
  configByType,
  insertStepBody,
  MAX_STEPS_PER_WORKFLOW,
  newStepBody,
  patchStepBody,
  type StepType,
} from "../domain/workflow/config";
import { spliceOut, subtreeOf, transitionProblem } from "../domain/workflow/graph";
import {
  createTransition,
  createWorkflow,
  deleteStepQuery,
  duplicateWorkflow,
  patchWorkflow,
  workflowFieldsQuery,
} from "../domain/workflow/requests";
import type { Env } from "../env";
import { projectAuth } from "../http/auth";
import { parseJson, parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { ApiError, conflict, fieldError, notFound, validationError, zodFieldErrors } from "../http/errors";
import { afterCursor, listQuery, newestFirst, toPage } from "../http/pagination";
import {
  checkScheduleSegment,
  nextRunOf,
  parseSchedule,
  projectTimeZone,
  triggerConfigOf,
} from "../schedules";
import { STEP_COUNTS_OF } from "../shard/pages";
import { executionRoutes } from "./executions";
import { definitionRoutes } from "./workflow-definition";

/** `GET /workflows/:id/stats`: the window of the per-step counts, in days back from now. */
export const statsQuery = z.strictObject({ days: z.coerce.number().int().min(1).max(30).default(7) });

type WorkflowRow = typeof workflows.$inferSelect;
type StepRow = typeof workflowSteps.$inferSelect;
type TransitionRow = typeof workflowTransitions.$inferSelect;

export const showWorkflow = (w: WorkflowRow, activeExecutions: number): WorkflowOut => {
  const schedule = parseSchedule(w.schedule);
  return {
    id: w.id,
    name: w.name,
    description: w.description,
    eventName: schedule ? null : w.eventName,
    schedule: schedule ? { ...schedule, nextRunAt: iso(w.nextRunAt) } : null,
    enabled: w.enabled,
    allowReentry: w.allowReentry,
    activeExecutions,
    createdAt: iso(w.createdAt),
    updatedAt: iso(w.updatedAt),
  };
};
export const showStep = (s: StepRow): StepOut => ({
  id: s.id,
  key: s.key,
  type: s.type as StepType,
  name: s.name,
  config: JSON.parse(s.config) as unknown,
});
export const showTransition = (
  t: Pick<TransitionRow, "id" | "fromStepId" | "toStepId" | "branch">,
): TransitionOut => ({
  id: t.id,
  fromStepId: t.fromStepId,
  toStepId: t.toStepId,
  branch: t.branch,
});

/** A stored step as the graph rules see it (its config decides a multi-branch CONDITION's ways out). */
const graphStep = (s: StepRow) => ({ id: s.id, type: s.type as StepType, config: JSON.parse(s.config) });

async function loadGraph(env: Env, workflowId: string) {
  const d = db(env);
  const [steps, transitions] = await Promise.all([
    d
      .select()
      .from(workflowSteps)
      .where(eq(workflowSteps.workflowId, workflowId))
      .orderBy(asc(workflowSteps.createdAt)),
    d
      .select()
      .from(workflowTransitions)
      .where(eq(workflowTransitions.workflowId, workflowId))
      .orderBy(asc(workflowTransitions.createdAt)),
  ]);
  return { steps, transitions };
}

/**
 * RUNNING or WAITING executions per workflow (by the executions_active index): what locks a
 * workflow's steps, shown beside it.
 */
async function activeCounts(
  env: Env,
  projectId: string,
  workflowIds: string[],
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  if (workflowIds.length === 0) return counts;
  // On the shard engine, the executions of the workflows' pages with active ones.
  const { results } = await env.DB.prepare(
    `SELECT id, count(*) AS n FROM (
       SELECT workflow_id AS id FROM executions
        WHERE workflow_id IN (SELECT value FROM json_each(?1)) AND status IN ('RUNNING', 'WAITING')
       UNION ALL
       SELECT p.workflow_id FROM json_each(?1) AS w CROSS JOIN pages p ON p.project_id = ?2 AND p.workflow_id = w.value,
         json_each(p.body) AS e
        WHERE p.active > 0 AND e.value ->> 'status' IN ('RUNNING', 'WAITING'))
     GROUP BY id`,
  )
    .bind(JSON.stringify(workflowIds), projectId)
    .all<{ id: string; n: number }>();
  for (const r of results) counts.set(r.id, r.n);
  return counts;
}

const activeCount = async (env: Env, projectId: string, id: string) =>
  (await activeCounts(env, projectId, [id])).get(id) ?? 0;

/**
 * A transition's insert that stores only while both its steps exist (a batch's later statements see its
 * earlier ones), answering the row.
 */
const insertTransition = (
  env: Env,
  projectId: string,
  workflowId: string,
  t: { fromStepId: string; toStepId: string; branch: string | null },
  now: number,
) =>
  env.DB.prepare(
    `INSERT INTO workflow_transitions (id, project_id, workflow_id, from_step_id, to_step_id, branch, branch_key, created_at)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
     WHERE (SELECT count(*) FROM workflow_steps WHERE workflow_id = ?3 AND id IN (?4, ?5)) = 2
     RETURNING id, from_step_id AS fromStepId, to_step_id AS toStepId, branch`,
  ).bind(newId("trn", now), projectId, workflowId, t.fromStepId, t.toStepId, t.branch, t.branch ?? "", now);

const chunks = <T>(rows: T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(rows.length / size) }, (_, i) => rows.slice(i * size, i * size + size));

async function checkReferences(env: Env, projectId: string, type: StepType, config: unknown): Promise<void> {
  const problem = await stepReferenceProblem(env, projectId, type, config);
  if (problem) throw validationError([problem]);
}

const touch = (env: Env, workflowId: string, now: number) =>
  db(env).update(workflows).set({ updatedAt: now }).where(eq(workflows.id, workflowId));

export const workflowRoutes = new Hono<AppEnv>()
  .use(projectAuth())
  .post("/", async (c) => {
    const { data } = await parseJson(c, createWorkflow);
    const projectId = c.get("project").id;
    if (data.schedule) await checkScheduleSegment(c.env, projectId, data.schedule);
    const schedule = data.schedule ? storedSchedule(data.schedule) : null;
    const now = Date.now();
    const id = newId("wf", now);
    const row: WorkflowRow = {
      id,
      projectId,
      name: data.name,
      description: data.description ?? null,
      eventName: data.eventName ?? "",
      schedule: schedule && JSON.stringify(schedule),
      nextRunAt:
        schedule && data.enabled
          ? nextRunOf(schedule, true, await projectTimeZone(c.env, projectId), now)
          : null,
      enabled: data.enabled,
      allowReentry: data.allowReentry,
      createdAt: now,
      updatedAt: now,
    };
    const trigger: StepRow = {
      id: newId("stp", now),
      projectId,
      workflowId: id,
      type: "TRIGGER",
      name: "Trigger",
      config: JSON.stringify(triggerConfigOf(row)),
      key: null,
      createdAt: now,
    };
    const d = db(c.env);
    await d.batch([d.insert(workflows).values(row), d.insert(workflowSteps).values(trigger)]);
    return c.json({ ...showWorkflow(row, 0), steps: [showStep(trigger)], transitions: [] }, 201);
  })
  .get("/", async (c) => {
    const q = parseQuery(c, listQuery);
    const rows = await db(c.env)
      .select()
      .from(workflows)
      .where(
        and(
          eq(workflows.projectId, c.get("project").id),
          afterCursor(workflows.createdAt, workflows.id, q.cursor),
        ),
      )
      .orderBy(...newestFirst(workflows.createdAt, workflows.id))
      .limit(q.limit + 1);
    const active = await activeCounts(
      c.env,
      c.get("project").id,
      rows.slice(0, q.limit).map((r) => r.id),
    );
    return c.json(
      toPage(
        rows,
        q.limit,
        (r) => r.createdAt,
        (r) => showWorkflow(r, active.get(r.id) ?? 0),
      ),
    );
  })
  // What an editor offers to choose from: contact fields and each trigger event's data fields seen in the
  // project's newest rows (src/db/discovery.ts), before /:id takes "fields" for an id.
  .get("/fields", async (c) => {
    const projectId = c.get("project").id;
    const q = parseQuery(c, workflowFieldsQuery);
    const { results } = await c.env.DB.prepare(
      "SELECT DISTINCT event_name AS name FROM workflows WHERE project_id = ?1 AND event_name != '' ORDER BY name LIMIT 200",
    )
      .bind(projectId)
      .all<{ name: string }>();
    const names = [...new Set([...results.map((r) => r.name), ...(q.event ?? [])])];
    const [contact, events] = await Promise.all([
      contactFields(c.env, projectId),
      eventFields(c.env, projectId, names),
    ]);
    return c.json({ contact, events, sampled: { contacts: CONTACTS_SAMPLED, events: EVENTS_SAMPLED } });
  })
  .get("/:id", async (c) => {
    const wf = await loadWorkflow(c.env, c.get("project").id, c.req.param("id"));
    const [{ steps, transitions }, active] = await Promise.all([
      loadGraph(c.env, wf.id),
      activeCount(c.env, wf.projectId, wf.id),
    ]);
    return c.json({
      ...showWorkflow(wf, active),
      steps: steps.map(showStep),
      transitions: transitions.map(showTransition),
    });
  })
  .get("/:id/stats", async (c) => {
    const q = parseQuery(c, statsQuery);
    const wf = await loadWorkflow(c.env, c.get("project").id, c.req.param("id"));
    const until = Date.now();
    // Counted by UTC day: the window starts at the beginning of the day `days` days ago.
    const since = Math.floor((until - q.days * 86_400_000) / 86_400_000) * 86_400_000;
    const [stepRows, atNow, visits] = await c.env.DB.batch<Record<string, unknown>>([
      c.env.DB.prepare("SELECT id FROM workflow_steps WHERE workflow_id = ?1 ORDER BY created_at").bind(
        wf.id,
      ),
      // By executions_active (partial): only the active executions are read; on the shard engine, the
      // workflow's pages with active executions (`pages_workflow`: every page's entry, the ended skipped).
      c.env.DB.prepare(
        `SELECT stepId, count(*) AS n FROM (
           SELECT current_step_id AS stepId FROM executions WHERE workflow_id = ?1 AND status IN ('RUNNING', 'WAITING')
           UNION ALL
           SELECT e.value ->> 'currentStepId' FROM pages p, json_each(p.body) AS e
            WHERE p.project_id = ?2 AND p.workflow_id = ?1 AND p.active > 0
              AND e.value ->> 'status' IN ('RUNNING', 'WAITING'))
         GROUP BY stepId`,
      ).bind(wf.id, wf.projectId),
      // The counters of the window's UTC days: a range of step_counts' primary key (a row a day), and on
      // the shard engine the counters its pages keep (src/shard/pages.ts).
      c.env.DB.prepare(
        `SELECT k AS stepId, sum(p) AS passed, sum(c) AS completed, sum(f) AS failed
          FROM (${STEP_COUNTS_OF("$w = ?1")}) GROUP BY k`,
      ).bind(wf.id, since / 86_400_000, wf.projectId),
    ]);
    const stats = new Map(
      (stepRows?.results ?? []).map((r) => [
        r.id as string,
        { stepId: r.id as string, active: 0, passed: 0, completed: 0, failed: 0 },
      ]),
    );
    for (const r of atNow?.results ?? []) {
      const s = stats.get(r.stepId as string);
      if (s) s.active = r.n as number;
    }
    for (const r of visits?.results ?? []) {
      const s = stats.get(r.stepId as string);
      if (!s) continue;
      s.passed = r.passed as number;
      s.completed = r.completed as number;
      s.failed = r.failed as number;
    }
    const body: WorkflowStatsOut = {
      workflowId: wf.id,
      since: new Date(since).toISOString(),
      until: new Date(until).toISOString(),
      steps: [...stats.values()],
    };
    return c.json(body);
  })
  .patch("/:id", async (c) => {
    const { data } = await parseJson(c, patchWorkflow);
    const projectId = c.get("project").id;
    const wf = await loadWorkflow(c.env, projectId, c.req.param("id"));
    if (data.schedule && !wf.schedule)
      throw fieldError(
        "schedule",
        "This workflow starts on an event: its trigger is permanent (create a new workflow for a schedule)",
        "immutable",
      );
    if (data.schedule) await checkScheduleSegment(c.env, projectId, data.schedule);
    const schedule = data.schedule ? storedSchedule(data.schedule) : parseSchedule(wf.schedule);
    const enabled = data.enabled ?? wf.enabled;
    const now = Date.now();
    // A schedule's next time is found again when it changes or is enabled, and dropped when disabled.
    const rescheduled = schedule !== null && (data.schedule !== undefined || enabled !== wf.enabled);
    const next: WorkflowRow = {
      ...wf,
      name: data.name ?? wf.name,
      description: data.description === undefined ? wf.description : data.description,
      enabled,
      allowReentry: data.allowReentry ?? wf.allowReentry,
      schedule: schedule && JSON.stringify(schedule),
      nextRunAt: rescheduled
        ? nextRunOf(schedule, enabled, await projectTimeZone(c.env, projectId), now)
        : wf.nextRunAt,
      updatedAt: now,
    };
    const d = db(c.env);
    await d.batch([
      d.update(workflows).set(next).where(eq(workflows.id, wf.id)),
      // The TRIGGER step shows the schedule too.
      d
        .update(workflowSteps)
        .set({ config: JSON.stringify(triggerConfigOf(next)) })
        .where(and(eq(workflowSteps.workflowId, wf.id), eq(workflowSteps.type, "TRIGGER"))),
    ]);
    return c.json(showWorkflow(next, await activeCount(c.env, wf.projectId, wf.id)));
  })
  .delete("/:id", async (c) => {
    const wf = await loadWorkflow(c.env, c.get("project").id, c.req.param("id"));
    await assertUnlocked(c.env, wf.projectId, wf.id);
    const d = c.env.DB;
    await d.batch([
      d.prepare("DELETE FROM workflow_transitions WHERE workflow_id = ?1").bind(wf.id),
      d.prepare("DELETE FROM workflow_steps WHERE workflow_id = ?1").bind(wf.id),
      d.prepare("DELETE FROM enrollments WHERE workflow_id = ?1").bind(wf.id),
      d.prepare("DELETE FROM step_counts WHERE workflow_id = ?1").bind(wf.id),
      d.prepare("DELETE FROM executions WHERE workflow_id = ?1").bind(wf.id),
      d.prepare("DELETE FROM pages WHERE project_id = ?1 AND workflow_id = ?2").bind(wf.projectId, wf.id),
      d.prepare("DELETE FROM workflows WHERE id = ?1").bind(wf.id),
    ]);
    return c.body(null, 204);
  })
  .post("/:id/steps", async (c) => {
    const wf = await loadWorkflow(c.env, c.get("project").id, c.req.param("id"));
    const { data } = await parseJson(c, z.unknown());
    const type = (data as { type?: unknown }).type;
    if (type === "TRIGGER")
      throw fieldError("type", "A workflow has one TRIGGER, made with it", "second_trigger");
    const parsed = newStepBody.safeParse(data);
    if (!parsed.success) throw validationError(zodFieldErrors(parsed.error));
    await checkReferences(c.env, c.get("project").id, parsed.data.type, parsed.data.config);
    await assertUnlocked(c.env, wf.projectId, wf.id);
    const d = db(c.env);
    const [count] = await d
      .select({ id: workflowSteps.id })
      .from(workflowSteps)
      .where(eq(workflowSteps.workflowId, wf.id))
      .limit(1)
      .offset(MAX_STEPS_PER_WORKFLOW - 1);
    if (count)
      throw fieldError("type", `A workflow has at most ${MAX_STEPS_PER_WORKFLOW} steps`, "too_many_steps");
    const now = Date.now();
    const row: StepRow = {
      id: newId("stp", now),
      projectId: c.get("project").id,
      workflowId: wf.id,
      type: parsed.data.type,
      name: parsed.data.name,
      config: JSON.stringify(parsed.data.config),
      key: null,
      createdAt: now,
    };
    await d.batch([d.insert(workflowSteps).values(row), touch(c.env, wf.id, now)]);
    return c.json(showStep(row), 201);
  })
  .patch("/:id/steps/:stepId", async (c) => {
    const wf = await loadWorkflow(c.env, c.get("project").id, c.req.param("id"));
    const { data } = await parseJson(c, patchStepBody);
    const [step] = await db(c.env)
      .select()
      .from(workflowSteps)
      .where(and(eq(workflowSteps.workflowId, wf.id), eq(workflowSteps.id, c.req.param("stepId"))));
    if (!step) throw notFound("Step", "STEP_NOT_FOUND");
    if (data.type !== undefined && data.type !== step.type) {
      throw fieldError("type", "A step's type cannot change: add a new step instead", "immutable");
    }
    if (step.type === "TRIGGER" && data.config !== undefined) {
      throw fieldError("config", "The trigger event is permanent", "immutable");
    }
    let config = step.config;
    if (data.config !== undefined) {
      const parsed = configByType[step.type as StepType].safeParse(data.config);
      if (!parsed.success) {
        throw validationError(
          zodFieldErrors(parsed.error).map((e) => ({ ...e, field: `config.${e.field}` })),
        );
      }
      await checkReferences(c.env, c.get("project").id, step.type as StepType, parsed.data);
      // A branch that has a transition stays (a multi-branch CONDITION's ids, or its form).
      const ways = branchesOf(step.type as StepType, parsed.data);
      const used = await db(c.env)
        .select({ branch: workflowTransitions.branch })
        .from(workflowTransitions)
        .where(eq(workflowTransitions.fromStepId, step.id));
      const lost = used.map((t) => t.branch).filter((b) => !ways.includes(b));
      if (lost.length > 0) {
        throw fieldError(
          "config",
          `This config has no branch ${lost.map((b) => `"${b ?? "none"}"`).join(", ")}, which a transition follows: delete the transition first`,
          "branch_in_use",
        );
      }
      config = JSON.stringify(parsed.data);
    }
    await assertUnlocked(c.env, wf.projectId, wf.id);
    const now = Date.now();
    const d = db(c.env);
    const [updated] = await d.batch([
      d
        .update(workflowSteps)
        .set({ name: data.name ?? step.name, config })
        .where(eq(workflowSteps.id, step.id))
        .returning(),
      touch(c.env, wf.id, now),
    ]);
    // A DELETE of the step may have landed between the read above and this write.
    if (!updated[0]) throw notFound("Step", "STEP_NOT_FOUND");
    return c.json(showStep(updated[0]));
  })
  .delete("/:id/steps/:stepId", async (c) => {
    const wf = await loadWorkflow(c.env, c.get("project").id, c.req.param("id"));
    const { mode } = parseQuery(c, deleteStepQuery);
    const stepId = c.req.param("stepId");
    const { steps, transitions } = await loadGraph(c.env, wf.id);
    const step = steps.find((s) => s.id === stepId);
    if (!step) throw notFound("Step", "STEP_NOT_FOUND");
    if (step.type === "TRIGGER")
      throw new ApiError(422, "VALIDATION_ERROR", "The TRIGGER step cannot be deleted");
    // detach: the step and its transitions; splice: its parents lead on to its one child; cascade: it and
    // the steps below it that nothing else leads to.
    let removed = [stepId];
    let reconnect: { fromStepId: string; toStepId: string; branch: string | null }[] = [];
    if (mode === "splice") {
      const spliced = spliceOut(transitions, stepId);
      if ("problem" in spliced) throw fieldError("mode", spliced.problem.message, spliced.problem.code);
      reconnect = spliced.reconnect;
    } else if (mode === "cascade") {
      removed = subtreeOf(steps.map(graphStep), transitions, stepId);
    }
    await assertUnlocked(c.env, wf.projectId, wf.id);
    const d = c.env.DB;
    const now = Date.now();
    const ids = JSON.stringify(removed);
    await d.batch([
      d
        .prepare(
          `DELETE FROM workflow_transitions WHERE workflow_id = ?1
           AND (from_step_id IN (SELECT value FROM json_each(?2)) OR to_step_id IN (SELECT value FROM json_each(?2)))`,
        )
        .bind(wf.id, ids),
      d
        .prepare(
          "DELETE FROM workflow_steps WHERE workflow_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
        )
        .bind(wf.id, ids),
      ...reconnect.map((t) => insertTransition(c.env, c.get("project").id, wf.id, t, now)),
      d.prepare("UPDATE workflows SET updated_at = ?2 WHERE id = ?1").bind(wf.id, now),
    ]);
    return c.body(null, 204);
  })
  .post("/:id/duplicate", async (c) => {
    const projectId = c.get("project").id;
    const wf = await loadWorkflow(c.env, projectId, c.req.param("id"));
    // The body is optional: an empty one is an empty object.
    const empty = c.req.header("content-length") === "0" || !c.req.header("content-type");
    const { name } = empty ? { name: undefined } : (await parseJson(c, duplicateWorkflow)).data;
    const { steps, transitions } = await loadGraph(c.env, wf.id);
    const now = Date.now();
    const copy: WorkflowRow = {
      ...wf,
      id: newId("wf", now),
      name: name ?? `${wf.name} (copy)`.slice(0, 100),
      // Disabled: a copy starts nothing until someone enables it.
      enabled: false,
      nextRunAt: null,
      createdAt: now,
      updatedAt: now,
    };
    const ids = new Map(steps.map((s) => [s.id, newId("stp", now)]));
    // Steps and transitions are listed by creation time: the copy keeps the original's order.
    const newSteps: StepRow[] = steps.map((s, i) => ({
      ...s,
      id: ids.get(s.id) as string,
      workflowId: copy.id,
      createdAt: now + i,
    }));
    const newTransitions: TransitionRow[] = transitions.map((t, i) => ({
      ...t,
      id: newId("trn", now),
      workflowId: copy.id,
      fromStepId: ids.get(t.fromStepId) as string,
      toStepId: ids.get(t.toStepId) as string,
      createdAt: now + i,
    }));
    const d = db(c.env);
    // One batch: the copy is whole or absent. Steps and transitions go in slices under D1's bound
    // parameters per statement.
    await d.batch([
      d.insert(workflows).values(copy),
      ...chunks(newSteps, 10).map((rows) => d.insert(workflowSteps).values(rows)),
      ...chunks(newTransitions, 10).map((rows) => d.insert(workflowTransitions).values(rows)),
    ] as unknown as Parameters<typeof d.batch>[0]);
    return c.json(
      {
        ...showWorkflow(copy, 0),
        steps: newSteps.map(showStep),
        transitions: newTransitions.map(showTransition),
      },
      201,
    );
  })
  .post("/:id/transitions/:tid/insert-step", async (c) => {
    const projectId = c.get("project").id;
    const wf = await loadWorkflow(c.env, projectId, c.req.param("id"));
    // The ids first (404), then the body (422).
    const { steps, transitions } = await loadGraph(c.env, wf.id);
    const t = transitions.find((x) => x.id === c.req.param("tid"));
    if (!t) throw notFound("Transition", "TRANSITION_NOT_FOUND");
    const { data } = await parseJson(c, insertStepBody);
    const { branch, ...body } = data;
    if (steps.length >= MAX_STEPS_PER_WORKFLOW)
      throw fieldError("type", `A workflow has at most ${MAX_STEPS_PER_WORKFLOW} steps`, "too_many_steps");
    const ways = branchesOf(body.type, body.config);
    if (ways.length === 0)
      throw fieldError(
        "type",
        `Nothing comes after ${body.type}: it cannot go between two steps`,
        "after_exit",
      );
    const out = branch === undefined ? (ways[0] ?? null) : branch;
    if (!ways.includes(out)) {
      const allowed = ways.map((b) => (b === null ? "none" : `"${b}"`)).join(" or ");
      throw fieldError("branch", `A ${body.type} step takes branch ${allowed}`, "invalid_branch");
    }
    await checkReferences(c.env, projectId, body.type, body.config);
    await assertUnlocked(c.env, wf.projectId, wf.id);
    const now = Date.now();
    const row: StepRow = {
      id: newId("stp", now),
      projectId,
      workflowId: wf.id,
      type: body.type,
      name: body.name,
      config: JSON.stringify(body.config),
      key: null,
      createdAt: now,
    };
    const into = { fromStepId: t.fromStepId, toStepId: row.id, branch: t.branch };
    const onward = { fromStepId: row.id, toStepId: t.toStepId, branch: out };
    const d = c.env.DB;
    // One batch, and only while the transition is still there: the step, the transition's place taken by
    // two (its source's branch into the step, the step's way on to its target).
    const results = await d.batch([
      d
        .prepare(
          `INSERT INTO workflow_steps (id, project_id, workflow_id, type, name, config, key, created_at)
           SELECT ?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7 WHERE EXISTS (SELECT 1 FROM workflow_transitions WHERE id = ?8)`,
        )
        .bind(row.id, projectId, wf.id, row.type, row.name, row.config, now, t.id),
      d.prepare("DELETE FROM workflow_transitions WHERE id = ?1").bind(t.id),
      insertTransition(c.env, projectId, wf.id, into, now),
      insertTransition(c.env, projectId, wf.id, onward, now),
      d.prepare("UPDATE workflows SET updated_at = ?2 WHERE id = ?1").bind(wf.id, now),
    ]);
    if ((results[0]?.meta.changes ?? 0) === 0) throw notFound("Transition", "TRANSITION_NOT_FOUND");
    const made = results.slice(2, 4).map((r) => r.results[0] as TransitionRow | undefined);
    return c.json(
      { step: showStep(row), transitions: made.filter((x) => x !== undefined).map(showTransition) },
      201,
    );
  })
  .post("/:id/transitions", async (c) => {
    const wf = await loadWorkflow(c.env, c.get("project").id, c.req.param("id"));
    const { data } = await parseJson(c, createTransition);
    const { steps, transitions } = await loadGraph(c.env, wf.id);
    const t = { fromStepId: data.fromStepId, toStepId: data.toStepId, branch: data.branch ?? null };
    const problem = transitionProblem(steps.map(graphStep), transitions, t);
    if (problem) throw fieldError(problem.field, problem.message, problem.code);
    await assertUnlocked(c.env, wf.projectId, wf.id);
    const now = Date.now();
    const row: TransitionRow = {
      id: newId("trn", now),
      projectId: c.get("project").id,
      workflowId: wf.id,
      ...t,
      branchKey: t.branch ?? "",
      createdAt: now,
    };
    // The check above read the graph before this write: the insert checks again, in one statement, that
    // both steps still exist and that no cycle has appeared since (a concurrent b→a, a deleted step).
    let inserted: D1Result;
    try {
      inserted = await c.env.DB.prepare(
        `INSERT INTO workflow_transitions
           (id, project_id, workflow_id, from_step_id, to_step_id, branch, branch_key, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
         WHERE (SELECT count(*) FROM workflow_steps WHERE workflow_id = ?3 AND id IN (?4, ?5)) = 2
           AND NOT EXISTS (
             WITH RECURSIVE reach(id) AS (
               SELECT ?5
               UNION SELECT t.to_step_id FROM workflow_transitions t JOIN reach r ON t.from_step_id = r.id
             )
             SELECT 1 FROM reach WHERE id = ?4)`,
      )
        .bind(
          row.id,
          row.projectId,
          row.workflowId,
          row.fromStepId,
          row.toStepId,
          row.branch,
          row.branchKey,
          now,
        )
        .run();
    } catch (err) {
      // Two requests raced past the check: the unique index keeps one transition per (step, branch).
      if (err instanceof Error && /UNIQUE constraint failed: workflow_transitions/.test(err.message)) {
        throw fieldError("branch", "This step already has a transition on this branch", "duplicate_branch");
      }
      throw err;
    }
    if (inserted.meta.changes === 0) {
      const again = await loadGraph(c.env, wf.id);
      const problemNow = transitionProblem(again.steps.map(graphStep), again.transitions, t);
      if (problemNow) throw fieldError(problemNow.field, problemNow.message, problemNow.code);
      throw conflict("The workflow changed while this transition was added; try again");
    }
    await touch(c.env, wf.id, now);
    return c.json(showTransition(row), 201);
  })
  .delete("/:id/transitions/:tid", async (c) => {
    const wf = await loadWorkflow(c.env, c.get("project").id, c.req.param("id"));
    const [t] = await db(c.env)
      .select({ id: workflowTransitions.id })
      .from(workflowTransitions)
      .where(and(eq(workflowTransitions.workflowId, wf.id), eq(workflowTransitions.id, c.req.param("tid"))));
    if (!t) throw notFound("Transition", "TRANSITION_NOT_FOUND");
    await assertUnlocked(c.env, wf.projectId, wf.id);
    const d = db(c.env);
    await d.batch([
      d.delete(workflowTransitions).where(eq(workflowTransitions.id, t.id)),
      touch(c.env, wf.id, Date.now()),
    ]);
    return c.body(null, 204);
  })
  .route("/:id/definition", definitionRoutes)
  .route("/:id/executions", executionRoutes);
