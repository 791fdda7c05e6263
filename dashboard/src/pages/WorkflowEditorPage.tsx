// PLACEHOLDER: being written; replace the whole file.
export function WorkflowEditorPage() {
  return <p>WorkflowEditorPage</p>;
}
