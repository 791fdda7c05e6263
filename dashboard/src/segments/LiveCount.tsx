/**
 * How many contacts a condition matches now, while it is edited: `POST /segments/count` once the
 * condition has been still for 400 ms and every filter is complete (checked with the worker's schema).
 * The API counts the first 10,000 contacts; past that it says "N of the first 10,000".
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { ApiError, describeError, post } from "../api/client";
import { keys } from "../api/queries";
import type { SegmentCount } from "../api/types";
import { useDebounced } from "../components/useDebounced";
import { type DraftCondition, localProblems, toCondition } from "./model";

export const COUNT_DEBOUNCE_MS = 400;

export function LiveCount({ condition }: { condition: DraftCondition }) {
  const complete = useMemo(() => localProblems(condition).size === 0, [condition]);
  const json = complete ? JSON.stringify(toCondition(condition)) : null;
  const settled = useDebounced(json, COUNT_DEBOUNCE_MS);
  const count = useQuery({
    queryKey: [...keys.segments, "count", settled],
    queryFn: () => post<SegmentCount>("/segments/count", { condition: JSON.parse(settled ?? "null") }),
    enabled: settled !== null && settled === json,
    placeholderData: keepPreviousData,
    staleTime: 10_000,
    // A refusal (422: another segment not found) is final; a failure of the server or the network is
    // tried again once.
    retry: (n, e) => n < 1 && !(e instanceof ApiError && e.status >= 400 && e.status < 500),
  });
  const waiting = json !== null && (settled !== json || count.isFetching);
  let text: string;
  let state: string;
  if (json === null) {
    text = "Complete the filters to see how many contacts match.";
    state = "incomplete";
  } else if (count.isError && !waiting) {
    const e = count.error;
    text =
      e instanceof ApiError && e.status === 422
        ? `Not counted: ${e.fields.map((f) => f.message).join("; ") || e.message}`
        : `Not counted: ${describeError(e)}`;
    state = "error";
  } else if (count.data) {
    const { count: n, scanned, complete: all } = count.data;
    text = all
      ? `${n.toLocaleString()} contact${n === 1 ? "" : "s"} match${n === 1 ? "es" : ""} now`
      : `${n.toLocaleString()} of the first ${scanned.toLocaleString()} contacts match now`;
    state = waiting ? "counting" : "done";
  } else {
    text = "Counting…";
    state = "counting";
  }
  return (
    <div className="live-count" data-state={state}>
      <span className="live-count-label">Live count</span>
      <output
        aria-live="polite"
        aria-busy={waiting}
        data-count={state === "done" ? count.data?.count : undefined}
      >
        {text}
      </output>
    </div>
  );
}
