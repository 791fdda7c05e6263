/** Every command: its words, arguments, flags, help, and what it does. */
import fs from "node:fs";
import type { Api } from "./api.ts";
import { type Flags, str } from "./args.ts";
import { CAMPAIGN_COMMANDS } from "./campaigns.ts";
import {
  type Command,
  type Context,
  enc,
  fetchPage,
  jsonFlag,
  LIST_FLAGS,
  listing,
  print,
  printJson,
  printPage,
  type Row,
  readFileText,
  statusFlag,
  subscribedFlag,
} from "./common.ts";
import { type Format, formatOfName, readDefinition, serialize } from "./definition.ts";
import { ApiError, CliError, usageError } from "./errors.ts";
import { type Column, fields, keyValues, table } from "./format.ts";
import { Names, stepOutput } from "./names.ts";
import { spinner } from "./progress.ts";
import { RESOURCE_COMMANDS } from "./resources.ts";
import { SEGMENT_COMMANDS } from "./segments.ts";

export type { Command, Context } from "./common.ts";

const WORKFLOW_COLUMNS: Column<Row>[] = [
  ["ID", (w) => w.id],
  ["NAME", (w) => w.name],
  ["TRIGGER", (w) => w.eventName ?? (w.schedule ? `every ${(w.schedule as { cron: string }).cron}` : null)],
  ["ENABLED", (w) => w.enabled],
  ["REENTRY", (w) => w.allowReentry],
  ["UPDATED", (w) => w.updatedAt],
];
const EXECUTION_STATUSES = ["RUNNING", "WAITING", "COMPLETED", "EXITED", "FAILED", "CANCELLED"];
const executionColumns = (names: Names): Column<Row>[] => [
  ["ID", (e) => e.id],
  ["STATUS", (e) => e.status],
  ["CONTACT", (e) => e.contactId],
  ["EMAIL", (e) => names.email(e.contactId)],
  ["STEP", (e) => e.currentStepId],
  ["STEP NAME", (e) => names.stepLabel(e.workflowId, e.currentStepId)],
  ["STARTED", (e) => e.startedAt],
  ["ENDED", (e) => e.completedAt],
  ["EXIT REASON", (e) => e.exitReason],
];
const DELIVERY_STATUSES = ["PENDING", "DELIVERED", "FAILED"];
const deliveryColumns = (names: Names): Column<Row>[] => [
  ["ID", (d) => d.id],
  ["STATUS", (d) => d.status],
  ["ATTEMPTS", (d) => d.attemptCount ?? (Array.isArray(d.attempts) ? d.attempts.length : null)],
  ["METHOD", (d) => d.method],
  ["URL", (d) => d.url],
  ["WORKFLOW", (d) => d.workflowId],
  ["STEP", (d) => d.stepId],
  ["STEP NAME", (d) => names.stepLabel(d.workflowId, d.stepId)],
  ["EXECUTION", (d) => d.executionId],
  ["CREATED", (d) => d.createdAt],
];

/** The answer's fields in order, with the contact's email and the current step's name beside their ids. */
async function showExecution(ctx: Context, api: Api, e: Row) {
  const names = new Names(api);
  await names.load([e.contactId], [e.workflowId]);
  const pairs: [string, unknown][] = [];
  for (const [k, v] of Object.entries(e)) {
    if (k === "steps") continue;
    pairs.push([k, v]);
    if (k === "contactId") pairs.push(["contactEmail", names.email(v)]);
    if (k === "currentStepId" && v) pairs.push(["currentStep", names.stepLabel(e.workflowId, v)]);
  }
  print(ctx, keyValues(pairs));
  if (Array.isArray(e.steps)) {
    print(ctx, "\nstep log\n");
    print(
      ctx,
      table(e.steps as Row[], [
        ["STEP", (s) => s.stepId],
        ["NAME", (s) => names.stepLabel(e.workflowId, s.stepId)],
        ["STATUS", (s) => s.status],
        ["STARTED", (s) => s.startedAt],
        ["FINISHED", (s) => s.finishedAt],
        ["OUTPUT", (s) => stepOutput(names.step(e.workflowId, s.stepId)?.type, s.output)],
        ["ERROR", (s) => s.error],
      ]),
    );
  }
}

