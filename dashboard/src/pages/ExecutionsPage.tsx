// PLACEHOLDER: being written; replace the whole file.
export function ExecutionsPage() {
  return <p>ExecutionsPage</p>;
}
