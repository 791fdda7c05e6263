/**
 * Analytics (/analytics): the project's counters by UTC day (`GET /analytics?from&to`) for the last 7, 30
 * or 90 days or a custom range (kept in the address): emails sent, delivered, opened, clicked, bounced and
 * complained; contacts subscribed and unsubscribed; events by name (the top few by day, a table of all);
 * executions started and ended by status, per workflow. Each chart has a legend, a summary in words and
 * its numbers as a table; a part with nothing counted shows an empty state instead of a flat chart.
 *
 * Loaded as a chunk of its own (with uPlot) when first opened.
 */
import "../analytics/analytics.css";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { type FormEvent, useEffect, useMemo, useState } from "react";
import { Link, useSearchParams } from "wouter";
import { type ChartSeries, DailyChart } from "../analytics/DailyChart";
import { customProblem, formatRange, PRESETS, type Range, rangeOf, sum } from "../analytics/range";
import { ApiError } from "../api/client";
import { analyticsQuery } from "../api/queries";
import type { Analytics } from "../api/types";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { FieldError, fieldMessage, invalidProps } from "../components/FieldError";

const fmt = new Intl.NumberFormat();
const pct = (n: number, of: number) =>
  of === 0 ? "" : `${new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format((n / of) * 100)}%`;

/** How many event names the events chart draws (the table lists them all). */
const TOP_EVENTS = 5;

const EMAIL_SERIES = [
  { key: "sent", label: "Sent", color: "#175cd3" },
  { key: "delivered", label: "Delivered", color: "#1f7a3a" },
  { key: "opened", label: "Opened", color: "#7a5af8" },
  { key: "clicked", label: "Clicked", color: "#0e9384" },
  { key: "bounced", label: "Bounced", color: "#dc6803", dash: [6, 4] },
  { key: "complained", label: "Complained", color: "#b42318", dash: [2, 3] },
] as const;

const ENDS = [
  { key: "COMPLETED", label: "Completed", color: "#1f7a3a" },
  { key: "EXITED", label: "Exited", color: "#667085", dash: [6, 4] },
  { key: "FAILED", label: "Failed", color: "#b42318" },
  { key: "CANCELLED", label: "Cancelled", color: "#dc6803", dash: [2, 3] },
] as const;

const EVENT_COLORS = ["#175cd3", "#dc6803", "#7a5af8", "#0e9384", "#c11574"];

export function AnalyticsPage() {
  const [params, setParams] = useSearchParams();
  const range = rangeOf(params);
  const q = useQuery({ ...analyticsQuery(range.from, range.to), placeholderData: keepPreviousData });
  const data = q.data;
  const rangeError = q.error instanceof ApiError && q.error.status === 422 ? q.error : null;

  return (
    <>
      <h1>Analytics</h1>
      <p className="muted">
        The project's counters by UTC day, kept as things happen: emails, contacts, events and workflow
        executions. They outlive retention: what was deleted stays counted.
      </p>
      <RangePicker
        range={range}
        apiError={rangeError}
        onPreset={(n) => setParams(new URLSearchParams({ range: String(n) }))}
        onCustom={(from, to) => setParams(new URLSearchParams({ from, to }))}
      />
      <p className="range-line" aria-live="polite">
        {q.isFetching && <span aria-busy="true" className="range-loading" />}
        Showing <strong>{formatRange(range.from, range.to)}</strong> <span className="muted">(UTC days)</span>
      </p>
      {q.isError && !rangeError && <ErrorBox error={q.error} title="Could not load the analytics" />}
      {q.isPending && <p aria-busy="true">Loading the analytics…</p>}
      {data && (
        <div className="analytics" aria-busy={q.isFetching && q.isPlaceholderData}>
          <EmailsSection data={data} />
          <ContactsSection data={data} />
          <EventsSection data={data} />
          <ExecutionsSection data={data} />
        </div>
      )}
    </>
  );
}

