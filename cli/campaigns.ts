/** `campaigns …`: list, show, create from a file, schedule, send, cancel and test-send campaigns. */
import { str } from "./args.ts";
import {
  type Command,
  enc,
  LIST_FLAGS,
  listing,
  print,
  printJson,
  type Row,
  readFileText,
} from "./common.ts";
import { parseText } from "./definition.ts";
import { CliError } from "./errors.ts";
import { type Column, fields } from "./format.ts";

const CAMPAIGN_COLUMNS: Column<Row>[] = [
  ["ID", (c) => c.id],
  ["NAME", (c) => c.name],
  ["STATUS", (c) => c.status],
  ["RECIPIENTS", (c) => (c.stats as Row).recipients],
  ["SENT", (c) => (c.stats as Row).sent],
  ["OPENED", (c) => (c.stats as Row).opened],
  ["WHEN", (c) => c.finishedAt ?? c.startedAt ?? c.scheduledAt ?? "-"],
];

/** A campaign as the detail commands print it: its fields, then its stats on one line. */
function show(ctx: Parameters<Command["run"]>[0], c: Row) {
  if (ctx.json) return printJson(ctx, c);
  print(ctx, fields(c, ["body", "stats", "audience"]));
  print(ctx, `audience     ${JSON.stringify(c.audience)}\n`);
  const s = c.stats as Row;
  print(
    ctx,
    `stats        ${Object.entries(s)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}\n`,
  );
}

export const CAMPAIGN_COMMANDS: Command[] = [
  {
    words: ["campaigns", "list"],
    args: [],
    flags: LIST_FLAGS,
    auth: "key",
    summary: "list campaigns with their status and counts",
    run: (ctx, api, _args, flags) =>
      listing(ctx, api, "/campaigns", {}, flags, CAMPAIGN_COLUMNS, "campaigns"),
  },
  {
    words: ["campaigns", "get"],
    args: ["<id>"],
    flags: [],
    auth: "key",
    summary: "a campaign with its audience and stats",
    run: async (ctx, api, [id]) => show(ctx, await api.get<Row>(`/campaigns/${enc(id as string)}`)),
  },
  {
    words: ["campaigns", "create"],
    args: ["<file>"],
    flags: [],
    auth: "key",
    summary: "create a DRAFT campaign from a JSON or YAML file; prints its id",
    help: [
      "FILE is JSON or YAML with: name, and subject + body (Liquid) or templateId; from?, fromName?,",
      "replyTo?, audience? ({type: ALL} the default, {type: SEGMENT, segmentId}, {type: FILTER, filter}).",
    ].join("\n"),
    run: async (ctx, api, [file]) => {
      const body = parseText(readFileText(file as string), file as string);
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new CliError(
          `${file}: a campaign file is a mapping with name, subject and body (or templateId)`,
        );
      }
      const c = await api.request<Row>("POST", "/campaigns", { body });
      show(ctx, c);
      if (!ctx.json) ctx.stderr.write(`created ${c.id}: send it with campaigns send ${c.id}\n`);
    },
  },
  {
    words: ["campaigns", "schedule"],
    args: ["<id>", "<at>"],
    flags: ["time-zone"],
    auth: "key",
    summary:
      "schedule a campaign: AT is 2026-12-24T09:00 (in --time-zone, default the project's) or has an offset",
    help: "--time-zone Z      the IANA time zone AT is read in (Europe/Berlin)",
    run: async (ctx, api, [id, at], flags) => {
      const timeZone = str(flags, "time-zone");
      show(
        ctx,
        await api.request<Row>("POST", `/campaigns/${enc(id as string)}/schedule`, {
          body: { at, ...(timeZone ? { timeZone } : {}) },
        }),
      );
    },
  },
  ...(["send", "cancel", "unschedule"] as const).map(
    (verb): Command => ({
      words: ["campaigns", verb],
      args: ["<id>"],
      flags: [],
      auth: "key",
      summary:
        verb === "send"
          ? "send a DRAFT or SCHEDULED campaign now"
          : verb === "cancel"
            ? "cancel a SCHEDULED or SENDING campaign (what is not sent yet is not sent)"
            : "put a SCHEDULED campaign back to DRAFT",
      run: async (ctx, api, [id]) =>
        show(ctx, await api.request<Row>("POST", `/campaigns/${enc(id as string)}/${verb}`)),
    }),
  ),
  {
    words: ["campaigns", "test"],
    args: ["<id>", "<to>"],
    flags: ["contact"],
    auth: "key",
    summary: "send the campaign once to an address now (rendered with --contact ctc_…'s data)",
    run: async (ctx, api, [id, to], flags) => {
      const contactId = str(flags, "contact");
      const r = await api.request<Row>("POST", `/campaigns/${enc(id as string)}/test`, {
        body: { to, ...(contactId ? { contactId } : {}) },
      });
      if (ctx.json) return printJson(ctx, r);
      print(ctx, `sent "${r.subject}" to ${r.to} (${r.messageId})\n`);
    },
  },
];
