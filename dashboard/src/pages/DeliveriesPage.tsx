// PLACEHOLDER: being written; replace the whole file.
export function DeliveriesPage() {
  return <p>DeliveriesPage</p>;
}
