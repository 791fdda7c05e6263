/** Top-to-bottom automatic layout with dagre, computed once per change of the graph's shape. */
import dagre, { type EdgeLabel, type Graph, type GraphLabel, type NodeLabel } from "@dagrejs/dagre";

export const NODE_W = 240;
export const NODE_H = 112;
export const PLACEHOLDER_SIZE = 36;
export const RANK_SEP = 84;

export interface LayoutInput {
  nodes: { id: string; width: number; height: number }[];
  /** `order`: the edge's place among its source's branches (yes before no, event before timeout). */
  edges: { from: string; to: string; order?: number }[];
}

/** Above this many nodes, the cheaper ranking keeps a 250-step workflow well under 500 ms. */
const LARGE = 80;

type DagreGraph = Graph<GraphLabel, NodeLabel, EdgeLabel>;

/**
 * Each rank ordered by a depth-first walk from the sources (as dagre's own initial order), children in
 * the order of their source's branches, without dagre's crossing-reduction sweeps. So a step's yes (or
 * event) side is always left of its no (or timeout) side, under the handles of those branches; and the
 * sweeps, which cost most of a large graph's layout, are not needed by a workflow, mostly a tree.
 */
function depthFirstOrder(g: DagreGraph, branchOrder: Map<string, number>) {
  // Long edges were split by dagre into chains of dummy nodes, which remember their original edge.
  const rankOf = (from: string, to: string) => {
    const label = g.node(to);
    const orig = label.dummy && label.edgeObj ? label.edgeObj : { v: from, w: to };
    return branchOrder.get(`${orig.v}\u0000${orig.w}`) ?? 0;
  };
  const nodes = g.nodes().filter((v) => !(g.children(v) ?? []).length);
  nodes.sort((a, b) => (g.node(a).rank ?? 0) - (g.node(b).rank ?? 0));
  const seen = new Set<string>();
  const next = new Map<number, number>();
  const stack: string[] = [];
  for (const root of nodes) {
    stack.push(root);
    while (stack.length) {
      const v = stack.pop() as string;
      if (seen.has(v)) continue;
      seen.add(v);
      const label = g.node(v);
      const rank = label.rank ?? 0;
      const i = next.get(rank) ?? 0;
      label.order = i;
      next.set(rank, i + 1);
      const succ = (g.successors(v) ?? []).filter((s) => !seen.has(s));
      succ.sort((a, b) => rankOf(v, b) - rankOf(v, a));
      stack.push(...succ);
    }
  }
}

/** Top-left positions by node id. */
export function layout(input: LayoutInput): Map<string, { x: number; y: number }> {
  const t0 = performance.now();
  const large = input.nodes.length > LARGE;
  const g: DagreGraph = new dagre.graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>();
  g.setGraph({
    rankdir: "TB",
    nodesep: 48,
    ranksep: RANK_SEP,
    marginx: 16,
    marginy: 16,
    ranker: large ? "tight-tree" : "network-simplex",
  });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of input.nodes) g.setNode(n.id, { width: n.width, height: n.height });
  const branchOrder = new Map<string, number>();
  for (const e of input.edges) {
    if (!g.hasNode(e.from) || !g.hasNode(e.to)) continue;
    g.setEdge(e.from, e.to);
    branchOrder.set(`${e.from}\u0000${e.to}`, e.order ?? 0);
  }
  dagre.layout(g, { customOrder: (graph) => depthFirstOrder(graph, branchOrder) });
  const out = new Map<string, { x: number; y: number }>();
  for (const n of input.nodes) {
    const p = g.node(n.id) as { x: number; y: number } | undefined;
    out.set(n.id, p ? { x: p.x - n.width / 2, y: p.y - n.height / 2 } : { x: 0, y: 0 });
  }
  // Visible in the browser's performance panel (and to tests): what the layout of each change cost.
  performance.measure("editor:layout", { start: t0, detail: { nodes: input.nodes.length } });
  return out;
}
