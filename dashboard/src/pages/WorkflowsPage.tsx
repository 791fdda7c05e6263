// PLACEHOLDER: being written; replace the whole file.
export function WorkflowsPage() {
  return <p>WorkflowsPage</p>;
}
