/**
 * The segment builder: a new segment (/segments/new) or an existing one (/segments/:id/edit). Its name,
 * description and type; for a dynamic segment the condition's groups of filters with a live count of the
 * contacts it matches. Save is POST /segments or PATCH /segments/:id; the API's field errors are shown
 * at the filter and the input they name.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useEffect, useMemo, useRef, useState } from "react";
import { Link, useLocation, useParams } from "wouter";
import { ApiError, patch, post } from "../api/client";
import { keys, segmentQuery } from "../api/queries";
import type { SegmentBody, SegmentDetail } from "../api/types";
import { ErrorBox } from "../components/ErrorBox";
import { FieldError, fieldMessage, invalidProps } from "../components/FieldError";
import { RadioOptions } from "../components/RadioOptions";
import { ConditionBuilder } from "../segments/ConditionBuilder";
import { LiveCount } from "../segments/LiveCount";
import {
  apiProblems,
  type DraftCondition,
  fromCondition,
  localProblems,
  newCondition,
  type Problems,
  signatures,
  toCondition,
} from "../segments/model";

export function SegmentNewPage() {
  return <SegmentForm segment={null} />;
}

export function SegmentEditPage() {
  const { id } = useParams<{ id: string }>();
  const segment = useQuery(segmentQuery(id));
  if (segment.isPending) return <p aria-busy="true">Loading the segment…</p>;
  if (segment.isError) return <ErrorBox error={segment.error} title="Could not load the segment" />;
  // Opened once: the segment's later polls (its fill) do not reset what is being edited.
  return <SegmentForm key={segment.data.id} segment={segment.data} />;
}

interface Sent {
  body: SegmentBody;
  draft: DraftCondition | null;
}

function SegmentForm({ segment }: { segment: SegmentDetail | null }) {
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const [name, setName] = useState(segment?.name ?? "");
  const [description, setDescription] = useState(segment?.description ?? "");
  const [type, setType] = useState<"DYNAMIC" | "STATIC">(segment?.type ?? "DYNAMIC");
  const [draft, setDraft] = useState<DraftCondition>(() =>
    segment?.condition ? fromCondition(segment.condition) : newCondition(),
  );
  // What the condition was when opened (as the builder writes it): PATCH sends it only when changed.
  const [opened] = useState(() => JSON.stringify(toCondition(draft)));
  const flatForm =
    segment?.condition !== null && segment?.condition !== undefined && "match" in segment.condition;
  const nameRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (!segment) nameRef.current?.focus();
  }, [segment]);

  const save = useMutation({
    mutationFn: ({ body }: Sent) =>
      segment
        ? patch<SegmentDetail, SegmentBody>(`/segments/${segment.id}`, body)
        : post<SegmentDetail, SegmentBody>("/segments", body),
    onSuccess: (saved) => {
      queryClient.setQueryData(keys.segment(saved.id), saved);
      queryClient.invalidateQueries({ queryKey: keys.segments });
      navigate(`/segments/${saved.id}`);
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const condition = type === "DYNAMIC" ? toCondition(draft) : undefined;
    const body: SegmentBody = segment
      ? {
          name: name.trim(),
          description: description.trim() || null,
          ...(condition && JSON.stringify(condition) !== opened ? { condition } : {}),
        }
      : {
          name: name.trim(),
          ...(description.trim() ? { description: description.trim() } : {}),
          type,
          ...(condition ? { condition } : {}),
        };
    save.mutate({ body, draft: type === "DYNAMIC" ? structuredClone(draft) : null });
  };

  // The API's problems with the condition, at the parts they name while those are still as sent.
  const { problems, rest } = useMemo(() => {
    const sent = save.variables?.draft;
    const error = save.error;
    const none = { problems: new Map() as Problems, rest: [] as string[] };
    if (!sent || !(error instanceof ApiError) || error.status !== 422) return none;
    const found = apiProblems(sent, error.fields);
    const now = signatures(draft);
    const then = signatures(sent);
    const problems: Problems = new Map(
      [...found.at].filter(([key]) => now.has(key) && now.get(key) === then.get(key)),
    );
    // Errors of the condition as a whole: where the filters have problems of their own, those are shown
    // at them (the worker's schema, run here), which say more than a form the API compared it with.
    if (found.rest.length > 0) for (const [k, v] of localProblems(draft)) problems.set(k, v);
    return { problems, rest: found.rest.map((f) => f.message) };
  }, [save.variables, save.error, draft]);

  const conflict =
    save.error instanceof ApiError && save.error.status === 409 ? save.error.message : undefined;
  const err = {
    name: fieldMessage(save.error, "name") ?? conflict,
    description: fieldMessage(save.error, "description"),
    type: fieldMessage(save.error, "type"),
  };
  const title = segment ? `Edit ${segment.name}` : "New segment";

  return (
    <>
      <p className="breadcrumb">
        <Link href="/segments">Segments</Link>
        {segment && (
          <>
            {" / "}
            <Link href={`/segments/${segment.id}`}>{segment.name}</Link>
          </>
        )}
      </p>
      <h1 className="segment-form-title">{title}</h1>
      <form
        className="segment-form"
        onSubmit={submit}
        aria-label={title}
        // Enter in a filter's input does not send the form (Save does): the builder's inputs are many.
        onKeyDown={(e) => {
          const t = e.target as HTMLElement;
          if (e.key === "Enter" && t.tagName === "INPUT" && t.closest(".seg-builder")) e.preventDefault();
        }}
      >
        <div className="segment-form-fields">
          <label>
            Name
            <input
              ref={nameRef}
              name="name"
              required
              maxLength={100}
              value={name}
              onChange={(e) => setName(e.target.value)}
              placeholder="VIP customers"
              autoComplete="off"
              {...invalidProps("seg-name-error", err.name)}
            />
            <FieldError id="seg-name-error" message={err.name} />
          </label>
          <label>
            Description <span className="muted">(optional)</span>
            <input
              name="description"
              maxLength={1000}
              value={description}
              onChange={(e) => setDescription(e.target.value)}
              {...invalidProps("seg-description-error", err.description)}
            />
            <FieldError id="seg-description-error" message={err.description} />
          </label>
        </div>
        {segment ? (
          <p>
            Type: <strong>{segment.type}</strong> <small className="muted">(a segment keeps its type)</small>
          </p>
        ) : (
          <fieldset className="starts-on">
            <legend>Type</legend>
            <RadioOptions
              name="type"
              value={type}
              onChange={setType}
              options={[
                ["DYNAMIC", "Dynamic"],
                ["STATIC", "Static"],
              ]}
            />
            <small className="muted">
              {type === "DYNAMIC"
                ? "Its members are the contacts its condition holds for, kept current as they change."
                : "Its members are the contacts you add by email on its page once it is made."}
            </small>
            <FieldError id="seg-type-error" message={err.type} />
          </fieldset>
        )}
        {type === "DYNAMIC" && (
          <section className="segment-condition" aria-labelledby="seg-condition-title">
            <h2 id="seg-condition-title">Condition</h2>
            {flatForm && (
              <p className="muted">
                This condition was written in the first form (<code>match</code> and <code>filters</code>); it
                is shown as groups, and saved as groups if you change it.
              </p>
            )}
            {segment && (
              <p className="muted">
                <small>
                  A changed condition recomputes the members in the background, without entry or exit events.
                </small>
              </p>
            )}
            <LiveCount condition={draft} />
            {rest.length > 0 && (
              <small className="field-error" role="alert">
                {rest.join("; ")}
              </small>
            )}
            <ConditionBuilder
              value={draft}
              onChange={setDraft}
              problems={problems}
              selfId={segment?.id ?? null}
            />
          </section>
        )}
        {save.isError && (
          <ErrorBox
            error={save.error}
            title={segment ? "The segment was not saved" : "The segment was not created"}
          />
        )}
        <div className="form-actions">
          <Link href={segment ? `/segments/${segment.id}` : "/segments"} className="button-link secondary">
            Cancel
          </Link>
          <button type="submit" aria-busy={save.isPending} disabled={save.isPending}>
            {segment ? "Save segment" : "Create segment"}
          </button>
        </div>
      </form>
    </>
  );
}
