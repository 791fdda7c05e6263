/**
 * The project's contacts, newest first: searched by a part of their email and filtered by subscription (both
 * live in the address, so a filtered list can be linked to), paged; each opens the contact's page.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { type FormEvent, useEffect, useMemo, useState } from "react";
import { Link } from "wouter";
import { contactsQuery } from "../api/queries";
import type { Contact } from "../api/types";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { FilterActions, useFilterParams } from "../components/Filters";
import { DeletedNotice } from "../components/ListHead";
import { Pager, useCursorPages } from "../components/Pager";
import { Table } from "../components/Table";
import { Time } from "../components/Time";

export function ContactsPage() {
  const { params, setFilter, clearFilters } = useFilterParams();
  const search = params.get("search") ?? "";
  const subscribedParam = params.get("subscribed");
  const subscribed = subscribedParam === "true" || subscribedParam === "false" ? subscribedParam : "";
  const filters = useMemo(
    () => ({ search: search || undefined, subscribed: subscribed || undefined }),
    [search, subscribed],
  );
  const pages = useCursorPages(JSON.stringify(filters));
  const list = useQuery({
    ...contactsQuery({ ...filters, cursor: pages.cursor }),
    placeholderData: keepPreviousData,
  });

  const [searchText, setSearchText] = useState(search);
  useEffect(() => setSearchText(search), [search]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setFilter("search", searchText.trim());
  };
  const filtered = Boolean(search || subscribed);
  const rows = list.data?.data ?? [];

  return (
    <>
      <h1>Contacts</h1>
      {/* Set by the contact's page when it deleted the contact and came back here. */}
      <DeletedNotice says={(name) => <>Deleted {name}, with its events.</>} />
      <p className="muted">
        The people your app tracks events for (<code>POST /v1/track</code>), sends emails to, or adds through
        the API. Open one to see its events, workflow runs and emails.
      </p>
      <form className="filters" onSubmit={submit} aria-label="Filter the contacts">
        <label>
          Search by email
          <input
            type="search"
            name="search"
            value={searchText}
            onChange={(e) => setSearchText(e.target.value)}
            placeholder="part of an email, e.g. @example.com"
            autoComplete="off"
            spellCheck={false}
            maxLength={254}
          />
        </label>
        <label>
          Subscription
          <select
            name="subscribed"
            value={subscribed}
            onChange={(e) => setFilter("subscribed", e.target.value)}
          >
            <option value="">All contacts</option>
            <option value="true">Subscribed</option>
            <option value="false">Unsubscribed</option>
          </select>
        </label>
        <FilterActions submit="Search" filtered={filtered} onClear={clearFilters} />
      </form>

      {list.isError && <ErrorBox error={list.error} title="Could not load the contacts" />}
      {list.isPending && <p aria-busy="true">Loading the contacts…</p>}
      <p className="muted" aria-live="polite">
        {list.isSuccess && countLine(rows, search, subscribed)}
      </p>
      {list.isSuccess && rows.length === 0 && (
        <EmptyState title={filtered ? "No contacts match these filters" : "No contacts yet"}>
          {filtered ? (
            <p>
              Search for another part of the email, or <strong>clear the filters</strong> to see every
              contact.
            </p>
          ) : (
            <p>
              A contact is made the first time your app tracks an event for an email (
              <code>POST /v1/track</code> with the project's public key), sends it an email (
              <code>POST /v1/send</code>), or imports it (<code>POST /contacts/import</code>).
            </p>
          )}
        </EmptyState>
      )}
      {rows.length > 0 && (
        <Table columns={["Email", "Subscription", "Data", "Created", "Last change"]}>
          {rows.map((c) => (
            <tr key={c.id} data-contact-id={c.id}>
              <td className="cell-email">
                <Link href={`/contacts/${c.id}`}>{c.email}</Link>
              </td>
              <td>
                <SubscribedText subscribed={c.subscribed} />
              </td>
              <td className="cell-wrap">
                <DataSummary data={c.data} />
              </td>
              <td>
                <Time iso={c.createdAt} />
              </td>
              <td>
                <Time iso={c.updatedAt} />
              </td>
            </tr>
          ))}
        </Table>
      )}
      <Pager label="Contact pages" pages={pages} data={list.data} />
    </>
  );
}

function countLine(rows: Contact[], search: string, subscribed: string): string {
  const what =
    subscribed === "true"
      ? "subscribed contact"
      : subscribed === "false"
        ? "unsubscribed contact"
        : "contact";
  return `${rows.length} ${what}${rows.length === 1 ? "" : "s"} shown${search ? ` with “${search}” in the email` : ""}`;
}

export function SubscribedText({ subscribed }: { subscribed: boolean }) {
  return (
    <span className={subscribed ? "state-on" : "state-off"}>
      {subscribed ? "Subscribed" : "Unsubscribed"}
    </span>
  );
}

/** The first few keys of a contact's data, each value cut short: enough to tell contacts apart. */
function DataSummary({ data }: { data: Contact["data"] }) {
  const entries = Object.entries(data);
  if (entries.length === 0) return <span className="muted">—</span>;
  const shown = entries.slice(0, 3).map(([k, v]) => {
    const text = typeof v === "string" ? v : JSON.stringify(v);
    return `${k}: ${text.length > 30 ? `${text.slice(0, 29)}…` : text}`;
  });
  return (
    <small>
      {shown.join(", ")}
      {entries.length > 3 && <span className="muted"> and {entries.length - 3} more</span>}
    </small>
  );
}
