import { drizzle } from "drizzle-orm/d1";
import * as schema from "../db/schema";
import type { Env } from "../env";

export type DB = ReturnType<typeof db>;

/** Drizzle over the D1 binding (cheap: no connection is opened). */
export const db = (env: Pick<Env, "DB">) => drizzle(env.DB, { schema });
