/** Pieces shared by the step forms: a labelled field with its errors, key/value rows, JSON values. */
import { type ReactNode, useId, useState } from "react";
import type { Template } from "../../api/types";
import type { Config } from "../model";
import type { StepProblem } from "../problems";

export interface FormProps {
  config: Config;
  /** A new config; `tag` names the field so that typing in it makes one undo entry. */
  onChange: (config: Config, tag?: string) => void;
  problems: readonly StepProblem[] | undefined;
  /** A JSON text that does not parse (null when all parse): Save waits for it. */
  onJsonError: (message: string | null) => void;
  templates: readonly Template[] | undefined;
  templatesLoading: boolean;
  suggestions: readonly string[];
}

export function Field(props: {
  label: string;
  errors?: readonly string[];
  hint?: ReactNode;
  children: (a: { id: string; invalid: boolean | undefined; describedBy: string | undefined }) => ReactNode;
}) {
  const id = useId();
  const errors = props.errors ?? [];
  const errId = `${id}-err`;
  const hintId = `${id}-hint`;
  const describedBy =
    [errors.length ? errId : "", props.hint ? hintId : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.children({ id, invalid: errors.length ? true : undefined, describedBy })}
      {props.hint && (
        <small id={hintId} className="muted">
          {props.hint}
        </small>
      )}
      {errors.length > 0 && (
        <small id={errId} className="field-error" role="alert">
          {errors.join("; ")}
        </small>
      )}
    </div>
  );
}

/** A text input wired to its Field (its id, error and hint): what a Field's children give for text. */
export function textInput(
  a: { id: string; invalid: boolean | undefined; describedBy: string | undefined },
  p: { value: string; onChange: (value: string) => void; placeholder?: string; list?: string },
) {
  return (
    <input
      id={a.id}
      list={p.list}
      aria-invalid={a.invalid}
      aria-describedby={a.describedBy}
      placeholder={p.placeholder}
      value={p.value}
      onChange={(e) => p.onChange(e.target.value)}
    />
  );
}

/** A value as typed in a row: JSON when it parses (`true`, `3`, `{"a":1}`), else the text itself. */
export function parseLoose(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The text that parses back to `v` through parseLoose. */
export function showLoose(v: unknown): string {
  if (typeof v === "string") return parseLoose(v) === v ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? "";
}

interface Row {
  id: number;
  key: string;
  value: string;
}

let rowSeq = 0;

/** Rows of key and value with Add row / Remove; rows with an empty key are left out of the result. */
export function KeyValueRows(props: {
  legend: string;
  keyLabel: string;
  valueLabel: string;
  initial: [string, string][];
  onChange: (rows: [string, string][]) => void;
  errors?: readonly string[];
}) {
  const [rows, setRows] = useState<Row[]>(() =>
    props.initial.map(([key, value]) => ({ id: ++rowSeq, key, value })),
  );
  const id = useId();
  const update = (next: Row[]) => {
    setRows(next);
    props.onChange(next.filter((r) => r.key.trim() !== "").map((r) => [r.key, r.value]));
  };
  return (
    <fieldset>
      <legend>{props.legend}</legend>
      <div className="kv-rows">
        {rows.map((r, i) => (
          <div className="kv-row" key={r.id}>
            <label className="sr-only" htmlFor={`${id}-k${r.id}`}>
              {props.keyLabel} {i + 1}
            </label>
            <input
              id={`${id}-k${r.id}`}
              placeholder={props.keyLabel}
              value={r.key}
              onChange={(e) => update(rows.map((x) => (x.id === r.id ? { ...x, key: e.target.value } : x)))}
            />
            <label className="sr-only" htmlFor={`${id}-v${r.id}`}>
              {props.valueLabel} {i + 1}
            </label>
            <input
              id={`${id}-v${r.id}`}
              placeholder={props.valueLabel}
              value={r.value}
              onChange={(e) => update(rows.map((x) => (x.id === r.id ? { ...x, value: e.target.value } : x)))}
            />
            <button
              type="button"
              className="secondary outline"
              aria-label={`Remove ${props.keyLabel.toLowerCase()} ${r.key || i + 1}`}
              onClick={() => update(rows.filter((x) => x.id !== r.id))}
            >
              ×
            </button>
          </div>
        ))}
      </div>
      <button
        type="button"
        className="secondary outline kv-add"
        onClick={() => update([...rows, { id: ++rowSeq, key: "", value: "" }])}
      >
        Add {props.keyLabel.toLowerCase()}
      </button>
      {props.errors && props.errors.length > 0 && (
        <small className="field-error" role="alert">
          {props.errors.join("; ")}
        </small>
      )}
    </fieldset>
  );
}
