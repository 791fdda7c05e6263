/**
 * One email: its status, recipient (a link to the contact), subject, what made it (the execution, linked,
 * or POST /v1/send), SES's message id, its error, its opens and clicks, and the time of each step of its way.
 */
import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { Link, useParams } from "wouter";
import { get } from "../api/client";
import { contactEventsQuery, emailQuery, templatesQuery, workflowQuery } from "../api/queries";
import type { Email, Page, Workflow } from "../api/types";
import { ErrorBox } from "../components/ErrorBox";
import { isNotFound, NotFoundBox } from "../components/NotFound";
import { StatusBadge } from "../components/StatusBadge";
import { Time } from "../components/Time";
import { EMAIL_STATUS_HELP, EmailSubject, isOnItsWay, sourceLabel } from "./EmailsPage";

export function EmailPage() {
  const { id } = useParams<{ id: string }>();
  const email = useQuery(emailQuery(id));
  const m = email.data;
  const notFound = isNotFound(email.error);

  return (
    <>
      <p className="breadcrumb">
        <Link href="/emails">Emails</Link> /
      </p>
      <h1>{m ? <EmailSubject email={m} /> : notFound ? "Email not found" : "Email"}</h1>
      {notFound && (
        <NotFoundBox what="email">
          <code>{id}</code>: the link may be wrong. <Link href="/emails">See every email</Link>.
        </NotFoundBox>
      )}
      {email.isError && !notFound && <ErrorBox error={email.error} title="Could not load the email" />}
      {email.isPending && <p aria-busy="true">Loading the email…</p>}
      {m && <Details email={m} />}
    </>
  );
}

function Details({ email: m }: { email: Email }) {
  const templates = useQuery(templatesQuery);
  const template = templates.data?.data.find((t) => t.id === m.templateId);
  const moments: [string, string | null][] = [
    ["Created", m.createdAt],
    ["Sent", m.sentAt],
    ["Delivered", m.deliveredAt],
    ["First opened", m.openedAt],
    ["First clicked", m.clickedAt],
    ["Bounced", m.bouncedAt],
    ["Complained", m.complainedAt],
  ];
  return (
    <>
      <div className="page-head">
        <dl className="fields email-fields">
          <dt>Status</dt>
          <dd aria-live="polite">
            <StatusBadge status={m.status} />{" "}
            <small className="muted">
              {EMAIL_STATUS_HELP[m.status] ?? ""}
              {isOnItsWay(m.status) && ": refreshing every 2 seconds"}
            </small>
          </dd>
          {m.error && (
            <>
              <dt>Error</dt>
              <dd className="text-bad">{m.error}</dd>
            </>
          )}
          <dt>To</dt>
          <dd>
            <Link href={`/contacts/${m.contactId}`}>{m.to}</Link>
          </dd>
          <dt>Subject</dt>
          <dd>
            {m.subject ?? <span className="muted">none yet: the email is rendered when it is sent</span>}
          </dd>
          <dt>Type</dt>
          <dd>
            {m.type === "MARKETING" ? "Marketing" : m.type === "TRANSACTIONAL" ? "Transactional" : m.type}
          </dd>
          <dt>Template</dt>
          <dd>
            {m.templateId === null ? (
              <span className="muted">none (subject and body given with the request)</span>
            ) : (
              (template?.name ?? <code>{m.templateId}</code>)
            )}
          </dd>
          <dt>Made by</dt>
          <dd>
            {m.workflowExecutionId ? (
              <ExecutionLink email={m} executionId={m.workflowExecutionId} />
            ) : m.campaignId ? (
              <>
                the campaign <code>{m.campaignId}</code>
              </>
            ) : (
              sourceLabel(m.sourceType)
            )}
          </dd>
          <dt>SES message id</dt>
          <dd>{m.messageId ? <code>{m.messageId}</code> : <span className="muted">none yet</span>}</dd>
          <dt>Email id</dt>
          <dd>
            <code>{m.id}</code>
          </dd>
        </dl>
        <section aria-label="Engagement" className="counters">
          <div>
            <span className="counter-value">{m.opens}</span>
            <span className="counter-label">{m.opens === 1 ? "open" : "opens"}</span>
          </div>
          <div>
            <span className="counter-value">{m.clicks}</span>
            <span className="counter-label">{m.clicks === 1 ? "click" : "clicks"}</span>
          </div>
        </section>
      </div>
      <section aria-labelledby="times-title">
        <h2 id="times-title">Timeline</h2>
        <dl className="fields">
          {moments.map(([label, iso]) => (
            <Moment key={label} label={label} iso={iso} />
          ))}
        </dl>
      </section>
    </>
  );
}

function Moment({ label, iso }: { label: string; iso: string | null }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{iso ? <Time iso={iso} /> : <span className="muted">not yet</span>}</dd>
    </>
  );
}

/**
 * The execution that made the email, as a link to its page. The page's address needs the workflow, which
 * an email does not name: it is found among the runs of the contact's latest events, and otherwise by
 * asking each workflow (the first 100) for the execution.
 */
function ExecutionLink({ email: m, executionId }: { email: Email; executionId: string }) {
  const events = useQuery(contactEventsQuery(m.contactId, { limit: 100 }));
  const fromEvents = useMemo(() => {
    for (const e of events.data?.data ?? [])
      for (const r of [...e.executions.started, ...e.executions.resumed])
        if (r.id === executionId) return r.workflowId;
    return null;
  }, [events.data, executionId]);
  const eventsDone = events.isSuccess || events.isError;
  const probe = useQuery({
    queryKey: ["executions", "workflow-of", executionId],
    enabled: eventsDone && fromEvents === null,
    staleTime: Number.POSITIVE_INFINITY,
    queryFn: async () => {
      const workflows = await get<Page<Workflow>>("/workflows", { limit: 100 });
      for (const w of workflows.data) {
        try {
          await get(`/workflows/${w.id}/executions/${executionId}`);
          return w.id;
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      return null;
    },
  });
  const workflowId = fromEvents ?? probe.data ?? null;
  const workflow = useQuery({ ...workflowQuery(workflowId ?? ""), enabled: workflowId !== null });

  if (workflowId) {
    return (
      <>
        <Link href={`/workflows/${workflowId}/executions/${executionId}`}>
          an execution of {workflow.data?.name ?? "its workflow"}
        </Link>{" "}
        <small>
          <code>{executionId}</code>
        </small>
      </>
    );
  }
  if (!eventsDone || probe.isPending || probe.isFetching)
    return <span aria-busy="true">a workflow execution…</span>;
  return (
    <>
      a workflow execution <code>{executionId}</code>{" "}
      <small className="muted">(its workflow was not found: it may have been deleted)</small>
    </>
  );
}
