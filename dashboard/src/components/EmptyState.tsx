/** What an empty list shows: what it is, and what to do next. */
import type { ReactNode } from "react";

export function EmptyState({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="empty-state" aria-label={title}>
      <h2>{title}</h2>
      <div>{children}</div>
    </section>
  );
}
