/**
 * One contact: its email, subscription, data and times, with Subscribe / Unsubscribe and Delete; its events
 * newest first (each with the workflow runs it started or resumed), its workflow executions, and its emails.
 */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { Link, useLocation, useParams } from "wouter";
import { del, patch } from "../api/client";
import { contactEventsQuery, contactQuery, emailsQuery, keys, workflowsQuery } from "../api/queries";
import type { Contact, ContactEvent, ExecutionLink, PatchContactBody } from "../api/types";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { Json } from "../components/Json";
import { isNotFound, NotFoundBox } from "../components/NotFound";
import { Pager, useCursorPages } from "../components/Pager";
import { StatusBadge } from "../components/StatusBadge";
import { Table } from "../components/Table";
import { Time } from "../components/Time";
import { SubscribedText } from "./ContactsPage";
import { EmailsTable } from "./EmailsPage";

/** How many of the contact's latest events the executions section reads its runs from. */
const RUN_EVENTS = 100;

export function ContactPage() {
  const { id } = useParams<{ id: string }>();
  const contact = useQuery(contactQuery(id));
  const c = contact.data;
  const notFound = isNotFound(contact.error);

  return (
    <>
      <p className="breadcrumb">
        <Link href="/contacts">Contacts</Link> /
      </p>
      <h1 className="contact-title">{c ? c.email : notFound ? "Contact not found" : "Contact"}</h1>
      {notFound && (
        <NotFoundBox what="contact">
          <code>{id}</code> may have been deleted, or the link is wrong.{" "}
          <Link href="/contacts">Find the contact in the list</Link>.
        </NotFoundBox>
      )}
      {contact.isError && !notFound && <ErrorBox error={contact.error} title="Could not load the contact" />}
      {contact.isPending && <p aria-busy="true">Loading the contact…</p>}
      {c && (
        <>
          <Summary contact={c} />
          <Events contactId={c.id} />
          <Executions contactId={c.id} />
          <Emails contactId={c.id} />
        </>
      )}
    </>
  );
}

function Summary({ contact: c }: { contact: Contact }) {
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const [confirming, setConfirming] = useState(false);
  const toggle = useMutation({
    mutationFn: (subscribed: boolean) =>
      patch<Contact, PatchContactBody>(`/contacts/${c.id}`, { subscribed }),
    onSuccess: (updated) => {
      queryClient.setQueryData(keys.contact(c.id), updated);
      // The lists, and the timeline: a change of status is an event of its own.
      queryClient.invalidateQueries({ queryKey: ["contacts"] });
    },
  });
  const remove = useMutation({
    mutationFn: () => del<void>(`/contacts/${c.id}`),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: keys.contact(c.id) });
      queryClient.invalidateQueries({ queryKey: ["contacts"] });
      navigate("/contacts", { state: { deleted: c.email } });
    },
    onSettled: () => setConfirming(false),
  });
  const dataKeys = Object.keys(c.data).length;

  return (
    <section aria-label="Contact" className="page-head contact-summary">
      <dl className="fields">
        <dt>Subscription</dt>
        <dd aria-live="polite">
          <SubscribedText subscribed={c.subscribed} />{" "}
          <small className="muted">
            {c.subscribed
              ? "gets marketing and transactional emails"
              : "gets transactional emails only; marketing emails are not sent"}
          </small>
        </dd>
        <dt>Contact id</dt>
        <dd>
          <code>{c.id}</code>
        </dd>
        <dt>Created</dt>
        <dd>
          <Time iso={c.createdAt} />
        </dd>
        <dt>Last change</dt>
        <dd>
          <Time iso={c.updatedAt} />
        </dd>
        <dt>Data</dt>
        <dd>
          {dataKeys === 0 ? (
            <span className="muted">No data yet: tracked events' data is merged in here.</span>
          ) : (
            <Json value={c.data} />
          )}
        </dd>
      </dl>
      <div className="contact-actions">
        <button
          type="button"
          className={c.subscribed ? "secondary" : undefined}
          onClick={() => toggle.mutate(!c.subscribed)}
          aria-busy={toggle.isPending}
          disabled={toggle.isPending}
        >
          {c.subscribed ? "Unsubscribe" : "Subscribe"}
        </button>
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          Delete contact
        </button>
      </div>
      <div aria-live="polite" className="contact-notices">
        {toggle.isSuccess && (
          <p className="notice" role="status">
            {toggle.data.subscribed
              ? `Subscribed ${toggle.data.email}: marketing emails are sent to it again.`
              : `Unsubscribed ${toggle.data.email}: marketing emails are no longer sent to it.`}
          </p>
        )}
      </div>
      {toggle.isError && <ErrorBox error={toggle.error} title="Could not change the subscription" />}
      {remove.isError && <ErrorBox error={remove.error} title="Could not delete the contact" />}
      <ConfirmDialog
        open={confirming}
        title="Delete this contact?"
        confirmLabel="Yes, delete it"
        danger
        busy={remove.isPending}
        onConfirm={() => remove.mutate()}
        onCancel={() => setConfirming(false)}
      >
        <p>
          <strong>{c.email}</strong> is deleted with its events and its segment memberships, and its running
          or waiting workflow executions are cancelled. <strong>This cannot be undone.</strong>
        </p>
        <p className="muted">
          The emails already sent stay in the emails log. Tracking an event for this email again makes a new
          contact.
        </p>
      </ConfirmDialog>
    </section>
  );
}

