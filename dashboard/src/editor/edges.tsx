/**
 * The canvas's edge types. A transition draws its path and, in the DOM (not the SVG), a label carrying
 * `data-branch` and `data-edge-id`, with buttons to insert a step on it or delete it while editable.
 */
import { BaseEdge, EdgeLabelRenderer, type EdgeProps, getSmoothStepPath } from "@xyflow/react";
import { memo, useState } from "react";
import type { StepType } from "../../../src/domain/workflow/config";
import { useEditorActions } from "./actions";
import type { BranchEdge } from "./graph";
import { ADDABLE_TYPES } from "./model";
import { TypeMenu } from "./TypeMenu";

/** Inserting an Exit would cut the path below it, so the insert menu leaves it out. */
const INSERTABLE: readonly StepType[] = ADDABLE_TYPES.filter((t) => t !== "EXIT");

export const BranchEdgeView = memo(function BranchEdgeView(props: EdgeProps<BranchEdge>) {
  const { sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data, markerEnd, selected } =
    props;
  const actions = useEditorActions();
  const [open, setOpen] = useState(false);
  const [path] = getSmoothStepPath({
    sourceX,
    sourceY,
    targetX,
    targetY,
    sourcePosition,
    targetPosition,
    borderRadius: 8,
  });
  // The label sits just under the source handle: one transition per handle, so labels never collide.
  const labelX = sourceX;
  const labelY = sourceY + 22;
  if (!data) return <BaseEdge id={props.id} path={path} markerEnd={markerEnd} />;
  const branchText = data.branch ? ` (${data.branch})` : "";
  const problem = data.problems.length > 0;
  const editable = data.editable && actions;
  return (
    <>
      <BaseEdge
        id={props.id}
        path={path}
        markerEnd={markerEnd}
        className={`branch-edge${data.branch ? ` edge-${data.branch}` : ""}${problem ? " edge-problem" : ""}${selected ? " edge-selected" : ""}${data.visited ? " edge-visited" : ""}`}
      />
      <EdgeLabelRenderer>
        <div
          className={`edge-label nodrag nopan${problem ? " edge-problem" : ""}${selected ? " edge-selected" : ""}${open ? " is-open" : ""}`}
          data-branch={data.branch ?? ""}
          data-edge-id={data.domId}
          style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
          title={problem ? data.problems.join("\n") : undefined}
        >
          {data.branch && <span className={`edge-branch label-${data.branch}`}>{data.branch}</span>}
          {problem && (
            <span className="edge-problem-text" role="img" aria-label={data.problems.join("; ")}>
              ⚠
            </span>
          )}
          {editable && (
            <>
              <button
                type="button"
                className="edge-button"
                aria-label={`Insert step between ${data.fromName}${branchText} and ${data.toName}`}
                title="Insert a step here"
                aria-expanded={open}
                onClick={() => setOpen((o) => !o)}
              >
                +
              </button>
              <button
                type="button"
                className="edge-button edge-delete"
                aria-label={`Delete connection from ${data.fromName}${branchText} to ${data.toName}`}
                title="Delete this connection"
                onClick={() => actions.deleteEdge(data.edgeKey)}
              >
                ×
              </button>
            </>
          )}
          {open && editable && (
            <TypeMenu
              label={`Insert step between ${data.fromName} and ${data.toName}`}
              types={INSERTABLE}
              onPick={(t) => actions.insertOnEdge(data.edgeKey, t)}
              onClose={() => setOpen(false)}
            />
          )}
        </div>
      </EdgeLabelRenderer>
    </>
  );
});

export const PlaceholderEdgeView = memo(function PlaceholderEdgeView(props: EdgeProps) {
  const [path] = getSmoothStepPath({
    sourceX: props.sourceX,
    sourceY: props.sourceY,
    targetX: props.targetX,
    targetY: props.targetY,
    sourcePosition: props.sourcePosition,
    targetPosition: props.targetPosition,
    borderRadius: 8,
  });
  return <BaseEdge id={props.id} path={path} className="placeholder-path" />;
});

export const edgeTypes = { branch: BranchEdgeView, placeholder: PlaceholderEdgeView };
