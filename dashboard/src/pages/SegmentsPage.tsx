/**
 * The project's segments: a table with each one's type, members and whether its membership is still
 * filling (polled until it is READY), and "New segment", which opens the builder.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { segmentListQuery } from "../api/queries";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { ListHead } from "../components/ListHead";
import { Pager, useCursorPages } from "../components/Pager";
import { Table } from "../components/Table";
import { Time } from "../components/Time";
import { FillBadge, TypeBadge } from "../segments/badges";

export function SegmentsPage() {
  const pages = useCursorPages("");
  const list = useQuery({ ...segmentListQuery(pages.cursor), placeholderData: keepPreviousData });
  const segments = list.data?.data ?? [];
  return (
    <>
      <ListHead title="Segments" newHref="/segments/new" newLabel="New segment" />
      {list.isError && <ErrorBox error={list.error} title="Could not load the segments" />}
      {list.isPending && <p aria-busy="true">Loading the segments…</p>}
      {list.isSuccess && segments.length === 0 && pages.page === 1 && (
        <EmptyState title="No segments yet">
          <p>
            A segment is a set of contacts: <strong>dynamic</strong>, the contacts a condition holds for
            (their fields, the events they tracked, the emails they opened or clicked, other segments), kept
            current; or <strong>static</strong>, the contacts you add by email. Workflows can start when a
            contact enters or leaves one, and schedules can run for its members. Make one with{" "}
            <strong>New segment</strong>.
          </p>
        </EmptyState>
      )}
      {segments.length > 0 && (
        <>
          <Table columns={["Name", "Type", "Members", "Status", "Last change"]}>
            {segments.map((s) => (
              <tr key={s.id} data-segment-id={s.id}>
                <td className="cell-wrap">
                  <Link href={`/segments/${s.id}`}>{s.name}</Link>
                  {s.description && (
                    <>
                      <br />
                      <small className="muted">{s.description}</small>
                    </>
                  )}
                </td>
                <td>
                  <TypeBadge type={s.type} />
                </td>
                <td className="num" data-label="Members">
                  {s.memberCount.toLocaleString()}
                </td>
                <td>
                  <FillBadge backfill={s.backfill} />
                </td>
                <td>
                  <Time iso={s.updatedAt} />
                </td>
              </tr>
            ))}
          </Table>
          <Pager label="Segment pages" pages={pages} data={list.data} />
        </>
      )}
    </>
  );
}
