import { and, eq } from "drizzle-orm";
import type { Env } from "../env";
import { db } from "../http/db";
import { notFound } from "../http/errors";
import { type Workflow, workflows } from "./schema";

/** This project's workflow, or 404 WORKFLOW_NOT_FOUND (another project's id included). */
export async function loadWorkflow(env: Env, projectId: string, id: string): Promise<Workflow> {
  const [row] = await db(env)
    .select()
    .from(workflows)
    .where(and(eq(workflows.projectId, projectId), eq(workflows.id, id)));
  if (!row) throw notFound("Workflow", "WORKFLOW_NOT_FOUND");
  return row;
}