async function showDelivery(ctx: Context, api: Api, d: Row) {
  const names = new Names(api);
  await names.load([], [d.workflowId]);
  const pairs: [string, unknown][] = [];
  for (const [k, v] of Object.entries(d)) {
    if (k === "attempts") continue;
    pairs.push([k, v]);
    if (k === "stepId") pairs.push(["step", names.stepLabel(d.workflowId, v)]);
  }
  print(ctx, keyValues(pairs));
  if (Array.isArray(d.attempts)) {
    print(ctx, "\nattempts\n");
    print(
      ctx,
      table(d.attempts as Row[], [
        ["AT", (a) => a.at],
        ["STATUS CODE", (a) => a.statusCode],
        ["DURATION MS", (a) => a.durationMs],
        ["ERROR", (a) => a.error],
        ["RESPONSE", (a) => a.responseSnippet],
      ]),
    );
  }
}

async function apply(ctx: Context, api: Api, files: string[]) {
  // Every file is read and checked before anything is sent: a bad file stops the whole run.
  const definitions = files.map((file) => ({ file, def: readDefinition(readFileText(file), file) }));
  const seen = new Map<string, string>();
  for (const { file, def } of definitions) {
    const other = seen.get(def.id);
    if (other) throw new CliError(`${file}: ${def.id} is also the id of ${other}: one file per workflow`);
    seen.set(def.id, file);
  }
  const results: { file: string; id: string; status: number; body: unknown }[] = [];
  const failed: string[] = [];
  let n = 0;
  for (const { file, def } of definitions) {
    n++;
    const count = `(${n}/${definitions.length})`;
    try {
      const res = await api.send<Row | null>("PUT", `/workflows/${enc(def.id)}/definition`, { body: def });
      results.push({ file, id: def.id, status: res.status, body: res.body });
      // A disabled workflow starts nothing: say so rather than leave the user waiting for executions.
      const off =
        res.body?.enabled === false
          ? ` (disabled: it starts no executions until enabled; \`plunk-edge workflows enable ${def.id}\`)`
          : "";
      ctx.stderr.write(`applied ${def.id} ${count}${off}\n`);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      const status = err instanceof ApiError ? err.status : 0;
      const body = err instanceof ApiError ? err.body : { error: { message: err.message } };
      results.push({ file, id: def.id, status, body });
      failed.push(`${file} (${def.id}): ${err.message}`);
      // One file: the closing error line says it all.
      if (definitions.length > 1) ctx.stderr.write(`failed ${def.id} ${count}: ${err.message}\n`);
    }
  }
  if (ctx.json) printJson(ctx, results);
  else {
    print(
      ctx,
      table(results, [
        ["FILE", (r) => r.file],
        ["ID", (r) => r.id],
        ["RESULT", (r) => (r.status === 201 ? "created" : r.status === 200 ? "updated" : "failed")],
        ["ENABLED", (r) => (r.status === 200 || r.status === 201 ? (r.body as Row)?.enabled : null)],
      ]),
    );
  }
  if (failed.length === 1 && definitions.length === 1) throw new CliError(failed[0] as string);
  if (failed.length > 0) {
    throw new CliError(`${failed.length} of ${definitions.length} files failed: ${failed.join(" | ")}`);
  }
}

function exportFormat(flags: Flags): Format {
  const given = str(flags, "format");
  if (given !== undefined) {
    const f = given.toLowerCase();
    if (f === "yml") return "yaml";
    if (f !== "yaml" && f !== "json") throw usageError("--format must be yaml or json");
    return f;
  }
  const out = str(flags, "out");
  return (out && formatOfName(out)) || "yaml";
}

