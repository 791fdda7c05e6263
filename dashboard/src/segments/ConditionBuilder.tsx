/**
 * The filter builder of a dynamic segment: groups of filters joined by AND or OR, each group holding
 * when all its filters (and its nested groups) hold, nested up to the API's four levels. Every control is
 * labelled; the problems of a filter (the API's, after Save) are shown at its inputs.
 */
import { useQuery } from "@tanstack/react-query";
import { Fragment, type ReactNode } from "react";
import { get } from "../api/client";
import { fieldsQuery, segmentsQuery } from "../api/queries";
import { Field } from "../editor/forms/common";
import {
  ACTIVITIES,
  ACTIVITY_LABELS,
  ACTIVITY_OPERATORS,
  type Activity,
  AGE_OPERATORS,
  type DraftCondition,
  type DraftFilter,
  type DraftGroup,
  FIELD_OPERATORS,
  type FilterKind,
  isWindowed,
  KIND_LABELS,
  type Logic,
  MAX_DEPTH,
  MAX_GROUPS,
  needsValue,
  newCondition,
  newFilter,
  newGroup,
  OPERATORS,
  type Problems,
  SEGMENT_OPERATORS,
  UNITS,
  type Unit,
  withKind,
} from "./model";

const EVENT_LIST = "segment-event-names";
const DATA_LIST = "segment-data-keys";

interface Ctx {
  problems: Problems;
  /** The project's other segments (a segment's condition cannot read itself). */
  segments: { id: string; name: string }[] | undefined;
  segmentsLoading: boolean;
}

export function ConditionBuilder(props: {
  value: DraftCondition;
  onChange: (c: DraftCondition) => void;
  problems: Problems;
  /** The segment edited (left out of "member of"), or null for a new one. */
  selfId: string | null;
}) {
  const segments = useQuery(segmentsQuery);
  const names = useQuery({
    queryKey: ["events", "names"],
    queryFn: () => get<{ data: { name: string }[] }>("/events/names", { limit: 200 }),
    staleTime: 60_000,
  });
  const fields = useQuery(fieldsQuery([]));
  const dataKeys = (fields.data?.contact ?? [])
    .map((f) => f.field)
    .filter((f) => f.startsWith("contact.data."))
    .map((f) => f.slice("contact.data.".length));
  const ctx: Ctx = {
    problems: props.problems,
    segments: segments.data?.data.filter((s) => s.id !== props.selfId),
    segmentsLoading: segments.isPending,
  };
  return (
    <div className="seg-builder">
      <ConditionEditor
        value={props.value}
        onChange={(c) => c && props.onChange(c)}
        depth={1}
        path=""
        ctx={ctx}
      />
      <datalist id={EVENT_LIST}>
        {names.data?.data
          .filter((n) => !n.name.startsWith("email.") && !n.name.startsWith("segment."))
          .map((n) => (
            <option key={n.name} value={n.name} />
          ))}
      </datalist>
      <datalist id={DATA_LIST}>
        {dataKeys.map((k) => (
          <option key={k} value={k} />
        ))}
      </datalist>
    </div>
  );
}

const messages = (ctx: Ctx, key: string, sub: string) => ctx.problems.get(key)?.get(sub);

