/**
 * One segment: its details and condition, its members (paged, polled while they fill), for a static
 * segment the form that adds or removes members by email, and Delete (refused with 409 while a schedule
 * or another segment uses it: the API's message is shown).
 */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link, useLocation, useParams } from "wouter";
import { ApiError, del, post } from "../api/client";
import { keys, segmentMembersQuery, segmentQuery } from "../api/queries";
import type { MembersAnswer, SegmentDetail } from "../api/types";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { FieldError, invalidProps } from "../components/FieldError";
import { Pager, useCursorPages } from "../components/Pager";
import { Table } from "../components/Table";
import { Time } from "../components/Time";
import { FillBadge, TypeBadge } from "../segments/badges";
import { ConditionSummary } from "../segments/ConditionSummary";

export function SegmentPage() {
  const { id } = useParams<{ id: string }>();
  const segment = useQuery(segmentQuery(id));
  const [deleting, setDeleting] = useState(false);
  if (segment.isPending) return <p aria-busy="true">Loading the segment…</p>;
  if (segment.isError)
    return (
      <>
        <p className="breadcrumb">
          <Link href="/segments">Segments</Link>
        </p>
        <ErrorBox error={segment.error} title="Could not load the segment" />
      </>
    );
  const s = segment.data;
  return (
    <div className="segment-page">
      <p className="breadcrumb">
        <Link href="/segments">Segments</Link>
      </p>
      <div className="page-head">
        <h1>{s.name}</h1>
        <div className="toolbar-actions">
          <Link href={`/segments/${s.id}/edit`} className="button-link outline">
            Edit
          </Link>
          <button type="button" className="secondary outline" onClick={() => setDeleting(true)}>
            Delete
          </button>
        </div>
      </div>
      <dl className="fields">
        <dt>Type</dt>
        <dd>
          <TypeBadge type={s.type} />
        </dd>
        <dt>Members</dt>
        <dd>
          <span className="segment-count">{s.memberCount.toLocaleString()}</span>
          {/* A static segment has nothing to fill: always READY. */}
          {s.type === "DYNAMIC" && (
            <>
              {" "}
              <FillBadge backfill={s.backfill} />
            </>
          )}
        </dd>
        {s.description && (
          <>
            <dt>Description</dt>
            <dd>{s.description}</dd>
          </>
        )}
        <dt>Slug</dt>
        <dd>
          <code>{s.slug}</code>{" "}
          <small className="muted">
            entering and leaving emit <code>segment.{s.slug}.entry</code> and{" "}
            <code>segment.{s.slug}.exit</code>, which can start workflows
          </small>
        </dd>
        <dt>Id</dt>
        <dd>
          <code>{s.id}</code>
        </dd>
        <dt>Created</dt>
        <dd>
          <Time iso={s.createdAt} />
        </dd>
        <dt>Last change</dt>
        <dd>
          <Time iso={s.updatedAt} />
        </dd>
      </dl>
      {s.type === "DYNAMIC" && s.condition && (
        <section aria-labelledby="seg-condition-h">
          <h2 id="seg-condition-h">Condition</h2>
          <ConditionSummary condition={s.condition} />
        </section>
      )}
      {s.type === "STATIC" && <MembersForm segment={s} />}
      <Members segment={s} />
      <DeleteSegmentDialog segment={deleting ? s : null} onClose={() => setDeleting(false)} />
    </div>
  );
}

/** The emails of a textarea: one a line (commas and spaces also part them), each once. */
const emailsOf = (text: string) => [...new Set(text.split(/[\s,;]+/).filter(Boolean))];

