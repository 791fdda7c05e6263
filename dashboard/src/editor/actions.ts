/** What the canvas's nodes and edges can ask of the editor (absent on a read-only graph). */
import { createContext, useContext } from "react";
import type { StepType } from "../../../src/domain/workflow/config";

export interface EditorActions {
  addAfter: (from: string, branch: string | null, type: StepType) => void;
  insertOnEdge: (edgeKey: string, type: StepType) => void;
  deleteEdge: (edgeKey: string) => void;
}

export const EditorActionsContext = createContext<EditorActions | null>(null);
export const useEditorActions = () => useContext(EditorActionsContext);
