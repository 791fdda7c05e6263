/**
 * The definition as @xyflow/react nodes and edges: one node per step, one edge per transition, and (when
 * editable) a "+" placeholder under every free branch. Positions come from dagre, laid out once per change
 * of the graph's shape (not of names or configs).
 */
import { type Edge, MarkerType, type Node, type NodeHandle, Position } from "@xyflow/react";
import type { StepType } from "../../../src/domain/workflow/config";
import type { WorkflowStats } from "../api/types";
import { layout, NODE_H, NODE_W, PLACEHOLDER_SIZE, RANK_SEP } from "./layout";
import { branchesOf, branchLabel, domStepId, type EditorDef, edgeKey, freeBranches } from "./model";
import { summarize } from "./summary";

export type StepStats = WorkflowStats["steps"][number];

export type StepNodeData = {
  stepId: string;
  stepKey: string;
  type: StepType;
  name: string;
  summary: string;
  branches: { branch: string | null; label: string | null; free: boolean }[];
  stats?: StepStats;
  problems: string[];
  visited?: boolean;
  current?: boolean;
  editable: boolean;
};

export type PlaceholderData = {
  from: string;
  branch: string | null;
  branchLabel: string | null;
  fromName: string;
};

export type BranchEdgeData = {
  branch: string | null;
  /** What the edge's label says: the branch, or a multi-branch CONDITION's branch name. */
  label: string | null;
  domId: string;
  edgeKey: string;
  fromName: string;
  toName: string;
  editable: boolean;
  problems: string[];
  /** Both ends visited by the execution shown (read-only graph). */
  visited?: boolean;
};

export type StepNode = Node<StepNodeData, "step">;
export type PlaceholderNode = Node<PlaceholderData, "placeholder">;
export type FlowNode = StepNode | PlaceholderNode;
export type BranchEdge = Edge<BranchEdgeData, "branch">;
export type FlowEdge = BranchEdge | Edge<Record<string, never>, "placeholder">;

export const handleId = (branch: string | null) => branch ?? "out";
export const placeholderId = (from: string, branch: string | null) => `+${from}:${branch ?? ""}`;

/** A string that changes exactly when the layout must change. */
export function shapeOf(def: EditorDef, placeholders: boolean): string {
  const parts: string[] = [placeholders ? "p" : "-"];
  for (const s of def.steps) parts.push(`${s.key}/${s.type}/${branchesOf(s).join("+")}`);
  parts.push("|");
  for (const t of def.transitions) parts.push(`${t.from}>${t.to}:${t.branch ?? ""}`);
  return parts.join(",");
}

/**
 * Positions of the steps (by dagre) and of the "+" placeholders, which sit under their branch's handle in
 * the gap between ranks: kept out of dagre, they cost it nothing and never move a step.
 */
export function layoutDef(def: EditorDef, placeholders: boolean) {
  const stepOf = new Map(def.steps.map((s) => [s.key, s]));
  const pos = layout({
    nodes: def.steps.map((s) => ({ id: s.key, width: NODE_W, height: NODE_H })),
    edges: def.transitions.map((t) => {
      const from = stepOf.get(t.from);
      return { from: t.from, to: t.to, order: from ? branchesOf(from).indexOf(t.branch ?? null) : 0 };
    }),
  });
  if (placeholders) {
    for (const s of def.steps) {
      const p = pos.get(s.key);
      if (!p) continue;
      const branches = branchesOf(s);
      const free = new Set(freeBranches(def, s));
      branches.forEach((b, i) => {
        if (!free.has(b)) return;
        const x = p.x + ((i + 1) / (branches.length + 1)) * NODE_W - PLACEHOLDER_SIZE / 2;
        pos.set(placeholderId(s.key, b), { x, y: p.y + NODE_H + (RANK_SEP - PLACEHOLDER_SIZE) / 2 + 4 });
      });
    }
  }
  return pos;
}

