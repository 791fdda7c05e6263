/** Executions of one workflow: list, get with the step log, start by hand, cancel (API.md "Workflows"). */
import { and, eq, inArray, type SQL } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { upsertContact } from "../db/contact-sql";
import { contacts, executions } from "../db/schema";
import { loadWorkflow } from "../db/workflows";
import { claimExecutions, loadSnapshot, startExecution } from "../dispatch";
import { derivedId, newId } from "../domain/ids";
import type { ExecutionDetailOut, ExecutionOut } from "../domain/responses";
import { iso, parseJsonObject } from "../domain/shapes";
import { startBody } from "../domain/workflow/requests";
import { cancelExecution } from "../engine/cancel";
import { type ExecutionStatus, isTerminal, NO_CONTACT, type StepLogEntry } from "../engine/state";
import type { Env } from "../env";
import { parseJson, parseQuery } from "../http/body";
import type { AppEnv } from "../http/context";
import { db } from "../http/db";
import { ApiError, conflict, notFound } from "../http/errors";
import { afterCursor, listQuery, newestFirst, toPage } from "../http/pagination";
import type { ContactView } from "../queues/messages";
import { pagedExecution, pagedExecutions } from "../shard/reads";
import { engineOf, shardNames, shardOf, shardStub } from "../shard/routing";

const STATUSES = ["RUNNING", "WAITING", "COMPLETED", "EXITED", "FAILED", "CANCELLED"] as const;

export const listExecutions = listQuery.extend({ status: z.enum(STATUSES).optional() });

type ExecutionRow = typeof executions.$inferSelect;

export const showExecution = (e: ExecutionRow): ExecutionOut => ({
  id: e.id,
  workflowId: e.workflowId,
  contactId: e.contactId === NO_CONTACT ? null : e.contactId,
  status: e.status as ExecutionOut["status"],
  currentStepId: e.currentStepId,
  exitReason: e.exitReason,
  context: parseJsonObject(e.context),
  startedAt: iso(e.startedAt),
  completedAt: iso(e.completedAt),
});

async function loadExecution(
  env: Env,
  projectId: string,
  workflowId: string,
  id: string,
): Promise<ExecutionRow> {
  const [row] = await db(env)
    .select()
    .from(executions)
    .where(
      and(eq(executions.projectId, projectId), eq(executions.workflowId, workflowId), eq(executions.id, id)),
    );
  if (!row) throw notFound("Execution", "EXECUTION_NOT_FOUND");
  return row;
}

/** An execution with its step log (the executions row holds it, mirrored whole by its object). */
function withStepLog(e: ExecutionRow): ExecutionDetailOut {
  const log = JSON.parse(e.steps) as StepLogEntry[];
  return {
    ...showExecution(e),
    steps: log.map((s) => ({
      id: s.id,
      stepId: s.stepId,
      status: s.status,
      startedAt: iso(s.startedAt),
      finishedAt: iso(s.finishedAt),
      output: s.output ?? null,
      error: s.error,
    })),
  };
}

const CANCEL_CONCURRENCY = 20;