/** The names of the project's workflows (the first 100), for the runs' links. */
function useWorkflowNames() {
  const workflows = useQuery(workflowsQuery(undefined, 100));
  return useMemo(() => new Map((workflows.data?.data ?? []).map((w) => [w.id, w.name])), [workflows.data]);
}

function RunLink({ run, names }: { run: ExecutionLink; names: Map<string, string> }) {
  return (
    <span className="run-link">
      <Link href={`/workflows/${run.workflowId}/executions/${run.id}`}>
        {names.get(run.workflowId) ?? <code>{run.workflowId}</code>}
      </Link>{" "}
      <StatusBadge status={run.status} />
    </span>
  );
}

function Events({ contactId }: { contactId: string }) {
  const pages = useCursorPages(contactId);
  const q = useQuery({
    ...contactEventsQuery(contactId, { cursor: pages.cursor }),
    placeholderData: keepPreviousData,
  });
  const names = useWorkflowNames();
  const rows = q.data?.data ?? [];
  return (
    <section aria-labelledby="events-title">
      <h2 id="events-title">Events</h2>
      {q.isError && <ErrorBox error={q.error} title="Could not load the events" />}
      {q.isPending && <p aria-busy="true">Loading the events…</p>}
      {q.isSuccess && rows.length === 0 && (
        <EmptyState title="No events yet">
          <p>
            Events your app tracks for this contact (<code>POST /v1/track</code>), and those the system
            records (such as <code>contact.unsubscribed</code>), appear here, newest first.
          </p>
        </EmptyState>
      )}
      {rows.length > 0 && (
        <ol className="timeline" aria-label="Events, newest first">
          {rows.map((e) => (
            <EventItem key={e.id} event={e} names={names} />
          ))}
        </ol>
      )}
      <Pager label="Event pages" pages={pages} data={q.data} />
    </section>
  );
}

function EventItem({ event: e, names }: { event: ContactEvent; names: Map<string, string> }) {
  const text = JSON.stringify(e.data);
  const hasData = Object.keys(e.data).length > 0;
  return (
    <li data-event-id={e.id}>
      <div className="timeline-head">
        <strong className="event-name">{e.name}</strong> <Time iso={e.createdAt} />
      </div>
      {hasData &&
        (text.length <= 80 ? (
          <code className="event-data">{text}</code>
        ) : (
          <details>
            <summary>Data ({Object.keys(e.data).length} keys)</summary>
            <Json value={e.data} />
          </details>
        ))}
      {e.executions.started.length > 0 && (
        <p className="timeline-runs">
          Started:{" "}
          {e.executions.started.map((r) => (
            <RunLink key={r.id} run={r} names={names} />
          ))}
        </p>
      )}
      {e.executions.resumed.length > 0 && (
        <p className="timeline-runs">
          Resumed (ended its wait):{" "}
          {e.executions.resumed.map((r) => (
            <RunLink key={r.id} run={r} names={names} />
          ))}
        </p>
      )}
    </li>
  );
}

