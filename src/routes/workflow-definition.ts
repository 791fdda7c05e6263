/**
 * Workflows as code: `GET|PUT /workflows/:id/definition` read and write a whole workflow as one object,
 * its steps and transitions named by the file's own keys. PUT validates the whole, then creates the
 * workflow (201) or replaces its steps and transitions (200) in one D1 batch: all or nothing.
 */
import { and, asc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { everyDatabase } from "../db/databases";
import { isUniqueViolation } from "../db/errors";
import { workflowSteps, workflows, workflowTransitions } from "../db/schema";
import { assertUnlocked, stepReferenceProblem } from "../db/workflows";
import { derivedId, newId } from "../domain/ids";
import { storedSchedule } from "../domain/schedule";
import { configByType, MAX_STEPS_PER_WORKFLOW, type StepType } from "../domain/workflow/config";
import { definitionBody, TRIGGER_KEY, type WorkflowDefinition } from "../domain/workflow/definition";
import { type GraphTransition, transitionProblem } from "../domain/workflow/graph";
import type { Env } from "../env";
import { parseJson } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import {
  conflict,
  type FieldError,
  fieldError,
  notFound,
  validationError,
  zodFieldErrors,
} from "../http/errors";
import {
  checkScheduleSegment,
  nextRunOf,
  parseSchedule,
  projectTimeZone,
  triggerConfigOf,
} from "../schedules";

interface PlannedStep {
  id: string;
  key: string;
  type: StepType;
  name: string;
  config: unknown;
}

/**
 * Checks the whole definition and turns keys into step ids; every problem is one field error. A key the
 * workflow already has keeps its step's id (`existing`: key → id, where a step made by `POST …/steps` is
 * keyed by its id, as GET shows it), so executions, logs and stats keep pointing at real steps; a new key
 * gets an id derived from (workflow id, key), the same on every apply.
 */
async function plan(
  env: Env,
  projectId: string,
  def: WorkflowDefinition,
  triggerId: string,
  existing: Map<string, string>,
) {
  const errors: FieldError[] = [];
  const keys = Object.keys(def.steps);
  if (keys.includes(TRIGGER_KEY)) {
    errors.push({
      field: "steps.trigger",
      message: '"trigger" names the TRIGGER step, made with the workflow',
      code: "reserved_key",
    });
  }
  if (keys.length + 1 > MAX_STEPS_PER_WORKFLOW) {
    errors.push({
      field: "steps",
      message: `A workflow has at most ${MAX_STEPS_PER_WORKFLOW} steps`,
      code: "too_many_steps",
    });
  }
  const steps: PlannedStep[] = [];
  for (const [key, step] of Object.entries(def.steps)) {
    if (key === TRIGGER_KEY) continue;
    const parsed = configByType[step.type].safeParse(step.config);
    if (!parsed.success) {
      for (const e of zodFieldErrors(parsed.error)) {
        errors.push({ ...e, field: `steps.${key}.config${e.field === "body" ? "" : `.${e.field}`}` });
      }
    } else {
      const problem = await stepReferenceProblem(env, projectId, step.type, parsed.data);
      if (problem) errors.push({ ...problem, field: `steps.${key}.${problem.field}` });
    }
    // A step whose config is refused still takes part in the graph's checks, so that its transitions
    // are judged as they are (and not reported as naming no step); nothing is written while errors exist.
    steps.push({
      id: existing.get(key) ?? (await derivedId("stp", def.id, key)),
      key,
      type: step.type,
      name: step.name ?? key,
      config: parsed.success ? parsed.data : step.config,
    });
  }
  const byKey = new Map<string, { id: string; type: StepType; config?: unknown }>([
    [TRIGGER_KEY, { id: triggerId, type: "TRIGGER" }],
    ...steps.map((s) => [s.key, { id: s.id, type: s.type, config: s.config }] as const),
  ]);
  const graphSteps = [...byKey.values()];
  const transitions: GraphTransition[] = [];
  for (const [i, t] of def.transitions.entries()) {
    const from = byKey.get(t.from);
    const to = byKey.get(t.to);
    if (!from || !to) {
      const [end, key] = from ? (["to", t.to] as const) : (["from", t.from] as const);
      errors.push({ field: `transitions.${i}.${end}`, message: `No step "${key}"`, code: "unknown_step" });
      continue;
    }
    const next = { fromStepId: from.id, toStepId: to.id, branch: t.branch ?? null };
    const problem = transitionProblem(graphSteps, transitions, next);
    if (problem) {
      const field = problem.field === "fromStepId" ? "from" : problem.field === "toStepId" ? "to" : "branch";
      errors.push({ field: `transitions.${i}.${field}`, message: problem.message, code: problem.code });
      continue;
    }
    transitions.push(next);
  }
  if (errors.length) throw validationError(errors);
  return { steps, transitions };
}

/** The workflow as a definition: the same object PUT takes, in a stable order. */
async function readDefinition(env: Env, projectId: string, id: string) {
  const d = db(env);
  const [wf] = await d
    .select()
    .from(workflows)
    .where(and(eq(workflows.projectId, projectId), eq(workflows.id, id)));
  if (!wf) throw notFound("Workflow", "WORKFLOW_NOT_FOUND");
  const [steps, transitions] = await Promise.all([
    d
      .select()
      .from(workflowSteps)
      .where(eq(workflowSteps.workflowId, id))
      .orderBy(asc(workflowSteps.createdAt), asc(workflowSteps.id)),
    d
      .select()
      .from(workflowTransitions)
      .where(eq(workflowTransitions.workflowId, id))
      .orderBy(asc(workflowTransitions.createdAt), asc(workflowTransitions.id)),
  ]);
  const keyOf = new Map(steps.map((s) => [s.id, s.type === "TRIGGER" ? TRIGGER_KEY : (s.key ?? s.id)]));
  const out: Record<string, unknown> = { id: wf.id, name: wf.name };
  if (wf.description !== null) out.description = wf.description;
  const schedule = parseSchedule(wf.schedule);
  if (schedule) out.schedule = schedule.segmentId ? schedule : { cron: schedule.cron };
  else out.eventName = wf.eventName;
  out.enabled = wf.enabled;
  out.allowReentry = wf.allowReentry;
  out.steps = Object.fromEntries(
    steps
      .filter((s) => s.type !== "TRIGGER")
      .map((s) => {
        const key = keyOf.get(s.id) as string;
        const step: Record<string, unknown> = { type: s.type };
        if (s.name !== key) step.name = s.name;
        step.config = JSON.parse(s.config);
        return [key, step];
      }),
  );
  out.transitions = transitions.map((t) => ({
    from: keyOf.get(t.fromStepId),
    to: keyOf.get(t.toStepId),
    ...(t.branch ? { branch: t.branch } : {}),
  }));
  return out;
}

export const definitionRoutes = new Hono<AppEnv>()
  .get("/", async (c) =>
    c.json(await readDefinition(c.env, c.get("project").id, c.req.param("id") as string)),
  )
  .put("/", async (c) => {
    const id = c.req.param("id") as string;
    const { data: def } = await parseJson(c, definitionBody);
    if (def.id !== id) throw fieldError("id", "The body's id must be the path's", "id_mismatch");
    const projectId = c.get("project").id;
    const d = db(c.env);
    const [existing] = await d.select().from(workflows).where(eq(workflows.id, id));
    // Ids are global: another project's workflow has this one, in this database or another (a client-chosen
    // id is looked up in each database when it is new here: one primary-key read a database).
    const takenElsewhere =
      !existing &&
      (
        await Promise.all(
          everyDatabase(c.env)
            .filter((e) => e.DB !== c.env.DB)
            .map((e) => e.DB.prepare("SELECT 1 AS taken FROM workflows WHERE id = ?1").bind(id).first()),
        )
      ).some((row) => row !== null);
    if ((existing && existing.projectId !== projectId) || takenElsewhere) {
      throw fieldError("id", "This workflow id is taken", "id_taken");
    }
    if (existing && existing.schedule === null && existing.eventName !== def.eventName) {
      throw fieldError(
        "eventName",
        "The trigger event is permanent: use a new workflow id for another",
        "immutable",
      );
    }
    if (existing && existing.schedule !== null && !def.schedule) {
      throw fieldError(
        "schedule",
        "This workflow starts on its schedule: use a new workflow id for an event trigger",
        "immutable",
      );
    }
    if (def.schedule) await checkScheduleSegment(c.env, projectId, def.schedule);
    const schedule = def.schedule ? storedSchedule(def.schedule) : null;
    let triggerId: string;
    const keptIds = new Map<string, string>();
    if (existing) {
      const current = await d
        .select({ id: workflowSteps.id, key: workflowSteps.key, type: workflowSteps.type })
        .from(workflowSteps)
        .where(eq(workflowSteps.workflowId, id));
      for (const s of current) if (s.type !== "TRIGGER") keptIds.set(s.key ?? s.id, s.id);
      const trigger = current.find((s) => s.type === "TRIGGER");
      triggerId = trigger?.id ?? (await derivedId("stp", id, TRIGGER_KEY));
    } else {
      triggerId = await derivedId("stp", id, TRIGGER_KEY);
    }
    const { steps, transitions } = await plan(c.env, projectId, def, triggerId, keptIds);
    if (existing) await assertUnlocked(c.env, projectId, id);

    const now = Date.now();
    const db1 = c.env.DB;
    const statements: D1PreparedStatement[] = [];
    const trigger = { eventName: def.eventName ?? "", schedule: schedule && JSON.stringify(schedule) };
    // Unchanged schedule and state keep their next time; otherwise it is found again (or dropped).
    const nextRunAt =
      existing && existing.schedule === trigger.schedule && existing.enabled === def.enabled
        ? existing.nextRunAt
        : schedule && def.enabled
          ? nextRunOf(schedule, true, await projectTimeZone(c.env, projectId), now)
          : null;
    // The workflow's row, made or updated (its event never changes: checked above).
    statements.push(
      db1
        .prepare(
          `INSERT INTO workflows (id, project_id, name, description, event_name, enabled, allow_reentry, created_at,
             updated_at, schedule, next_run_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
             enabled = excluded.enabled, allow_reentry = excluded.allow_reentry, updated_at = excluded.updated_at,
             schedule = excluded.schedule, next_run_at = excluded.next_run_at
           WHERE workflows.project_id = excluded.project_id`,
        )
        .bind(
          id,
          projectId,
          def.name,
          def.description ?? null,
          trigger.eventName,
          def.enabled ? 1 : 0,
          def.allowReentry ? 1 : 0,
          now,
          trigger.schedule,
          nextRunAt,
        ),
    );
    if (existing) {
      statements.push(
        db1
          .prepare("UPDATE workflow_steps SET config = ?2 WHERE workflow_id = ?1 AND type = 'TRIGGER'")
          .bind(id, JSON.stringify(triggerConfigOf(trigger))),
        db1.prepare("DELETE FROM workflow_transitions WHERE workflow_id = ?1").bind(id),
        db1.prepare("DELETE FROM workflow_steps WHERE workflow_id = ?1 AND type != 'TRIGGER'").bind(id),
      );
    } else {
      statements.push(
        db1
          .prepare(
            `INSERT INTO workflow_steps (id, project_id, workflow_id, type, name, config, key, created_at)
             VALUES (?1, ?2, ?3, 'TRIGGER', 'Trigger', ?4, ?5, ?6)`,
          )
          .bind(triggerId, projectId, id, JSON.stringify(triggerConfigOf(trigger)), TRIGGER_KEY, now),
      );
    }
    // Creation times one millisecond apart keep the file's order.
    steps.forEach((s, i) => {
      statements.push(
        db1
          .prepare(
            `INSERT INTO workflow_steps (id, project_id, workflow_id, type, name, config, key, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`,
          )
          .bind(s.id, projectId, id, s.type, s.name, JSON.stringify(s.config), s.key, now + 1 + i),
      );
    });
    transitions.forEach((t, i) => {
      statements.push(
        db1
          .prepare(
            `INSERT INTO workflow_transitions (id, project_id, workflow_id, from_step_id, to_step_id, branch, branch_key, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`,
          )
          .bind(
            newId("trn", now),
            projectId,
            id,
            t.fromStepId,
            t.toStepId,
            t.branch,
            t.branch ?? "",
            now + 1 + i,
          ),
      );
    });
    try {
      await db1.batch(statements);
    } catch (err) {
      if (isUniqueViolation(err, "workflow"))
        throw conflict("The workflow was applied concurrently; try again");
      throw err;
    }
    c.get("log").info("workflow definition applied", {
      workflowId: id,
      steps: steps.length,
      created: !existing,
    });
    return c.json(await readDefinition(c.env, projectId, id), existing ? 200 : 201);
  });
