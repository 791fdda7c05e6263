/**
 * CSV for the contacts' import and export: csv-parse reads the uploaded bytes as a stream (RFC 4180:
 * quoted commas, line breaks and `""`; CRLF, LF or CR), csv-stringify writes the export's lines; and the
 * encoding of a data value in one cell and back.
 */
import { parse } from "csv-parse/stream";
import { stringify } from "csv-stringify/sync";

/** A record longer than this is refused rather than read. */
export const MAX_RECORD_CHARS = 65_536;

export interface CsvRecord {
  /** The line (1-based) the record starts on; a quoted field may span lines. */
  line: number;
  cells: string[];
  /** Why the record cannot be read (then `cells` is empty). */
  error?: string;
}

const newlines = (cells: string[]) => cells.reduce((n, c) => n + (c.match(/\r\n|\n|\r/g)?.length ?? 0), 0);

/**
 * The records of a CSV byte stream, each with the line it starts on. A record csv-parse cannot read (a
 * quote never closed, which takes the rest of the file; one over MAX_RECORD_CHARS) comes as an error of
 * its own, and reading goes on; blank lines are skipped; a quote inside a field that did not start with one
 * is text (`"x"y` is the cell `"x"y`).
 */
export function csvRecords(bytes: ReadableStream<Uint8Array>): ReadableStream<CsvRecord> {
  /** Each failure, with how many records csv-parse had given before it. */
  const failed: { error: string; after: number }[] = [];
  const parser = parse({
    info: true,
    record_delimiter: ["\r\n", "\n", "\r"],
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: MAX_RECORD_CHARS,
    on_skip: (err) => {
      if (err)
        failed.push({ error: err.message.replace(/ at line \d+.*$/s, ""), after: Number(err.records) });
    },
  }) as unknown as TransformStream<Uint8Array, { record: string[]; info: { lines: number } }>;
  // csv-parse reads ahead of what it has handed on: a failure is let out after the records that came
  // before it. csv-parse counts lines to a record's end; a failure starts after the record before it.
  let given = 0;
  let lastEnd = 0;
  const release = (controller: TransformStreamDefaultController<CsvRecord>, upTo: number) => {
    while (failed.length > 0 && (failed[0] as { after: number }).after <= upTo) {
      const { error } = failed.shift() as { error: string };
      controller.enqueue({ line: lastEnd + 1, cells: [], error });
    }
  };
  const ordered = new TransformStream<{ record: string[]; info: { lines: number } }, CsvRecord>({
    transform({ record, info }, controller) {
      release(controller, given);
      controller.enqueue({ line: info.lines - newlines(record), cells: record });
      lastEnd = info.lines;
      given++;
    },
    flush: (controller) => release(controller, Number.POSITIVE_INFINITY),
  });
  return bytes.pipeThrough(parser).pipeThrough(ordered);
}

/** One CSV line (CRLF-terminated), its fields quoted where they must be. */
export const csvLine = (fields: string[]) =>
  // A line break of either kind inside a field is quoted (csv-stringify quotes only its own delimiter's).
  stringify([fields], { record_delimiter: "windows", quoted_match: /[\r\n]/ });

/**
 * A data cell's value: JSON where the cell is JSON (`true`, `null`, `{"a":1}`, `"007"` as a string) and a
 * number only in the form JSON writes it (`42`, `1.5`; `007`, `1.50` or a 20-digit id stay text);
 * otherwise the text itself. An empty cell is no value (`undefined`: the key is left as it is).
 */
export function readCell(cell: string): unknown {
  if (cell === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(cell);
  } catch {
    return cell;
  }
  if (typeof value === "number" && JSON.stringify(value) !== cell) return cell;
  return value;
}

/** A data value as a cell that `readCell` reads back as the same value. */
export function writeCell(value: unknown): string {
  if (value === undefined) return "";
  if (typeof value === "string") return readCell(value) === value ? value : JSON.stringify(value);
  return JSON.stringify(value);
}
