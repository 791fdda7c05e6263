/** A fieldset's radio buttons of one name, each its input inside its label. */
import type { ReactNode } from "react";

export function RadioOptions<V extends string>({
  name,
  value,
  options,
  onChange,
}: {
  name: string;
  value: V;
  /** Each choice's value and label, in order. */
  options: readonly (readonly [V, ReactNode])[];
  onChange: (value: V) => void;
}) {
  return (
    <>
      {options.map(([v, label]) => (
        <label key={v}>
          <input type="radio" name={name} value={v} checked={value === v} onChange={() => onChange(v)} />
          {label}
        </label>
      ))}
    </>
  );
}