interface Run extends ExecutionLink {
  how: "started" | "resumed";
  event: ContactEvent;
}

/**
 * The contact's workflow executions. The API lists executions only per workflow, so they are read from the
 * links of the contact's latest events: the runs its events started, and those whose wait they ended.
 */
function Executions({ contactId }: { contactId: string }) {
  const q = useQuery(contactEventsQuery(contactId, { limit: RUN_EVENTS }));
  const names = useWorkflowNames();
  const runs = useMemo(() => {
    const seen = new Map<string, Run>();
    for (const e of q.data?.data ?? []) {
      for (const r of e.executions.started)
        if (!seen.has(r.id)) seen.set(r.id, { ...r, how: "started", event: e });
      for (const r of e.executions.resumed)
        if (!seen.has(r.id)) seen.set(r.id, { ...r, how: "resumed", event: e });
    }
    return [...seen.values()];
  }, [q.data]);
  return (
    <section aria-labelledby="executions-title">
      <h2 id="executions-title">Workflow executions</h2>
      {q.isError && <ErrorBox error={q.error} title="Could not load the executions" />}
      {q.isPending && <p aria-busy="true">Loading the executions…</p>}
      {q.isSuccess && (
        <p className="muted">
          <small>
            The runs this contact's {q.data.hasMore ? `latest ${RUN_EVENTS} ` : ""}events started or resumed.
            Runs started by hand or by a schedule are on their workflow's Executions tab.
          </small>
        </p>
      )}
      {q.isSuccess && runs.length === 0 && (
        <EmptyState title="No workflow executions">
          <p>
            None of this contact's events has started a workflow: a workflow starts when its trigger event is
            tracked while it is enabled.
          </p>
        </EmptyState>
      )}
      {runs.length > 0 && (
        <Table columns={["Workflow", "Status", "Execution", "By the event", "At"]}>
          {runs.map((r) => (
            <tr key={r.id} data-execution-id={r.id}>
              <td>
                <Link href={`/workflows/${r.workflowId}/executions`}>
                  {names.get(r.workflowId) ?? <code>{r.workflowId}</code>}
                </Link>
              </td>
              <td>
                <StatusBadge status={r.status} />
              </td>
              <td>
                <Link href={`/workflows/${r.workflowId}/executions/${r.id}`} className="id-link">
                  {r.id}
                </Link>
              </td>
              <td>
                {r.how === "started" ? "started by " : "resumed by "}
                <strong>{r.event.name}</strong>
              </td>
              <td>
                <Time iso={r.event.createdAt} />
              </td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

function Emails({ contactId }: { contactId: string }) {
  const pages = useCursorPages(contactId);
  const q = useQuery({
    ...emailsQuery({ contactId, limit: "10", cursor: pages.cursor }),
    placeholderData: keepPreviousData,
  });
  const rows = q.data?.data ?? [];
  return (
    <section aria-labelledby="contact-emails-title">
      <div className="section-head">
        <h2 id="contact-emails-title">Emails</h2>
        {rows.length > 0 && (
          <Link href={`/emails?contactId=${encodeURIComponent(contactId)}`}>See them in the emails log</Link>
        )}
      </div>
      {q.isError && <ErrorBox error={q.error} title="Could not load the emails" />}
      {q.isPending && <p aria-busy="true">Loading the emails…</p>}
      {q.isSuccess && rows.length === 0 && (
        <EmptyState title="No emails">
          <p>
            No email has been sent to this contact: workflows' <strong>Send email</strong> steps and{" "}
            <code>POST /v1/send</code> send them.
          </p>
        </EmptyState>
      )}
      {rows.length > 0 && <EmailsTable rows={rows} />}
      <Pager label="Email pages" pages={pages} data={q.data} />
    </section>
  );
}
