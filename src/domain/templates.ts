/**
 * Liquid templates (liquidjs): parsing on save with line and column, rendering with bounded time and
 * memory, and Plunk's `{{ name ?? "fallback" }}`. No partials or file access: a template sees only its
 * variables.
 */
import { Liquid, type Template } from "liquidjs";

const engine = new Liquid({
  strictFilters: true,
  strictVariables: false,
  ownPropertyOnly: true,
  relativeReference: false,
  // Bounds, so a template cannot loop without end or grow without end.
  parseLimit: 1e6,
  renderLimit: 1_000,
  memoryLimit: 1e7,
  fs: {
    readFileSync: () => {
      throw new Error("Templates cannot include files");
    },
    readFile: async () => {
      throw new Error("Templates cannot include files");
    },
    existsSync: () => false,
    exists: async () => false,
    contains: async () => false,
    resolve: (_root: string, file: string) => file,
    sep: "/",
  },
});

// File tags are refused when the template is parsed (so on save), not only when it renders.
for (const tag of ["include", "render", "layout"]) {
  engine.registerTag(tag, {
    parse() {
      throw new Error("Templates cannot include files");
    },
    *render() {},
  });
}

/** Where `??` stands outside a quoted string, or -1. */
function fallbackAt(inner: string): number {
  let quote: string | null = null;
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i];
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "?" && inner[i + 1] === "?") return i;
  }
  return -1;
}

/** `{{ x ?? "y" }}` → `{{ x | default: "y" }}` (Plunk's fallback syntax); `{{-`/`-}}` are kept. */
export function desugar(source: string): string {
  return source.replace(/\{\{(-?)([^{}]*?)(-?)\}\}/g, (whole, open: string, inner: string, close: string) => {
    const at = fallbackAt(inner);
    if (at < 0) return whole;
    const right = inner.slice(at + 2).trim();
    return `{{${open}${inner.slice(0, at).trimEnd()} | default:${right ? ` ${right}` : ""} ${close}}}`;
  });
}

export interface TemplateProblem {
  message: string;
  line: number | null;
  column: number | null;
}

function problemOf(err: unknown): TemplateProblem {
  const e = err as { message?: string; token?: { getPosition?: () => [number, number] } };
  const pos = e.token?.getPosition?.();
  const message = String(e.message ?? err).split("\n")[0] ?? "Template error";
  return { message, line: pos?.[0] ?? null, column: pos?.[1] ?? null };
}

/** Null if the source parses; otherwise what is wrong and where. */
export function checkTemplate(source: string): TemplateProblem | null {
  try {
    engine.parse(desugar(source));
    return null;
  } catch (err) {
    return problemOf(err);
  }
}

const cache = new Map<string, Template[]>();

/** Whether a source holds Liquid at all: without `{{` or `{%` it renders as itself. */
export const isTemplated = (source: string): boolean => /\{[{%]/.test(source);

export async function renderTemplate(source: string, vars: Record<string, unknown>): Promise<string> {
  if (!isTemplated(source)) return source;
  let parsed = cache.get(source);
  if (!parsed) {
    parsed = engine.parse(desugar(source));
    if (cache.size > 500) cache.clear();
    cache.set(source, parsed);
  }
  return engine.render(parsed, vars);
}

/** Renders every string inside a JSON value (a webhook's custom body). */
export async function renderJsonStrings(value: unknown, vars: Record<string, unknown>): Promise<unknown> {
  if (typeof value === "string") return renderTemplate(value, vars);
  if (Array.isArray(value)) return Promise.all(value.map((v) => renderJsonStrings(v, vars)));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await renderJsonStrings(v, vars);
    return out;
  }
  return value;
}
