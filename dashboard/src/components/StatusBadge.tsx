/**
 * An execution's, a delivery's or an email's status as text (what tests and screen readers read), coloured
 * by kind.
 */
const TONE: Record<string, string> = {
  RUNNING: "active",
  WAITING: "active",
  PENDING: "active",
  COMPLETED: "ok",
  DELIVERED: "ok",
  EXITED: "neutral",
  CANCELLED: "neutral",
  FAILED: "bad",
  // Emails' statuses.
  QUEUED: "active",
  SENDING: "active",
  SENT: "ok",
  BOUNCED: "bad",
  COMPLAINED: "bad",
  NOT_SENT: "neutral",
};

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${TONE[status] ?? "neutral"}`}>{status}</span>;
}
