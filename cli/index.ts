#!/usr/bin/env node
/**
 * plunk-edge: the operator's command line for a Plunk Edge deployment, beside wrangler. It talks to the
 * deployment's HTTP API (docs/API.md) and nothing else. Run as `npx plunk-edge …` or `npm run cli -- …`.
 */
import fs from "node:fs";
import path from "node:path";
import { Api } from "./api.ts";
import { FLAGS, type FlagName, GLOBAL_FLAGS, parseArgs, str } from "./args.ts";
import { COMMANDS, type Command, type Context } from "./commands.ts";
import { ApiError, CliError, EXIT_FAILURE, usageError } from "./errors.ts";

const NAME = "plunk-edge";
const DEFAULT_URL = "http://127.0.0.1:8787";
const DEV_PROJECT_FILE = path.resolve(import.meta.dirname, "..", ".wrangler", "dev-project.json");

const GLOBAL_HELP = [
  "--url URL           the deployment (env PLUNK_EDGE_URL, default http://127.0.0.1:8787)",
  "--key KEY           a project secret key, sk_… (env PLUNK_EDGE_KEY); against a loopback URL",
  "                    without one, the development project's key that npm start keeps in",
  "                    .wrangler/dev-project.json (env PLUNK_EDGE_DEV_PROJECT names another file)",
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
      : "needs --key (or PLUNK_EDGE_KEY; on 127.0.0.1/localhost, npm start's .wrangler/dev-project.json)",
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
  const variadic = /…[>\]]$/.test(command.args.at(-1) ?? "");
  // `[file]`: may be left out (only at the end).
  const required = command.args.filter((a) => !a.startsWith("[")).length;
  const most = command.args.length;
  if (args.length < required) {
    throw usageError(`missing ${command.args.slice(args.length, required).join(" ")}`, usage);
  }
  if (!variadic && args.length > most) {
    throw usageError(`unexpected argument "${args[most]}"`, usage);
  }
  for (const [i, a] of args.entries()) {
    if (a === "") throw usageError(`${command.args[Math.min(i, most - 1)]} is empty`, usage);
  }
}

const isLoopback = (url: string) => {
  const host = new URL(url).hostname;
  return host === "localhost" || host.endsWith(".localhost") || /^127\./.test(host) || host === "[::1]";
};

/**
 * The development project's secret key, which `npm start` keeps in .wrangler/dev-project.json
 * (`{id, publicKey, secretKey}`) at the repo root; PLUNK_EDGE_DEV_PROJECT names another file. Only for
 * a loopback URL, and only when no key is given. Undefined when there is no such file.
 */
function devProjectKey(env: Record<string, string | undefined>): { key: string; file: string } | undefined {
  const file = env.PLUNK_EDGE_DEV_PROJECT || DEV_PROJECT_FILE;
  const shown = env.PLUNK_EDGE_DEV_PROJECT ? file : ".wrangler/dev-project.json";
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw new CliError(`cannot read ${shown}: ${(err as Error).message}`);
  }
  let secretKey: unknown;
  try {
    secretKey = (JSON.parse(text) as { secretKey?: unknown } | null)?.secretKey;
  } catch {
    secretKey = undefined;
  }
  if (typeof secretKey !== "string" || !secretKey.startsWith("sk_")) {
    throw new CliError(
      `${shown} has no secretKey (sk_…): give --key, or delete the file and run npm start again`,
    );
  }
  return { key: secretKey, file: shown };
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
  let devKeyFile: string | undefined;
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
      if (!token && isLoopback(url)) {
        const dev = devProjectKey(env);
        if (!dev) {
          throw usageError(
            "no project key: give --key sk_… or set PLUNK_EDGE_KEY (or run npm start, which keeps its development project's key in .wrangler/dev-project.json)",
          );
        }
        token = ctx.key = dev.key;
        devKeyFile = dev.file;
        stderr.write(`using the development project's key from ${dev.file}\n`);
      }
      if (!token) throw usageError("no project key: give --key sk_… or set PLUNK_EDGE_KEY");
    }
    await command.run(ctx, new Api(url, token), args, flags);
    return 0;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && devKeyFile) {
      err.message += `; the key came from ${devKeyFile}, which npm start writes for its own server: give --key for another`;
    }
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
