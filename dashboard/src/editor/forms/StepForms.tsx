/**
 * One form per step type, over the shapes of src/domain/workflow/config.ts. They check nothing but JSON
 * syntax: the server judges the rest when the definition is saved, and its messages come back at the
 * fields they name.
 */
import { type ReactNode, useState } from "react";
import {
  DELAY_UNITS,
  HTTP_METHODS,
  MAX_CONDITION_BRANCHES,
  OPERATORS,
  type StepType,
} from "../../../../src/domain/workflow/config";
import { ScheduleFields } from "../../components/ScheduleFields";
import { scheduleOfConfig } from "../../components/schedule";
import type { Config } from "../model";
import { fieldMessages, type StepProblem } from "../problems";
import { formatSeconds } from "../summary";
import { Field, type FormProps, KeyValueRows, parseLoose, showLoose, textInput } from "./common";

const str = (v: unknown) => (typeof v === "string" ? v : "");
const without = (c: Record<string, unknown>, k: string) => {
  const { [k]: _gone, ...rest } = c;
  return rest;
};

function SendEmailForm({ config, onChange, problems, templates, templatesLoading }: FormProps) {
  const id = str(config.templateId);
  const known = templates?.some((t) => t.id === id);
  const recipient =
    config.recipient && typeof config.recipient === "object" ? (config.recipient as Config) : null;
  const custom = recipient?.type === "CUSTOM";
  return (
    <>
      <Field
        label="Template"
        errors={fieldMessages(problems, "templateId")}
        hint={
          templates && templates.length === 0 ? (
            <>
              This project has no templates yet: create one with <code>POST /templates</code> (see the{" "}
              <a href="/docs">API reference</a>), then pick it here.
            </>
          ) : undefined
        }
      >
        {(a) => (
          <select
            id={a.id}
            aria-invalid={a.invalid}
            aria-describedby={a.describedBy}
            aria-busy={templatesLoading}
            value={id}
            onChange={(e) => onChange({ ...config, templateId: e.target.value })}
          >
            <option value="">Choose a template…</option>
            {id && !known && !templatesLoading && <option value={id}>{id} (not found)</option>}
            {templates?.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name} ({t.type.toLowerCase()})
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field
        label="Send to"
        hint={
          custom
            ? "The email is about the contact (its variables, its marketing rule) but goes to this address"
            : undefined
        }
      >
        {(a) => (
          <select
            id={a.id}
            aria-describedby={a.describedBy}
            value={custom ? "CUSTOM" : "CONTACT"}
            onChange={(e) =>
              onChange(
                e.target.value === "CUSTOM"
                  ? { ...config, recipient: { type: "CUSTOM", email: "" } }
                  : without(config, "recipient"),
              )
            }
          >
            <option value="CONTACT">the contact</option>
            <option value="CUSTOM">another address</option>
          </select>
        )}
      </Field>
      {custom && (
        <Field
          label="Recipient address"
          errors={fieldMessages(problems, "recipient")}
          hint={
            <>
              An address or a Liquid template, as <code>{"{{ event.managerEmail }}"}</code>
            </>
          }
        >
          {(a) =>
            textInput(a, {
              value: str(recipient?.email),
              onChange: (v) => onChange({ ...config, recipient: { type: "CUSTOM", email: v } }, "recipient"),
              placeholder: "{{ event.managerEmail }}",
            })
          }
        </Field>
      )}
    </>
  );
}

function DelayForm({ config, onChange, problems }: FormProps) {
  const amount = typeof config.amount === "number" ? String(config.amount) : str(config.amount);
  return (
    <div className="grid">
      <Field label="Amount" errors={fieldMessages(problems, "amount")}>
        {(a) => (
          <input
            id={a.id}
            type="number"
            min={1}
            step={1}
            inputMode="numeric"
            aria-invalid={a.invalid}
            aria-describedby={a.describedBy}
            value={amount}
            onChange={(e) =>
              onChange(
                { ...config, amount: e.target.value === "" ? e.target.value : Number(e.target.value) },
                "amount",
              )
            }
          />
        )}
      </Field>
      <Field label="Unit" errors={fieldMessages(problems, "unit")}>
        {(a) => (
          <select
            id={a.id}
            aria-invalid={a.invalid}
            aria-describedby={a.describedBy}
            value={str(config.unit)}
            onChange={(e) => onChange({ ...config, unit: e.target.value })}
          >
            {Object.keys(DELAY_UNITS).map((u) => (
              <option key={u} value={u}>
                {u}
              </option>
            ))}
          </select>
        )}
      </Field>
    </div>
  );
}

function WaitForEventForm({ config, onChange, problems }: FormProps) {
  const timeout = typeof config.timeout === "number" ? config.timeout : undefined;
  return (
    <>
      <Field label="Event name" errors={fieldMessages(problems, "eventName")}>
        {(a) =>
          textInput(a, {
            value: str(config.eventName),
            onChange: (v) => onChange({ ...config, eventName: v }, "eventName"),
            placeholder: "email.clicked",
          })
        }
      </Field>
      <Field
        label="Timeout in seconds (optional)"
        errors={fieldMessages(problems, "timeout")}
        hint={
          timeout
            ? `${formatSeconds(timeout)}, then the timeout branch`
            : "Without one it waits until the event."
        }
      >
        {(a) => (
          <input
            id={a.id}
            type="number"
            min={1}
            step={1}
            inputMode="numeric"
            aria-invalid={a.invalid}
            aria-describedby={a.describedBy}
            value={timeout ?? (typeof config.timeout === "string" ? config.timeout : "")}
            onChange={(e) =>
              onChange(
                e.target.value === ""
                  ? without(config, "timeout")
                  : { ...config, timeout: Number(e.target.value) },
                "timeout",
              )
            }
          />
        )}
      </Field>
      <MatchRows config={config} onChange={onChange} problems={problems} />
    </>
  );
}

let matchSeq = 0;
interface MatchRow {
  id: number;
  field: string;
  test: Config;
}

/**
 * A WAIT_FOR_EVENT's `match`: rows of a field of the awaited event and its test; values may use
 * `{{ trigger.<key> }}`. Rows with no field are left out of the config.
 */
function MatchRows({ config, onChange, problems }: Pick<FormProps, "config" | "onChange" | "problems">) {
  const [rows, setRows] = useState<MatchRow[]>(() =>
    Object.entries(
      config.match && typeof config.match === "object" ? (config.match as Record<string, Config>) : {},
    ).map(([field, t]) => {
      const [operator, value] = Object.entries(t ?? {})[0] ?? ["equals", ""];
      return { id: ++matchSeq, field, test: NO_VALUE.has(operator) ? { operator } : { operator, value } };
    }),
  );
  const update = (next: MatchRow[], tag?: string) => {
    setRows(next);
    const match: Record<string, Config> = {};
    for (const r of next) {
      if (r.field.trim() === "") continue;
      const op = str(r.test.operator) || "equals";
      match[r.field.trim()] = { [op]: NO_VALUE.has(op) ? true : (r.test.value ?? "") };
    }
    onChange(Object.keys(match).length ? { ...config, match } : without(config, "match"), tag);
  };
  const listErrors = (problems ?? [])
    .filter((p) => p.path.replace(/^config\./, "") === "match")
    .map((p) => p.message);
  return (
    <fieldset className="branch-list">
      <legend>Only events whose data match (optional)</legend>
      {listErrors.length > 0 && (
        <small className="field-error" role="alert">
          {listErrors.join("; ")}
        </small>
      )}
      <ol>
        {rows.map((r, i) => (
          <li key={r.id} className="branch-row">
            <Field
              label={`Match ${i + 1} field`}
              errors={fieldMessages(problems, `match.${r.field.trim()}`)}
              hint={
                i === 0 ? "event.<key> of the awaited event; a value may be {{ trigger.<key> }}" : undefined
              }
            >
              {(a) =>
                textInput(a, {
                  value: r.field,
                  onChange: (v) =>
                    update(
                      rows.map((x) => (x.id === r.id ? { ...x, field: v } : x)),
                      `match.${r.id}.field`,
                    ),
                  placeholder: "event.orderId",
                })
              }
            </Field>
            <TestFields
              test={r.test}
              onChange={(t, tag) =>
                update(
                  rows.map((x) => (x.id === r.id ? { ...x, test: t } : x)),
                  tag,
                )
              }
              problems={undefined}
              at={`match.${i}.`}
              label={`Match ${i + 1}`}
            />
            <button
              type="button"
              className="secondary outline"
              onClick={() => update(rows.filter((x) => x.id !== r.id))}
              aria-label={`Remove match ${i + 1}`}
            >
              Remove
            </button>
          </li>
        ))}
      </ol>
      <button
        type="button"
        className="secondary outline"
        onClick={() =>
          update([...rows, { id: ++matchSeq, field: "", test: { operator: "equals", value: "" } }])
        }
      >
        Add match
      </button>
    </fieldset>
  );
}

type ValueType = "string" | "number" | "boolean";
const NO_VALUE = new Set(["exists", "notExists"]);

/** A test's operator and value (the two-way CONDITION's, or one branch's of a multi-branch one). */
function TestFields(props: {
  test: Config;
  onChange: (test: Config, tag?: string) => void;
  problems: readonly StepProblem[] | undefined;
  /** Where the test sits in the config, for the server's messages: "" or `branches.<i>.`. */
  at: string;
  /** Labels' prefix for a branch ("Pro: operator"), so each control's label is its own. */
  label?: string;
}) {
  const { test, onChange, problems, at } = props;
  const op = str(test.operator) || "equals";
  const [valueType, setValueType] = useState<ValueType>(() =>
    typeof test.value === "number" ? "number" : typeof test.value === "boolean" ? "boolean" : "string",
  );
  const named = (l: string) => (props.label ? `${props.label}: ${l.toLowerCase()}` : l);
  const setType = (t: ValueType) => {
    setValueType(t);
    const v = test.value;
    const next =
      t === "number"
        ? Number.isFinite(Number(v)) && v !== ""
          ? Number(v)
          : 0
        : t === "boolean"
          ? v === true || v === "true"
          : v === undefined
            ? ""
            : String(v);
    onChange({ ...test, value: next });
  };
  return (
    <>
      <Field label={named("Operator")} errors={fieldMessages(problems, `${at}operator`)}>
        {(a) => (
          <select
            id={a.id}
            aria-invalid={a.invalid}
            aria-describedby={a.describedBy}
            value={op}
            onChange={(e) => {
              const next = e.target.value;
              if (NO_VALUE.has(next)) onChange({ ...without(test, "value"), operator: next });
              else onChange({ ...test, operator: next, value: test.value ?? "" });
            }}
          >
            {OPERATORS.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        )}
      </Field>
      {!NO_VALUE.has(op) && (
        <div className="grid">
          <Field label={named("Value type")}>
            {(a) => (
              <select id={a.id} value={valueType} onChange={(e) => setType(e.target.value as ValueType)}>
                <option value="string">text</option>
                <option value="number">number</option>
                <option value="boolean">true / false</option>
              </select>
            )}
          </Field>
          <Field label={named("Value")} errors={fieldMessages(problems, `${at}value`)}>
            {(a) =>
              valueType === "boolean" ? (
                <select
                  id={a.id}
                  aria-invalid={a.invalid}
                  aria-describedby={a.describedBy}
                  value={String(test.value === true)}
                  onChange={(e) => onChange({ ...test, value: e.target.value === "true" })}
                >
                  <option value="true">true</option>
                  <option value="false">false</option>
                </select>
              ) : valueType === "number" ? (
                <input
                  id={a.id}
                  type="number"
                  step="any"
                  aria-invalid={a.invalid}
                  aria-describedby={a.describedBy}
                  value={typeof test.value === "number" ? test.value : ""}
                  onChange={(e) =>
                    onChange(
                      e.target.value === ""
                        ? without(test, "value")
                        : { ...test, value: Number(e.target.value) },
                      `${at}value`,
                    )
                  }
                />
              ) : (
                <input
                  id={a.id}
                  aria-invalid={a.invalid}
                  aria-describedby={a.describedBy}
                  value={test.value === undefined ? "" : String(test.value)}
                  onChange={(e) => onChange({ ...test, value: e.target.value }, `${at}value`)}
                />
              )
            }
          </Field>
        </div>
      )}
    </>
  );
}

/** A branch id not used yet in `branches`: `branch_1`, `branch_2`, … */
function newBranchId(branches: readonly Config[]): string {
  const used = new Set(branches.map((b) => str(b.id)));
  let n = branches.length + 1;
  while (used.has(`branch_${n}`)) n++;
  return `branch_${n}`;
}

/** The branches of a multi-branch CONDITION, tested in order: the first that holds is taken. */
function BranchList({ config, onChange, problems }: FormProps) {
  const branches: Config[] = Array.isArray(config.branches)
    ? config.branches.map((b) => (b && typeof b === "object" ? (b as Config) : {}))
    : [];
  const set = (next: Config[], tag?: string) => onChange({ ...config, branches: next }, tag);
  const at = (i: number, b: Config, tag?: string) =>
    set(
      branches.map((x, j) => (j === i ? b : x)),
      tag,
    );
  const move = (i: number, by: number) => {
    const next = branches.slice();
    const [b] = next.splice(i, 1);
    next.splice(i + by, 0, b as Config);
    set(next);
  };
  // The list's own messages (its length), not its branches' (shown at their fields).
  const listErrors = (problems ?? [])
    .filter((p) => p.path.replace(/^config\./, "") === "branches")
    .map((p) => p.message);
  return (
    <fieldset className="branch-list">
      <legend>Branches, tested in order (the first that holds is taken; none: default)</legend>
      {listErrors.length > 0 && (
        <small className="field-error" role="alert">
          {listErrors.join("; ")}
        </small>
      )}
      <ol>
        {branches.map((b, i) => {
          const name = str(b.name) || `Branch ${i + 1}`;
          return (
            <li key={str(b.id) || i} className="branch-row" data-branch-id={str(b.id)}>
              <Field label={`Branch ${i + 1} name`} errors={fieldMessages(problems, `branches.${i}.name`)}>
                {(a) =>
                  textInput(a, {
                    value: str(b.name),
                    onChange: (v) => at(i, { ...b, name: v }, `branches.${i}.name`),
                  })
                }
              </Field>
              <TestFields
                test={b}
                onChange={(t, tag) => at(i, t, tag)}
                problems={problems}
                at={`branches.${i}.`}
                label={name}
              />
              {fieldMessages(problems, `branches.${i}.id`).map((m) => (
                <small key={m} className="field-error" role="alert">
                  {m}
                </small>
              ))}
              <div className="branch-actions">
                <button
                  type="button"
                  className="secondary outline"
                  disabled={i === 0}
                  onClick={() => move(i, -1)}
                  aria-label={`Move ${name} up`}
                >
                  ↑
                </button>
                <button
                  type="button"
                  className="secondary outline"
                  disabled={i === branches.length - 1}
                  onClick={() => move(i, 1)}
                  aria-label={`Move ${name} down`}
                >
                  ↓
                </button>
                <button
                  type="button"
                  className="secondary outline"
                  disabled={branches.length <= 1}
                  onClick={() => set(branches.filter((_, j) => j !== i))}
                  aria-label={`Remove ${name}`}
                >
                  Remove
                </button>
              </div>
            </li>
          );
        })}
      </ol>
      <button
        type="button"
        className="secondary outline"
        disabled={branches.length >= MAX_CONDITION_BRANCHES}
        onClick={() =>
          set([
            ...branches,
            {
              id: newBranchId(branches),
              name: `Branch ${branches.length + 1}`,
              operator: "equals",
              value: "",
            },
          ])
        }
      >
        Add branch
      </button>
    </fieldset>
  );
}

function ConditionForm(props: FormProps) {
  const { config, onChange, problems, suggestions } = props;
  const multi = config.mode === "multi";
  const listId = "condition-field-suggestions";
  // Switching forms keeps the field and the first test; the server refuses the switch while a
  // transition follows a branch the other form lacks.
  const toMulti = () => {
    const { field, ...test } = config;
    onChange({
      mode: "multi",
      field: field ?? "",
      branches: [{ id: "branch_1", name: "Branch 1", operator: "equals", value: "", ...test }],
    });
  };
  const toTwoWay = () => {
    const first = Array.isArray(config.branches) ? (config.branches[0] as Config | undefined) : undefined;
    const { id: _id, name: _name, ...test } = first ?? { operator: "equals", value: "" };
    onChange({ field: config.field ?? "", ...test });
  };
  return (
    <>
      <Field label="Form" hint={multi ? "One way out per branch, and default" : "Ways out: yes and no"}>
        {(a) => (
          <select
            id={a.id}
            aria-describedby={a.describedBy}
            value={multi ? "multi" : "two-way"}
            onChange={(e) => (e.target.value === "multi" ? toMulti() : toTwoWay())}
          >
            <option value="two-way">yes / no</option>
            <option value="multi">several branches</option>
          </select>
        )}
      </Field>
      <Field
        label="Field"
        errors={fieldMessages(problems, "field")}
        hint="contact.email, contact.subscribed, contact.data.<key> or event.<key>"
      >
        {(a) =>
          textInput(a, {
            value: str(config.field),
            onChange: (v) => onChange({ ...config, field: v }, "field"),
            placeholder: "contact.data.plan",
            list: listId,
          })
        }
      </Field>
      <datalist id={listId}>
        {suggestions.map((s) => (
          <option key={s} value={s} />
        ))}
      </datalist>
      {multi ? (
        <BranchList {...props} />
      ) : (
        <TestFields test={config} onChange={onChange} problems={problems} at="" />
      )}
    </>
  );
}

function JsonTextarea(props: {
  label: string;
  value: unknown;
  errors: readonly string[];
  onValue: (v: unknown | undefined) => void;
  onJsonError: (m: string | null) => void;
  hint?: ReactNode;
}) {
  const [text, setText] = useState(() =>
    props.value === undefined ? "" : JSON.stringify(props.value, null, 2),
  );
  const [syntax, setSyntax] = useState<string | null>(null);
  return (
    <Field label={props.label} errors={syntax ? [syntax, ...props.errors] : props.errors} hint={props.hint}>
      {(a) => (
        <textarea
          id={a.id}
          className="mono"
          rows={5}
          spellCheck={false}
          aria-invalid={a.invalid}
          aria-describedby={a.describedBy}
          value={text}
          onChange={(e) => {
            const t = e.target.value;
            setText(t);
            if (t.trim() === "") {
              setSyntax(null);
              props.onJsonError(null);
              props.onValue(undefined);
              return;
            }
            try {
              const v = JSON.parse(t);
              setSyntax(null);
              props.onJsonError(null);
              props.onValue(v);
            } catch (err) {
              const m = `Not valid JSON: ${(err as Error).message}`;
              setSyntax(m);
              props.onJsonError(m);
            }
          }}
        />
      )}
    </Field>
  );
}

function WebhookForm({ config, onChange, problems, onJsonError }: FormProps) {
  const headers =
    config.headers && typeof config.headers === "object" ? (config.headers as Record<string, unknown>) : {};
  return (
    <>
      <Field label="URL" errors={fieldMessages(problems, "url")}>
        {(a) => (
          <input
            id={a.id}
            type="url"
            aria-invalid={a.invalid}
            aria-describedby={a.describedBy}
            placeholder="https://example.com/hooks/plunk"
            value={str(config.url)}
            onChange={(e) => onChange({ ...config, url: e.target.value }, "url")}
          />
        )}
      </Field>
      <Field label="Method" errors={fieldMessages(problems, "method")}>
        {(a) => (
          <select
            id={a.id}
            aria-invalid={a.invalid}
            aria-describedby={a.describedBy}
            value={str(config.method) || "POST"}
            onChange={(e) => onChange({ ...config, method: e.target.value })}
          >
            {HTTP_METHODS.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        )}
      </Field>
      <KeyValueRows
        legend="Headers"
        keyLabel="Header"
        valueLabel="Value"
        initial={Object.entries(headers).map(([k, v]) => [k, String(v)])}
        errors={fieldMessages(problems, "headers")}
        onChange={(rows) =>
          onChange(
            rows.length === 0 ? without(config, "headers") : { ...config, headers: Object.fromEntries(rows) },
            "headers",
          )
        }
      />
      <JsonTextarea
        label="Body (JSON, optional)"
        value={config.body}
        errors={fieldMessages(problems, "body")}
        hint="Empty: the default body with the contact, the event and the execution."
        onJsonError={onJsonError}
        onValue={(v) => onChange(v === undefined ? without(config, "body") : { ...config, body: v }, "body")}
      />
    </>
  );
}

function UpdateContactForm({ config, onChange, problems }: FormProps) {
  const data = config.data && typeof config.data === "object" ? (config.data as Record<string, unknown>) : {};
  const subscribed = typeof config.subscribed === "boolean" ? String(config.subscribed) : "";
  return (
    <>
      <KeyValueRows
        legend="Contact data to set"
        keyLabel="Key"
        valueLabel="Value (JSON or text)"
        initial={Object.entries(data).map(([k, v]) => [k, showLoose(v)])}
        errors={fieldMessages(problems, "data")}
        onChange={(rows) =>
          onChange({ ...config, data: Object.fromEntries(rows.map(([k, v]) => [k, parseLoose(v)])) }, "data")
        }
      />
      <Field label="Subscribed" errors={fieldMessages(problems, "subscribed")}>
        {(a) => (
          <select
            id={a.id}
            aria-invalid={a.invalid}
            aria-describedby={a.describedBy}
            value={subscribed}
            onChange={(e) =>
              onChange(
                e.target.value === ""
                  ? without(config, "subscribed")
                  : { ...config, subscribed: e.target.value === "true" },
              )
            }
          >
            <option value="">Unchanged</option>
            <option value="true">Subscribe (true)</option>
            <option value="false">Unsubscribe (false)</option>
          </select>
        )}
      </Field>
    </>
  );
}

function ExitForm({ config, onChange, problems }: FormProps) {
  return (
    <Field label="Reason (optional)" errors={fieldMessages(problems, "reason")}>
      {(a) =>
        textInput(a, {
          value: str(config.reason),
          onChange: (v) =>
            onChange(v === "" ? without(config, "reason") : { ...config, reason: v }, "reason"),
          placeholder: "already converted",
        })
      }
    </Field>
  );
}

/**
 * An event trigger is permanent: its event, said. A schedule trigger's cron and segment are edited here
 * and saved with the workflow; its next runs are previewed in the project's time zone.
 */
function TriggerForm({ config, onChange, problems }: FormProps) {
  const schedule = scheduleOfConfig(config);
  if (!schedule) {
    return (
      <p>
        Starts when <code>{str(config.eventName)}</code> is tracked for a contact. The trigger event is
        permanent.
      </p>
    );
  }
  return (
    <>
      <p>
        Starts on a schedule: change it here, then <strong>Save</strong>.
      </p>
      <ScheduleFields
        value={schedule}
        onCron={(cron) => onChange({ ...config, schedule: { ...schedule, cron } }, "schedule.cron")}
        onSegment={(segmentId) => onChange({ ...config, schedule: { ...schedule, segmentId } })}
        cronErrors={fieldMessages(problems, "schedule.cron")}
        segmentErrors={fieldMessages(problems, "schedule.segmentId")}
      />
    </>
  );
}

export const FORMS: Record<StepType, (p: FormProps) => ReactNode> = {
  TRIGGER: TriggerForm,
  SEND_EMAIL: SendEmailForm,
  DELAY: DelayForm,
  WAIT_FOR_EVENT: WaitForEventForm,
  CONDITION: ConditionForm,
  WEBHOOK: WebhookForm,
  UPDATE_CONTACT: UpdateContactForm,
  EXIT: ExitForm,
};