function RangePicker(props: {
  range: Range;
  apiError: ApiError | null;
  onPreset: (n: (typeof PRESETS)[number]) => void;
  onCustom: (from: string, to: string) => void;
}) {
  const { range } = props;
  const [from, setFrom] = useState(range.from);
  const [to, setTo] = useState(range.to);
  const [problem, setProblem] = useState<{ field: "from" | "to"; message: string } | null>(null);
  useEffect(() => {
    setFrom(range.from);
    setTo(range.to);
  }, [range.from, range.to]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const p = customProblem(from, to);
    setProblem(p);
    if (!p) props.onCustom(from, to);
  };
  const err = {
    from: (problem?.field === "from" ? problem.message : undefined) ?? fieldMessage(props.apiError, "from"),
    to: (problem?.field === "to" ? problem.message : undefined) ?? fieldMessage(props.apiError, "to"),
  };
  return (
    <div className="range-picker">
      <fieldset className="range-presets">
        <legend className="visually-hidden">Days shown</legend>
        {PRESETS.map((n) => (
          <button
            key={n}
            type="button"
            aria-pressed={range.preset === n}
            className={range.preset === n ? undefined : "outline"}
            onClick={() => {
              setProblem(null);
              props.onPreset(n);
            }}
          >
            Last {n} days
          </button>
        ))}
      </fieldset>
      <form className="range-custom" onSubmit={submit} aria-label="Custom range" noValidate>
        <div className="range-field">
          <label htmlFor="range-from">From</label>
          <input
            id="range-from"
            type="date"
            name="from"
            value={from}
            max={to || undefined}
            onChange={(e) => setFrom(e.target.value)}
            {...invalidProps("range-from-error", err.from)}
          />
          <FieldError id="range-from-error" message={err.from} />
        </div>
        <div className="range-field">
          <label htmlFor="range-to">To</label>
          <input
            id="range-to"
            type="date"
            name="to"
            value={to}
            min={from || undefined}
            onChange={(e) => setTo(e.target.value)}
            {...invalidProps("range-to-error", err.to)}
          />
          <FieldError id="range-to-error" message={err.to} />
        </div>
        <button type="submit" className={range.preset === null ? undefined : "outline"}>
          Show these days
        </button>
      </form>
    </div>
  );
}

function Totals({ items }: { items: { label: string; value: number; note?: string }[] }) {
  return (
    <dl className="totals">
      {items.map((i) => (
        <div key={i.label}>
          <dt>{i.label}</dt>
          <dd>
            <span className="total-value">{fmt.format(i.value)}</span>
            {i.note && <small className="muted">{i.note}</small>}
          </dd>
        </div>
      ))}
    </dl>
  );
}

/** "3 sent, 2 delivered and 1 bounced": the totals of a chart's series in words. */
function inWords(series: readonly ChartSeries[]): string {
  const parts = series.map((s) => `${fmt.format(sum(s.values))} ${s.label.toLowerCase()}`);
  return parts.length > 1 ? `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}` : (parts[0] ?? "");
}

/** The day with the most of a series, for the summaries ("most on Nov 3: 5"). */
function peak(days: readonly string[], values: readonly number[]): string {
  let best = -1;
  values.forEach((v, i) => {
    if (best < 0 || v > (values[best] ?? 0)) best = i;
  });
  const day = days[best];
  return day && (values[best] ?? 0) > 0
    ? `, most on ${formatRange(day, day)} (${fmt.format(values[best] ?? 0)})`
    : "";
}

function EmailsSection({ data }: { data: Analytics }) {
  const series = useMemo<ChartSeries[]>(
    () =>
      EMAIL_SERIES.map((s) => ({
        label: s.label,
        color: s.color,
        dash: "dash" in s ? [...s.dash] : undefined,
        values: data.emails[s.key],
      })),
    [data],
  );
  const t = Object.fromEntries(EMAIL_SERIES.map((s) => [s.key, sum(data.emails[s.key])])) as Record<
    (typeof EMAIL_SERIES)[number]["key"],
    number
  >;
  const range = formatRange(data.from, data.to);
  return (
    <section aria-labelledby="emails-title" className="analytics-section">
      <h2 id="emails-title">Emails</h2>
      {t.sent + t.delivered + t.opened + t.clicked + t.bounced + t.complained === 0 ? (
        <EmptyState title="No emails in these days">
          <p>
            Emails sent by workflows, campaigns and <code>POST /v1/send</code> are counted here when SES
            accepts them, then as SES reports their delivery, opens, clicks, bounces and complaints.
          </p>
        </EmptyState>
      ) : (
        <>
          <Totals
            items={[
              { label: "Sent", value: t.sent },
              { label: "Delivered", value: t.delivered, note: pct(t.delivered, t.sent) },
              { label: "Opened", value: t.opened, note: pct(t.opened, t.delivered || t.sent) },
              { label: "Clicked", value: t.clicked, note: pct(t.clicked, t.delivered || t.sent) },
              { label: "Bounced", value: t.bounced, note: pct(t.bounced, t.sent) },
              { label: "Complained", value: t.complained, note: pct(t.complained, t.sent) },
            ]}
          />
          <DailyChart
            id="emails-chart"
            title="Emails by day"
            summary={`Line chart of emails by day, ${range}: ${inWords(series)}${peak(data.days, data.emails.sent)}. The numbers are in the table below.`}
            days={data.days}
            series={series}
          />
          <p className="muted chart-note">
            <small>
              Opens and clicks are first opens and first clicks; bounces are permanent ones. Rates are of the
              emails sent (opens and clicks: of those delivered).
            </small>
          </p>
        </>
      )}
    </section>
  );
}

