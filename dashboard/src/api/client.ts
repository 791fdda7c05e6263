/**
 * The one fetch wrapper: same-origin requests carrying the session cookie (page scripts never hold a
 * key), JSON in and out, and the API's error envelope turned into one error type with its request id.
 */
import type { ErrorOut } from "./types";

export interface FieldProblem {
  field: string;
  message: string;
  code: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
    readonly fields: FieldProblem[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** A failure in words, with the request id a person can quote. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    return `${err.message} (${err.code}, HTTP ${err.status}${err.requestId ? `, request ${err.requestId}` : ""})`;
  }
  if (err instanceof Error) return `The request failed: ${err.message}`;
  return "The request failed";
}

type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** Called when the API answers 401: the session ended (expired, signed out, keys rotated). */
let onSignedOut: () => void = () => {};
export function setSignedOutHandler(fn: () => void) {
  onSignedOut = fn;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers:
        body === undefined
          ? { accept: "application/json" }
          : { "content-type": "application/json", accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(
      0,
      "NETWORK_ERROR",
      `The server could not be reached (${(err as Error).message})`,
      null,
    );
  }
  const requestId = res.headers.get("x-request-id");
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(
      res.status,
      "BAD_RESPONSE",
      `The server answered HTTP ${res.status} with something not JSON`,
      requestId,
    );
  }
  if (!res.ok) {
    const e = (json as ErrorOut | null)?.error;
    if (res.status === 401 && !path.startsWith("/session")) onSignedOut();
    throw new ApiError(
      res.status,
      e?.code ?? "HTTP_ERROR",
      e?.message ?? `HTTP ${res.status}`,
      e?.requestId ?? requestId,
      e?.errors ?? [],
    );
  }
  return json as T;
}

// T: the answer; B: the body (give both where the API's schemas type it: see ./types).
export const get = <T>(path: string, query?: Query) => api<T>("GET", withQuery(path, query));
export const post = <T, B = unknown>(path: string, body?: B) => api<T>("POST", path, body ?? {});
export const put = <T, B = unknown>(path: string, body: B) => api<T>("PUT", path, body);
export const patch = <T, B = unknown>(path: string, body: B) => api<T>("PATCH", path, body);
export const del = <T>(path: string) => api<T>("DELETE", path);
