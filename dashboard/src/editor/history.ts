/**
 * The undo history of the whole local definition. `base` is the saved definition: the editor has
 * unsaved changes while `present` is not it. Edits of one field in a row (typing) make one entry.
 */
import { useCallback, useReducer } from "react";
import type { EditorDef } from "./model";

const LIMIT = 200;
const COALESCE_MS = 1_200;

interface State {
  base: EditorDef;
  present: EditorDef;
  past: EditorDef[];
  /** Changes on reset and undo: forms holding drafts remount to show the definition again. */
  epoch: number;
  lastTag: string | null;
  lastAt: number;
}

type Action =
  | { kind: "reset"; def: EditorDef }
  | { kind: "apply"; fn: (d: EditorDef) => EditorDef; tag?: string; at: number }
  | { kind: "undo" };

function reduce(s: State, a: Action): State {
  switch (a.kind) {
    case "reset":
      return { base: a.def, present: a.def, past: [], epoch: s.epoch + 1, lastTag: null, lastAt: 0 };
    case "apply": {
      const next = a.fn(s.present);
      if (next === s.present) return s;
      const coalesce =
        a.tag !== undefined && a.tag === s.lastTag && a.at - s.lastAt < COALESCE_MS && s.past.length > 0;
      const past = coalesce ? s.past : [...s.past, s.present].slice(-LIMIT);
      return { ...s, present: next, past, lastTag: a.tag ?? null, lastAt: a.at };
    }
    case "undo": {
      const prev = s.past[s.past.length - 1];
      if (!prev) return s;
      return { ...s, present: prev, past: s.past.slice(0, -1), epoch: s.epoch + 1, lastTag: null, lastAt: 0 };
    }
  }
}

export function useDefinitionHistory(initial: EditorDef) {
  const [state, dispatch] = useReducer(reduce, initial, (def) => ({
    base: def,
    present: def,
    past: [],
    epoch: 0,
    lastTag: null,
    lastAt: 0,
  }));
  const apply = useCallback(
    (fn: (d: EditorDef) => EditorDef, tag?: string) => dispatch({ kind: "apply", fn, tag, at: Date.now() }),
    [],
  );
  const undo = useCallback(() => dispatch({ kind: "undo" }), []);
  const reset = useCallback((def: EditorDef) => dispatch({ kind: "reset", def }), []);
  return {
    def: state.present,
    base: state.base,
    dirty: state.present !== state.base,
    canUndo: state.past.length > 0,
    epoch: state.epoch,
    apply,
    undo,
    reset,
  };
}
