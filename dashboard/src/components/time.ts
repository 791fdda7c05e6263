/** Times as the API gives them (ISO-8601 UTC), shown in the reader's locale with the ISO text as a title. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