export const executionRoutes = new Hono<AppEnv>()
  .get("/", async (c) => {
    const q = parseQuery(c, listExecutions);
    const wf = await loadWorkflow(c.env, c.get("project").id, c.req.param("id") as string);
    if ((await engineOf(c.env, wf.projectId)) === "shard")
      return c.json(await pagedExecutions(c.env, wf.projectId, wf.id, q));
    const filters: (SQL | undefined)[] = [
      eq(executions.projectId, c.get("project").id),
      eq(executions.workflowId, wf.id),
      afterCursor(executions.startedAt, executions.id, q.cursor),
    ];
    if (q.status) filters.push(eq(executions.status, q.status));
    const rows = await db(c.env)
      .select()
      .from(executions)
      .where(and(...filters))
      .orderBy(...newestFirst(executions.startedAt, executions.id))
      .limit(q.limit + 1);
    return c.json(toPage(rows, q.limit, (r) => r.startedAt, showExecution));
  })
  .post("/cancel-all", async (c) => {
    const wf = await loadWorkflow(c.env, c.get("project").id, c.req.param("id") as string);
    if ((await engineOf(c.env, wf.projectId)) === "shard") {
      // Every active execution is in its shard's memory: each shard cancels its own.
      const counts = await Promise.all(
        (await shardNames(c.env, wf.projectId)).map((name) => shardStub(c.env, name).cancelAll(wf.id)),
      );
      const cancelled = counts.reduce((a, b) => a + b, 0);
      c.get("log").info("executions cancelled", { workflowId: wf.id, cancelled });
      return c.json({ cancelled });
    }
    let cancelled = 0;
    for (;;) {
      const active = await db(c.env)
        .select()
        .from(executions)
        .where(and(eq(executions.workflowId, wf.id), inArray(executions.status, ["RUNNING", "WAITING"])))
        .limit(CANCEL_CONCURRENCY * 5);
      if (active.length === 0) break;
      let progress = 0;
      for (let i = 0; i < active.length; i += CANCEL_CONCURRENCY) {
        const results = await Promise.all(
          active.slice(i, i + CANCEL_CONCURRENCY).map((e) => cancelExecution(c.env, e)),
        );
        for (const done of results) if (done) cancelled++;
        progress += results.length;
      }
      if (progress === 0) break;
      // Rows whose objects had already ended are mirrored now and drop out of the next page.
      const still = await db(c.env)
        .select({ id: executions.id })
        .from(executions)
        .where(and(eq(executions.workflowId, wf.id), inArray(executions.status, ["RUNNING", "WAITING"])))
        .limit(1);
      if (still.length === 0 || still[0]?.id === active[0]?.id) break;
    }
    c.get("log").info("executions cancelled", { workflowId: wf.id, cancelled });
    return c.json({ cancelled });
  })
  .get("/:eid", async (c) => {
    const wf = await loadWorkflow(c.env, c.get("project").id, c.req.param("id") as string);
    if ((await engineOf(c.env, wf.projectId)) === "shard") {
      const e = await pagedExecution(c.env, wf.projectId, wf.id, c.req.param("eid"));
      if (!e) throw notFound("Execution", "EXECUTION_NOT_FOUND");
      const { owner: _, ...out } = e;
      return c.json(out);
    }
    const e = await loadExecution(c.env, c.get("project").id, wf.id, c.req.param("eid"));
    return c.json(withStepLog(e));
  })
  .delete("/:eid", async (c) => {
    const wf = await loadWorkflow(c.env, c.get("project").id, c.req.param("id") as string);
    if ((await engineOf(c.env, wf.projectId)) === "shard") {
      const e = await pagedExecution(c.env, wf.projectId, wf.id, c.req.param("eid"));
      if (!e) throw notFound("Execution", "EXECUTION_NOT_FOUND");
      if (isTerminal(e.status)) throw conflict(`The execution has already ended (${e.status})`);
      // The shard holds it in memory and writes its page: the answer is read once that commit is stored.
      if (!(await shardStub(c.env, e.owner).cancel(e.id))) throw conflict("The execution has already ended");
      const { owner: _, ...out } = (await pagedExecution(c.env, wf.projectId, wf.id, e.id)) ?? e;
      return c.json(out);
    }
    const e = await loadExecution(c.env, c.get("project").id, wf.id, c.req.param("eid"));
    if (isTerminal(e.status as ExecutionStatus))
      throw conflict(`The execution has already ended (${e.status})`);
    if (!(await cancelExecution(c.env, e))) throw conflict("The execution has already ended");
    return c.json(withStepLog(await loadExecution(c.env, c.get("project").id, wf.id, e.id)));
  })
  .post("/", async (c) => {
    const { data } = await parseJson(c, startBody);
    const projectId = c.get("project").id;
    const wf = await loadWorkflow(c.env, projectId, c.req.param("id") as string);
    const now = Date.now();
    let contact: ContactView;
    if (data.contactId) {
      const [row] = await db(c.env)
        .select()
        .from(contacts)
        .where(and(eq(contacts.projectId, projectId), eq(contacts.id, data.contactId)));
      if (!row) throw notFound("Contact", "CONTACT_NOT_FOUND");
      contact = { id: row.id, email: row.email, subscribed: row.subscribed, data: parseJsonObject(row.data) };
    } else {
      const res = await upsertContact(c.env, {
        id: newId("ctc", now),
        projectId,
        email: data.email as string,
        subscribed: null,
        defaultSubscribed: true,
        data: {},
        now,
      }).first<{ id: string; email: string; subscribed: number; data: string }>();
      const row = res as { id: string; email: string; subscribed: number; data: string };
      contact = {
        id: row.id,
        email: row.email,
        subscribed: Boolean(row.subscribed),
        data: parseJsonObject(row.data),
      };
    }
    const contactId = contact.id;
    const snapshot = await loadSnapshot(c.env, wf);
    if (!snapshot) throw new ApiError(500, "INTERNAL_SERVER_ERROR", "The workflow has no trigger step");
    const refusedFor = () =>
      conflict(
        wf.allowReentry
          ? "This contact already has an active execution of this workflow"
          : "This contact has already entered this workflow, and it does not allow re-entry",
        "REENTRY_NOT_ALLOWED",
      );
    if ((await engineOf(c.env, projectId)) === "shard") {
      // The contact's shard applies the re-entry rule and stores the start (its first steps run).
      const shard = await shardOf(c.env, projectId, contact.email);
      const out = await shardStub(c.env, shard).start({
        shard,
        projectId,
        database: c.env.DATABASE ?? "DB",
        snapshot,
        contact,
        data: data.context ?? {},
        startedAt: now,
      });
      if ("refused" in out) throw refusedFor();
      c.get("log").info("execution started by hand", {
        executionId: out.executionId,
        workflowId: wf.id,
        contactId,
      });
      const { owner: _, ...shown } = (await pagedExecution(c.env, projectId, wf.id, out.executionId)) ?? {};
      return c.json(shown, 201);
    }
    const init = {
      executionId: await derivedId("exec", wf.id, "manual", newId("req", now)),
      projectId,
      workflowId: wf.id,
      contactId,
      triggerEventId: null,
      snapshot,
      event: data.context ?? {},
      startedAt: now,
      database: c.env.DATABASE,
    };
    const [owned] = await claimExecutions(c.env, [init], now);
    if (!owned) throw refusedFor();
    await startExecution(c.env, init);
    c.get("log").info("execution started by hand", {
      executionId: init.executionId,
      workflowId: wf.id,
      contactId,
    });
    return c.json(withStepLog(await loadExecution(c.env, projectId, wf.id, init.executionId)), 201);
  });
