/**
 * Names beside ids in what people read: a contact's email beside its id, a step's name and type beside
 * its id. Looked up once per id (GET /contacts/:id, GET /workflows/:id), a few at a time; a lookup that
 * fails (deleted since, say) leaves the id alone rather than failing the command. `--json` skips all this.
 */
import type { Api } from "./api.ts";
import { CliError } from "./errors.ts";
import { iso } from "./format.ts";

type Row = Record<string, unknown>;

export interface StepInfo {
  name: string | null;
  type: string | null;
}

const CONCURRENCY = 8;

async function eachLimited<T>(items: T[], fn: (item: T) => Promise<unknown>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}

export class Names {
  api: Api;
  emails = new Map<string, string | null>();
  steps = new Map<string, Map<string, StepInfo> | null>();

  constructor(api: Api) {
    this.api = api;
  }

  /** Looks up every contact and workflow the rows name (each once). */
  async load(contactIds: unknown[], workflowIds: unknown[]) {
    const contacts = [...new Set(contactIds)].filter(
      (id): id is string => typeof id === "string" && !this.emails.has(id),
    );
    const workflows = [...new Set(workflowIds)].filter(
      (id): id is string => typeof id === "string" && !this.steps.has(id),
    );
    const jobs: (() => Promise<void>)[] = [
      ...contacts.map((id) => async () => {
        const c = await this.quiet<Row>(`/contacts/${encodeURIComponent(id)}`);
        this.emails.set(id, typeof c?.email === "string" ? c.email : null);
      }),
      ...workflows.map((id) => async () => {
        const w = await this.quiet<Row>(`/workflows/${encodeURIComponent(id)}`);
        const steps = Array.isArray(w?.steps) ? (w.steps as Row[]) : null;
        this.steps.set(
          id,
          steps &&
            new Map(
              steps.map((s) => [
                String(s.id),
                {
                  name: typeof s.name === "string" ? s.name : null,
                  type: typeof s.type === "string" ? s.type : null,
                },
              ]),
            ),
        );
      }),
    ];
    await eachLimited(jobs, (job) => job());
  }

  async quiet<T>(path: string): Promise<T | null> {
    try {
      return await this.api.get<T>(path);
    } catch (err) {
      if (err instanceof CliError) return null;
      throw err;
    }
  }

  email(contactId: unknown): string | null {
    return typeof contactId === "string" ? (this.emails.get(contactId) ?? null) : null;
  }

  step(workflowId: unknown, stepId: unknown): StepInfo | null {
    if (typeof workflowId !== "string" || typeof stepId !== "string") return null;
    return this.steps.get(workflowId)?.get(stepId) ?? null;
  }

  /** `wait (DELAY)`; null when the step is unknown. */
  stepLabel(workflowId: unknown, stepId: unknown): string | null {
    const s = this.step(workflowId, stepId);
    if (!s) return null;
    return s.type ? `${s.name ?? "?"} (${s.type})` : s.name;
  }
}

/** A step log entry's output as a person reads it: a DELAY's due time, a wait's event and deadline. */
export function stepOutput(type: string | null | undefined, output: unknown): unknown {
  if (output === null || output === undefined || typeof output !== "object" || Array.isArray(output)) {
    return output;
  }
  const o = output as Row;
  if (type === "DELAY" && typeof o.until === "number") return `due ${iso(o.until)}`;
  if (type === "WAIT_FOR_EVENT" && typeof o.eventName === "string") {
    const until = typeof o.until === "number" ? `until ${iso(o.until)}` : "no timeout";
    return `waits for ${o.eventName}, ${until}${o.timedOut === true ? " (timed out)" : ""}`;
  }
  // Anything else: as the API says, with times given as epoch milliseconds written as ISO 8601.
  const shown: Row = {};
  for (const [k, v] of Object.entries(o)) {
    shown[k] = typeof v === "number" && (k === "until" || k.endsWith("At")) ? iso(v) : v;
  }
  return shown;
}
