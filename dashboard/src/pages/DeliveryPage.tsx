// PLACEHOLDER: being written; replace the whole file.
export function DeliveryPage() {
  return <p>DeliveryPage</p>;
}
