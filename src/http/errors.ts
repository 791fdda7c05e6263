/** The one error shape of API.md, and the error type every layer throws to produce it. */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";

export interface FieldError {
  field: string;
  message: string;
  code: string;
  /** For templates that do not parse: where. */
  line?: number | null;
  column?: number | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export const notFound = (what = "Resource", code = "NOT_FOUND") =>
  new ApiError(404, code, `${what} not found`);
export const conflict = (message: string, code = "CONFLICT") => new ApiError(409, code, message);
export const validationError = (errors: FieldError[]) =>
  new ApiError(422, "VALIDATION_ERROR", "Request validation failed", errors);
export const fieldError = (field: string, message: string, code: string) =>
  validationError([{ field, message, code }]);

export function zodFieldErrors(error: z.ZodError): FieldError[] {
  return issueErrors(error.issues, []);
}

/**
 * Each issue as a field error. A value that fits none of a union's forms (CONDITION's two-way and
 * multi-branch configs, a segment's conditions and filters) is reported by the form it came closest to:
 * the one with the fewest issues, among those that know its keys.
 */
function issueErrors(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[]): FieldError[] {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      // A form that does not know the value's keys is the furthest (a segment's grouped condition with bad
      // filters is reported by its filters, not as a flat condition with unknown keys).
      const distance = (e: readonly z.core.$ZodIssue[]) =>
        e.length + (e.some((i) => i.code === "unrecognized_keys" && i.path.length === 0) ? 1000 : 0);
      const closest = issue.errors.reduce((a, b) => (distance(b) < distance(a) ? b : a));
      if (closest.length > 0) return issueErrors(closest, path);
    }
    return [
      {
        field: path.map(String).join(".") || "body",
        message: issue.message,
        code:
          issue.code === "custom" && typeof issue.params?.code === "string" ? issue.params.code : issue.code,
      },
    ];
  });
}

export function errorBody(requestId: string, err: ApiError) {
  return {
    success: false as const,
    error: {
      code: err.code,
      message: err.message,
      statusCode: err.status,
      requestId,
      ...(err.errors ? { errors: err.errors } : {}),
    },
    timestamp: new Date().toISOString(),
  };
}

export function errorResponse(c: Context, err: ApiError): Response {
  const requestId = (c.get("requestId") as string | undefined) ?? "";
  return c.json(errorBody(requestId, err), err.status, err.headers);
}
