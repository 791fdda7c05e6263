-- The step log moves into its executions row (one JSON array a row, written whole by each mirror) and the
-- per-step counts of GET /workflows/:id/stats into counters, a row per workflow and UTC day holding
-- {stepId: [passed, completed, failed]}: each step-log row wrote four D1 rows (the row, its primary key and
-- two indexes); a mirror now writes its executions row and one counters row.
CREATE TABLE `step_counts` (
	`workflow_id` text NOT NULL,
	`day` integer NOT NULL,
	`counts` text DEFAULT '{}' NOT NULL,
	PRIMARY KEY(`workflow_id`, `day`)
) WITHOUT ROWID;
--> statement-breakpoint
ALTER TABLE `executions` ADD `steps` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
UPDATE `executions` SET `steps` = (
  SELECT json_group_array(json_object('id', s.id, 'stepId', s.step_id, 'seq', s.seq, 'status', s.status,
    'startedAt', s.started_at, 'finishedAt', s.finished_at, 'output', json(s.output), 'error', s.error))
  FROM (SELECT * FROM `step_executions` WHERE execution_id = `executions`.id ORDER BY seq) s)
WHERE EXISTS (SELECT 1 FROM `step_executions` WHERE execution_id = `executions`.id);--> statement-breakpoint
INSERT INTO `step_counts` (workflow_id, day, counts)
SELECT workflow_id, day, json_group_object(step_id, json_array(passed, completed, failed)) FROM (
  SELECT x.workflow_id, s.started_at / 86400000 AS day, s.step_id, count(*) AS passed,
    sum(s.status = 'COMPLETED') AS completed, sum(s.status = 'FAILED') AS failed
  FROM `step_executions` s JOIN `executions` x ON x.id = s.execution_id
  GROUP BY x.workflow_id, s.started_at / 86400000, s.step_id)
GROUP BY workflow_id, day;--> statement-breakpoint
DROP TABLE `step_executions`;
