/** An execution's or a delivery's status as text (what tests and screen readers read), coloured by kind. */
const TONE: Record<string, string> = {
  RUNNING: "active",
  WAITING: "active",
  PENDING: "active",
  COMPLETED: "ok",
  DELIVERED: "ok",
  EXITED: "neutral",
  CANCELLED: "neutral",
  FAILED: "bad",
};

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${TONE[status] ?? "neutral"}`}>{status}</span>;
}
