/** Cursor lists, newest first, over (created_at, id). The cursor is opaque to clients. */
import { and, desc, eq, lt, or, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { z } from "zod";
import { base64url } from "../domain/crypto";
import { fieldError } from "./errors";

export const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
});

export interface Page<T> {
  data: T[];
  cursor: string | null;
  hasMore: boolean;
}

interface Position {
  t: number;
  id: string;
}

export function encodeCursor(p: Position): string {
  return base64url(new TextEncoder().encode(JSON.stringify([p.t, p.id])));
}

export function decodeCursor(cursor: string): Position {
  try {
    const text = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const [t, id] = JSON.parse(text) as unknown[];
    if (typeof t === "number" && Number.isFinite(t) && typeof id === "string") return { t, id };
  } catch {
    // fall through to the field error
  }
  throw fieldError("cursor", "Invalid cursor", "invalid_cursor");
}

/** The WHERE fragment that starts after the cursor, and the ORDER BY that goes with it. */
export function afterCursor(createdAt: SQLiteColumn, id: SQLiteColumn, cursor?: string): SQL | undefined {
  if (!cursor) return undefined;
  const p = decodeCursor(cursor);
  return or(lt(createdAt, p.t), and(eq(createdAt, p.t), lt(id, p.id)));
}

export const newestFirst = (createdAt: SQLiteColumn, id: SQLiteColumn) => [desc(createdAt), desc(id)];

/** Rows were fetched with limit + 1: the extra one says whether there is more. */
export function toPage<R extends { id: string }, T>(
  rows: R[],
  limit: number,
  at: (row: R) => number,
  show: (row: R) => T,
): Page<T> {
  const hasMore = rows.length > limit;
  const kept = hasMore ? rows.slice(0, limit) : rows;
  const last = kept[kept.length - 1];
  return {
    data: kept.map(show),
    cursor: hasMore && last ? encodeCursor({ t: at(last), id: last.id }) : null,
    hasMore,
  };
}
