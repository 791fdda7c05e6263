/**
 * Why the canvas is read-only (executions RUNNING or WAITING), and the two ways out: disable the workflow
 * so that no new run starts, and cancel the active ones (after a confirmation that says what is lost).
 */
import { useState } from "react";
import { ConfirmDialog } from "../components/ConfirmDialog";

export function LockBanner(props: {
  active: number;
  enabled: boolean;
  allowReentry: boolean;
  toggleBusy: boolean;
  cancelBusy: boolean;
  onToggle: () => void;
  onCancelAll: () => void;
}) {
  const [confirming, setConfirming] = useState(false);
  const n = props.active;
  return (
    <>
      <div className="lock-banner" role="status">
        <p>
          This workflow has {n} active execution{n === 1 ? "" : "s"}; its steps are locked.
          {props.enabled ? " Disable it so that no new run starts, then" : " Wait for them to end, or"} cancel
          them to edit.
        </p>
        <button
          type="button"
          className="secondary"
          aria-busy={props.toggleBusy}
          disabled={props.toggleBusy}
          onClick={props.onToggle}
        >
          {props.enabled ? "Disable" : "Enable"}
        </button>
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          Cancel all executions
        </button>
      </div>
      <ConfirmDialog
        open={confirming}
        title={`Cancel ${n} active execution${n === 1 ? "" : "s"}?`}
        confirmLabel="Cancel them all"
        danger
        busy={props.cancelBusy}
        onCancel={() => setConfirming(false)}
        onConfirm={() => {
          props.onCancelAll();
          setConfirming(false);
        }}
      >
        <p>This is irreversible.</p>
        <p>The contacts of these runs will not receive the remaining steps of that run.</p>
        <p>
          {props.allowReentry
            ? "Re-entry is allowed, so they can enter the workflow again the next time the trigger fires."
            : "Re-entry is not allowed, so they will not enter the workflow again, even if the trigger fires."}
        </p>
      </ConfirmDialog>
    </>
  );
}
