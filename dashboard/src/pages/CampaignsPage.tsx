/**
 * The project's campaigns, newest first, paged: each one's name (to its page), status, recipients, sent
 * and opened, and when (scheduled for, started, sent, cancelled or last edited); polled while one is
 * sending. "New campaign" opens the composer.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { campaignListQuery } from "../api/queries";
import type { Campaign } from "../api/types";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { DeletedNotice, ListHead } from "../components/ListHead";
import { Pager, useCursorPages } from "../components/Pager";
import { StatusBadge } from "../components/StatusBadge";
import { Table } from "../components/Table";
import { Time } from "../components/Time";

const COLUMNS = [
  "Name",
  "Status",
  { label: "Recipients", num: true },
  { label: "Sent", num: true },
  { label: "Opened", num: true },
  "When",
] as const;

export function CampaignsPage() {
  const pages = useCursorPages("");
  const list = useQuery({ ...campaignListQuery(pages.cursor), placeholderData: keepPreviousData });
  const rows = list.data?.data ?? [];
  return (
    <>
      <ListHead title="Campaigns" newHref="/campaigns/new" newLabel="New campaign" />
      <DeletedNotice says={(name) => <>Deleted the draft {name}.</>} />
      <p className="muted">
        A campaign sends one email to every subscribed contact of an audience (all of them, or a segment's
        members), now or at a time you choose.
      </p>
      {list.isError && <ErrorBox error={list.error} title="Could not load the campaigns" />}
      {list.isPending && <p aria-busy="true">Loading the campaigns…</p>}
      {list.isSuccess && rows.length === 0 && pages.page === 1 && (
        <EmptyState title="No campaigns yet">
          <p>
            Write a subject and a body (or choose a template), choose who gets it, look at it rendered for one
            of them, send yourself a test, then send it now or schedule it. Start with{" "}
            <strong>New campaign</strong>.
          </p>
        </EmptyState>
      )}
      {rows.length > 0 && (
        <Table columns={COLUMNS}>
          {rows.map((c) => (
            <tr key={c.id} data-campaign-id={c.id}>
              <td className="cell-wrap">
                <Link href={`/campaigns/${c.id}`}>{c.name}</Link>
              </td>
              <td>
                <StatusBadge status={c.status} />
              </td>
              <td className="num">{c.status === "DRAFT" ? "—" : c.stats.recipients.toLocaleString()}</td>
              <td className="num">{c.status === "DRAFT" ? "—" : c.stats.sent.toLocaleString()}</td>
              <td className="num">{c.status === "DRAFT" ? "—" : c.stats.opened.toLocaleString()}</td>
              <td>
                <When campaign={c} />
              </td>
            </tr>
          ))}
        </Table>
      )}
      <Pager label="Campaign pages" pages={pages} data={list.data} />
    </>
  );
}

/** The time that matters for a campaign's status, with what it is. */
export function When({ campaign: c }: { campaign: Campaign }) {
  const [what, iso] =
    c.status === "SCHEDULED"
      ? ["Scheduled for", c.scheduledAt]
      : c.status === "SENDING"
        ? ["Started", c.startedAt]
        : c.status === "SENT"
          ? ["Sent", c.finishedAt]
          : c.status === "CANCELLED"
            ? ["Cancelled", c.finishedAt]
            : ["Edited", c.updatedAt];
  return (
    <>
      <span className="muted">{what}</span> <Time iso={iso} />
    </>
  );
}
