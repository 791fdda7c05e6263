/**
 * The project's webhook deliveries, newest first, filtered by status, workflow and execution (the filters
 * live in the address, so a filtered list can be linked to); pending ones refresh by themselves.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { type FormEvent, useEffect, useMemo, useState } from "react";
import { deliveriesQuery, workflowsQuery } from "../api/queries";
import type { Delivery } from "../api/types";
import { DeliveriesTable } from "../components/DeliveriesTable";
import { EmptyState } from "../components/EmptyState";
import { ErrorBox } from "../components/ErrorBox";
import { FilterActions, useFilterParams } from "../components/Filters";
import { Pager, useCursorPages } from "../components/Pager";

/** Every delivery status with what it means (the keys are checked against the API's own list). */
const DELIVERY_STATUS_HELP: Record<Delivery["status"], string> = {
  PENDING: "Pending: being sent or retried",
  DELIVERED: "Delivered: the endpoint answered 2xx",
  FAILED: "Failed: every attempt failed",
};
const STATUSES = Object.keys(DELIVERY_STATUS_HELP) as Delivery["status"][];

export function DeliveriesPage() {
  const { params, setFilter, clearFilters } = useFilterParams();
  const status = params.get("status") ?? "";
  const workflowId = params.get("workflowId") ?? "";
  const executionId = params.get("executionId") ?? "";
  const filters = useMemo(
    () => ({
      status: status || undefined,
      workflowId: workflowId || undefined,
      executionId: executionId || undefined,
    }),
    [status, workflowId, executionId],
  );
  const pages = useCursorPages(JSON.stringify(filters));
  const list = useQuery({
    ...deliveriesQuery({ ...filters, cursor: pages.cursor }),
    placeholderData: keepPreviousData,
  });
  const workflows = useQuery(workflowsQuery(undefined, 100));
  const workflowName = useMemo(
    () => new Map((workflows.data?.data ?? []).map((w) => [w.id, w.name])),
    [workflows.data],
  );

  const [executionText, setExecutionText] = useState(executionId);
  useEffect(() => setExecutionText(executionId), [executionId]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setFilter("executionId", executionText.trim());
  };
  const filtered = Boolean(status || workflowId || executionId);
  const rows = list.data?.data ?? [];
  const pending = rows.filter((d) => d.status === "PENDING").length;

  return (
    <>
      <h1>Webhook deliveries</h1>
      <p className="muted">
        Every call a Webhook step made, with each attempt. Failed calls are retried with backoff; you can
        replay any delivery.
      </p>
      <form className="filters" onSubmit={submit} aria-label="Filter the deliveries">
        <label>
          Status
          <select name="status" value={status} onChange={(e) => setFilter("status", e.target.value)}>
            <option value="">All statuses</option>
            {STATUSES.map((s) => (
              <option key={s} value={s} title={DELIVERY_STATUS_HELP[s]}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Workflow
          <select
            name="workflowId"
            value={workflowId}
            onChange={(e) => setFilter("workflowId", e.target.value)}
          >
            <option value="">All workflows</option>
            {workflowId && !workflowName.has(workflowId) && <option value={workflowId}>{workflowId}</option>}
            {(workflows.data?.data ?? []).map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Execution id
          <input
            name="executionId"
            value={executionText}
            onChange={(e) => setExecutionText(e.target.value)}
            onBlur={() =>
              executionText.trim() !== executionId && setFilter("executionId", executionText.trim())
            }
            placeholder="xpg_… or exec_…"
            autoComplete="off"
            spellCheck={false}
          />
        </label>
        <FilterActions submit="Filter" filtered={filtered} onClear={clearFilters} />
      </form>
      {workflows.isError && <ErrorBox error={workflows.error} title="Could not load the workflows" />}

      {list.isError && <ErrorBox error={list.error} title="Could not load the webhook deliveries" />}
      {list.isPending && <p aria-busy="true">Loading the deliveries…</p>}
      <p className="muted" aria-live="polite">
        {list.isSuccess &&
          `${rows.length} deliver${rows.length === 1 ? "y" : "ies"} shown, ${pending} pending${pending > 0 ? ": refreshing every 2 seconds" : ""}`}
      </p>
      {list.isSuccess && rows.length === 0 && (
        <EmptyState title={filtered ? "No deliveries match these filters" : "No webhook deliveries yet"}>
          {filtered ? (
            <p>
              Change or <strong>clear the filters</strong> to see the others.
            </p>
          ) : (
            <p>
              A delivery is made each time an execution runs a <strong>Webhook</strong> step. Add one to a
              workflow in its editor, enable the workflow, and track its trigger event with{" "}
              <code>POST /v1/track</code>.
            </p>
          )}
        </EmptyState>
      )}
      {rows.length > 0 && <DeliveriesTable rows={rows} workflowName={workflowName} />}
      <Pager label="Delivery pages" pages={pages} data={list.data} />
    </>
  );
}
