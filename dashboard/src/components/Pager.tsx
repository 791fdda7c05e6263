/**
 * Cursor paging for the API's lists (newest first): "Newer" goes back one page, "Older" follows the
 * answer's cursor. The pages seen are a stack of cursors, emptied whenever the filters (`resetKey`) change.
 */
import { useState } from "react";
import type { Page } from "../api/types";

export function useCursorPages(resetKey: string) {
  const [state, setState] = useState<{ key: string; stack: string[] }>({ key: resetKey, stack: [] });
  // Forget the pages of the old filters, so that coming back to them starts again at page 1.
  if (state.key !== resetKey) setState({ key: resetKey, stack: [] });
  const stack = state.key === resetKey ? state.stack : [];
  return {
    cursor: stack.at(-1),
    page: stack.length + 1,
    older: (next: string) => setState({ key: resetKey, stack: [...stack, next] }),
    newer: () => setState({ key: resetKey, stack: stack.slice(0, -1) }),
  };
}

/** The pages of a list read through `useCursorPages`: `data` is the answer shown (its cursor, hasMore). */
export function Pager({
  label,
  pages,
  data,
}: {
  label: string;
  pages: ReturnType<typeof useCursorPages>;
  data: Page<unknown> | undefined;
}) {
  const { page } = pages;
  const nextCursor = data?.cursor;
  const hasMore = data?.hasMore;
  if (page === 1 && !hasMore) return null;
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" className="secondary outline" disabled={page === 1} onClick={pages.newer}>
        ← Newer
      </button>
      <span className="muted">Page {page}</span>
      <button
        type="button"
        className="secondary outline"
        disabled={!hasMore || !nextCursor}
        onClick={() => nextCursor && pages.older(nextCursor)}
      >
        Older →
      </button>
    </nav>
  );
}
