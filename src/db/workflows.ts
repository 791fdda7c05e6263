import { and, eq } from "drizzle-orm";
import { urlRulesFor, webhookUrlProblem } from "../domain/ssrf";
import { checkTemplate } from "../domain/templates";
import type { StepConfig, StepType } from "../domain/workflow/config";
import type { Env } from "../env";
import { db } from "../http/db";
import { conflict, type FieldError, notFound } from "../http/errors";
import { templates, type Workflow, workflows } from "./schema";

/** This project's workflow, or 404 WORKFLOW_NOT_FOUND (another project's id included). */
export async function loadWorkflow(env: Env, projectId: string, id: string): Promise<Workflow> {
  const [row] = await db(env)
    .select()
    .from(workflows)
    .where(and(eq(workflows.projectId, projectId), eq(workflows.id, id)));
  if (!row) throw notFound("Workflow", "WORKFLOW_NOT_FOUND");
  return row;
}

/** While the workflow has RUNNING or WAITING executions its steps and transitions stay as they are. */
export async function assertUnlocked(env: Env, projectId: string, workflowId: string): Promise<void> {
  // The objects engine's by the executions_active index; the shard engine's in the workflow's pages
  // (pages_workflow) that hold active ones (`active` also counts an ended execution's pending webhook,
  // which does not lock, as it does not on the objects engine).
  const active = await env.DB.prepare(
    `SELECT EXISTS (SELECT 1 FROM executions WHERE workflow_id = ?1 AND status IN ('RUNNING', 'WAITING'))
         OR EXISTS (SELECT 1 FROM pages p, json_each(p.body) AS e
                     WHERE p.project_id = ?2 AND p.workflow_id = ?1 AND p.active > 0
                       AND e.value ->> 'status' IN ('RUNNING', 'WAITING')) AS locked`,
  )
    .bind(workflowId, projectId)
    .first<{ locked: number }>();
  if (active?.locked) {
    throw conflict(
      "The workflow has running or waiting executions; cancel them (or let them end) before changing its steps",
      "WORKFLOW_LOCKED",
    );
  }
}

/**
 * What a config names outside itself: a SEND_EMAIL's template must be this project's; a WEBHOOK's URL
 * must pass the SSRF guard (development allows loopback hosts only). A URL with Liquid in its host is
 * checked at send.
 * Field names are relative to the step (`config.templateId`, `config.url`).
 */
export async function stepReferenceProblem(
  env: Env,
  projectId: string,
  type: StepType,
  config: unknown,
): Promise<FieldError | null> {
  if (type === "SEND_EMAIL") {
    const { templateId, recipient } = config as StepConfig<"SEND_EMAIL">;
    if (recipient?.type === "CUSTOM") {
      const problem = checkTemplate(recipient.email);
      if (problem)
        return {
          field: "config.recipient.email",
          message: `Template error: ${problem.message}`,
          code: "invalid_template",
        };
    }
    const [tpl] = await db(env)
      .select({ id: templates.id })
      .from(templates)
      .where(and(eq(templates.projectId, projectId), eq(templates.id, templateId)));
    if (!tpl)
      return {
        field: "config.templateId",
        message: "No such template in this project",
        code: "unknown_template",
      };
  }
  if (type === "WEBHOOK") {
    const reason = webhookUrlProblem((config as StepConfig<"WEBHOOK">).url, urlRulesFor(env.ENVIRONMENT));
    if (reason) return { field: "config.url", message: reason, code: "forbidden_url" };
  }
  return null;
}
