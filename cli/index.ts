#!/usr/bin/env node
/**
 * plunk-edge: the operator's command line for a Plunk Edge deployment, beside wrangler. It talks to the
 * deployment's HTTP API (docs/API.md) and nothing else. Run as `npx plunk-edge …` or `npm run cli -- …`.
 */
import { Api } from "./api.ts";
import { FLAGS, type FlagName, GLOBAL_FLAGS, parseArgs, str } from "./args.ts";
import { COMMANDS, type Command, type Context } from "./commands.ts";
import { CliError, EXIT_FAILURE, usageError } from "./errors.ts";

const NAME = "plunk-edge";
const DEFAULT_URL = "http://127.0.0.1:8787";

const GLOBAL_HELP = [
  "--url URL           the deployment (env PLUNK_EDGE_URL, default http://127.0.0.1:8787)",
  "--key KEY           a project secret key, sk_… (env PLUNK_EDGE_KEY)",
  "--admin-token T     the deployment's ADMIN_TOKEN, for projects (env PLUNK_EDGE_ADMIN_TOKEN)",
  "--json              print the API's answer as JSON (for scripts)",
  "--help, -h          help for any command",
].join("\n");

const LIST_HELP = [
  "--limit N           items per page, 1–100 (default 20)",
  "--cursor C          start after this cursor (from the previous page)",
  "--all               follow the cursor through every page",
].join("\n");

const line = (c: Command) => `${[NAME, ...c.words, ...c.args].join(" ")}`;

function mainUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => [...c.words, ...c.args].join(" ").length));
  const rows = COMMANDS.map((c) => `  ${[...c.words, ...c.args].join(" ").padEnd(width)}  ${c.summary}`);
  return [
    `usage: ${NAME} <command> [arguments] [flags]`,
    "",
    "commands:",
    ...rows,
    "",
    "flags everywhere:",
    indent(GLOBAL_HELP),
    "",
    `'${NAME} <command> --help' tells more. Exit codes: 0 done, 1 failed (API, network, file), 2 bad command line.`,
  ].join("\n");
}

function groupUsage(group: string): string {
  const cmds = COMMANDS.filter((c) => c.words[0] === group);
  return [
    `usage: ${NAME} ${group} <${cmds.map((c) => c.words[1]).join("|")}> …`,
    "",
    ...cmds.map((c) => `  ${line(c)}\n      ${c.summary}`),
    "",
    `'${NAME} ${group} <command> --help' tells more.`,
  ].join("\n");
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}

function commandUsage(c: Command): string {
  const flags = c.flags.filter((f) => !["limit", "cursor", "all"].includes(f));
  const hint = flags.map((f) => (FLAGS[f] === "value" ? `[--${f} …]` : `[--${f}]`));
  if (c.flags.includes("all")) hint.unshift("[--limit N] [--cursor C] [--all]");
  const parts = [`usage: ${line(c)}${hint.length ? ` ${hint.join(" ")}` : ""}`, "", c.summary];
  if (c.help) parts.push("", indent(c.help));
  if (c.flags.includes("all")) parts.push("", indent(LIST_HELP));
  parts.push(
    "",
    c.auth === "admin"
      ? "needs --admin-token (or PLUNK_EDGE_ADMIN_TOKEN)"
      : "needs --key (or PLUNK_EDGE_KEY)",
  );
  parts.push("", "flags everywhere:", indent(GLOBAL_HELP));
  return parts.join("\n");
}

/** Finds the command named by the positionals; the rest are its arguments. */
function resolve(positionals: string[], help: boolean): { command: Command; args: string[] } | string {
  const [group, sub] = positionals;
  if (group === undefined) {
    if (help) return mainUsage();
    throw usageError("no command given", mainUsage());
  }
  const inGroup = COMMANDS.filter((c) => c.words[0] === group);
  if (inGroup.length === 0) throw usageError(`unknown command "${group}"`, mainUsage());
  const single = inGroup.find((c) => c.words.length === 1);
  if (single) return { command: single, args: positionals.slice(1) };
  if (sub === undefined) {
    if (help) return groupUsage(group);
    throw usageError(`${group}: which command?`, groupUsage(group));
  }
  const command = inGroup.find((c) => c.words[1] === sub);
  if (!command) throw usageError(`unknown command "${group} ${sub}"`, groupUsage(group));
  return { command, args: positionals.slice(2) };
}

function checkArgs(command: Command, args: string[]) {
  const usage = commandUsage(command);
  const variadic = command.args.at(-1)?.endsWith("…>") ?? false;
  const required = command.args.length;
  if (args.length < required) {
    throw usageError(`missing ${command.args.slice(args.length).join(" ")}`, usage);
  }
  if (!variadic && args.length > required) {
    throw usageError(`unexpected argument "${args[required]}"`, usage);
  }
  for (const [i, a] of args.entries()) {
    if (a === "") throw usageError(`${command.args[Math.min(i, required - 1)]} is empty`, usage);
  }
}

function baseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`--url / PLUNK_EDGE_URL is not a URL: "${raw}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw usageError(`--url / PLUNK_EDGE_URL must be http or https: "${raw}"`);
  }
  return url.href.replace(/\/+$/, "");
}

export async function main(
  argv: string[],
  env: Record<string, string | undefined>,
  stdout: NodeJS.WriteStream,
  stderr: NodeJS.WriteStream,
): Promise<number> {
  try {
    const { positionals, flags, problems } = parseArgs(argv);
    const help = flags.help === true;
    const found = resolve(positionals, help || problems.length > 0);
    if (typeof found === "string") {
      if (problems.length > 0) throw usageError(problems.join("; "), found);
      stdout.write(`${found}\n`);
      return 0;
    }
    const { command, args } = found;
    const usage = commandUsage(command);
    if (problems.length > 0) throw usageError(problems.join("; "), usage);
    if (help) {
      stdout.write(`${usage}\n`);
      return 0;
    }
    const allowed = new Set<FlagName>([...GLOBAL_FLAGS, ...command.flags]);
    for (const f of Object.keys(flags) as FlagName[]) {
      if (!allowed.has(f)) throw usageError(`${command.words.join(" ")} takes no --${f}`, usage);
    }
    checkArgs(command, args);
    const url = baseUrl(str(flags, "url") ?? (env.PLUNK_EDGE_URL || DEFAULT_URL));
    const ctx: Context = {
      url,
      key: str(flags, "key") ?? (env.PLUNK_EDGE_KEY || undefined),
      adminToken: str(flags, "admin-token") ?? (env.PLUNK_EDGE_ADMIN_TOKEN || undefined),
      json: flags.json === true,
      stdout,
      stderr,
    };
    let token: string | undefined;
    if (command.auth === "admin") {
      token = ctx.adminToken;
      if (!token) throw usageError("no admin token: give --admin-token or set PLUNK_EDGE_ADMIN_TOKEN");
    } else {
      token = ctx.key;
      if (!token) throw usageError("no project key: give --key sk_… or set PLUNK_EDGE_KEY");
    }
    await command.run(ctx, new Api(url, token), args, flags);
    return 0;
  } catch (err) {
    if (err instanceof CliError) {
      stderr.write(`${NAME}: ${err.message}\n`);
      if (err.usage) stderr.write(`\n${err.usage}\n`);
      return err.exitCode;
    }
    stderr.write(`${NAME}: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILURE;
  }
}

// Output piped into `head` and closed early is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

process.exitCode = await main(process.argv.slice(2), process.env, process.stdout, process.stderr);
