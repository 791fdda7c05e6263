/** The side panel: the selected step's name and the form for its type (read-only while locked). */
import { useEffect, useId, useRef } from "react";
import type { Template } from "../api/types";
import { FORMS } from "./forms/StepForms";
import { type Config, type EditorStep, TYPE_LABEL } from "./model";
import { fieldMessages, problemLines, type StepProblem } from "./problems";

export function StepPanel(props: {
  step: EditorStep;
  editable: boolean;
  /** Executions are active: the steps are read only (a schedule trigger's panel stays editable). */
  locked: boolean;
  problems: readonly StepProblem[] | undefined;
  templates: readonly Template[] | undefined;
  templatesLoading: boolean;
  suggestions: readonly string[];
  /** Changes when the panel is opened by keyboard: the focus moves to its Name field. */
  focusToken: number;
  onName: (name: string) => void;
  onConfig: (config: Config, tag?: string) => void;
  onDelete: () => void;
  /** Delete and reconnect its parents to its one child; null when it has more than one way on. */
  onSplice: (() => void) | null;
  /** Delete it with the steps below it that nothing else leads to. */
  onCascade: () => void;
  onClose: () => void;
  onJsonError: (message: string | null) => void;
}) {
  const { step } = props;
  const nameId = useId();
  const headingRef = useRef<HTMLHeadingElement>(null);
  const Form = FORMS[step.type];
  // Every problem of the step is listed at the top too, in case its field is not on the form.
  const generalLines = problemLines(props.problems);
  const nameErrors = fieldMessages(props.problems, "name");
  // A JSON text left invalid goes with the panel (the config keeps its last valid value).
  const { onJsonError } = props;
  useEffect(() => () => onJsonError(null), [onJsonError]);
  const nameRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (props.focusToken > 0) (nameRef.current ?? headingRef.current)?.focus();
  }, [props.focusToken]);
  return (
    <section
      className="step-panel"
      aria-labelledby={`${nameId}-h`}
      onKeyDown={(e) => {
        if (e.key === "Escape" && !e.defaultPrevented) props.onClose();
      }}
    >
      <div className="panel-head">
        <h2 id={`${nameId}-h`} ref={headingRef} tabIndex={-1}>
          {TYPE_LABEL[step.type]}
        </h2>
        <button
          type="button"
          className="secondary outline"
          aria-label="Close the step panel"
          onClick={props.onClose}
        >
          ×
        </button>
      </div>
      <p className="muted">
        <small>
          Key <code>{step.key}</code>
          {step.id ? "" : " · not saved yet"}
        </small>
      </p>
      {generalLines.length > 0 && (
        <div className="error-box" role="alert">
          <ul>
            {generalLines.map((l) => (
              <li key={l}>{l}</li>
            ))}
          </ul>
        </div>
      )}
      {props.locked &&
        (props.editable ? (
          <p className="muted">
            Executions are active: the steps are locked, but the schedule can still be changed and saved.
          </p>
        ) : (
          <p className="muted">Locked: read only while executions are active.</p>
        ))}
      <fieldset disabled={!props.editable} style={{ border: 0, padding: 0, margin: 0 }}>
        <label htmlFor={nameId}>Name</label>
        <input
          id={nameId}
          ref={nameRef}
          value={step.name}
          readOnly={step.type === "TRIGGER"}
          aria-invalid={nameErrors.length ? true : undefined}
          onChange={(e) => props.onName(e.target.value)}
        />
        {nameErrors.length > 0 && <small className="field-error">{nameErrors.join("; ")}</small>}
        <Form
          config={step.config}
          onChange={props.onConfig}
          problems={props.problems}
          onJsonError={props.onJsonError}
          templates={props.templates}
          templatesLoading={props.templatesLoading}
          suggestions={props.suggestions}
        />
        {step.type !== "TRIGGER" && (
          <div className="panel-actions">
            <button type="button" className="danger" onClick={props.onDelete}>
              Delete step
            </button>
            <button
              type="button"
              className="secondary outline"
              disabled={!props.onSplice}
              title={
                props.onSplice
                  ? "Delete it, and lead what came into it on to the step after it"
                  : "It leads on by more than one transition: delete those you do not keep first"
              }
              onClick={props.onSplice ?? undefined}
            >
              Delete and reconnect
            </button>
            <button
              type="button"
              className="secondary outline"
              title="Delete it and the steps below it that nothing else leads to"
              onClick={props.onCascade}
            >
              Delete with the steps below
            </button>
          </div>
        )}
      </fieldset>
    </section>
  );
}
