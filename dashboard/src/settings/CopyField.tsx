/**
 * A value to copy (a key, a secret): read-only, selected whole when focused, with a Copy button. Where the
 * browser refuses the clipboard, the text is selected for Ctrl+C instead, and the note says so.
 */
import { useRef, useState } from "react";

export function CopyField(props: { id: string; label: string; value: string; hint?: string }) {
  const { id, label, value } = props;
  const [copied, setCopied] = useState<{ value: string; ok: boolean } | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied({ value, ok: true });
    } catch {
      input.current?.focus();
      input.current?.select();
      setCopied({ value, ok: false });
    }
  };
  const note = copied?.value === value ? copied : null;
  return (
    <div className="copy-field">
      <label htmlFor={id}>{label}</label>
      <div className="copy-row">
        <input
          ref={input}
          id={id}
          className="mono"
          readOnly
          value={value}
          spellCheck={false}
          autoComplete="off"
          onFocus={(e) => e.currentTarget.select()}
          aria-describedby={props.hint ? `${id}-hint` : undefined}
        />
        <button
          type="button"
          className="outline"
          onClick={copy}
          aria-label={`Copy the ${label.toLowerCase()}`}
        >
          Copy
        </button>
      </div>
      {props.hint && (
        <small id={`${id}-hint`} className="muted">
          {props.hint}
        </small>
      )}
      <small className="copy-note" role="status">
        {note
          ? note.ok
            ? "Copied."
            : "The browser would not copy it: it is selected, press Ctrl+C (⌘C)."
          : ""}
      </small>
    </div>
  );
}
