/**
 * The canvas's edge types, and their labels. A transition draws its path in the SVG; its label, in the
 * DOM, carries `data-branch` and `data-edge-id`, with buttons to insert a step on it or delete it while
 * editable. The labels are drawn together by one `EdgeLabels` layer (one portal, one store subscription)
 * rather than one portal per edge, which costs React Flow a DOM query per edge on every store update.
 */
import { BaseEdge, EdgeLabelRenderer, type EdgeProps, getSmoothStepPath } from "@xyflow/react";
import { memo, useState } from "react";
import type { StepType } from "../../../src/domain/workflow/config";
import { useEditorActions } from "./actions";
import type { BranchEdge, BranchEdgeData, FlowEdge } from "./graph";
import { NODE_H, NODE_W } from "./layout";
import { ADDABLE_TYPES, branchesOf, type EditorDef } from "./model";
import { TypeMenu } from "./TypeMenu";

/** Inserting an Exit would cut the path below it, so the insert menu leaves it out. */
const INSERTABLE: readonly StepType[] = ADDABLE_TYPES.filter((t) => t !== "EXIT");

/** Under the source handle: one transition per handle, so labels never collide. */
const LABEL_BELOW_HANDLE = 22;

export const BranchEdgeView = memo(function BranchEdgeView(props: EdgeProps<BranchEdge>) {
  const { data, selected } = props;
  const [path] = getSmoothStepPath({
    sourceX: props.sourceX,
    sourceY: props.sourceY,
    targetX: props.targetX,
    targetY: props.targetY,
    sourcePosition: props.sourcePosition,
    targetPosition: props.targetPosition,
    borderRadius: 8,
  });
  const cls = [
    "branch-edge",
    data?.branch ? `edge-${data.branch}` : "",
    data?.problems.length ? "edge-problem" : "",
    selected ? "edge-selected" : "",
    data?.visited ? "edge-visited" : "",
  ].join(" ");
  return <BaseEdge id={props.id} path={path} markerEnd={props.markerEnd} className={cls} />;
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

const EdgeLabel = memo(function EdgeLabel(props: {
  x: number;
  y: number;
  data: BranchEdgeData;
  selected: boolean;
}) {
  const { data } = props;
  const actions = useEditorActions();
  const [open, setOpen] = useState(false);
  const branchText = data.branch ? ` (${data.label ?? data.branch})` : "";
  const problem = data.problems.length > 0;
  const editable = data.editable && actions;
  return (
    <div
      className={`edge-label nodrag nopan${problem ? " edge-problem" : ""}${props.selected ? " edge-selected" : ""}${open ? " is-open" : ""}`}
      data-branch={data.branch ?? ""}
      data-edge-id={data.domId}
      style={{ transform: `translate(-50%, -50%) translate(${props.x}px, ${props.y}px)` }}
      title={problem ? data.problems.join("\n") : undefined}
    >
      {data.branch && <span className={`edge-branch label-${data.branch}`}>{data.label ?? data.branch}</span>}
      {problem && (
        <>
          <span className="edge-problem-text" aria-hidden="true">
            ⚠
          </span>
          <span className="sr-only">Refused: {data.problems.join("; ")}</span>
        </>
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
  );
});

/** All the transitions' labels, placed from the step positions (those the canvas draws). */
export function EdgeLabels(props: {
  def: EditorDef;
  edges: readonly FlowEdge[];
  positions: Map<string, { x: number; y: number }>;
}) {
  const stepOf = new Map(props.def.steps.map((s) => [s.key, s]));
  return (
    <EdgeLabelRenderer>
      {props.edges.map((e) => {
        if (e.type !== "branch" || !e.data) return null;
        const data = e.data as BranchEdgeData;
        const p = props.positions.get(e.source);
        const from = stepOf.get(e.source);
        if (!p || !from) return null;
        const branches = branchesOf(from);
        const i = Math.max(0, branches.indexOf(data.branch));
        const x = p.x + ((i + 1) / (branches.length + 1)) * NODE_W;
        return (
          <EdgeLabel
            key={e.id}
            x={x}
            y={p.y + NODE_H + LABEL_BELOW_HANDLE}
            data={data}
            selected={!!e.selected}
          />
        );
      })}
    </EdgeLabelRenderer>
  );
}
