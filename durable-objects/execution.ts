import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env";

/** One workflow execution per object (issue 2/7 gives it its steps). */
export class ExecutionDO extends DurableObject<Env> {}
