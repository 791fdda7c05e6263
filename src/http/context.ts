import type { KeyCheck } from "../db/contact-sql";
import type { Env } from "../env";
import type { Logger } from "../log";

/** What a request carries once the shared middleware has run. */
export interface AuthedProject {
  id: string;
  name: string;
  /** The D1 binding of the project's data: `c.env.DB` is that database once the request is authenticated. */
  database: string;
  keyType: "public" | "secret";
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    log: Logger;
    project: AuthedProject;
    /** Set by `trackAuth`: the key the request's write must hold against the projects row. */
    keyCheck: KeyCheck;
  };
}