function ContactsSection({ data }: { data: Analytics }) {
  const series = useMemo<ChartSeries[]>(
    () => [
      { label: "Subscribed", color: "#1f7a3a", values: data.contacts.subscribed },
      { label: "Unsubscribed", color: "#b42318", dash: [6, 4], values: data.contacts.unsubscribed },
    ],
    [data],
  );
  const subscribed = sum(data.contacts.subscribed);
  const unsubscribed = sum(data.contacts.unsubscribed);
  return (
    <section aria-labelledby="contacts-title" className="analytics-section">
      <h2 id="contacts-title">Contacts</h2>
      {subscribed + unsubscribed === 0 ? (
        <EmptyState title="No subscription changes in these days">
          <p>
            Contacts that subscribe or unsubscribe (by a link in an email, the API, a workflow or this
            dashboard) are counted here, from their <code>contact.subscribed</code> and{" "}
            <code>contact.unsubscribed</code> events.
          </p>
        </EmptyState>
      ) : (
        <>
          <Totals
            items={[
              { label: "Subscribed", value: subscribed },
              { label: "Unsubscribed", value: unsubscribed },
              { label: "Net change", value: subscribed - unsubscribed },
            ]}
          />
          <DailyChart
            id="contacts-chart"
            title="Contacts subscribed and unsubscribed by day"
            summary={`Line chart of contacts by day, ${formatRange(data.from, data.to)}: ${inWords(series)}. The numbers are in the table below.`}
            days={data.days}
            series={series}
          />
        </>
      )}
    </section>
  );
}