export interface GraphOptions {
  editable: boolean;
  placeholders: boolean;
  templateName: (id: string) => string | undefined;
  /** Names of segments by id, for a schedule trigger's summary (optional). */
  segmentName?: (id: string) => string | undefined;
  stats?: Map<string, StepStats>;
  stepProblems?: Map<string, string[]>;
  edgeProblems?: Map<string, string[]>;
  visited?: ReadonlySet<string>;
  currentStepId?: string | null;
  selectedKey?: string | null;
}

const NONE: string[] = [];
const STEP_SIZE = { width: NODE_W, height: NODE_H };
const PH_SIZE = { width: PLACEHOLDER_SIZE, height: PLACEHOLDER_SIZE };

/**
 * Where the handles are, given up front (as the CSS in editor.css places them) so that edges are drawn
 * in the first frame instead of after every node has been measured.
 */
function stepHandles(type: StepType, branches: readonly (string | null)[]): NodeHandle[] {
  const out: NodeHandle[] = [];
  if (type !== "TRIGGER") {
    out.push({
      id: "in",
      type: "target",
      position: Position.Top,
      x: NODE_W / 2 - 5,
      y: -5,
      width: 10,
      height: 10,
    });
  }
  branches.forEach((b, i) => {
    const x = ((i + 1) / (branches.length + 1)) * NODE_W;
    out.push({
      id: handleId(b),
      type: "source",
      position: Position.Bottom,
      x: x - 6,
      y: NODE_H - 6,
      width: 12,
      height: 12,
    });
  });
  return out;
}
const PLACEHOLDER_HANDLES: NodeHandle[] = [
  {
    id: "in",
    type: "target",
    position: Position.Top,
    x: PLACEHOLDER_SIZE / 2 - 3,
    y: -3,
    width: 6,
    height: 6,
  },
];
const ARROW = { type: MarkerType.ArrowClosed, width: 18, height: 18 };

