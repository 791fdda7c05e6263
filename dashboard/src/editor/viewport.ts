/**
 * The first view of a graph: all of it when it fits at a readable zoom; else a readable zoom on the step
 * that matters (the trigger, or an execution's current step), with the minimap for the rest.
 */
import type { ReactFlowInstance } from "@xyflow/react";
import type { FlowEdge, FlowNode } from "./graph";
import { NODE_H, NODE_W } from "./layout";

export const FIT = { padding: 0.15, maxZoom: 1 };
/** Below this zoom the steps are mere shapes: better show fewer, readable. */
const READABLE = 0.2;
const FOCUS_ZOOM = 0.8;

export function initialView(
  f: ReactFlowInstance<FlowNode, FlowEdge>,
  el: HTMLElement | null,
  positions: Map<string, { x: number; y: number }>,
  focus: { x: number; y: number } | undefined,
  /** Where the focused step goes: its top near the top of the canvas, or the middle. */
  place: "top" | "center" = "top",
) {
  if (!el || positions.size === 0) {
    f.fitView(FIT);
    return;
  }
  let minX = Number.POSITIVE_INFINITY;
  let minY = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  for (const p of positions.values()) {
    minX = Math.min(minX, p.x);
    minY = Math.min(minY, p.y);
    maxX = Math.max(maxX, p.x + NODE_W);
    maxY = Math.max(maxY, p.y + NODE_H);
  }
  const { width, height } = el.getBoundingClientRect();
  const pad = 1 + 2 * FIT.padding;
  const zoom = Math.min(width / ((maxX - minX) * pad), height / ((maxY - minY) * pad));
  if (zoom >= READABLE || !focus || width === 0 || height === 0) {
    f.fitView(FIT);
    return;
  }
  const z = Math.min(FOCUS_ZOOM, width / (NODE_W * 1.6));
  const x = width / 2 - (focus.x + NODE_W / 2) * z;
  const y = place === "top" ? 24 - focus.y * z : height / 2 - (focus.y + NODE_H / 2) * z;
  f.setViewport({ x, y, zoom: z });
}
