/** The one kind of failure the CLI reports: a one-line message and an exit code. */

/** 0 success; 1 the API, the network or a file failed; 2 the command line itself is wrong. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  exitCode: number;
  /** Usage text printed after the message (unknown command or flag, missing argument). */
  usage: string | undefined;

  constructor(message: string, exitCode: number = EXIT_FAILURE, usage?: string) {
    super(message);
    this.exitCode = exitCode;
    this.usage = usage;
  }
}

export const usageError = (message: string, usage?: string) => new CliError(message, EXIT_USAGE, usage);

/** An error envelope from the API: `{ error: { code, message, statusCode, requestId, errors? } }`. */
export class ApiError extends CliError {
  status: number;
  code: string;
  requestId: string | undefined;
  fieldErrors: { field: string; message: string }[];
  /** The whole answer, for `--json`. */
  body: unknown;

  constructor(
    status: number,
    code: string,
    apiMessage: string,
    fieldErrors: { field: string; message: string }[],
    requestId?: string,
    body?: unknown,
  ) {
    const fields = fieldErrors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join("; ");
    let line = `${status} ${code}: ${apiMessage}`;
    if (fields) line += ` (${fields})`;
    if (status === 401) line += " (check --key / PLUNK_EDGE_KEY, or --admin-token for projects)";
    if (status >= 500 && requestId) line += ` [request ${requestId}]`;
    super(line, EXIT_FAILURE);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.fieldErrors = fieldErrors;
    this.body = body;
  }
}