function MembersForm({ segment }: { segment: SegmentDetail }) {
  const queryClient = useQueryClient();
  const [text, setText] = useState("");
  const change = useMutation({
    mutationFn: (v: { add: boolean; emails: string[] }) =>
      post<MembersAnswer, { emails: string[] }>(`/segments/${segment.id}/members${v.add ? "" : "/remove"}`, {
        emails: v.emails,
      }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.segments }),
  });
  const emails = emailsOf(text);
  const tooMany =
    emails.length > 1000 ? `Give at most 1,000 emails a time (${emails.length} here)` : undefined;
  const send = (add: boolean) => change.mutate({ add, emails });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    send(true);
  };
  // The API names a bad email by its place in the list sent: said with the email itself.
  const sent = change.variables?.emails ?? [];
  const emailErrors =
    change.error instanceof ApiError
      ? change.error.fields
          .filter((f) => f.field === "emails" || f.field.startsWith("emails."))
          .map((f) => {
            const at = Number(f.field.split(".")[1]);
            return Number.isInteger(at) && sent[at] !== undefined ? `${sent[at]}: ${f.message}` : f.message;
          })
          .join("; ") || undefined
      : undefined;
  const error = tooMany ?? emailErrors;
  const answer = change.data;
  const verb = change.variables?.add ? "Added" : "Removed";
  return (
    <section className="members-form" aria-labelledby="seg-members-form-h">
      <h2 id="seg-members-form-h">Add or remove members</h2>
      <form onSubmit={submit}>
        <label>
          Emails, one a line
          <textarea
            name="emails"
            className="mono"
            rows={5}
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder={"ada@example.com\ngrace@example.com"}
            spellCheck={false}
            {...invalidProps("seg-emails-error", error)}
          />
          <FieldError id="seg-emails-error" message={error} />
        </label>
        <small className="muted">
          Only contacts of the project can be members: an email with no contact is named and skipped. Each
          entry and exit emits its event once.
        </small>
        <div className="form-actions">
          <button
            type="button"
            className="secondary outline"
            disabled={change.isPending || emails.length === 0 || Boolean(tooMany)}
            aria-busy={change.isPending && change.variables?.add === false}
            onClick={() => send(false)}
          >
            Remove members
          </button>
          <button
            type="submit"
            disabled={change.isPending || emails.length === 0 || Boolean(tooMany)}
            aria-busy={change.isPending && change.variables?.add === true}
          >
            Add members
          </button>
        </div>
      </form>
      {change.isError && !emailErrors && (
        <ErrorBox error={change.error} title="The members were not changed" />
      )}
      {answer && (
        <div className="notice members-answer" role="status">
          <p>
            <strong>
              {verb} {(answer.added ?? answer.removed ?? 0).toLocaleString()}
            </strong>
            , {answer.unchanged.toLocaleString()} unchanged
            {answer.unchanged > 0 && (
              <span className="muted"> ({change.variables?.add ? "already members" : "not members"})</span>
            )}
            .
          </p>
          {answer.notFound.length > 0 && (
            <p>
              No contact with{" "}
              {answer.notFound.length === 1 ? "this email" : `these ${answer.notFound.length} emails`}:{" "}
              {answer.notFound.map((e, i) => (
                <span key={e}>
                  {i > 0 && ", "}
                  <code>{e}</code>
                </span>
              ))}
            </p>
          )}
        </div>
      )}
    </section>
  );
}

function Members({ segment }: { segment: SegmentDetail }) {
  const pages = useCursorPages(segment.id);
  const filling = segment.backfill === "BACKFILLING";
  const members = useQuery({
    ...segmentMembersQuery(segment.id, pages.cursor, filling),
    placeholderData: keepPreviousData,
  });
  const rows = members.data?.data ?? [];
  return (
    <section aria-labelledby="seg-members-h">
      <h2 id="seg-members-h">Members</h2>
      {members.isError && <ErrorBox error={members.error} title="Could not load the members" />}
      {members.isPending && <p aria-busy="true">Loading the members…</p>}
      {members.isSuccess && rows.length === 0 && pages.page === 1 && (
        <EmptyState title={filling ? "Finding the members…" : "No members"}>
          <p>
            {filling
              ? "The segment's members are being computed in the background; they appear here as they are found."
              : segment.type === "STATIC"
                ? "Add contacts by email above."
                : "No contact matches the condition now. Members join as contacts change and track events."}
          </p>
        </EmptyState>
      )}
      {rows.length > 0 && (
        <>
          <Table columns={["Email", "Subscribed", "Data", "Contact since"]} labelledBy="seg-members-h">
            {rows.map((c) => (
              <tr key={c.id} data-contact-id={c.id}>
                <td>
                  <Link href={`/contacts/${c.id}`}>{c.email}</Link>
                </td>
                <td>{c.subscribed ? "Yes" : "No"}</td>
                <td className="cell-wrap">
                  <code className="data-preview">{dataPreview(c.data)}</code>
                </td>
                <td>
                  <Time iso={c.createdAt} />
                </td>
              </tr>
            ))}
          </Table>
          <Pager label="Member pages" pages={pages} data={members.data} />
        </>
      )}
    </section>
  );
}

function dataPreview(data: Record<string, unknown>): string {
  const text = JSON.stringify(data);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

function DeleteSegmentDialog({ segment, onClose }: { segment: SegmentDetail | null; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const remove = useMutation({
    mutationFn: (id: string) => del<void>(`/segments/${id}`),
    onSuccess: (_, id) => {
      queryClient.removeQueries({ queryKey: keys.segment(id) });
      queryClient.invalidateQueries({ queryKey: keys.segments });
      navigate("/segments");
    },
  });
  const close = () => {
    remove.reset();
    onClose();
  };
  const inUse = remove.error instanceof ApiError && remove.error.status === 409;
  return (
    <ConfirmDialog
      open={segment !== null}
      title={segment ? `Delete ${segment.name}?` : "Delete the segment?"}
      confirmLabel="Delete segment"
      danger
      busy={remove.isPending}
      onConfirm={() => segment && remove.mutate(segment.id)}
      onCancel={close}
    >
      <p>
        Its memberships go with it, without exit events; workflows that start on its{" "}
        <code>segment.{segment?.slug}.entry</code> or <code>.exit</code> events stay, but no such event comes
        any more. This cannot be undone.
      </p>
      {remove.isError && (
        <ErrorBox
          error={remove.error}
          title={inUse ? "The segment is in use: it was not deleted" : "Could not delete the segment"}
        />
      )}
    </ConfirmDialog>
  );
}
