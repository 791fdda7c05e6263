/** A failure of the API in words, with its request id; `role="alert"` so a screen reader says it. */
import { ApiError, describeError } from "../api/client";

export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  const fields = error instanceof ApiError ? error.fields : [];
  return (
    <div className="error-box" role="alert">
      <strong>{title ?? "Something went wrong"}</strong>
      <p>{describeError(error)}</p>
      {fields.length > 0 && (
        <ul>
          {fields.map((f) => (
            <li key={`${f.field}:${f.code}`}>
              <code>{f.field}</code>: {f.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
