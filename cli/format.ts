/** What people read: aligned tables and key/value blocks. (`--json` prints the API's answer instead.) */

export type Column<T> = [header: string, cell: (row: T) => unknown];

/** Epoch milliseconds as ISO 8601 to the second: `2026-01-15T10:30:00Z`. */
export function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString().replace(/\.\d+Z$/, "Z");
}

/** Times stay ISO 8601 (`2026-01-15T10:30:00.000Z` → `2026-01-15T10:30:00Z`); other values as text. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (typeof value === "string") {
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(value)) return value.replace(/\.\d+Z$/, "Z");
    return value.replace(/[\r\n\t]+/g, " ");
  }
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") return String(value);
  return JSON.stringify(value);
}

/** Columns separated by two spaces, padded to the widest cell; the last column is not padded. */
export function table<T>(rows: T[], columns: Column<T>[], empty = "(none)"): string {
  if (rows.length === 0) return `${empty}\n`;
  const grid = [columns.map(([h]) => h), ...rows.map((r) => columns.map(([, cell]) => cellText(cell(r))))];
  const widths = columns.map((_, i) => Math.max(...grid.map((line) => (line[i] as string).length)));
  return grid
    .map((line) =>
      line
        .map((c, i) => (i === line.length - 1 ? c : c.padEnd(widths[i] as number)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")
    .concat("\n");
}

/** `key  value` lines, keys padded to the widest; objects shown as compact JSON. */
export function keyValues(pairs: [string, unknown][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs
    .map(([k, v]) => `${k.padEnd(width)}  ${cellText(v)}`.trimEnd())
    .join("\n")
    .concat("\n");
}

/** Every field of an object as `key  value` lines, in the answer's order, minus `skip`. */
export function fields(obj: Record<string, unknown>, skip: string[] = []): string {
  return keyValues(Object.entries(obj).filter(([k]) => !skip.includes(k)));
}
