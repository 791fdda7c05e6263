/** `segments …`: list, show and create segments, and set a static segment's members by email. */
import type { Api } from "./api.ts";
import { type Flags, str } from "./args.ts";
import {
  type Command,
  type Context,
  enc,
  LIST_FLAGS,
  listing,
  print,
  printJson,
  type Row,
  readFileText,
} from "./common.ts";
import { parseText } from "./definition.ts";
import { CliError, usageError } from "./errors.ts";
import { type Column, fields } from "./format.ts";

const SEGMENT_COLUMNS: Column<Row>[] = [
  ["ID", (s) => s.id],
  ["NAME", (s) => s.name],
  ["TYPE", (s) => s.type],
  ["MEMBERS", (s) => s.memberCount],
  ["FILL", (s) => s.backfill],
];

/** The API takes this many emails a request. */
const EMAILS_PER_REQUEST = 1000;

/** Emails from the arguments and from --file (one a line; blank lines and lines starting with # skipped). */
function emailsOf(args: string[], flags: Flags): string[] {
  const file = str(flags, "file");
  const fromFile =
    file === undefined
      ? []
      : readFileText(file)
          .split(/\r?\n/)
          .map((l) => l.trim())
          .filter((l) => l !== "" && !l.startsWith("#"));
  const all = [...args, ...fromFile];
  if (all.length === 0) throw usageError("give emails, or --file with one a line");
  return all;
}

async function changeMembers(ctx: Context, api: Api, id: string, emails: string[], remove: boolean) {
  const total = { [remove ? "removed" : "added"]: 0, unchanged: 0, notFound: [] as string[] };
  const key = remove ? "removed" : "added";
  for (let i = 0; i < emails.length; i += EMAILS_PER_REQUEST) {
    const r = await api.request<Row>("POST", `/segments/${enc(id)}/members${remove ? "/remove" : ""}`, {
      body: { emails: emails.slice(i, i + EMAILS_PER_REQUEST) },
    });
    total[key] = Number(total[key]) + Number(r[key]);
    total.unchanged += Number(r.unchanged);
    total.notFound.push(...(r.notFound as string[]));
  }
  if (ctx.json) return printJson(ctx, total);
  const missing =
    total.notFound.length === 0
      ? ""
      : `, ${total.notFound.length} with no contact: ${total.notFound.join(" ")}`;
  print(ctx, `${key} ${total[key]}, unchanged ${total.unchanged}${missing}\n`);
}

export const SEGMENT_COMMANDS: Command[] = [
  {
    words: ["segments", "list"],
    args: [],
    flags: LIST_FLAGS,
    auth: "key",
    summary: "list segments with their member counts",
    run: (ctx, api, _args, flags) => listing(ctx, api, "/segments", {}, flags, SEGMENT_COLUMNS, "segments"),
  },
  {
    words: ["segments", "get"],
    args: ["<id>"],
    flags: [],
    auth: "key",
    summary: "a segment with its condition",
    run: async (ctx, api, [id]) => {
      const s = await api.get<Row>(`/segments/${enc(id as string)}`);
      if (ctx.json) return printJson(ctx, s);
      print(ctx, fields(s, ["condition"]));
      if (s.condition !== null) print(ctx, `condition:\n${JSON.stringify(s.condition, null, 2)}\n`);
    },
  },
  {
    words: ["segments", "create"],
    args: ["<file>"],
    flags: [],
    auth: "key",
    summary: "create a segment from a JSON or YAML file; prints its id",
    help: [
      "FILE is JSON or YAML with: name, description?, and either condition (a dynamic segment:",
      "{logic: AND|OR, groups: [{filters, conditions?}]}, the README's Segments) or type: STATIC",
      "(members added by email with segments add).",
    ].join("\n"),
    run: async (ctx, api, [file]) => {
      const body = parseText(readFileText(file as string), file as string);
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new CliError(`${file}: a segment file is a mapping with name and condition (or type: STATIC)`);
      }
      const s = await api.request<Row>("POST", "/segments", { body });
      if (ctx.json) return printJson(ctx, s);
      print(ctx, fields(s, ["condition"]));
      ctx.stderr.write(`created ${s.id}: its events are segment.${s.slug}.entry and .exit\n`);
    },
  },
  ...(["add", "remove"] as const).map(
    (verb): Command => ({
      words: ["segments", verb],
      args: ["<id>", "[email…]"],
      flags: ["file"],
      auth: "key",
      summary: `${verb} members of a static segment by email (each ${verb === "add" ? "entry" : "exit"} an event, once)`,
      help: [
        "EMAIL… and/or --file F (one email a line), any number (sent 1,000 a request). Emails with no",
        "contact in the project are listed, not created. Running it again changes nothing.",
        "--file F          emails from this file, one a line (# starts a comment line)",
      ].join("\n"),
      run: async (ctx, api, [id, ...emails], flags) =>
        changeMembers(ctx, api, id as string, emailsOf(emails, flags), verb === "remove"),
    }),
  ),
];