function EventsSection({ data }: { data: Analytics }) {
  const top = useMemo<ChartSeries[]>(
    () =>
      data.events.slice(0, TOP_EVENTS).map((e, i) => ({
        label: e.name,
        color: EVENT_COLORS[i % EVENT_COLORS.length] as string,
        values: e.daily,
      })),
    [data],
  );
  const all = sum(data.events.map((e) => e.total));
  return (
    <section aria-labelledby="events-title" className="analytics-section">
      <h2 id="events-title">Events</h2>
      <p className="muted">
        <small>
          Tracked events and the system's <code>contact.*</code> and <code>segment.*</code> events, by name.
          They are counted once a minute: the last minute or two are not in yet.
        </small>
      </p>
      {all === 0 ? (
        <EmptyState title="No events counted in these days">
          <p>
            Events your app tracks (<code>POST /v1/track</code>) appear here by name a minute or two after
            they are tracked.
          </p>
        </EmptyState>
      ) : (
        <>
          <DailyChart
            id="events-chart"
            title={top.length < data.events.length ? `The top ${top.length} events by day` : "Events by day"}
            summary={`Line chart of the ${top.length} most frequent events by day, ${formatRange(data.from, data.to)}: ${inWords(top)}. Every event name is in the table below.`}
            days={data.days}
            series={top}
          />
          <div className="table-wrap">
            <table className="events-table">
              <caption>
                All events by name <span className="muted">({fmt.format(data.events.length)} names)</span>
              </caption>
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col" className="num">
                    Total
                  </th>
                  <th scope="col" className="num">
                    Share
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.events.map((e) => (
                  <tr key={e.name}>
                    <th scope="row">
                      <code className="event-name">{e.name}</code>
                    </th>
                    <td className="num">{fmt.format(e.total)}</td>
                    <td className="num">{pct(e.total, all)}</td>
                  </tr>
                ))}
              </tbody>
              <tfoot>
                <tr>
                  <th scope="row">All events</th>
                  <td className="num">{fmt.format(all)}</td>
                  <td className="num" />
                </tr>
              </tfoot>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

function ExecutionsSection({ data }: { data: Analytics }) {
  const [picked, setChosen] = useState("");
  const workflows = data.executions;
  // A workflow picked for the chart that has no runs in other days: all of them there.
  const chosen = workflows.some((w) => w.workflowId === picked) ? picked : "";
  const series = useMemo<ChartSeries[]>(() => {
    const picked = data.executions.filter((w) => !chosen || w.workflowId === chosen);
    const add = (rows: number[][]) => data.days.map((_, i) => sum(rows.map((r) => r[i] ?? 0)));
    return [
      { label: "Started", color: "#175cd3", values: add(picked.map((w) => w.started)) },
      ...ENDS.map((e) => ({
        label: e.label,
        color: e.color,
        dash: "dash" in e ? [...e.dash] : undefined,
        values: add(picked.map((w) => w.ended[e.key])),
      })),
    ];
  }, [data, chosen]);
  const totalOf = (w: Analytics["executions"][number]) => ({
    started: sum(w.started),
    ...Object.fromEntries(ENDS.map((e) => [e.key, sum(w.ended[e.key])])),
  });
  const rows = workflows.map((w) => ({ w, t: totalOf(w) as Record<string, number> }));
  const anything = rows.some((r) => Object.values(r.t).some((n) => n > 0));
  const chosenName = workflows.find((w) => w.workflowId === chosen)?.name;
  return (
    <section aria-labelledby="executions-title" className="analytics-section">
      <h2 id="executions-title">Workflow executions</h2>
      {!anything ? (
        <EmptyState title="No executions in these days">
          <p>
            Each run of a workflow is counted here when it starts and when it ends, by how it ended. Runs
            start when a workflow's trigger event is tracked, on its schedule, or from its page (
            <Link href="/workflows">the workflows</Link>).
          </p>
        </EmptyState>
      ) : (
        <>
          <div className="table-wrap">
            <table className="executions-table">
              <caption className="visually-hidden">
                Executions by workflow, started and ended by status
              </caption>
              <thead>
                <tr>
                  <th scope="col">Workflow</th>
                  <th scope="col" className="num">
                    Started
                  </th>
                  {ENDS.map((e) => (
                    <th scope="col" className="num" key={e.key}>
                      {e.label}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map(({ w, t }) => (
                  <tr key={w.workflowId}>
                    <th scope="row">
                      <Link href={`/workflows/${w.workflowId}/executions`}>{w.name}</Link>
                    </th>
                    <td className="num">{fmt.format(t.started ?? 0)}</td>
                    {ENDS.map((e) => (
                      <td className="num" key={e.key}>
                        {fmt.format(t[e.key] ?? 0)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
              {rows.length > 1 && (
                <tfoot>
                  <tr>
                    <th scope="row">All workflows</th>
                    <td className="num">{fmt.format(sum(rows.map((r) => r.t.started ?? 0)))}</td>
                    {ENDS.map((e) => (
                      <td className="num" key={e.key}>
                        {fmt.format(sum(rows.map((r) => r.t[e.key] ?? 0)))}
                      </td>
                    ))}
                  </tr>
                </tfoot>
              )}
            </table>
          </div>
          <p className="muted chart-note">
            <small>
              A run is counted as started on the day it started, and as ended on the day it ended: the runs of
              these days may have started before them, or still be running.
            </small>
          </p>
          {workflows.length > 1 && (
            <div className="chart-filter">
              <label htmlFor="executions-chart-workflow">Workflow in the chart</label>
              <select
                id="executions-chart-workflow"
                value={chosen}
                onChange={(e) => setChosen(e.target.value)}
              >
                <option value="">All workflows</option>
                {workflows.map((w) => (
                  <option key={w.workflowId} value={w.workflowId}>
                    {w.name}
                  </option>
                ))}
              </select>
            </div>
          )}
          <DailyChart
            id="executions-chart"
            title={`Executions by day: ${chosenName ?? (workflows.length > 1 ? "all workflows" : workflows[0]?.name)}`}
            summary={`Line chart of executions by day, ${formatRange(data.from, data.to)}, ${chosenName ?? "all workflows"}: ${inWords(series)}. The numbers are in the table below.`}
            days={data.days}
            series={series}
          />
        </>
      )}
    </section>
  );
}
