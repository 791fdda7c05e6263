/**
 * A 422's field problems shown at their fields: `fieldMessage` picks the messages of one field (or of its
 * children, `context.x`), and <FieldError> prints them under the input that `aria-describedby` points at.
 */
import { ApiError } from "../api/client";

export function fieldMessage(error: unknown, field: string): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const messages = error.fields
    .filter((f) => f.field === field || f.field.startsWith(`${field}.`) || f.field.startsWith(`${field}[`))
    .map((f) => f.message);
  return messages.length > 0 ? messages.join("; ") : undefined;
}

export function FieldError({ id, message }: { id: string; message: string | undefined }) {
  if (!message) return null;
  return (
    <small id={id} className="field-error">
      {message}
    </small>
  );
}

/** The props that tie an input to its error: aria-invalid and aria-describedby, only while there is one. */
export function invalidProps(id: string, message: string | undefined) {
  return message ? { "aria-invalid": true as const, "aria-describedby": id } : {};
}
