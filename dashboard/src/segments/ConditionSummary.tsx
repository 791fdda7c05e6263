/** A segment's condition in words: its groups (joined by AND or OR), each the filters that all hold in it. */
import { Fragment, useMemo } from "react";
import { useSegmentName } from "../components/ScheduleFields";
import { type DraftCondition, describeFilter, fromCondition } from "./model";

export function ConditionSummary({ condition }: { condition: unknown }) {
  const draft = useMemo(() => fromCondition(condition), [condition]);
  const segmentName = useSegmentName();
  return <Level c={draft} segmentName={segmentName} />;
}

function Level({ c, segmentName }: { c: DraftCondition; segmentName: (id: string) => string | undefined }) {
  return (
    <ol className="seg-summary" aria-label={c.logic === "AND" ? "Every group holds" : "Any group holds"}>
      {c.groups.map((g, i) => (
        <li key={g.key}>
          {i > 0 && <span className="seg-summary-join">{c.logic} </span>}
          {g.filters.map((f, j) => (
            <Fragment key={f.key}>
              {j > 0 && <span className="muted"> and </span>}
              <code>{describeFilter(f, segmentName)}</code>
            </Fragment>
          ))}
          {g.conditions && (
            <>
              {g.filters.length > 0 && <span className="muted"> and</span>}
              <Level c={g.conditions} segmentName={segmentName} />
            </>
          )}
        </li>
      ))}
    </ol>
  );
}