export function buildGraph(
  def: EditorDef,
  positions: Map<string, { x: number; y: number }>,
  o: GraphOptions,
): { nodes: FlowNode[]; edges: FlowEdge[] } {
  const nodes: FlowNode[] = [];
  const edges: FlowEdge[] = [];
  const names = new Map(def.steps.map((s) => [s.key, s.name]));
  const ids = new Map(def.steps.map((s) => [s.key, domStepId(s)]));
  const stepOf = new Map(def.steps.map((s) => [s.key, s]));
  for (const s of def.steps) {
    const free = new Set(freeBranches(def, s));
    const id = domStepId(s);
    const problems = o.stepProblems?.get(s.key) ?? NONE;
    nodes.push({
      id: s.key,
      type: "step",
      position: positions.get(s.key) ?? { x: 0, y: 0 },
      width: NODE_W,
      height: NODE_H,
      // Fixed sizes, known before drawing: given as measured so that a node re-made by an edit keeps
      // counting for fitView and the minimap without waiting for the DOM to be measured again.
      measured: STEP_SIZE,
      handles: stepHandles(s.type, branchesOf(s)),
      selected: o.selectedKey === s.key,
      draggable: o.editable,
      connectable: o.editable,
      deletable: o.editable && s.type !== "TRIGGER",
      ariaLabel: `${s.name} (${s.type.toLowerCase().replace(/_/g, " ")} step)${problems.length ? `, ${problems.length} problem(s)` : ""}`,
      data: {
        stepId: id,
        stepKey: s.key,
        type: s.type,
        name: s.name,
        summary: summarize(s, o.templateName, o.segmentName),
        branches: branchesOf(s).map((b) => ({ branch: b, label: branchLabel(s, b), free: free.has(b) })),
        stats: o.stats?.get(id),
        problems,
        visited: o.visited?.has(id),
        current: o.currentStepId != null && o.currentStepId === id,
        editable: o.editable,
      },
    });
    if (o.placeholders) {
      for (const b of free) {
        const pid = placeholderId(s.key, b);
        nodes.push({
          id: pid,
          type: "placeholder",
          position: positions.get(pid) ?? { x: 0, y: 0 },
          width: PLACEHOLDER_SIZE,
          height: PLACEHOLDER_SIZE,
          measured: PH_SIZE,
          handles: PLACEHOLDER_HANDLES,
          draggable: false,
          selectable: false,
          connectable: false,
          deletable: false,
          focusable: false,
          // Above the steps, so that its menu of types opens over them.
          zIndex: 1000,
          data: { from: s.key, branch: b, branchLabel: branchLabel(s, b), fromName: s.name },
        });
        edges.push({
          id: `e${pid}`,
          type: "placeholder",
          source: s.key,
          sourceHandle: handleId(b),
          target: pid,
          selectable: false,
          focusable: false,
          deletable: false,
          className: "placeholder-edge",
          data: {},
        });
      }
    }
  }
  for (const t of def.transitions) {
    const ek = edgeKey(t);
    const from = stepOf.get(t.from);
    edges.push({
      id: ek,
      type: "branch",
      source: t.from,
      sourceHandle: handleId(t.branch),
      target: t.to,
      targetHandle: "in",
      selectable: o.editable,
      deletable: o.editable,
      focusable: o.editable,
      className: t.branch ? `branch-${t.branch}` : undefined,
      markerEnd: ARROW,
      data: {
        branch: t.branch,
        label: from ? branchLabel(from, t.branch) : t.branch,
        domId: t.id ?? `new:${ek}>${t.to}`,
        edgeKey: ek,
        fromName: names.get(t.from) ?? t.from,
        toName: names.get(t.to) ?? t.to,
        editable: o.editable,
        problems: o.edgeProblems?.get(ek) ?? NONE,
        visited: !!o.visited && o.visited.has(ids.get(t.from) ?? "") && o.visited.has(ids.get(t.to) ?? ""),
      },
    });
  }
  return { nodes, edges };
}

function sameList<T>(a: readonly T[], b: readonly T[], eq: (x: T, y: T) => boolean): boolean {
  return a === b || (a.length === b.length && a.every((x, i) => eq(x, b[i] as T)));
}

function sameData(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    if (!Array.isArray(x) || !Array.isArray(y)) return false;
    const eq = (p: unknown, q: unknown) =>
      p === q ||
      (typeof p === "object" &&
        typeof q === "object" &&
        p !== null &&
        q !== null &&
        sameData(p as Record<string, unknown>, q as Record<string, unknown>));
    if (!sameList(x, y, eq)) return false;
  }
  return true;
}

function sameShallow(a: object, b: object, skip: string): boolean {
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra);
  if (ka.length !== Object.keys(rb).length) return false;
  for (const k of ka) {
    if (k === skip || k === "position" || k === "handles" || k === "measured") continue;
    if (ra[k] !== rb[k]) return false;
  }
  return true;
}

/**
 * The previous objects kept for what did not change, so that an edit of one step (typing its name)
 * re-renders that node only: the node components are memoized on their props, and React Flow skips
 * node objects it has already seen.
 */
export function keepUnchanged<T extends FlowNode | FlowEdge>(prev: Map<string, T>, next: T[]): T[] {
  return next.map((n) => {
    const p = prev.get(n.id);
    if (!p || p.type !== n.type) return n;
    const sameD =
      p.data === n.data || sameData(p.data as Record<string, unknown>, n.data as Record<string, unknown>);
    if (!sameD) return n;
    const pp = (p as { position?: { x: number; y: number } }).position;
    const np = (n as { position?: { x: number; y: number } }).position;
    const samePos = pp === np || (pp !== undefined && np !== undefined && pp.x === np.x && pp.y === np.y);
    if (samePos && sameShallow(p, n, "data")) return p;
    return { ...n, data: p.data };
  });
}
