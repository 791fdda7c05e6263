/**
 * A striped table in its scrolling wrapper: the column headings, then the rows the page gives (each page
 * writes its own `<tr>`s, with the `data-*-id` the tests find them by).
 */
import type { ReactNode } from "react";

/** A column's heading; `num` right-aligns it, over a column of numbers. */
export type Column = string | { label: string; num: true };

export function Table({
  columns,
  labelledBy,
  children,
}: {
  columns: readonly Column[];
  /** The id of the heading that names the table. */
  labelledBy?: string;
  children: ReactNode;
}) {
  return (
    <div className="table-wrap">
      <table className="striped" aria-labelledby={labelledBy}>
        <thead>
          <tr>
            {columns.map((c) =>
              typeof c === "string" ? (
                <th key={c} scope="col">
                  {c}
                </th>
              ) : (
                <th key={c.label} scope="col" className="num">
                  {c.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
