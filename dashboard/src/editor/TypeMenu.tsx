/** A menu of step types, each a button named by its type ("Send email", "Delay", …). */
import { useEffect, useRef } from "react";
import type { StepType } from "../../../src/domain/workflow/config";
import { ADDABLE_TYPES, TYPE_LABEL } from "./model";

export function TypeMenu(props: {
  label: string;
  types?: readonly StepType[];
  onPick: (type: StepType) => void;
  onClose: () => void;
  className?: string;
}) {
  const ref = useRef<HTMLFieldSetElement>(null);
  useEffect(() => {
    ref.current?.querySelector("button")?.focus();
  }, []);
  return (
    <fieldset
      ref={ref}
      className={`type-menu nodrag nopan nowheel ${props.className ?? ""}`}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          props.onClose();
        }
      }}
    >
      <legend className="type-menu-title">{props.label}</legend>
      {(props.types ?? ADDABLE_TYPES).map((t) => (
        <button
          key={t}
          type="button"
          className={`type-menu-item type-${t}`}
          onClick={() => {
            props.onPick(t);
            props.onClose();
          }}
        >
          {TYPE_LABEL[t]}
        </button>
      ))}
    </fieldset>
  );
}
