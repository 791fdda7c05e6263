/** A menu of step types, each a button named by its type ("Send email", "Delay", …). */
import { useEffect, useLayoutEffect, useRef, useState } from "react";
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
  // Inside the canvas (which clips), the menu opens upward when there is no room below.
  const [up, setUp] = useState(false);
  useLayoutEffect(() => {
    const el = ref.current;
    const canvas = el?.closest(".workflow-canvas");
    if (!el || !canvas) return;
    const m = el.getBoundingClientRect();
    const c = canvas.getBoundingClientRect();
    if (m.bottom > c.bottom && m.top - c.top > c.bottom - m.top) setUp(true);
  }, []);
  useEffect(() => {
    ref.current?.querySelector("button")?.focus({ preventScroll: true });
  }, []);
  // A press outside the menu and its opener (the menu's parent holds both) closes it.
  const { onClose } = props;
  useEffect(() => {
    const onDown = (e: PointerEvent) => {
      const host = ref.current?.parentElement;
      if (host && e.target instanceof Node && !host.contains(e.target)) onClose();
    };
    document.addEventListener("pointerdown", onDown, true);
    return () => document.removeEventListener("pointerdown", onDown, true);
  }, [onClose]);
  return (
    <fieldset
      ref={ref}
      className={`type-menu nodrag nopan nowheel${up ? " open-up" : ""} ${props.className ?? ""}`}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          // Back to the button that opened the menu (the first button of the menu's parent).
          ref.current?.parentElement?.querySelector<HTMLButtonElement>(":scope > button")?.focus();
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
