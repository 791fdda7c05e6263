/** Templates, contacts, a contact's events, and the development SES simulator: what the guides use. */
import fs from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Api } from "./api.ts";
import { type Flags, str } from "./args.ts";
import {
  type Command,
  type Context,
  enc,
  jsonFlag,
  LIST_FLAGS,
  listing,
  print,
  printJson,
  type Row,
  readFileText,
  subscribedFlag,
} from "./common.ts";
import { parseText } from "./definition.ts";
import { ApiError, CliError, usageError } from "./errors.ts";
import { type Column, fields } from "./format.ts";

// ---------------------------------------------------------------------------------------------------
// Templates

const TEMPLATE_REQUIRED = ["name", "subject", "body", "from"] as const;
const TEMPLATE_KEYS = [...TEMPLATE_REQUIRED, "fromName", "replyTo", "type"];
const TEMPLATE_TYPES = ["MARKETING", "TRANSACTIONAL"];
const TEMPLATE_FILE_HELP = [
  "FILE is JSON or YAML (by extension: .json, .yaml/.yml) with the template's fields:",
  "  name, subject, body, from          (subject and body are Liquid: {{ data.plan }})",
  "  fromName?, replyTo?, type?         (type: MARKETING, the default, or TRANSACTIONAL)",
  "--body-file F      the body from its own file (an HTML page, say) instead of the file's body",
].join("\n");

const TEMPLATE_COLUMNS: Column<Row>[] = [
  ["ID", (t) => t.id],
  ["NAME", (t) => t.name],
  ["TYPE", (t) => t.type],
  ["FROM", (t) => t.from],
  ["SUBJECT", (t) => t.subject],
  ["UPDATED", (t) => t.updatedAt],
];

const isObject = (v: unknown): v is Row => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The template a file (and --body-file) describes, checked before anything is sent: an object with
 * known fields of the right types; for `create`, every required field.
 */
function templateFromFiles(file: string | undefined, flags: Flags, mode: "create" | "update"): Row {
  const bodyFile = str(flags, "body-file");
  const value: unknown = file === undefined ? {} : parseText(readFileText(file), file);
  const where = file ?? "--body-file";
  if (!isObject(value)) {
    throw new CliError(`${where}: a template file is a mapping with ${TEMPLATE_KEYS.join(", ")}`);
  }
  const problems: string[] = [];
  for (const k of Object.keys(value)) {
    if (!TEMPLATE_KEYS.includes(k)) {
      problems.push(`${k}: not a template field (one of ${TEMPLATE_KEYS.join(", ")})`);
    }
  }
  const out: Row = {};
  for (const [k, v] of Object.entries(value)) {
    if (!TEMPLATE_KEYS.includes(k)) continue;
    if (k === "fromName" || k === "replyTo") {
      if (v !== null && typeof v !== "string") problems.push(`${k}: must be a string (or null to clear it)`);
    } else if (k === "type") {
      if (typeof v !== "string" || !TEMPLATE_TYPES.includes(v.toUpperCase())) {
        problems.push(`type: must be ${TEMPLATE_TYPES.join(" or ")}`);
        continue;
      }
      out.type = v.toUpperCase();
      continue;
    } else if (typeof v !== "string" || v.trim() === "") {
      problems.push(`${k}: must be a non-empty string`);
    }
    out[k] = v;
  }
  if (bodyFile !== undefined) {
    if (value.body !== undefined) {
      throw usageError(`${file} has a body and --body-file gives one too: keep one of them`);
    }
    const body = readFileText(bodyFile);
    if (body.trim() === "") throw new CliError(`${bodyFile}: the body is empty`);
    out.body = body;
  }
  if (mode === "create") {
    const missing = TEMPLATE_REQUIRED.filter((k) => out[k] === undefined && value[k] === undefined);
    if (missing.length > 0) {
      problems.push(
        `missing ${missing.join(", ")}${missing.includes("body") ? " (or give --body-file)" : ""}`,
      );
    }
  }
  if (problems.length > 0) throw new CliError(`${where}: ${problems.join("; ")}`);
  if (Object.keys(out).length === 0) {
    throw new CliError(`${where}: nothing to update: give at least one of ${TEMPLATE_KEYS.join(", ")}`);
  }
  return out;
}

