/** The copy of a workflow an execution runs on, taken when it starts. */
import type { StepType } from "./config";
import type { GraphTransition } from "./graph";

export interface SnapshotStep {
  id: string;
  type: StepType;
  name: string;
  config: Record<string, unknown>;
}

export interface WorkflowSnapshot {
  id: string;
  name: string;
  eventName: string;
  allowReentry: boolean;
  triggerStepId: string;
  steps: Record<string, SnapshotStep>;
  transitions: GraphTransition[];
}
