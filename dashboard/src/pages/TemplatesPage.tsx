/**
 * The project's email templates, newest first, paged: each one's name (to its editor), type, sender,
 * subject and last change; "New template" opens the editor.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { useHistoryState } from "wouter/use-browser-location";
import { templateListQuery } from "../api/queries";
import type { Template } from "../api/types";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { Pager, useCursorPages } from "../components/Pager";
import { Time } from "../components/Time";

export function TemplatesPage() {
  const pages = useCursorPages("");
  const list = useQuery({ ...templateListQuery(pages.cursor), placeholderData: keepPreviousData });
  const rows = list.data?.data ?? [];
  // Set by the editor when it deleted a template and came back here.
  const deleted = useHistoryState<{ deleted?: string } | null>()?.deleted;
  return (
    <>
      <div className="page-head">
        <h1>Templates</h1>
        <Link href="/templates/new" className="button-link">
          New template
        </Link>
      </div>
      {deleted && (
        <p className="notice" role="status">
          Deleted the template {deleted}.
        </p>
      )}
      <p className="muted">
        Emails written once, in <a href="https://liquidjs.com">Liquid</a> with the contact's data, sent by
        workflows' <strong>Send email</strong> steps, <code>POST /v1/send</code> and campaigns.
      </p>
      {list.isError && <ErrorBox error={list.error} title="Could not load the templates" />}
      {list.isPending && <p aria-busy="true">Loading the templates…</p>}
      {list.isSuccess && rows.length === 0 && pages.page === 1 && (
        <EmptyState title="No templates yet">
          <p>
            A template is a subject and a body with the contact's data in them (
            <code>{"{{ data.name }}"}</code>), a sender and a type: <strong>marketing</strong> (not sent to
            unsubscribed contacts, with an unsubscribe header) or <strong>transactional</strong>. Write one
            with <strong>New template</strong>, and see it rendered as you type.
          </p>
        </EmptyState>
      )}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table className="striped">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col">From</th>
                <th scope="col">Subject</th>
                <th scope="col">Last change</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => (
                <tr key={t.id} data-template-id={t.id}>
                  <td className="cell-wrap">
                    <Link href={`/templates/${t.id}`}>{t.name}</Link>
                  </td>
                  <td>
                    <TemplateType type={t.type} />
                  </td>
                  <td>
                    <Sender template={t} />
                  </td>
                  <td className="cell-wrap">
                    <code className="template-subject">{t.subject}</code>
                  </td>
                  <td>
                    <Time iso={t.updatedAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager
        label="Template pages"
        page={pages.page}
        nextCursor={list.data?.cursor}
        hasMore={list.data?.hasMore}
        onOlder={pages.older}
        onNewer={pages.newer}
      />
    </>
  );
}

export function TemplateType({ type }: { type: string }) {
  return (
    <span className={`badge ${type === "TRANSACTIONAL" ? "badge-active" : "badge-neutral"}`}>
      {type === "TRANSACTIONAL" ? "Transactional" : "Marketing"}
    </span>
  );
}

function Sender({ template: t }: { template: Template }) {
  if (!t.from) return <span className="muted">—</span>;
  return (
    <>
      {t.fromName ? `${t.fromName} ` : ""}
      <span className={t.fromName ? "muted" : undefined}>{t.fromName ? `<${t.from}>` : t.from}</span>
    </>
  );
}
