/**
 * The head of a workflow's pages: its name, its trigger (a permanent event, or a schedule with its next
 * run), its state, and the Editor / Executions tabs.
 */
import { Link, useLocation } from "wouter";
import type { Workflow } from "../api/types";
import { runsFor, useProjectTimeZone, useSegmentName } from "./ScheduleFields";
import { formatInZone } from "./schedule";

export function WorkflowHeader({ workflow }: { workflow: Workflow }) {
  const [location] = useLocation();
  const base = `/workflows/${workflow.id}`;
  const onExecutions = location.startsWith(`${base}/executions`);
  return (
    <header className="workflow-header">
      <p className="breadcrumb">
        <Link href="/workflows">Workflows</Link> /
      </p>
      <h1>{workflow.name}</h1>
      <p className="muted">
        {workflow.schedule ? (
          <ScheduleLine schedule={workflow.schedule} />
        ) : (
          <>
            Trigger <code>{workflow.eventName}</code> (permanent: another trigger needs a new workflow)
          </>
        )}{" "}
        · {workflow.enabled ? "Enabled" : "Disabled"} · re-entry{" "}
        {workflow.allowReentry ? "allowed" : "not allowed"}
      </p>
      <nav aria-label="Workflow">
        <ul className="tabs">
          <li>
            <Link href={base} aria-current={!onExecutions ? "page" : undefined}>
              Editor
            </Link>
          </li>
          <li>
            <Link href={`${base}/executions`} aria-current={onExecutions ? "page" : undefined}>
              Executions
            </Link>
          </li>
        </ul>
      </nav>
    </header>
  );
}

function ScheduleLine({ schedule }: { schedule: NonNullable<Workflow["schedule"]> }) {
  const segmentName = useSegmentName();
  const { timeZone } = useProjectTimeZone();
  return (
    <>
      Schedule <code>{schedule.cron}</code> ({timeZone}), for {runsFor(schedule.segmentId, segmentName)} ·{" "}
      {schedule.nextRunAt ? (
        <>
          next run{" "}
          <time dateTime={schedule.nextRunAt} title={schedule.nextRunAt}>
            {formatInZone(Date.parse(schedule.nextRunAt), timeZone)}
          </time>
        </>
      ) : (
        "no next run while disabled"
      )}
    </>
  );
}
