/** The top of a list page: its heading with the link that makes a new one, and what was just deleted. */
import type { ReactNode } from "react";
import { Link } from "wouter";
import { useHistoryState } from "wouter/use-browser-location";

export function ListHead({ title, newHref, newLabel }: { title: string; newHref: string; newLabel: string }) {
  return (
    <div className="page-head">
      <h1>{title}</h1>
      <Link href={newHref} className="button-link">
        {newLabel}
      </Link>
    </div>
  );
}

/**
 * "Deleted …", when the page of the thing deleted came back here with its name (`{ deleted }` in the
 * history state); `says` words it.
 */
export function DeletedNotice({ says }: { says: (name: string) => ReactNode }) {
  const deleted = useHistoryState<{ deleted?: string } | null>()?.deleted;
  if (!deleted) return null;
  return (
    <p className="notice" role="status">
      {says(deleted)}
    </p>
  );
}
