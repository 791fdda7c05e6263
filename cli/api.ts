/** The deployment's HTTP API: one request at a time, every failure turned into a one-line CliError. */
import { ApiError, CliError } from "./errors.ts";

export interface Page<T> {
  data: T[];
  cursor: string | null;
  hasMore: boolean;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  /** How long to wait for the answer (default 60 s). */
  timeoutMs?: number;
  /** A body sent as it is (a file's stream, say) with this content type, instead of `body` as JSON. */
  raw?: { body: BodyInit; contentType: string };
}

const DEFAULT_TIMEOUT_MS = 60_000;

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code;
  const reasons: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ENOTFOUND: "host not found",
    EAI_AGAIN: "host not found",
    ECONNRESET: "connection reset",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    ETIMEDOUT: "connection timed out",
  };
  if (code && reasons[code]) return `${reasons[code]} (${code})`;
  if (code) return code;
  return cause?.message ?? (err instanceof Error ? err.message : String(err));
}

export class Api {
  base: string;
  token: string | undefined;

  constructor(base: string, token: string | undefined) {
    this.base = base;
    this.token = token;
  }

  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.send<T>(method, path, options)).body;
  }

  /** The answer with its status (a 2xx); anything else is thrown as an ApiError or a CliError. */
  async send<T = unknown>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<{ status: number; body: T }> {
    const { res, url } = await this.fetch(method, path, options);
    const text = await res.text();
    let body: unknown = null;
    let isJson = false;
    if (text) {
      try {
        body = JSON.parse(text);
        isJson = true;
      } catch {
        // reported below
      }
    }
    if (!res.ok) throw failure(res, method, url, isJson ? body : undefined, this.base);
    if (res.status !== 204 && text && !isJson) {
      throw new CliError(
        `${method} ${url.pathname} answered ${res.status} with something other than JSON: is ${this.base} a Plunk Edge deployment?`,
      );
    }
    return { status: res.status, body: body as T };
  }

  /** A 2xx answer whose body the caller reads as it comes (a CSV export); errors as `send` throws them. */
  async download(path: string, query?: RequestOptions["query"], timeoutMs = 600_000): Promise<Response> {
    const { res, url } = await this.fetch("GET", path, { query, timeoutMs });
    if (!res.ok) {
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      throw failure(res, "GET", url, body, this.base);
    }
    return res;
  }

  private async fetch(
    method: string,
    path: string,
    options: RequestOptions,
  ): Promise<{ res: Response; url: URL }> {
    const url = new URL(this.base.replace(/\/+$/, "") + path);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.raw) headers["content-type"] = options.raw.contentType;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: options.raw
          ? options.raw.body
          : options.body === undefined
            ? undefined
            : JSON.stringify(options.body),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: "manual",
        // A stream body is sent as it is read (Node's fetch needs to be told so).
        ...(options.raw ? { duplex: "half" } : {}),
      } as RequestInit);
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === "TimeoutError" || name === "AbortError") {
        throw new CliError(`no answer from ${url.origin} within ${Math.round(timeoutMs / 1000)} s`);
      }
      throw new CliError(`cannot reach ${url.origin}: ${networkReason(err)}`);
    }
    return { res, url };
  }

  get<T = unknown>(path: string, query?: RequestOptions["query"]): Promise<T> {
    return this.request<T>("GET", path, { query });
  }

  /** One page, or every page from `cursor` on when `all` is set (then `hasMore` is false). */
  async list<T>(
    path: string,
    query: Record<string, string | number | undefined>,
    all: boolean,
  ): Promise<Page<T>> {
    const first = await this.get<Page<T>>(path, query);
    checkPage(first, path);
    if (!all) return first;
    const data = [...first.data];
    let page = first;
    while (page.hasMore && page.cursor) {
      page = await this.get<Page<T>>(path, { ...query, cursor: page.cursor });
      checkPage(page, path);
      data.push(...page.data);
    }
    return { data, cursor: null, hasMore: false };
  }
}

function checkPage(page: unknown, path: string): asserts page is Page<unknown> {
  if (!page || typeof page !== "object" || !Array.isArray((page as Page<unknown>).data)) {
    throw new CliError(`GET ${path} did not answer a list ({data, cursor, hasMore})`);
  }
}

/** A non-2xx answer as the error to throw: the API's envelope as an ApiError, anything else a CliError. */
function failure(res: Response, method: string, url: URL, body: unknown, base: string): Error {
  const envelope = (body as { error?: Record<string, unknown> } | undefined)?.error;
  if (envelope && typeof envelope === "object" && typeof envelope.code === "string") {
    const errors = Array.isArray(envelope.errors)
      ? (envelope.errors as { field?: unknown; message?: unknown }[]).map((e) => ({
          field: typeof e.field === "string" ? e.field : "",
          message: typeof e.message === "string" ? e.message : JSON.stringify(e),
        }))
      : [];
    return new ApiError(
      res.status,
      envelope.code,
      typeof envelope.message === "string" ? envelope.message : res.statusText,
      errors,
      typeof envelope.requestId === "string" ? envelope.requestId : undefined,
      body,
    );
  }
  return new CliError(
    `${method} ${url.pathname} answered ${res.status} ${res.statusText} without the API's error envelope: is ${base} a Plunk Edge deployment?`,
  );
}
