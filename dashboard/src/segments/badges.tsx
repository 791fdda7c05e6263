/** A segment's type and the state of its membership, as text coloured by kind. */

export function TypeBadge({ type }: { type: "DYNAMIC" | "STATIC" }) {
  return <span className={`badge ${type === "DYNAMIC" ? "badge-active" : "badge-neutral"}`}>{type}</span>;
}

/** BACKFILLING while its members are computed in the background (no entry events), then READY. */
export function FillBadge({ backfill }: { backfill: "BACKFILLING" | "READY" }) {
  return (
    <span
      className={`badge ${backfill === "READY" ? "badge-ok" : "badge-active"}`}
      title={backfill === "READY" ? "Its members are current" : "Its members are being computed"}
    >
      {backfill}
    </span>
  );
}
