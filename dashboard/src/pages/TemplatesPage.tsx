/**
 * The project's email templates, newest first, paged: each one's name (to its editor), type, sender,
 * subject and last change; "New template" opens the editor.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { templateListQuery } from "../api/queries";
import type { Template } from "../api/types";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { DeletedNotice, ListHead } from "../components/ListHead";
import { Pager, useCursorPages } from "../components/Pager";
import { Table } from "../components/Table";
import { Time } from "../components/Time";

export function TemplatesPage() {
  const pages = useCursorPages("");
  const list = useQuery({ ...templateListQuery(pages.cursor), placeholderData: keepPreviousData });
  const rows = list.data?.data ?? [];
  return (
    <>
      <ListHead title="Templates" newHref="/templates/new" newLabel="New template" />
      {/* Set by the editor when it deleted a template and came back here. */}
      <DeletedNotice says={(name) => <>Deleted the template {name}.</>} />
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
        <Table columns={["Name", "Type", "From", "Subject", "Last change"]}>
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
        </Table>
      )}
      <Pager label="Template pages" pages={pages} data={list.data} />
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
