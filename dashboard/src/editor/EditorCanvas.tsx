/**
 * The editable canvas: the definition laid out by dagre (again on each change of its shape), nodes that
 * can be dragged, selected (click, or Enter on a focused node) and deleted (Delete key), and branch
 * handles that connect by dragging while free. Read-only while the workflow is locked.
 */
import "@xyflow/react/dist/style.css";
import "./editor.css";
import {
  Background,
  type Connection,
  Controls,
  type Edge,
  type EdgeChange,
  MiniMap,
  type NodeChange,
  ReactFlow,
  type ReactFlowInstance,
} from "@xyflow/react";
import { type KeyboardEvent, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { type EditorActions, EditorActionsContext } from "./actions";
import { EdgeLabels, edgeTypes } from "./edges";
import {
  buildGraph,
  type FlowEdge,
  type FlowNode,
  keepUnchanged,
  layoutDef,
  type StepStats,
  shapeOf,
} from "./graph";
import { NODE_H, NODE_W, PLACEHOLDER_SIZE } from "./layout";
import { type EditorDef, stepByKey } from "./model";
import { nodeTypes } from "./nodes";
import { miniMapClass } from "./ReadOnlyGraph";
import { FIT, initialView } from "./viewport";

/** Above this many nodes (steps and "+" placeholders), only what is in view is rendered. */
const LARGE_GRAPH = 120;

const DELETE_KEYS = ["Delete", "Backspace"];

export function EditorCanvas(props: {
  def: EditorDef;
  editable: boolean;
  locked: boolean;
  templateName: (id: string) => string | undefined;
  segmentName?: (id: string) => string | undefined;
  stats: Map<string, StepStats> | undefined;
  stepProblems: Map<string, string[]>;
  edgeProblems: Map<string, string[]>;
  selectedKey: string | null;
  onSelect: (key: string | null, viaKeyboard?: boolean) => void;
  onConnect: (from: string, branch: string | null, to: string) => void;
  onDelete: (stepKeys: string[], edgeKeys: string[]) => void;
  actions: EditorActions;
}) {
  const { def, editable } = props;
  const shape = shapeOf(def, editable);
  // biome-ignore lint/correctness/useExhaustiveDependencies: laid out again only when the shape changes.
  const positions = useMemo(() => layoutDef(def, editable), [shape]);
  // Positions dragged by hand, until the next change of shape lays the graph out again.
  const [dragged, setDragged] = useState<{ shape: string; at: Map<string, { x: number; y: number }> }>({
    shape: "",
    at: new Map(),
  });
  const effective = useMemo(() => {
    if (dragged.shape !== shape || dragged.at.size === 0) return positions;
    const m = new Map(positions);
    for (const [k, v] of dragged.at) m.set(k, v);
    return m;
  }, [positions, dragged, shape]);

  // After a change of shape (a step added, inserted…): if the whole graph was in view, it is fitted again;
  // else (the reader zoomed into a part) the selected step is brought into view.
  const flow = useRef<ReactFlowInstance<FlowNode, FlowEdge> | null>(null);
  const box = useRef<HTMLElement>(null);
  const shown = useRef<Map<string, { x: number; y: number }> | null>(null);
  const { selectedKey } = props;
  useEffect(() => {
    const f = flow.current;
    const el = box.current;
    const before = shown.current;
    shown.current = positions;
    if (!f || !el || !before || before === positions) return;
    const r = el.getBoundingClientRect();
    const inView = (p: { x: number; y: number }, w: number, h: number) => {
      const tl = f.flowToScreenPosition(p);
      const br = f.flowToScreenPosition({ x: p.x + w, y: p.y + h });
      return tl.x >= r.left - 1 && tl.y >= r.top - 1 && br.x <= r.right + 1 && br.y <= r.bottom + 1;
    };
    const allWere = [...before].every(([id, p]) =>
      id.startsWith("+") ? inView(p, PLACEHOLDER_SIZE, PLACEHOLDER_SIZE) : inView(p, NODE_W, NODE_H),
    );
    if (allWere) {
      // Once the store has the new nodes.
      requestAnimationFrame(() => f.fitView(FIT));
      return;
    }
    const p = selectedKey ? positions.get(selectedKey) : undefined;
    if (p && !inView(p, NODE_W, NODE_H)) {
      f.setCenter(p.x + NODE_W / 2, p.y + NODE_H / 2, { zoom: f.getZoom(), duration: 200 });
    }
  }, [positions, selectedKey]);

  const [selectedEdge, setSelectedEdge] = useState<string | null>(null);
  const { nodes: builtNodes, edges: builtEdges } = useMemo(
    () =>
      buildGraph(def, effective, {
        editable,
        placeholders: editable,
        templateName: props.templateName,
        segmentName: props.segmentName,
        stats: props.stats,
        stepProblems: props.stepProblems,
        edgeProblems: props.edgeProblems,
        selectedKey: props.selectedKey,
      }),
    [
      def,
      effective,
      editable,
      props.templateName,
      props.segmentName,
      props.stats,
      props.stepProblems,
      props.edgeProblems,
      props.selectedKey,
    ],
  );

  // What did not change keeps its object, so that only the nodes and edges an edit touched re-render.
  const prevNodes = useRef(new Map<string, FlowNode>());
  const prevEdges = useRef(new Map<string, FlowEdge>());
  const nodes = useMemo(() => {
    const out = keepUnchanged(prevNodes.current, builtNodes);
    prevNodes.current = new Map(out.map((n) => [n.id, n]));
    return out;
  }, [builtNodes]);
  const edges = useMemo(() => {
    const marked = selectedEdge
      ? builtEdges.map((e) => (e.id === selectedEdge ? { ...e, selected: true } : e))
      : builtEdges;
    const out = keepUnchanged(prevEdges.current, marked);
    prevEdges.current = new Map(out.map((e) => [e.id, e]));
    return out;
  }, [builtEdges, selectedEdge]);
  const onEdgesChange = useCallback((changes: EdgeChange<FlowEdge>[]) => {
    for (const c of changes) {
      if (c.type !== "select") continue;
      if (c.selected) setSelectedEdge(c.id);
      else setSelectedEdge((cur) => (cur === c.id ? null : cur));
    }
  }, []);

  const { onSelect, onConnect, onDelete } = props;
  const onNodesChange = useCallback(
    (changes: NodeChange<FlowNode>[]) => {
      let moved: [string, { x: number; y: number }][] = [];
      let selected: string | null | undefined;
      for (const c of changes) {
        if (c.type === "position" && c.position) moved.push([c.id, c.position]);
        if (c.type === "select") {
          if (c.selected) selected = c.id;
          else if (selected === undefined) selected = null;
        }
      }
      if (moved.length) {
        const list = moved;
        setDragged((d) => {
          const at = new Map(d.shape === shape ? d.at : []);
          for (const [k, v] of list) at.set(k, v);
          return { shape, at };
        });
        moved = [];
      }
      if (selected !== undefined) onSelect(selected);
    },
    [shape, onSelect],
  );

  const isValidConnection = useCallback(
    (c: Connection | Edge) => {
      if (!editable || !c.source || !c.target || c.source === c.target) return false;
      const target = stepByKey(def, c.target);
      if (!target || target.type === "TRIGGER") return false;
      const branch = c.sourceHandle && c.sourceHandle !== "out" ? c.sourceHandle : null;
      return !def.transitions.some((t) => t.from === c.source && (t.branch ?? null) === branch);
    },
    [def, editable],
  );

  const handleConnect = useCallback(
    (c: Connection) => {
      if (!c.source || !c.target) return;
      onConnect(c.source, c.sourceHandle && c.sourceHandle !== "out" ? c.sourceHandle : null, c.target);
    },
    [onConnect],
  );

  const handleDelete = useCallback(
    ({ nodes: ns, edges: es }: { nodes: FlowNode[]; edges: FlowEdge[] }) => {
      const stepKeys = ns.filter((n) => n.type === "step").map((n) => n.id);
      const edgeKeys = es.filter((e) => e.type === "branch").map((e) => e.id);
      if (stepKeys.length || edgeKeys.length) onDelete(stepKeys, edgeKeys);
    },
    [onDelete],
  );

  // Enter on a focused step opens its panel (and moves the focus there).
  const onKeyDown = useCallback(
    (e: KeyboardEvent<HTMLDivElement>) => {
      if (e.key !== "Enter") return;
      const el = e.target as HTMLElement;
      if (!el.classList.contains("react-flow__node-step")) return;
      const id = el.getAttribute("data-id");
      if (id) {
        e.preventDefault();
        e.stopPropagation();
        onSelect(id, true);
      }
    },
    [onSelect],
  );

  return (
    <EditorActionsContext.Provider value={editable ? props.actions : null}>
      <section
        ref={box}
        className={`workflow-canvas${props.locked ? " is-locked" : ""}`}
        aria-label={props.locked ? "Workflow canvas (locked)" : "Workflow canvas"}
        onKeyDownCapture={onKeyDown}
      >
        <ReactFlow<FlowNode, FlowEdge>
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          edgeTypes={edgeTypes}
          onInit={(f) => {
            flow.current = f;
            const trigger = def.steps.find((s) => s.type === "TRIGGER");
            initialView(f, box.current, effective, trigger ? effective.get(trigger.key) : undefined);
          }}
          onNodesChange={onNodesChange}
          onEdgesChange={onEdgesChange}
          onConnect={handleConnect}
          isValidConnection={isValidConnection}
          onDelete={handleDelete}
          onPaneClick={() => onSelect(null)}
          nodesDraggable={editable}
          nodesConnectable={editable}
          nodesFocusable
          edgesFocusable={editable}
          elementsSelectable
          deleteKeyCode={editable ? DELETE_KEYS : null}
          multiSelectionKeyCode={null}
          selectionKeyCode={null}
          minZoom={0.1}
          maxZoom={1.5}
          // A large workflow opens on its trigger at a readable zoom: only the steps in view are in the
          // page (the minimap shows them all), which keeps a 250-step workflow's first draw quick.
          onlyRenderVisibleElements={nodes.length > LARGE_GRAPH}
          attributionPosition="top-right"
        >
          <Background gap={20} />
          <Controls showInteractive={false} />
          <MiniMap<FlowNode> pannable zoomable nodeClassName={miniMapClass} ariaLabel="Minimap" />
          <EdgeLabels def={def} edges={edges} positions={effective} />
        </ReactFlow>
      </section>
    </EditorActionsContext.Provider>
  );
}
