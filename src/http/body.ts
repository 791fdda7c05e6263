/** Reading and validating request input: the one path from bytes to typed values, or to the envelope. */
import type { Context } from "hono";
import type { z } from "zod";
import { ApiError, validationError, zodFieldErrors } from "./errors";

export const MAX_BODY_BYTES = 1024 * 1024;
/** Deeper JSON is refused: SQLite's JSON functions stop at 1,000 levels, and no client needs 64. */
export const MAX_JSON_DEPTH = 64;

const tooLarge = () => new ApiError(413, "PAYLOAD_TOO_LARGE", `Request body exceeds ${MAX_BODY_BYTES} bytes`);
const badBody = (message: string) => new ApiError(400, "INVALID_REQUEST_BODY", message);

/** The raw body, refused with 413 past the limit whether or not Content-Length tells the truth. */
export async function readRawBody(c: Context): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const body = c.req.raw.body;
  if (!body) return "";
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw badBody("Request body is not valid UTF-8");
  }
}

/** Parses the body as a JSON object (400 otherwise) and validates it (422 with field errors). */
export async function parseJson<S extends z.ZodType>(
  c: Context,
  schema: S,
): Promise<{ raw: string; data: z.output<S> }> {
  const raw = await readRawBody(c);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw badBody("Request body is not valid JSON");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw badBody("Request body must be a JSON object");
  }
  if (deeperThan(value, MAX_JSON_DEPTH)) {
    throw badBody(`Request body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(zodFieldErrors(result.error));
  return { raw, data: result.data };
}

/** Whether a parsed JSON value nests objects and arrays more than `max` levels (without recursion). */
function deeperThan(value: object, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [v, depth] = next;
    if (depth > max) return true;
    for (const child of Object.values(v as object)) {
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** Validates the query string (422 with field errors). */
export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const result = schema.safeParse(c.req.query());
  if (!result.success) throw validationError(zodFieldErrors(result.error));
  return result.data;
}
