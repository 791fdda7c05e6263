/** What every command shares: its shape, output helpers, flag checks, file reading, and list printing. */
import fs from "node:fs";
import type { Api, Page } from "./api.ts";
import { type FlagName, type Flags, str } from "./args.ts";
import { CliError, usageError } from "./errors.ts";
import { type Column, table } from "./format.ts";

export interface Context {
  url: string;
  key: string | undefined;
  adminToken: string | undefined;
  json: boolean;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export interface Command {
  /** `["workflows", "list"]`, or `["track"]`. */
  words: string[];
  /** `<id>`; a trailing `<file…>` takes one or more; a trailing `[file]` may be left out. */
  args: string[];
  flags: FlagName[];
  auth: "key" | "admin";
  summary: string;
  /** Extra help lines under the usage line. */
  help?: string;
  run: (ctx: Context, api: Api, args: string[], flags: Flags) => Promise<void>;
}

export type Row = Record<string, unknown>;

export const LIST_FLAGS: FlagName[] = ["limit", "cursor", "all"];
export const enc = encodeURIComponent;

export function print(ctx: Context, text: string) {
  ctx.stdout.write(text);
}

export function printJson(ctx: Context, value: unknown) {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function limitOf(flags: Flags): number | undefined {
  const raw = str(flags, "limit");
  if (raw === undefined) return flags.all ? 100 : undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 100)
    throw usageError("--limit must be a whole number from 1 to 100");
  return n;
}

export function jsonFlag(flags: Flags, name: "data" | "context"): Record<string, unknown> | undefined {
  const raw = str(flags, name);
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw usageError(`--${name} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw usageError(`--${name} must be a JSON object, like '{"plan":"pro"}'`);
  }
  return value as Record<string, unknown>;
}

/** `--subscribed true|false` as a boolean (undefined when absent). */
export function subscribedFlag(flags: Flags): boolean | undefined {
  const sub = str(flags, "subscribed");
  if (sub === undefined) return undefined;
  if (sub !== "true" && sub !== "false") throw usageError("--subscribed must be true or false");
  return sub === "true";
}

export function statusFlag(flags: Flags, allowed: string[]): string | undefined {
  const raw = str(flags, "status");
  if (raw === undefined) return undefined;
  const status = raw.toUpperCase();
  if (!allowed.includes(status)) throw usageError(`--status must be one of ${allowed.join(", ")}`);
  return status;
}

/** One page (or every page with --all) from the API; `limit` and `cursor` from the flags. */
export function fetchPage<T>(
  api: Api,
  path: string,
  query: Record<string, string | number | undefined>,
  flags: Flags,
): Promise<Page<T>> {
  return api.list<T>(
    path,
    { ...query, limit: limitOf(flags), cursor: str(flags, "cursor") },
    flags.all === true,
  );
}

/** Prints a page: the API's answer with --json, else a table, and where the next page starts. */
export function printPage<T extends Row>(ctx: Context, page: Page<T>, columns: Column<T>[], noun: string) {
  if (ctx.json) return printJson(ctx, page);
  print(ctx, table(page.data, columns, `(no ${noun})`));
  if (page.hasMore && page.cursor) {
    ctx.stderr.write(`more ${noun}: --cursor ${page.cursor}, or --all for every page\n`);
  }
}

/** A list command: one page (or all with --all) as a table, or the API's page with --json. */
export async function listing<T extends Row>(
  ctx: Context,
  api: Api,
  path: string,
  query: Record<string, string | number | undefined>,
  flags: Flags,
  columns: Column<T>[],
  noun: string,
) {
  printPage(ctx, await fetchPage<T>(api, path, query, flags), columns, noun);
}

export function readFileText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "it is a directory"
          : code === "EACCES"
            ? "permission denied"
            : (err as Error).message;
    throw new CliError(`cannot read ${file}: ${why}`);
  }
}
