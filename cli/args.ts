/** The command line: positionals and `--flag value` / `--flag=value` / `--switch`, checked per command. */
/** Every flag the CLI knows, and whether it takes a value. Commands say which ones they accept. */
export const FLAGS = {
  url: "value",
  key: "value",
  "admin-token": "value",
  json: "switch",
  help: "switch",
  limit: "value",
  cursor: "value",
  all: "switch",
  status: "value",
  workflow: "value",
  execution: "value",
  out: "value",
  format: "value",
  data: "value",
  context: "value",
  subscribed: "value",
  subject: "value",
  body: "value",
  template: "value",
  from: "value",
  type: "value",
  email: "value",
  search: "value",
  contact: "value",
  link: "value",
  "body-file": "value",
  event: "value",
  segment: "value",
  file: "value",
  "time-zone": "value",
  engine: "value",
  shards: "value",
  database: "value",
} as const;

export type FlagName = keyof typeof FLAGS;
export type Flags = Partial<Record<FlagName, string | true>>;

export const GLOBAL_FLAGS: FlagName[] = ["url", "key", "admin-token", "json", "help"];

export interface Parsed {
  positionals: string[];
  flags: Flags;
  /** Unknown flags, repeated flags, missing values: reported once the command is known (with its usage). */
  problems: string[];
}

const isFlag = (name: string): name is FlagName => Object.hasOwn(FLAGS, name);

/** Splits argv; an unknown flag, a repeated flag or a flag without its value is a problem. */
export function parseArgs(argv: string[]): Parsed {
  const positionals: string[] = [];
  const flags: Flags = {};
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-h") {
      flags.help = true;
      continue;
    }
    if (!arg.startsWith("--") || arg === "-") {
      if (arg.startsWith("-") && arg !== "-") problems.push(`unknown flag ${arg}`);
      else positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (!isFlag(name)) {
      problems.push(`unknown flag --${name}`);
      continue;
    }
    if (flags[name] !== undefined) problems.push(`--${name} is given twice`);
    if (FLAGS[name] === "switch") {
      if (eq !== -1) problems.push(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    if (eq !== -1) {
      flags[name] = arg.slice(eq + 1);
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined || (next.startsWith("--") && next.length > 2)) {
      problems.push(`--${name} needs a value`);
      continue;
    }
    flags[name] = next;
    i++;
  }
  return { positionals, flags, problems };
}

/** A flag's value as a string (undefined when absent). */
export function str(flags: Flags, name: FlagName): string | undefined {
  const v = flags[name];
  return typeof v === "string" ? v : undefined;
}
