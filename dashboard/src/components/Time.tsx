/** A time from the API in the reader's locale, with the exact ISO text as its machine value and title. */
import { formatTime } from "./time";

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span className="muted">—</span>;
  return (
    <time dateTime={iso} title={iso}>
      {formatTime(iso)}
    </time>
  );
}
