import { and, eq, inArray } from "drizzle-orm";
import { urlRulesFor, webhookUrlProblem } from "../domain/ssrf";
import { checkTemplate } from "../domain/templates";
import type { StepConfig, StepType } from "../domain/workflow/config";
import type { Env } from "../env";
import { db } from "../http/db";
import { conflict, type FieldError, notFound } from "../http/errors";
import { executions, templates, type Workflow, workflows } from "./schema";

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
export async function assertUnlocked(env: Env, workflowId: string): Promise<void> {
  const [active] = await db(env)
    .select({ id: executions.id })
    .from(executions)
    .where(and(eq(executions.workflowId, workflowId), inArray(executions.status, ["RUNNING", "WAITING"])))
    .limit(1);
  if (active) {
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
