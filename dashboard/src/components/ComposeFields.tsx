/**
 * The fields the template editor and the campaign composer share: the sender (From, From name, Reply-to),
 * the subject and body (Liquid) with the variables they can use, and the words of the API's refusals at
 * them.
 */
import { ApiError } from "../api/client";
import { FieldError, fieldMessage, invalidProps } from "./FieldError";

/**
 * A field's problems from an API refusal, in words: zod's "Too small: expected string to have >=1
 * characters" (what the API says of an empty required text) reads "Must not be empty".
 */
export function fieldText(error: unknown, field: string): string | undefined {
  return fieldMessage(error, field)?.replace(
    /Too small: expected string to have >=1 characters/g,
    "Must not be empty",
  );
}

/** The part of a field name before its first dot or bracket: `audience.segmentId` → `audience`. */
const topField = (f: string) => f.split(/[.[]/)[0] ?? f;

/** A 422 whose every field problem is shown at a field of `shown`: no ErrorBox needed. */
export function allShown(error: unknown, shown: Set<string>): boolean {
  return (
    error instanceof ApiError &&
    error.status === 422 &&
    error.fields.length > 0 &&
    error.fields.every((f) => shown.has(topField(f.field)) || shown.has(f.field))
  );
}

export interface Sender {
  from: string;
  fromName: string;
  replyTo: string;
}

/**
 * From (`required`, or optional: then the template's or the project's default sender is used), From name
 * and Reply-to; their errors at `${idPrefix}-from-error` and so on.
 */
export function SenderFields({
  idPrefix,
  value,
  onChange,
  errors,
  required = false,
  placeholders = {},
}: {
  idPrefix: string;
  value: Sender;
  onChange: (field: keyof Sender, v: string) => void;
  errors: Partial<Record<keyof Sender, string | undefined>>;
  required?: boolean;
  placeholders?: Partial<Record<keyof Sender, string>>;
}) {
  const p = idPrefix;
  return (
    <>
      <label>
        {required ? (
          "From"
        ) : (
          <>
            From <span className="muted">(optional)</span>
          </>
        )}
        <input
          name="from"
          type="email"
          required={required}
          maxLength={254}
          autoComplete="off"
          value={value.from}
          onChange={(e) => onChange("from", e.target.value)}
          placeholder={placeholders.from}
          {...invalidProps(`${p}-from-error`, errors.from)}
        />
        <FieldError id={`${p}-from-error`} message={errors.from} />
      </label>
      <label>
        From name <span className="muted">(optional)</span>
        <input
          name="fromName"
          maxLength={200}
          autoComplete="off"
          value={value.fromName}
          onChange={(e) => onChange("fromName", e.target.value)}
          placeholder={placeholders.fromName}
          {...invalidProps(`${p}-fromName-error`, errors.fromName)}
        />
        <FieldError id={`${p}-fromName-error`} message={errors.fromName} />
      </label>
      <label>
        Reply-to <span className="muted">(optional)</span>
        <input
          name="replyTo"
          type="email"
          maxLength={254}
          autoComplete="off"
          value={value.replyTo}
          onChange={(e) => onChange("replyTo", e.target.value)}
          placeholder={placeholders.replyTo}
          {...invalidProps(`${p}-replyTo-error`, errors.replyTo)}
        />
        <FieldError id={`${p}-replyTo-error`} message={errors.replyTo} />
      </label>
    </>
  );
}

/** The subject and body fields (Liquid), with the variables they can use. */
export function SubjectAndBody(props: {
  idPrefix: string;
  subject: string;
  body: string;
  onSubject: (v: string) => void;
  onBody: (v: string) => void;
  subjectError: string | undefined;
  bodyError: string | undefined;
  subjectLabel?: string;
  subjectPlaceholder?: string;
  /** Without a body field (a campaign that sends a template's). */
  noBody?: boolean;
  /** The body's height in lines (14 unless told). */
  rows?: number;
}) {
  const p = props.idPrefix;
  return (
    <>
      <label>
        {props.subjectLabel ?? "Subject"}
        <input
          name="subject"
          className="mono"
          maxLength={998}
          autoComplete="off"
          spellCheck={false}
          value={props.subject}
          onChange={(e) => props.onSubject(e.target.value)}
          placeholder={props.subjectPlaceholder ?? "Welcome, {{ data.name ?? email }}"}
          {...invalidProps(`${p}-subject-error`, props.subjectError)}
        />
        <FieldError id={`${p}-subject-error`} message={props.subjectError} />
      </label>
      {!props.noBody && (
        <label>
          Body <span className="muted">(HTML with Liquid)</span>
          <textarea
            name="body"
            className="mono compose-body"
            rows={props.rows ?? 14}
            spellCheck={false}
            value={props.body}
            onChange={(e) => props.onBody(e.target.value)}
            {...invalidProps(`${p}-body-error`, props.bodyError)}
          />
          <FieldError id={`${p}-body-error`} message={props.bodyError} />
        </label>
      )}
      <details className="variables">
        <summary>Variables</summary>
        <ul>
          <li>
            <code>{"{{ email }}"}</code>, <code>{"{{ id }}"}</code>: the contact's
          </li>
          <li>
            <code>{"{{ data.plan }}"}</code> or <code>{"{{ plan }}"}</code>: a key of the contact's data
          </li>
          <li>
            <code>{'{{ data.name ?? "there" }}'}</code>: "there" when the name is missing or empty
          </li>
          <li>
            <code>{"{{ unsubscribeUrl }}"}</code>, <code>{"{{ subscribeUrl }}"}</code>,{" "}
            <code>{"{{ manageUrl }}"}</code>: the contact's signed links
          </li>
          <li>
            <code>{"{{ event.total }}"}</code>: the data of the event that started the workflow
          </li>
        </ul>
      </details>
    </>
  );
}