/** The groups of one level; `path` names the group they are nested in ("" at the top, "1", "1.2", …). */
function ConditionEditor(props: {
  value: DraftCondition;
  onChange: (c: DraftCondition | null) => void;
  depth: number;
  path: string;
  ctx: Ctx;
}) {
  const { value: c, onChange, depth, path, ctx } = props;
  const setGroup = (i: number, g: DraftGroup | null) => {
    const groups = g ? c.groups.map((x, j) => (j === i ? g : x)) : c.groups.filter((_, j) => j !== i);
    // A nested level with no group left is removed; the top level keeps one.
    if (groups.length === 0) onChange(depth > 1 ? null : { ...c, groups: [newGroup()] });
    else onChange({ ...c, groups });
  };
  const where = path ? `nested in group ${path}` : "top level";
  const logicErrors = messages(ctx, c.key, "logic") ?? [];
  const groupErrors = messages(ctx, c.key, "groups") ?? [];
  return (
    <div className="seg-condition">
      {c.groups.length > 1 && (
        <Field
          label={path ? `Nested groups of group ${path} match` : "Contacts match"}
          errors={[...logicErrors, ...groupErrors]}
        >
          {(a) => (
            <select
              id={a.id}
              className="seg-logic"
              aria-invalid={a.invalid}
              aria-describedby={a.describedBy}
              value={c.logic}
              onChange={(e) => onChange({ ...c, logic: e.target.value as Logic })}
            >
              <option value="AND">every group (AND)</option>
              <option value="OR">any group (OR)</option>
            </select>
          )}
        </Field>
      )}
      {c.groups.length <= 1 && groupErrors.length > 0 && (
        <small className="field-error" role="alert">
          {groupErrors.join("; ")}
        </small>
      )}
      {c.groups.map((g, i) => (
        <Fragment key={g.key}>
          {i > 0 && (
            <p className="seg-join" aria-hidden="true">
              {c.logic}
            </p>
          )}
          <GroupEditor
            value={g}
            onChange={(next) => setGroup(i, next)}
            canRemove={depth > 1 || c.groups.length > 1}
            depth={depth}
            path={path ? `${path}.${i + 1}` : String(i + 1)}
            ctx={ctx}
          />
        </Fragment>
      ))}
      {c.groups.length < MAX_GROUPS && (
        <div className="seg-actions">
          <button
            type="button"
            className="secondary outline"
            aria-label={`Add group (${where})`}
            onClick={() => onChange({ ...c, groups: [...c.groups, newGroup()] })}
          >
            + Add group
          </button>
        </div>
      )}
    </div>
  );
}

function GroupEditor(props: {
  value: DraftGroup;
  onChange: (g: DraftGroup | null) => void;
  canRemove: boolean;
  depth: number;
  path: string;
  ctx: Ctx;
}) {
  const { value: g, onChange, depth, path, ctx } = props;
  const setFilter = (i: number, f: DraftFilter | null) =>
    onChange({
      ...g,
      filters: f ? g.filters.map((x, j) => (j === i ? f : x)) : g.filters.filter((_, j) => j !== i),
    });
  const errors = messages(ctx, g.key, "filters");
  return (
    <fieldset className="seg-group" data-depth={depth}>
      <legend>Group {path}</legend>
      <p className="muted seg-help">
        {g.filters.length + (g.conditions ? 1 : 0) > 1
          ? "A contact is in this group when all of these hold."
          : "A contact is in this group when this holds."}
      </p>
      {g.filters.map((f, i) => (
        <Fragment key={f.key}>
          {i > 0 && (
            <p className="seg-join seg-join-and" aria-hidden="true">
              and
            </p>
          )}
          <FilterEditor
            value={f}
            label={`Filter ${i + 1} of group ${path}`}
            onChange={(next) => setFilter(i, next)}
            ctx={ctx}
          />
        </Fragment>
      ))}
      {errors && (
        <small className="field-error" role="alert">
          {errors.join("; ")}
        </small>
      )}
      {g.conditions && (
        <div className="seg-nested">
          {g.filters.length > 0 && (
            <p className="seg-join seg-join-and" aria-hidden="true">
              and
            </p>
          )}
          <ConditionEditor
            value={g.conditions}
            onChange={(conditions) => onChange({ ...g, conditions })}
            depth={depth + 1}
            path={path}
            ctx={ctx}
          />
        </div>
      )}
      <div className="seg-actions">
        <button
          type="button"
          className="secondary outline"
          aria-label={`Add filter to group ${path}`}
          onClick={() => onChange({ ...g, filters: [...g.filters, newFilter()] })}
        >
          + Add filter
        </button>
        {!g.conditions && depth < MAX_DEPTH && (
          <button
            type="button"
            className="secondary outline"
            aria-label={`Add nested groups to group ${path}`}
            onClick={() => onChange({ ...g, conditions: newCondition("OR") })}
          >
            + Nested groups
          </button>
        )}
        {g.conditions && (
          <button
            type="button"
            className="secondary outline"
            aria-label={`Remove the nested groups of group ${path}`}
            onClick={() => onChange({ ...g, conditions: null })}
          >
            Remove nested groups
          </button>
        )}
        {props.canRemove && (
          <button
            type="button"
            className="secondary outline"
            aria-label={`Remove group ${path}`}
            onClick={() => onChange(null)}
          >
            Remove group
          </button>
        )}
      </div>
    </fieldset>
  );
}

