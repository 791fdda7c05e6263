/**
 * `POST /contacts/import`: a CSV file streamed from the request body, upserted by email in batches of
 * up to 500 rows, one D1 batch each (whole or absent). A row is written whole or refused whole, with
 * its line and the reason; a file imported twice changes nothing the second time.
 */

import type { z } from "zod";
import { type ImportRow, idsOf, importStatements } from "../db/contact-bulk-sql";
import { dispatchOrDefer } from "../dispatch";
import { type CsvRecord, csvRecords, readCell } from "../domain/csv";
import { newId } from "../domain/ids";
import type { importReportResponse } from "../domain/responses";
import { emailField } from "../domain/track";
import type { Env } from "../env";
import { ApiError, type FieldError, validationError } from "../http/errors";
import type { Logger } from "../log";
import { refreshSegments } from "../segments";

/** The largest file (bytes): Workers' request body limit on the Free and Pro plans. */
export const IMPORT_MAX_BYTES = 100 * 1024 * 1024;
export const IMPORT_MAX_COLUMNS = 100;
const BATCH_ROWS = 500;
/** A batch's JSON is kept well below D1's 2 MB for one bound value. */
const BATCH_CHARS = 500_000;
/** Refusals listed in the answer (all are counted). */
const REFUSED_LISTED = 100;

export interface Refusal {
  line: number;
  email?: string;
  reason: string;
}

export type ImportReport = z.output<typeof importReportResponse>;

/** The export's own columns that are not the contact's to set: read-only, skipped. */
const IGNORED = new Set(["id", "createdat", "updatedat"]);
const SUBSCRIBED: Record<string, 0 | 1> = { true: 1, false: 0, "1": 1, "0": 0, yes: 1, no: 0 };

interface Header {
  email: number;
  subscribed: number | null;
  /** Column index → data key. */
  data: [number, string][];
  width: number;
}

/** The header row's columns: `email` (required), `subscribed`, and every other a data key. */
export function readHeader(cells: string[]): Header {
  const problems: FieldError[] = [];
  let email = -1;
  let subscribed: number | null = null;
  const data: [number, string][] = [];
  const keys = new Map<string, string>();
  if (cells.length > IMPORT_MAX_COLUMNS) {
    problems.push({
      field: "header",
      message: `At most ${IMPORT_MAX_COLUMNS} columns (this file has ${cells.length})`,
      code: "too_many_columns",
    });
  }
  cells.forEach((raw, i) => {
    const name = raw.trim();
    const lower = name.toLowerCase();
    if (name === "" || IGNORED.has(lower)) return;
    if (lower === "email" || lower === "subscribed") {
      if ((lower === "email" && email !== -1) || (lower === "subscribed" && subscribed !== null)) {
        problems.push({
          field: "header",
          message: `Two columns are named ${lower}`,
          code: "duplicate_column",
        });
      }
      if (lower === "email") email = i;
      else subscribed = i;
      return;
    }
    // `data.<key>` names a data key explicitly (the export writes it for a key named like a column).
    const key = name.startsWith("data.") && name.length > 5 ? name.slice(5) : name;
    const seen = keys.get(key);
    if (seen !== undefined) {
      problems.push({
        field: "header",
        message: `Columns "${seen}" and "${name}" are the same data key "${key}"`,
        code: "duplicate_column",
      });
    }
    keys.set(key, name);
    data.push([i, key]);
  });
  if (email === -1) {
    problems.push({ field: "header", message: "The header row has no email column", code: "missing_email" });
  }
  if (problems.length > 0) throw validationError(problems);
  return { email, subscribed, data, width: cells.length };
}

type RowResult = { row: ImportRow } | { refusal: Refusal };

