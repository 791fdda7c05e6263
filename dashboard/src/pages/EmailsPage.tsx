/**
 * The emails log: every email of the project, newest first, filtered by status and by contact (the filters
 * live in the address, so a contact's page links to its emails here), paged; each opens the email's page.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { Link } from "wouter";
import { contactQuery, emailsQuery, POLL_MS, templatesQuery } from "../api/queries";
import type { Email } from "../api/types";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { FilterActions, useFilterParams } from "../components/Filters";
import { Pager, useCursorPages } from "../components/Pager";
import { StatusBadge } from "../components/StatusBadge";
import { Table } from "../components/Table";
import { Time } from "../components/Time";

/** Every email status with what it means (as src/routes/emails.ts lists them: EMAIL_STATUSES). */
export const EMAIL_STATUS_HELP: Record<string, string> = {
  QUEUED: "Queued: waiting to be sent",
  SENDING: "Sending: being handed to SES, or retried after a throttle",
  SENT: "Sent: SES accepted it",
  DELIVERED: "Delivered: the recipient's mail server accepted it",
  BOUNCED: "Bounced: the recipient's mail server refused it",
  COMPLAINED: "Complained: the recipient marked it as spam",
  NOT_SENT: "Not sent: a marketing email to an unsubscribed contact",
  FAILED: "Failed: SES refused it",
};
const STATUSES = Object.keys(EMAIL_STATUS_HELP);
export const isOnItsWay = (status: string) => status === "QUEUED" || status === "SENDING";

/** What made an email: a workflow's Send email step, a campaign, or POST /v1/send. */
export const sourceLabel = (sourceType: string) =>
  sourceType === "WORKFLOW"
    ? "Workflow"
    : sourceType === "CAMPAIGN"
      ? "Campaign"
      : sourceType === "TRANSACTIONAL"
        ? "API (/v1/send)"
        : sourceType;

/** An email's subject; one not rendered (not sent, or still queued) has none: its template says what it is. */
export function EmailSubject({ email: m }: { email: Email }) {
  const templates = useQuery({ ...templatesQuery, enabled: m.subject === null && m.templateId !== null });
  if (m.subject !== null) return <>{m.subject}</>;
  const template = templates.data?.data.find((t) => t.id === m.templateId);
  return (
    <>
      (not rendered{isOnItsWay(m.status) ? " yet" : ""}
      {template ? `: template ${template.name}` : ""})
    </>
  );
}

export function EmailsPage() {
  const { params, setFilter, clearFilters } = useFilterParams();
  const statusParam = params.get("status") ?? "";
  const status = STATUSES.includes(statusParam) ? statusParam : "";
  const contactId = params.get("contactId") ?? "";
  const filters = useMemo(
    () => ({ status: status || undefined, contactId: contactId || undefined }),
    [status, contactId],
  );
  const pages = useCursorPages(JSON.stringify(filters));
  const list = useQuery({
    ...emailsQuery({ ...filters, limit: "20", cursor: pages.cursor }),
    placeholderData: keepPreviousData,
    refetchInterval: (q) => (q.state.data?.data.some((m) => isOnItsWay(m.status)) ? POLL_MS : false),
  });
  const contact = useQuery({ ...contactQuery(contactId), enabled: contactId !== "" });

  const filtered = Boolean(status || contactId);
  const rows = list.data?.data ?? [];
  const onItsWay = rows.filter((m) => isOnItsWay(m.status)).length;

  return (
    <>
      <h1>Emails</h1>
      <p className="muted">
        Every email the project sent or tried to send, by workflows' Send email steps, campaigns and{" "}
        <code>POST /v1/send</code>, with what SES said of it since.
      </p>
      <form
        className="filters filters-narrow"
        onSubmit={(e) => e.preventDefault()}
        aria-label="Filter the emails"
      >
        <label>
          Status
          <select name="status" value={status} onChange={(e) => setFilter("status", e.target.value)}>
            <option value="">All statuses</option>
            {STATUSES.map((s) => (
              <option key={s} value={s} title={EMAIL_STATUS_HELP[s]}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {contactId && (
          <div className="filter-chip">
            <span className="muted">To the contact</span>{" "}
            <Link href={`/contacts/${contactId}`}>{contact.data?.email ?? <code>{contactId}</code>}</Link>
          </div>
        )}
        <FilterActions filtered={filtered} onClear={clearFilters} />
      </form>

      {list.isError && <ErrorBox error={list.error} title="Could not load the emails" />}
      {list.isPending && <p aria-busy="true">Loading the emails…</p>}
      <p className="muted" aria-live="polite">
        {list.isSuccess &&
          `${rows.length} email${rows.length === 1 ? "" : "s"} shown${status ? ` (${status})` : ""}${onItsWay > 0 ? `, ${onItsWay} on their way: refreshing every 2 seconds` : ""}`}
      </p>
      {list.isSuccess && rows.length === 0 && (
        <EmptyState title={filtered ? "No emails match these filters" : "No emails yet"}>
          {filtered ? (
            <p>
              Choose another status, or <strong>clear the filters</strong> to see every email.
            </p>
          ) : (
            <p>
              Emails are made by a workflow's <strong>Send email</strong> step (add one in the editor, enable
              the workflow and track its trigger event) and by <code>POST /v1/send</code>.
            </p>
          )}
        </EmptyState>
      )}
      {rows.length > 0 && <EmailsTable rows={rows} log />}
      <Pager label="Email pages" pages={pages} data={list.data} />
    </>
  );
}

/**
 * Emails as a table (the emails log, a contact's page): each one's subject (a link to the email), status,
 * time, opens and clicks; with `log`, also its error, its recipient and what made it.
 */
export function EmailsTable({ rows, log = false }: { rows: Email[]; log?: boolean }) {
  return (
    <Table columns={log ? LOG_COLUMNS : CONTACT_COLUMNS}>
      {rows.map((m) => {
        const error = log ? m.error : null;
        return (
          <tr key={m.id} data-email-id={m.id}>
            <td className="cell-wrap">
              <Link href={`/emails/${m.id}`}>
                <EmailSubject email={m} />
              </Link>
            </td>
            <td className={error ? "cell-wrap" : undefined}>
              <StatusBadge status={m.status} />
              {error && (
                <>
                  <br />
                  <small className="text-bad">{error}</small>
                </>
              )}
            </td>
            {log && (
              <td>
                <Link href={`/contacts/${m.contactId}`}>{m.to}</Link>
              </td>
            )}
            {log && <td>{sourceLabel(m.sourceType)}</td>}
            <td>
              <Time iso={m.createdAt} />
            </td>
            <td>{m.opens}</td>
            <td>{m.clicks}</td>
          </tr>
        );
      })}
    </Table>
  );
}

const LOG_COLUMNS = ["Subject", "Status", "To", "Made by", "Created", "Opens", "Clicks"];
const CONTACT_COLUMNS = ["Subject", "Status", "Created", "Opens", "Clicks"];
