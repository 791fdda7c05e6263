/**
 * A workflow drawn read-only with the editor's nodes and layout: for the execution page, with the steps
 * an execution visited marked and its current step highlighted.
 */
import "@xyflow/react/dist/style.css";
import "./editor.css";
import { Background, Controls, MiniMap, ReactFlow } from "@xyflow/react";
import { useMemo, useRef } from "react";
import type { Step, Transition } from "../api/types";
import { EdgeLabels, edgeTypes } from "./edges";
import { buildGraph, type FlowEdge, type FlowNode, layoutDef, type StepNode, shapeOf } from "./graph";
import { fromApi } from "./model";
import { nodeTypes } from "./nodes";
import { initialView } from "./viewport";

const noTemplate = () => undefined;

export function ReadOnlyGraph(props: {
  steps: Step[];
  transitions: Transition[];
  visited?: string[];
  currentStepId?: string | null;
  height?: number;
  /** Names of templates by id, for the Send email summaries (optional). */
  templateName?: (id: string) => string | undefined;
  /** Names of segments by id, for a schedule trigger's summary (optional). */
  segmentName?: (id: string) => string | undefined;
}) {
  const box = useRef<HTMLElement>(null);
  const def = useMemo(() => fromApi(props.steps, props.transitions), [props.steps, props.transitions]);
  const shape = shapeOf(def, false);
  // biome-ignore lint/correctness/useExhaustiveDependencies: laid out again only when the shape changes.
  const positions = useMemo(() => layoutDef(def, false), [shape]);
  const visitedKey = (props.visited ?? []).join(",");
  // biome-ignore lint/correctness/useExhaustiveDependencies: the visited list is compared by content.
  const visited = useMemo(() => new Set(props.visited ?? []), [visitedKey]);
  const { nodes, edges } = useMemo(
    () =>
      buildGraph(def, positions, {
        editable: false,
        placeholders: false,
        templateName: props.templateName ?? noTemplate,
        segmentName: props.segmentName,
        visited,
        currentStepId: props.currentStepId ?? null,
      }),
    [def, positions, visited, props.currentStepId, props.templateName, props.segmentName],
  );
  return (
    <section
      ref={box}
      className="workflow-canvas read-only"
      style={{ height: props.height ?? 420 }}
      aria-label="Workflow graph"
    >
      <ReactFlow<FlowNode, FlowEdge>
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={false}
        edgesFocusable={false}
        deleteKeyCode={null}
        onInit={(f) => {
          const current =
            def.steps.find((s) => s.id === props.currentStepId) ??
            def.steps.find((s) => s.type === "TRIGGER");
          initialView(f, box.current, positions, current ? positions.get(current.key) : undefined, "center");
        }}
        minZoom={0.1}
        attributionPosition="top-right"
      >
        <Background gap={20} />
        <Controls showInteractive={false} />
        <MiniMap<FlowNode> pannable zoomable nodeClassName={miniMapClass} ariaLabel="Minimap" />
        <EdgeLabels def={def} edges={edges} positions={positions} />
      </ReactFlow>
    </section>
  );
}

export function miniMapClass(n: FlowNode): string {
  if (n.type !== "step") return "mini-placeholder";
  const d = (n as StepNode).data;
  return `mini-step${d.current ? " mini-current" : d.visited ? " mini-visited" : ""}${d.problems.length ? " mini-problem" : ""}`;
}