/** A record as a row to write, or why it is refused. */
export function readRow(header: Header, record: CsvRecord, now: number): RowResult {
  const { line, cells } = record;
  const rawEmail = cells[header.email]?.trim() ?? "";
  const email = rawEmail === "" ? undefined : rawEmail;
  const refuse = (reason: string): RowResult => ({
    refusal: { line, ...(email ? { email: email.slice(0, 254) } : {}), reason },
  });
  if (record.error) return refuse(record.error);
  if (cells.length > header.width) {
    return refuse(`the row has ${cells.length} cells, the header ${header.width}`);
  }
  if (!email) return refuse("no email");
  const parsed = emailField.safeParse(email);
  if (!parsed.success) return refuse("invalid email");
  let s: 0 | 1 | null = null;
  if (header.subscribed !== null) {
    const cell = (cells[header.subscribed] ?? "").trim().toLowerCase();
    if (cell !== "") {
      const v = SUBSCRIBED[cell];
      if (v === undefined) return refuse("subscribed must be true, false, yes, no, 1 or 0");
      s = v;
    }
  }
  const d: Record<string, unknown> = {};
  for (const [i, key] of header.data) {
    const value = readCell(cells[i] ?? "");
    if (value !== undefined) d[key] = value;
  }
  return { row: { e: parsed.data, s, d, c: newId("ctc", now), v: newId("evt", now) } };
}

/** Counts the body's bytes, and refuses it (413) once past the limit. */
/** Passes the bytes on while they stay within `max` and are UTF-8 (413 past the limit, 400 if not UTF-8). */
function checkedBytes(max: number): TransformStream<Uint8Array, Uint8Array> {
  let size = 0;
  const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  const check = (chunk?: Uint8Array) => {
    try {
      utf8.decode(chunk, { stream: chunk !== undefined });
    } catch {
      throw new ApiError(400, "INVALID_REQUEST_BODY", "The file is not valid UTF-8");
    }
  };
  return new TransformStream({
    transform(chunk, controller) {
      size += chunk.byteLength;
      if (size > max) throw tooLarge(max);
      check(chunk);
      controller.enqueue(chunk);
    },
    flush: () => check(),
  });
}

const tooLarge = (max: number) => new ApiError(413, "PAYLOAD_TOO_LARGE", `An import is at most ${max} bytes`);

export async function importContacts(
  env: Env,
  log: Logger,
  projectId: string,
  body: ReadableStream<Uint8Array> | null,
  max = IMPORT_MAX_BYTES,
): Promise<ImportReport> {
  const report: ImportReport = {
    rows: 0,
    created: 0,
    updated: 0,
    unchanged: 0,
    refusedCount: 0,
    refused: [],
  };
  const refuse = (r: Refusal) => {
    report.refusedCount++;
    if (report.refused.length < REFUSED_LISTED) report.refused.push(r);
  };
  /** The line each email was first seen on: the first row of an email wins, later ones are refused. */
  const firstLine = new Map<string, number>();
  let header: Header | null = null;
  let batch: ImportRow[] = [];
  let batchChars = 0;

  const flush = async () => {
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    batchChars = 0;
    const [events, updated, created, all] = await env.DB.batch(
      importStatements(env, projectId, rows, Date.now()),
    );
    const u = idsOf(updated).length;
    const c = idsOf(created).length;
    report.updated += u;
    report.created += c;
    report.unchanged += rows.length - u - c;
    await dispatchOrDefer(env, log, projectId, idsOf(events));
    // Every row's contact, changed or not: a run after a crash between the batch and this refresh mends it.
    await refreshSegments(env, log, projectId, idsOf(all));
  };

  const take = async (record: CsvRecord) => {
    if (!header) {
      if (record.error)
        throw validationError([{ field: "header", message: record.error, code: "invalid_csv" }]);
      header = readHeader(record.cells);
      return;
    }
    report.rows++;
    const result = readRow(header, record, Date.now());
    if ("refusal" in result) return refuse(result.refusal);
    const { row } = result;
    const first = firstLine.get(row.e);
    if (first !== undefined) {
      return refuse({
        line: record.line,
        email: row.e,
        reason: `duplicate of line ${first} (the first row wins)`,
      });
    }
    firstLine.set(row.e, record.line);
    batch.push(row);
    batchChars += JSON.stringify(row.d).length + row.e.length + 80;
    if (batch.length >= BATCH_ROWS || batchChars >= BATCH_CHARS) await flush();
  };

  if (body) {
    const reader = csvRecords(body.pipeThrough(checkedBytes(max))).getReader();
    try {
      for (;;) {
        const next = await reader.read();
        if (next.done) break;
        await take(next.value);
      }
    } catch (err) {
      await reader.cancel().catch(() => {});
      throw err;
    }
  }
  if (!header) {
    throw validationError([
      { field: "header", message: "The file is empty: it needs a header row", code: "missing_email" },
    ]);
  }
  await flush();
  return report;
}
