// PLACEHOLDER: being written; replace the whole file.
export function ExecutionPage() {
  return <p>ExecutionPage</p>;
}
