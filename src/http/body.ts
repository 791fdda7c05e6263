/** Reading and validating request input: the one path from bytes to typed values, or to the envelope. */
import type { Context } from "hono";
import type { z } from "zod";
import { ApiError, validationError, zodFieldErrors } from "./errors";

export const MAX_BODY_BYTES = 1024 * 1024;
/** Deeper JSON is refused: SQLite's JSON functions stop at 1,000 levels, and no client needs 64. */
export const MAX_JSON_DEPTH = 64;

const tooLarge = () => new ApiError(413, "PAYLOAD_TOO_LARGE", `Request body exceeds ${MAX_BODY_BYTES} bytes`);
const badBody = (message: string) => new ApiError(400, "INVALID_REQUEST_BODY", message);
/** Strict UTF-8 (a malformed byte throws); `decode` without `stream` keeps no state, so one serves all. */
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * The raw body, refused with 413 past the limit whether or not Content-Length tells the truth. With a
 * Content-Length within the limit, the body is read in one native call (HTTP framing holds it to that
 * length; should a body still exceed it, it is refused after reading); without one (chunked), it is read
 * chunk by chunk and refused as soon as it passes the limit.
 */
export async function readRawBody(c: Context): Promise<string> {
  const header = c.req.header("content-length");
  const declared = header === undefined ? Number.NaN : Number(header);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const body = c.req.raw.body;
  if (!body) return "";
  const bytes =
    Number.isInteger(declared) && declared >= 0
      ? new Uint8Array(await c.req.raw.arrayBuffer())
      : await readCapped(body);
  if (bytes.byteLength > MAX_BODY_BYTES) throw tooLarge();
  try {
    return utf8.decode(bytes);
  } catch {
    throw badBody("Request body is not valid UTF-8");
  }
}

/** A body stream's bytes, refused with 413 once past the limit (the rest is not read). */
async function readCapped(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
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
  return bytes;
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