export const COMMANDS: Command[] = [
  {
    words: ["projects", "create"],
    args: ["<name>"],
    flags: ["engine", "shards", "database"],
    auth: "admin",
    summary:
      "create a project (--engine shard|objects, shard by default; --shards N, 1 by default; --database DB_2); prints its keys and webhook secret (shown only now)",
    run: async (ctx, api, [name], flags) => {
      const engine = str(flags, "engine");
      const database = str(flags, "database");
      const given = str(flags, "shards");
      // A number when it is one; anything else goes as it is, for the API to refuse with its reason.
      const shards = given && /^[0-9]+$/.test(given) ? Number(given) : given;
      const p = await api.request<Row>("POST", "/admin/projects", {
        body: {
          name,
          ...(engine ? { engine } : {}),
          ...(shards !== undefined ? { shards } : {}),
          ...(database ? { database } : {}),
        },
      });
      if (ctx.json) return printJson(ctx, p);
      print(ctx, fields(p));
      ctx.stderr.write("keep these keys: they are shown only once\n");
    },
  },
  {
    words: ["projects", "list"],
    args: [],
    flags: LIST_FLAGS,
    auth: "admin",
    summary: "list projects (key prefixes only)",
    run: (ctx, api, _args, flags) =>
      listing(
        ctx,
        api,
        "/admin/projects",
        {},
        flags,
        [
          ["ID", (p) => p.id],
          ["NAME", (p) => p.name],
          ["PUBLIC KEY", (p) => (p.publicKeyPrefix ? `${p.publicKeyPrefix}…` : null)],
          ["SECRET KEY", (p) => (p.secretKeyPrefix ? `${p.secretKeyPrefix}…` : null)],
          ["ENGINE", (p) => (p.engine === "shard" ? `shard (${p.shards})` : (p.engine ?? null))],
          ["CREATED", (p) => p.createdAt],
        ],
        "projects",
      ),
  },
  {
    words: ["projects", "rotate-keys"],
    args: ["<id>"],
    flags: [],
    auth: "admin",
    summary: "new public and secret keys for a project; the old ones stop working at once",
    run: async (ctx, api, [id]) => {
      const keys = await api.request<Row>("POST", `/admin/projects/${enc(id as string)}/rotate-keys`);
      if (ctx.json) return printJson(ctx, keys);
      print(ctx, fields(keys));
    },
  },
  {
    words: ["workflows", "list"],
    args: [],
    flags: LIST_FLAGS,
    auth: "key",
    summary: "list workflows",
    run: (ctx, api, _args, flags) =>
      listing(ctx, api, "/workflows", {}, flags, WORKFLOW_COLUMNS, "workflows"),
  },
  {
    words: ["workflows", "get"],
    args: ["<id>"],
    flags: [],
    auth: "key",
    summary: "a workflow with its steps and transitions",
    run: async (ctx, api, [id]) => {
      const w = await api.get<Row>(`/workflows/${enc(id as string)}`);
      if (ctx.json) return printJson(ctx, w);
      print(ctx, fields(w, ["steps", "transitions"]));
      const steps = Array.isArray(w.steps) ? (w.steps as Row[]) : [];
      const names = new Map(steps.map((s) => [s.id, s.name]));
      print(ctx, "\nsteps\n");
      print(
        ctx,
        table(steps, [
          ["ID", (s) => s.id],
          ["TYPE", (s) => s.type],
          ["NAME", (s) => s.name],
          ["CONFIG", (s) => s.config],
        ]),
      );
      print(ctx, "\ntransitions\n");
      print(
        ctx,
        table(Array.isArray(w.transitions) ? (w.transitions as Row[]) : [], [
          ["FROM", (t) => names.get(t.fromStepId) ?? t.fromStepId],
          ["BRANCH", (t) => t.branch],
          ["TO", (t) => names.get(t.toStepId) ?? t.toStepId],
        ]),
      );
    },
  },
  {
    words: ["workflows", "export"],
    args: ["<id>"],
    flags: ["out", "format"],
    auth: "key",
    summary: "write a workflow as one file (YAML by default), the format apply takes",
    help: [
      "--out FILE        write to FILE instead of stdout",
      "--format F        yaml or json (default: from --out's extension, else yaml)",
      "With --json, prints the API's answer (and still writes --out in --format).",
    ].join("\n"),
    run: async (ctx, api, [id], flags) => {
      const format = exportFormat(flags);
      const def = await api.get<Row>(`/workflows/${enc(id as string)}/definition`);
      const text = serialize(def, format);
      const out = str(flags, "out");
      if (out) {
        try {
          fs.writeFileSync(out, text);
        } catch (err) {
          throw new CliError(`cannot write ${out}: ${(err as Error).message}`);
        }
        if (ctx.json) printJson(ctx, def);
        else ctx.stderr.write(`exported ${id} to ${out}\n`);
        return;
      }
      if (ctx.json) printJson(ctx, def);
      else print(ctx, text);
    },
  },
  {
    words: ["workflows", "apply"],
    args: ["<file…>"],
    flags: [],
    auth: "key",
    summary: "create or replace workflows from files (JSON or YAML), one workflow per file",
    help: [
      "Each file is read and checked first (syntax, id, step types, transitions); a bad file stops",
      "the run before anything is sent. Then each is sent in turn (PUT /workflows/:id/definition):",
      "a progress line per file on stderr, a table on stdout; exits 1 if any failed.",
    ].join("\n"),
    run: (ctx, api, files) => apply(ctx, api, files),
  },
  ...(["enable", "disable"] as const).map(
    (verb): Command => ({
      words: ["workflows", verb],
      args: ["<id>"],
      flags: [],
      auth: "key",
      summary: verb === "enable" ? "start the workflow on its event" : "stop starting new executions",
      run: async (ctx, api, [id]) => {
        const w = await api.request<Row>("PATCH", `/workflows/${enc(id as string)}`, {
          body: { enabled: verb === "enable" },
        });
        if (ctx.json) return printJson(ctx, w);
        print(ctx, `${w.id} ${w.enabled ? "enabled" : "disabled"}\n`);
      },
    }),
  ),
  {
    words: ["executions", "list"],
    args: ["<workflowId>"],
    flags: [...LIST_FLAGS, "status"],
    auth: "key",
    summary: "list a workflow's executions",
    help: `--status S        one of ${EXECUTION_STATUSES.join(", ")}`,
    run: async (ctx, api, [wf], flags) => {
      const page = await fetchPage<Row>(
        api,
        `/workflows/${enc(wf as string)}/executions`,
        { status: statusFlag(flags, EXECUTION_STATUSES) },
        flags,
      );
      const names = new Names(api);
      if (!ctx.json)
        await names.load(
          page.data.map((e) => e.contactId),
          [wf],
        );
      printPage(ctx, page, executionColumns(names), "executions");
    },
  },
  {
    words: ["executions", "get"],
    args: ["<workflowId>", "<execId>"],
    flags: [],
    auth: "key",
    summary: "an execution with its step log",
    run: async (ctx, api, [wf, id]) => {
      const e = await api.get<Row>(`/workflows/${enc(wf as string)}/executions/${enc(id as string)}`);
      if (ctx.json) return printJson(ctx, e);
      await showExecution(ctx, api, e);
    },
  },
  {
    words: ["executions", "start"],
    args: ["<workflowId>", "<email>"],
    flags: ["context"],
    auth: "key",
    summary: "start an execution by hand for a contact (created if new)",
    help: `--context JSON    the event data the execution starts with, e.g. '{"plan":"pro"}'`,
    run: async (ctx, api, [wf, email], flags) => {
      const e = await api.request<Row>("POST", `/workflows/${enc(wf as string)}/executions`, {
        body: { email, context: jsonFlag(flags, "context") },
      });
      if (ctx.json) return printJson(ctx, e);
      await showExecution(ctx, api, e);
    },
  },
  {
    words: ["executions", "cancel"],
    args: ["<workflowId>", "<execId>"],
    flags: [],
    auth: "key",
    summary: "cancel one running or waiting execution",
    run: async (ctx, api, [wf, id]) => {
      const e = await api.request<Row>(
        "DELETE",
        `/workflows/${enc(wf as string)}/executions/${enc(id as string)}`,
      );
      if (ctx.json) return printJson(ctx, e);
      print(ctx, `${e.id} ${e.status}\n`);
    },
  },
  {
    words: ["executions", "cancel-all"],
    args: ["<workflowId>"],
    flags: [],
    auth: "key",
    summary: "cancel every running and waiting execution of a workflow; prints how many",
    run: async (ctx, api, [wf]) => {
      const spin = spinner(ctx.stderr, `cancelling the active executions of ${wf}…`);
      let res: { cancelled?: number };
      try {
        res = await api.request<{ cancelled?: number }>(
          "POST",
          `/workflows/${enc(wf as string)}/executions/cancel-all`,
          { timeoutMs: 15 * 60_000 },
        );
      } finally {
        spin.stop();
      }
      if (ctx.json) return printJson(ctx, res);
      const n = res.cancelled ?? 0;
      print(ctx, `cancelled ${n} execution${n === 1 ? "" : "s"}\n`);
    },
  },
  {
    words: ["deliveries", "list"],
    args: [],
    flags: [...LIST_FLAGS, "status", "workflow", "execution"],
    auth: "key",
    summary: "list webhook deliveries",
    help: [
      `--status S        one of ${DELIVERY_STATUSES.join(", ")}`,
      "--workflow ID     only this workflow's",
      "--execution ID    only this execution's",
    ].join("\n"),
    run: async (ctx, api, _args, flags) => {
      const page = await fetchPage<Row>(
        api,
        "/webhook-deliveries",
        {
          status: statusFlag(flags, DELIVERY_STATUSES),
          workflowId: str(flags, "workflow"),
          executionId: str(flags, "execution"),
        },
        flags,
      );
      const names = new Names(api);
      if (!ctx.json)
        await names.load(
          [],
          page.data.map((d) => d.workflowId),
        );
      printPage(ctx, page, deliveryColumns(names), "deliveries");
    },
  },
  {
    words: ["deliveries", "get"],
    args: ["<id>"],
    flags: [],
    auth: "key",
    summary: "a webhook delivery with every attempt",
    run: async (ctx, api, [id]) => {
      const d = await api.get<Row>(`/webhook-deliveries/${enc(id as string)}`);
      if (ctx.json) return printJson(ctx, d);
      await showDelivery(ctx, api, d);
    },
  },
  {
    words: ["deliveries", "replay"],
    args: ["<id>"],
    flags: [],
    auth: "key",
    summary: "send a webhook delivery again",
    run: async (ctx, api, [id]) => {
      const d = await api.request<Row>("POST", `/webhook-deliveries/${enc(id as string)}/replay`);
      if (ctx.json) return printJson(ctx, d);
      print(ctx, `${d.id} queued again (${d.status})\n`);
    },
  },
  ...RESOURCE_COMMANDS,
  ...SEGMENT_COMMANDS,
  ...CAMPAIGN_COMMANDS,
  {
    words: ["track"],
    args: ["<event>", "<email>"],
    flags: ["data", "subscribed"],
    auth: "key",
    summary: "track an event for a contact (POST /v1/track)",
    help: [
      `--data JSON       the event's data, e.g. '{"plan":"pro"}'`,
      "--subscribed B    true or false: set the contact's subscription",
    ].join("\n"),
    run: async (ctx, api, [event, email], flags) => {
      const subscribed = subscribedFlag(flags);
      const res = await api.request<{ data?: Row }>("POST", "/v1/track", {
        body: {
          event,
          email,
          data: jsonFlag(flags, "data"),
          subscribed,
        },
      });
      if (ctx.json) return printJson(ctx, res);
      print(ctx, keyValues(Object.entries(res.data ?? {})));
    },
  },
  {
    words: ["send"],
    args: ["<to>"],
    flags: ["subject", "body", "template", "from", "type", "data"],
    auth: "key",
    summary: "send a transactional email (POST /v1/send)",
    help: [
      "--subject S --body B   the email (Liquid), or:",
      "--template ID          a template (tpl_…)",
      "--from EMAIL           the sender",
      "--type T               html or markdown",
      '--data JSON            variables, e.g. \'{"name":"Ada"}\'',
    ].join("\n"),
    run: async (ctx, api, [to], flags) => {
      const template = str(flags, "template");
      const subject = str(flags, "subject");
      const body = str(flags, "body");
      if (!template && (subject === undefined || body === undefined)) {
        throw usageError("give --subject and --body, or --template");
      }
      const res = await api.request<{ data?: { emails?: Row[] } }>("POST", "/v1/send", {
        body: {
          to,
          subject,
          body,
          template,
          from: str(flags, "from"),
          type: str(flags, "type"),
          data: jsonFlag(flags, "data"),
        },
      });
      if (ctx.json) return printJson(ctx, res);
      print(
        ctx,
        table(res.data?.emails ?? [], [
          ["EMAIL", (e) => e.email],
          ["CONTACT", (e) => (e.contact as Row | undefined)?.id],
          ["TO", (e) => (e.contact as Row | undefined)?.email],
        ]),
      );
    },
  },
];
