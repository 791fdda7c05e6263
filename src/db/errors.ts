/** Whether an error (D1's, or drizzle's wrapping of it) is a UNIQUE violation on `table`. */
export function isUniqueViolation(err: unknown, table: string): boolean {
  const pattern = `UNIQUE constraint failed: ${table}`;
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e.message.includes(pattern)) return true;
  }
  return false;
}