function showTemplate(ctx: Context, t: Row) {
  print(ctx, fields(t, ["body"]));
  if (typeof t.body === "string") {
    print(ctx, `\nbody\n${t.body}${t.body.endsWith("\n") ? "" : "\n"}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Contacts

const CONTACT_COLUMNS: Column<Row>[] = [
  ["ID", (c) => c.id],
  ["EMAIL", (c) => c.email],
  ["SUBSCRIBED", (c) => c.subscribed],
  ["DATA", (c) => (isObject(c.data) && Object.keys(c.data).length === 0 ? null : c.data)],
  ["CREATED", (c) => c.createdAt],
];

const EVENT_COLUMNS: Column<Row>[] = [
  ["ID", (e) => e.id],
  ["EVENT", (e) => e.name],
  ["CREATED", (e) => e.createdAt],
  ["DATA", (e) => (isObject(e.data) && Object.keys(e.data).length === 0 ? null : e.data)],
];

const BULK_ACTIONS = ["subscribe", "unsubscribe", "delete"];

/** A file's size, or a one-line error when it cannot be read. */
function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch (err) {
    throw new CliError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

const CONTACT_REF_HELP = "CONTACT is a contact id (ctc_…) or its email";

/**
 * A contact id from `ctc_…` or an email: the email is looked up with `GET /contacts?search=` (every
 * page, until the exact email is found). Anything else is a bad command line.
 */
async function contactId(api: Api, ref: string): Promise<string> {
  if (ref.startsWith("ctc_")) return ref;
  if (!/^[^\s@]+@[^\s@]+$/.test(ref.trim())) {
    throw usageError(`"${ref}" is neither a contact id (ctc_…) nor an email`);
  }
  const email = ref.trim().toLowerCase();
  let cursor: string | undefined;
  for (;;) {
    const page = await api.list<Row>("/contacts", { search: email, limit: 100, cursor }, false);
    const found = page.data.find((c) => typeof c.email === "string" && c.email.toLowerCase() === email);
    if (found) return String(found.id);
    if (!page.hasMore || !page.cursor) break;
    cursor = page.cursor;
  }
  throw new CliError(`no contact has the email ${email}`);
}

/** The project's recent events (GET /events), with each contact's email beside its id. */
const PROJECT_EVENT_COLUMNS: Column<Row>[] = [
  ["ID", (e) => e.id],
  ["EVENT", (e) => e.name],
  ["CONTACT", (e) => e.contactId],
  ["EMAIL", (e) => e.contactEmail],
  ["CREATED", (e) => e.createdAt],
  ["DATA", (e) => (isObject(e.data) && Object.keys(e.data).length === 0 ? null : e.data)],
];

async function contactEvents(ctx: Context, api: Api, ref: string, flags: Flags) {
  const id = await contactId(api, ref);
  await listing(ctx, api, `/contacts/${enc(id)}/events`, {}, flags, EVENT_COLUMNS, "events");
}

// ---------------------------------------------------------------------------------------------------
// The development SES simulator

const SIMULATE_KINDS = ["bounce", "complaint", "delivery", "open", "click"];

function checkLink(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`--link is not a URL: "${raw}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw usageError(`--link must be an http or https URL: "${raw}"`);
  }
  return raw;
}

export const RESOURCE_COMMANDS: Command[] = [
  {
    words: ["templates", "list"],
    args: [],
    flags: LIST_FLAGS,
    auth: "key",
    summary: "list email templates",
    run: (ctx, api, _args, flags) =>
      listing(ctx, api, "/templates", {}, flags, TEMPLATE_COLUMNS, "templates"),
  },
  {
    words: ["templates", "get"],
    args: ["<id>"],
    flags: [],
    auth: "key",
    summary: "a template with its body",
    run: async (ctx, api, [id]) => {
      const t = await api.get<Row>(`/templates/${enc(id as string)}`);
      if (ctx.json) return printJson(ctx, t);
      showTemplate(ctx, t);
    },
  },
  {
    words: ["templates", "create"],
    args: ["<file>"],
    flags: ["body-file"],
    auth: "key",
    summary: "create a template from a JSON or YAML file; prints its id",
    help: TEMPLATE_FILE_HELP,
    run: async (ctx, api, [file], flags) => {
      const body = templateFromFiles(file, flags, "create");
      const t = await api.request<Row>("POST", "/templates", { body });
      if (ctx.json) return printJson(ctx, t);
      print(ctx, fields(t, ["body"]));
      ctx.stderr.write(`created ${t.id}: send it with a SEND_EMAIL step { templateId: ${t.id} }\n`);
    },
  },
  {
    words: ["templates", "update"],
    args: ["<id>", "[file]"],
    flags: ["body-file"],
    auth: "key",
    summary: "change a template: only the fields the file (or --body-file) gives",
    help: `${TEMPLATE_FILE_HELP}\nEvery field is optional here; the ones left out stay as they are.`,
    run: async (ctx, api, [id, file], flags) => {
      if (file === undefined && str(flags, "body-file") === undefined) {
        throw usageError("give a file with the fields to change, or --body-file, or both");
      }
      const body = templateFromFiles(file, flags, "update");
      const t = await api.request<Row>("PATCH", `/templates/${enc(id as string)}`, { body });
      if (ctx.json) return printJson(ctx, t);
      print(ctx, fields(t, ["body"]));
      ctx.stderr.write(`updated ${t.id}: ${Object.keys(body).join(", ")}\n`);
    },
  },
  {
    words: ["templates", "delete"],
    args: ["<id>"],
    flags: [],
    auth: "key",
    summary: "delete a template (refused while a SEND_EMAIL step uses it)",
    help: 'With --json, prints {"id": …, "deleted": true} (the API answers 204 with no body).',
    run: async (ctx, api, [id]) => {
      await api.request("DELETE", `/templates/${enc(id as string)}`);
      if (ctx.json) return printJson(ctx, { id, deleted: true });
      print(ctx, `${id} deleted\n`);
    },
  },
  {
    words: ["contacts", "list"],
    args: [],
    flags: [...LIST_FLAGS, "subscribed", "search"],
    auth: "key",
    summary: "list contacts, newest first",
    help: [
      "--subscribed B    true or false: only subscribed, or only unsubscribed, contacts",
      "--search S        emails that contain S",
    ].join("\n"),
    run: (ctx, api, _args, flags) => {
      const subscribed = subscribedFlag(flags);
      const search = str(flags, "search");
      if (search !== undefined && search.trim() === "") throw usageError("--search is empty");
      return listing(
        ctx,
        api,
        "/contacts",
        { subscribed: subscribed === undefined ? undefined : String(subscribed), search },
        flags,
        CONTACT_COLUMNS,
        "contacts",
      );
    },
  },
  {
    words: ["contacts", "get"],
    args: ["<contact>"],
    flags: [],
    auth: "key",
    summary: "a contact, by id or email",
    help: CONTACT_REF_HELP,
    run: async (ctx, api, [ref]) => {
      const c = await api.get<Row>(`/contacts/${enc(await contactId(api, ref as string))}`);
      if (ctx.json) return printJson(ctx, c);
      print(ctx, fields(c));
    },
  },
  {
    words: ["contacts", "create"],
    args: [],
    flags: ["email", "subscribed", "data"],
    auth: "key",
    summary: "create a contact (or update the one with this email)",
    help: [
      "--email EMAIL     the contact's email (required)",
      "--subscribed B    true or false (default true for a new contact)",
      `--data JSON       its data, merged into what it has, e.g. '{"plan":"pro"}'`,
    ].join("\n"),
    run: async (ctx, api, _args, flags) => {
      const email = str(flags, "email");
      if (email === undefined || email.trim() === "") throw usageError("give --email");
      const body = { email, subscribed: subscribedFlag(flags), data: jsonFlag(flags, "data") };
      const res = await api.send<Row>("POST", "/contacts", { body });
      if (ctx.json) return printJson(ctx, res.body);
      print(ctx, fields(res.body));
      ctx.stderr.write(
        res.status === 201
          ? `created ${res.body.id}\n`
          : `${res.body.id} already had this email: updated it\n`,
      );
    },
  },
  {
    words: ["contacts", "update"],
    args: ["<contact>"],
    flags: ["email", "subscribed", "data"],
    auth: "key",
    summary: "change a contact's email, subscription or data (data is merged)",
    help: [
      CONTACT_REF_HELP,
      "--email EMAIL     a new email",
      "--subscribed B    true or false",
      `--data JSON       keys to set in its data, e.g. '{"plan":"pro"}' (the others stay)`,
    ].join("\n"),
    run: async (ctx, api, [ref], flags) => {
      const email = str(flags, "email");
      if (email !== undefined && email.trim() === "") throw usageError("--email is empty");
      const body = { email, subscribed: subscribedFlag(flags), data: jsonFlag(flags, "data") };
      if (Object.values(body).every((v) => v === undefined)) {
        throw usageError("give at least one of --email, --subscribed, --data");
      }
      const id = await contactId(api, ref as string);
      const c = await api.request<Row>("PATCH", `/contacts/${enc(id)}`, { body });
      if (ctx.json) return printJson(ctx, c);
      print(ctx, fields(c));
    },
  },
  {
    words: ["contacts", "delete"],
    args: ["<contact>"],
    flags: [],
    auth: "key",
    summary: "delete a contact with its events (its running and waiting executions are cancelled)",
    help: `${CONTACT_REF_HELP}\nWith --json, prints {"id": …, "deleted": true} (the API answers 204 with no body).`,
    run: async (ctx, api, [ref]) => {
      const id = await contactId(api, ref as string);
      await api.request("DELETE", `/contacts/${enc(id)}`);
      if (ctx.json) return printJson(ctx, { id, deleted: true });
      print(ctx, `${id} deleted\n`);
    },
  },
  {
    words: ["contacts", "import"],
    args: ["<file>"],
    flags: [],
    auth: "key",
    summary: "import contacts from a CSV file (upsert by email); prints what was created, updated, refused",
    help: [
      "FILE is CSV with a header row: email (required), subscribed (true/false/yes/no/1/0, optional),",
      "and any other column as a data key (an empty cell leaves the key as it is). The file is streamed",
      "(at most 100 MB); importing it again changes nothing. Refused rows are listed with their line.",
    ].join("\n"),
    run: async (ctx, api, [file]) => {
      const size = fileSize(file as string);
      const stream = Readable.toWeb(fs.createReadStream(file as string)) as ReadableStream<Uint8Array>;
      const report = await api.request<Row>("POST", "/contacts/import", {
        raw: { body: stream, contentType: "text/csv" },
        timeoutMs: 600_000,
      });
      if (ctx.json) return printJson(ctx, report);
      print(
        ctx,
        `${report.rows} rows (${size} bytes): created ${report.created}, updated ${report.updated}, unchanged ${report.unchanged}, refused ${report.refusedCount}\n`,
      );
      const refused = (report.refused ?? []) as Row[];
      for (const r of refused) {
        print(ctx, `  line ${r.line}${r.email ? ` (${r.email})` : ""}: ${r.reason}\n`);
      }
      if (Number(report.refusedCount) > refused.length) {
        print(ctx, `  … and ${Number(report.refusedCount) - refused.length} more refused rows\n`);
      }
    },
  },
  {
    words: ["contacts", "export"],
    args: [],
    flags: ["segment", "out"],
    auth: "key",
    summary: "the contacts (or a segment's members) as CSV, to stdout or --out FILE",
    help: [
      "Columns: id, email, subscribed, createdAt, updatedAt, then one per data key. The file imports",
      "back unchanged (contacts import).",
      "--segment ID      only the members of this segment (seg_…)",
      "--out FILE        write the CSV to FILE instead of stdout",
    ].join("\n"),
    run: async (ctx, api, _args, flags) => {
      const segmentId = str(flags, "segment");
      if (segmentId !== undefined && !segmentId.startsWith("seg_")) {
        throw usageError(`"${segmentId}" is not a segment id (seg_…)`);
      }
      const out = str(flags, "out");
      const res = await api.download("/contacts/export", { segmentId });
      const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
      if (out === undefined) {
        await pipeline(body, ctx.stdout, { end: false });
        return;
      }
      await pipeline(body, fs.createWriteStream(out));
      ctx.stderr.write(`wrote ${out}\n`);
    },
  },
  {
    words: ["contacts", "bulk"],
    args: ["<action>", "[contact…]"],
    flags: ["segment"],
    auth: "key",
    summary: "subscribe, unsubscribe or delete many contacts: by id, or a segment's members",
    help: [
      "ACTION is subscribe, unsubscribe or delete; CONTACT… are contact ids (ctc_…), any number",
      "(sent 1,000 a request), or --segment ID for every member of a segment (a job the worker does",
      "a page at a time; the command follows it to its end). Each status change emits",
      "contact.subscribed / contact.unsubscribed; delete does what contacts delete does. Running it",
      "again changes nothing twice.",
      "--segment ID      every member of this segment (seg_…), instead of ids",
    ].join("\n"),
    run: async (ctx, api, [action, ...ids], flags) => {
      if (!BULK_ACTIONS.includes(action as string)) {
        throw usageError(`unknown action "${action}": one of ${BULK_ACTIONS.join(", ")}`);
      }
      const segmentId = str(flags, "segment");
      if ((segmentId === undefined) === (ids.length === 0)) {
        throw usageError("give contact ids or --segment, one of the two");
      }
      /** `which`: the contacts it was given, in words. */
      const done = (t: Row, which: string) => {
        if (ctx.json) return printJson(ctx, t);
        print(ctx, `${action}: ${which}, ${t.changed} ${action === "delete" ? "deleted" : "changed"}\n`);
      };
      if (segmentId !== undefined) {
        if (!segmentId.startsWith("seg_")) throw usageError(`"${segmentId}" is not a segment id (seg_…)`);
        let job = await api.request<Row>("POST", "/contacts/bulk", { body: { action, segmentId } });
        while (job.status !== "DONE") {
          await new Promise((r) => setTimeout(r, 500));
          job = await api.request<Row>("GET", `/contacts/bulk/${job.id}`);
        }
        return done(job, `${job.matched} members of ${segmentId}`);
      }
      const bad = ids.find((i) => !i.startsWith("ctc_"));
      if (bad !== undefined) throw usageError(`"${bad}" is not a contact id (ctc_…)`);
      const total = { action, requested: 0, matched: 0, changed: 0 };
      for (let i = 0; i < ids.length; i += 1000) {
        const r = await api.request<Row>("POST", "/contacts/bulk", {
          body: { action, ids: ids.slice(i, i + 1000) },
        });
        total.requested += Number(r.requested);
        total.matched += Number(r.matched);
        total.changed += Number(r.changed);
      }
      return done(total, `${total.requested} ids, ${total.matched} contacts of this project`);
    },
  },
  {
    words: ["contacts", "events"],
    args: ["<contact>"],
    flags: LIST_FLAGS,
    auth: "key",
    summary: "a contact's events, newest first",
    help: CONTACT_REF_HELP,
    run: (ctx, api, [ref], flags) => contactEvents(ctx, api, ref as string, flags),
  },
  {
    words: ["events"],
    args: [],
    flags: [...LIST_FLAGS, "contact", "event"],
    auth: "key",
    summary: "the project's recent events, or a contact's (--contact), newest first",
    help: [
      "--contact C       only this contact's events: a contact id (ctc_…) or email",
      "--event NAME      only events of this name (the project's list)",
    ].join("\n"),
    run: (ctx, api, _args, flags) => {
      const ref = str(flags, "contact");
      const name = str(flags, "event");
      if (ref !== undefined && name !== undefined) {
        throw usageError(
          "give --contact or --event, not both (a contact's list has every event of the contact)",
        );
      }
      if (ref !== undefined) {
        if (ref.trim() === "") throw usageError("--contact needs a contact id (ctc_…) or email");
        return contactEvents(ctx, api, ref, flags);
      }
      return listing(ctx, api, "/events", name ? { name } : {}, flags, PROJECT_EVENT_COLUMNS, "events");
    },
  },
  {
    words: ["simulate"],
    args: ["<kind>", "<emailId>"],
    flags: ["link"],
    auth: "key",
    summary: "development only: SES reports a bounce, complaint, delivery, open or click of an email",
    help: [
      `KIND is one of ${SIMULATE_KINDS.join(", ")}; EMAIL ID is an email's id (eml_…, from \`send\` or an`,
      "execution's step log). Calls POST /dev/ses/simulate, which only a development deployment",
      "(npm start, ENVIRONMENT=development) has. The event arrives as SES would send it.",
      "--link URL        the link clicked (click only)",
    ].join("\n"),
    run: async (ctx, api, [kindArg, emailId], flags) => {
      const kind = (kindArg as string).toLowerCase();
      if (!SIMULATE_KINDS.includes(kind)) {
        throw usageError(`unknown kind "${kindArg}": one of ${SIMULATE_KINDS.join(", ")}`);
      }
      if (!(emailId as string).startsWith("eml_")) {
        throw usageError(`"${emailId}" is not an email id (eml_…)`);
      }
      const rawLink = str(flags, "link");
      if (rawLink !== undefined && kind !== "click") throw usageError("--link goes with click only");
      const link = rawLink === undefined ? undefined : checkLink(rawLink);
      let res: Row;
      try {
        res = await api.request<Row>("POST", "/dev/ses/simulate", { body: { emailId, kind, link } });
      } catch (err) {
        if (err instanceof ApiError && err.status === 404 && err.code === "NOT_FOUND") {
          throw new CliError(
            `${ctx.url} has no POST /dev/ses/simulate (404 NOT_FOUND): it is a production deployment; ` +
              "simulate works only against a development one (npm start, ENVIRONMENT=development)",
          );
        }
        throw err;
      }
      if (ctx.json) return printJson(ctx, res);
      print(
        ctx,
        `${res.kind ?? kind} simulated for ${res.emailId ?? emailId} (SES message ${res.messageId})\n`,
      );
    },
  },
];
