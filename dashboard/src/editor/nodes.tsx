/** The canvas's node types: a step (type, name, one-line summary, counts, a handle per branch) and "+". */
import { Handle, type NodeProps, Position } from "@xyflow/react";
import { memo, useState } from "react";
import { useEditorActions } from "./actions";
import type { PlaceholderNode, StepNode } from "./graph";
import { handleId } from "./graph";
import { TYPE_LABEL } from "./model";
import { TypeMenu } from "./TypeMenu";

export const StepNodeView = memo(function StepNodeView({ data, selected }: NodeProps<StepNode>) {
  const d = data;
  const cls = [
    "step-node",
    `step-${d.type}`,
    selected ? "is-selected" : "",
    d.visited ? "is-visited" : "",
    d.current ? "is-current" : "",
    d.problems.length ? "has-problem" : "",
  ].join(" ");
  const n = d.branches.length;
  return (
    <div className={cls} data-step-id={d.stepId} data-step-type={d.type} data-step-key={d.stepKey}>
      {d.type !== "TRIGGER" && (
        <Handle
          type="target"
          position={Position.Top}
          id="in"
          isConnectable={d.editable}
          className="handle-in"
        />
      )}
      <div className="step-head">
        <span className="step-type">{TYPE_LABEL[d.type]}</span>
        {d.current && <span className="step-flag">current</span>}
        {!d.current && d.visited && <span className="step-flag visited">visited</span>}
      </div>
      <div className="step-name">{d.name}</div>
      <div className="step-summary" title={d.summary}>
        {d.summary}
      </div>
      {d.problems.length > 0 ? (
        <div className="step-problem" title={d.problems.join("\n")}>
          <span aria-hidden="true">⚠ </span>
          {d.problems[0]}
          {d.problems.length > 1 && (
            <>
              <span aria-hidden="true"> (+{d.problems.length - 1})</span>
              <span className="sr-only">; {d.problems.slice(1).join("; ")}</span>
            </>
          )}
        </div>
      ) : (
        d.stats && (
          <div className="step-stats" title="Active now; passed, completed and failed in the last 7 days">
            <span className={d.stats.active > 0 ? "stat-active" : undefined}>
              {d.stats.active} active now
            </span>
            <span>
              {d.stats.passed} passed · {d.stats.completed} completed ·{" "}
              <span className={d.stats.failed > 0 ? "stat-failed" : undefined}>{d.stats.failed} failed</span>
            </span>
          </div>
        )
      )}
      {d.branches.map((b, i) => (
        <Handle
          key={handleId(b.branch)}
          type="source"
          position={Position.Bottom}
          id={handleId(b.branch)}
          isConnectable={d.editable && b.free}
          isConnectableStart={d.editable && b.free}
          className={`handle-out handle-${b.branch ?? "next"}${b.free ? " is-free" : ""}`}
          style={{ left: `${((i + 1) / (n + 1)) * 100}%` }}
          title={
            b.branch
              ? `${b.label ?? b.branch} branch${b.free ? " (drag to a step to connect)" : ""}`
              : undefined
          }
        >
          {b.branch && b.free && (
            <span className={`handle-label label-${b.branch}`}>{b.label ?? b.branch}</span>
          )}
        </Handle>
      ))}
    </div>
  );
});

export const PlaceholderNodeView = memo(function PlaceholderNodeView({ data }: NodeProps<PlaceholderNode>) {
  const actions = useEditorActions();
  const [open, setOpen] = useState(false);
  const label = `Add step after ${data.fromName}${data.branch ? ` (${data.branchLabel ?? data.branch})` : ""}`;
  return (
    <div className={`placeholder-node${data.branch ? ` ph-${data.branch}` : ""}`}>
      <Handle type="target" position={Position.Top} id="in" isConnectable={false} className="handle-hidden" />
      <button
        type="button"
        className="placeholder-button nodrag"
        aria-label={label}
        title={label}
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
        disabled={!actions}
      >
        +
      </button>
      {open && actions && (
        <TypeMenu
          label={label}
          onPick={(t) => actions.addAfter(data.from, data.branch, t)}
          onClose={() => setOpen(false)}
        />
      )}
    </div>
  );
});

export const nodeTypes = { step: StepNodeView, placeholder: PlaceholderNodeView };
