/** A workflow's editor tab: its header, then the canvas, the step panel and "Try it". */
import { useQuery } from "@tanstack/react-query";
import { useParams } from "wouter";
import { workflowQuery } from "../api/queries";
import { ErrorBox } from "../components/ErrorBox";
import { WorkflowHeader } from "../components/WorkflowHeader";
import { WorkflowEditor } from "../editor/WorkflowEditor";

export function WorkflowEditorPage() {
  const { id = "" } = useParams<{ id: string }>();
  const workflow = useQuery(workflowQuery(id));
  if (workflow.isPending) return <p aria-busy="true">Loading the workflow…</p>;
  if (workflow.isError) return <ErrorBox error={workflow.error} title="Could not load the workflow" />;
  return (
    <>
      <WorkflowHeader workflow={workflow.data} />
      <WorkflowEditor key={workflow.data.id} workflow={workflow.data} />
    </>
  );
}
