/** Top-to-bottom automatic layout with dagre, computed once per change of the graph's shape. */
import dagre, { type EdgeLabel, type Graph, type GraphLabel, type NodeLabel } from "@dagrejs/dagre";

export const NODE_W = 240;
export const NODE_H = 112;
export const PLACEHOLDER_SIZE = 36;
export const RANK_SEP = 84;

export interface LayoutInput {
  nodes: { id: string; width: number; height: number }[];
  edges: { from: string; to: string }[];
}

/** Above this many nodes, the cheaper ranking and ordering keep a 250-step workflow well under 500 ms. */
const LARGE = 80;

type DagreGraph = Graph<GraphLabel, NodeLabel, EdgeLabel>;

/**
 * Each rank ordered by a depth-first walk from the sources (dagre's own initial order), without its
 * crossing-reduction sweeps: those cost most of the layout of a large graph, and a workflow is mostly a
 * tree, which a depth-first order draws without crossings anyway.
 */
function depthFirstOrder(g: DagreGraph) {
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
      const succ = g.successors(v) ?? [];
      for (let k = succ.length - 1; k >= 0; k--) {
        const s = succ[k];
        if (s !== undefined && !seen.has(s)) stack.push(s);
      }
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
  for (const e of input.edges) if (g.hasNode(e.from) && g.hasNode(e.to)) g.setEdge(e.from, e.to);
  dagre.layout(g, large ? { customOrder: (graph) => depthFirstOrder(graph) } : undefined);
  const out = new Map<string, { x: number; y: number }>();
  for (const n of input.nodes) {
    const p = g.node(n.id) as { x: number; y: number } | undefined;
    out.set(n.id, p ? { x: p.x - n.width / 2, y: p.y - n.height / 2 } : { x: 0, y: 0 });
  }
  // Visible in the browser's performance panel (and to tests): what the layout of each change cost.
  performance.measure("editor:layout", { start: t0, detail: { nodes: input.nodes.length } });
  return out;
}
