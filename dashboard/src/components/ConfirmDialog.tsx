/**
 * A confirmation in a native <dialog> (focus is trapped and Escape cancels, by the browser itself).
 * `open` shows it modally; the buttons answer through onConfirm / onCancel.
 */
import { type ReactNode, useEffect, useId, useRef } from "react";

export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  // Its own title id: a page may hold more than one dialog.
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} onCancel={props.onCancel} onClose={props.onCancel}>
      <article>
        <h2 id={titleId}>{props.title}</h2>
        {props.children}
        <footer>
          <button type="button" className="secondary" onClick={props.onCancel}>
            Keep
          </button>
          <button
            type="button"
            className={props.danger ? "danger" : undefined}
            aria-busy={props.busy}
            disabled={props.busy}
            onClick={props.onConfirm}
          >
            {props.confirmLabel}
          </button>
        </footer>
      </article>
    </dialog>
  );
}
