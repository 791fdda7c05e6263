/** Any JSON value, pretty-printed in a <pre> (outputs, contexts, payload excerpts); nothing shows a dash. */
export function Json({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <span className="muted">—</span>;
  let text: string;
  try {
    text = JSON.stringify(value, null, 2);
  } catch {
    text = String(value);
  }
  return <pre className="json">{text}</pre>;
}