function FilterEditor(props: {
  value: DraftFilter;
  label: string;
  onChange: (f: DraftFilter | null) => void;
  ctx: Ctx;
}) {
  const { value: f, ctx } = props;
  const set = (patch: Partial<DraftFilter>) => props.onChange({ ...f, ...patch });
  const err = (sub: string) => messages(ctx, f.key, sub);
  const body = err("body");
  return (
    <fieldset className="seg-filter" aria-label={props.label} data-kind={f.kind}>
      <div className="seg-filter-fields">
        <Cell wide>
          <Field label="Filter on" errors={undefined}>
            {(a) => (
              <select
                id={a.id}
                value={f.kind}
                onChange={(e) => props.onChange(withKind(f, e.target.value as FilterKind))}
              >
                {(Object.keys(KIND_LABELS) as FilterKind[]).map((k) => (
                  <option key={k} value={k}>
                    {KIND_LABELS[k]}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </Cell>
        {f.kind === "field" && <ContactFieldInputs f={f} set={set} err={err} />}
        {f.kind === "age" && <AgeInputs f={f} set={set} err={err} />}
        {(f.kind === "event" || f.kind === "email") && <ActivityInputs f={f} set={set} err={err} />}
        {f.kind === "segment" && <SegmentInputs f={f} set={set} err={err} ctx={ctx} />}
      </div>
      {body && (
        <small className="field-error" role="alert">
          {body.join("; ")}
        </small>
      )}
      <button
        type="button"
        className="secondary outline seg-remove"
        aria-label={`Remove ${props.label.toLowerCase()}`}
        title={`Remove ${props.label.toLowerCase()}`}
        onClick={() => props.onChange(null)}
      >
        Remove
      </button>
    </fieldset>
  );
}

interface InputsProps {
  f: DraftFilter;
  set: (patch: Partial<DraftFilter>) => void;
  err: (sub: string) => string[] | undefined;
}

function Select<T extends string>(props: {
  label: string;
  value: string;
  options: Record<T, string> | readonly T[];
  onChange: (v: T) => void;
  errors?: string[];
  placeholder?: string;
  /** A whole row on a narrow screen (long options, long values). */
  wide?: boolean;
}) {
  const entries: [string, string][] = Array.isArray(props.options)
    ? props.options.map((o) => [o, o])
    : Object.entries(props.options);
  const known = entries.some(([v]) => v === props.value);
  return (
    <Cell wide={props.wide}>
      <Field label={props.label} errors={props.errors}>
        {(a) => (
          <select
            id={a.id}
            aria-invalid={a.invalid}
            aria-describedby={a.describedBy}
            value={props.value}
            onChange={(e) => props.onChange(e.target.value as T)}
          >
            {props.placeholder !== undefined && (
              <option value="" disabled>
                {props.placeholder}
              </option>
            )}
            {!known && props.value !== "" && <option value={props.value}>{props.value}</option>}
            {entries.map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        )}
      </Field>
    </Cell>
  );
}

/** A cell of a filter's grid: `wide` takes a whole row on a narrow screen. */
function Cell({ wide, children }: { wide?: boolean; children: ReactNode }) {
  return <div className={wide ? "seg-cell seg-wide" : "seg-cell"}>{children}</div>;
}

function TextInput(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  errors?: string[];
  placeholder?: string;
  list?: string;
  type?: "text" | "number";
  mono?: boolean;
  wide?: boolean;
}) {
  const numeric = props.type === "number";
  return (
    <Cell wide={props.wide}>
      <Field label={props.label} errors={props.errors}>
        {(a) => (
          <input
            id={a.id}
            type={props.type ?? "text"}
            className={props.mono ? "mono" : undefined}
            min={numeric ? 1 : undefined}
            step={numeric ? 1 : undefined}
            inputMode={numeric ? "numeric" : undefined}
            list={props.list}
            autoComplete="off"
            spellCheck={false}
            aria-invalid={a.invalid}
            aria-describedby={a.describedBy}
            placeholder={props.placeholder}
            value={props.value}
            onChange={(e) => props.onChange(e.target.value)}
          />
        )}
      </Field>
    </Cell>
  );
}

const CONTACT_FIELDS = {
  "contact.email": "Email",
  "contact.subscribed": "Subscribed",
  "contact.data": "Data field…",
} as const;

function ContactFieldInputs({ f, set, err }: InputsProps) {
  const fieldErrors = err("field");
  return (
    <>
      <Select
        label="Field"
        value={f.field}
        options={CONTACT_FIELDS}
        wide={f.field !== "contact.data"}
        errors={f.field === "contact.data" ? undefined : fieldErrors}
        onChange={(field) =>
          set({
            field,
            value: field === "contact.subscribed" ? "true" : f.field === "contact.subscribed" ? "" : f.value,
          })
        }
      />
      {f.field === "contact.data" && (
        <TextInput
          label="Data key"
          value={f.dataKey}
          mono
          list={DATA_LIST}
          placeholder="plan"
          errors={fieldErrors}
          onChange={(dataKey) => set({ dataKey })}
        />
      )}
      <Select
        label="Operator"
        value={f.operator}
        options={OPERATORS.reduce(
          (o, k) => Object.assign(o, { [k]: FIELD_OPERATORS[k] }),
          {} as Record<string, string>,
        )}
        wide
        errors={err("operator")}
        onChange={(operator) => set({ operator })}
      />
      {needsValue(f.operator) &&
        (f.field === "contact.subscribed" ? (
          <Select
            label="Value"
            value={f.value}
            options={{ true: "yes", false: "no" }}
            wide
            errors={err("value")}
            onChange={(value) => set({ value })}
          />
        ) : (
          <TextInput
            label="Value"
            value={f.value}
            placeholder={f.field === "contact.email" ? "@example.com" : "vip"}
            wide
            errors={err("value")}
            onChange={(value) => set({ value })}
          />
        ))}
    </>
  );
}

function AgeInputs({ f, set, err }: InputsProps) {
  return (
    <>
      <Select
        label="Field"
        value={f.field}
        options={{ "contact.createdAt": "Created", "contact.updatedAt": "Last updated" }}
        errors={err("field")}
        onChange={(field) => set({ field })}
      />
      <Select
        label="Operator"
        value={f.operator}
        options={AGE_OPERATORS}
        errors={err("operator")}
        onChange={(operator) => set({ operator })}
      />
      <AmountInputs f={f} set={set} err={err} />
    </>
  );
}

function AmountInputs({ f, set, err }: InputsProps) {
  return (
    <>
      <TextInput
        label="Amount"
        type="number"
        value={f.amount}
        placeholder="30"
        errors={err("amount")}
        onChange={(amount) => set({ amount })}
      />
      <Select
        label="Unit"
        value={f.unit}
        options={UNITS}
        errors={err("unit")}
        onChange={(unit: Unit) => set({ unit })}
      />
    </>
  );
}

function ActivityInputs({ f, set, err }: InputsProps) {
  return (
    <>
      {f.kind === "event" ? (
        <TextInput
          label="Event name"
          value={f.event}
          mono
          list={EVENT_LIST}
          placeholder="purchase"
          wide
          errors={err("event")}
          onChange={(event) => set({ event })}
        />
      ) : (
        <Select
          label="Email activity"
          value={f.activity}
          options={ACTIVITIES.reduce(
            (o, k) => Object.assign(o, { [k]: ACTIVITY_LABELS[k] }),
            {} as Record<Activity, string>,
          )}
          wide
          errors={err("activity")}
          onChange={(activity: Activity) => set({ activity })}
        />
      )}
      <Select
        label="Operator"
        value={f.operator}
        options={ACTIVITY_OPERATORS}
        wide
        errors={err("operator")}
        onChange={(operator) => set({ operator })}
      />
      {isWindowed(f.operator) && <AmountInputs f={f} set={set} err={err} />}
      <TextInput
        label="At least (times)"
        type="number"
        value={f.count}
        placeholder="1"
        errors={err("count")}
        onChange={(count) => set({ count })}
      />
    </>
  );
}

function SegmentInputs({ f, set, err, ctx }: InputsProps & { ctx: Ctx }) {
  const options = Object.fromEntries((ctx.segments ?? []).map((s) => [s.id, s.name]));
  return (
    <>
      <Select
        label="Operator"
        value={f.operator}
        options={SEGMENT_OPERATORS}
        wide
        errors={err("operator")}
        onChange={(operator) => set({ operator })}
      />
      <Select
        label="Segment"
        value={f.segment}
        options={options}
        wide
        placeholder={
          ctx.segmentsLoading
            ? "Loading…"
            : (ctx.segments ?? []).length === 0
              ? "No other segment"
              : "Choose a segment"
        }
        errors={err("segment")}
        onChange={(segment) => set({ segment })}
      />
    </>
  );
}
