/**
 * Webhook deliveries as a table (the deliveries page, an execution's page): each row its id (a link to
 * the delivery), status as text, request, attempts and time; with `workflowName`, also the workflow and
 * execution it came from.
 */
import { Link } from "wouter";
import type { Delivery } from "../api/types";
import { StatusBadge } from "./StatusBadge";
import { Time } from "./Time";

export function DeliveriesTable({
  rows,
  workflowName,
}: {
  rows: Delivery[];
  workflowName?: Map<string, string>;
}) {
  return (
    <div className="table-wrap">
      <table className="striped">
        <thead>
          <tr>
            <th scope="col">Delivery</th>
            <th scope="col">Status</th>
            <th scope="col">Request</th>
            <th scope="col">Attempts</th>
            {workflowName && <th scope="col">Workflow</th>}
            {workflowName && <th scope="col">Execution</th>}
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((d) => (
            <tr key={d.id} data-delivery-id={d.id}>
              <td>
                <Link href={`/deliveries/${d.id}`} className="id-link">
                  {d.id}
                </Link>
              </td>
              <td>
                <StatusBadge status={d.status} />
              </td>
              <td className="cell-url">
                <code>{d.method}</code> {d.url}
              </td>
              <td>
                {d.attemptCount}
                {d.replays > 0 && (
                  <small className="muted">
                    {" "}
                    ({d.replays} replay{d.replays === 1 ? "" : "s"})
                  </small>
                )}
              </td>
              {workflowName && (
                <td>
                  <Link href={`/workflows/${d.workflowId}/executions`}>
                    {workflowName.get(d.workflowId) ?? <code>{d.workflowId}</code>}
                  </Link>
                </td>
              )}
              {workflowName && (
                <td>
                  <Link href={`/workflows/${d.workflowId}/executions/${d.executionId}`}>
                    <code>{d.executionId}</code>
                  </Link>
                </td>
              )}
              <td>
                <Time iso={d.createdAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
