-- The step log moves into its executions row (one JSON array a row, written whole by each mirror) and the
-- per-step counts of GET /workflows/:id/stats into counters by UTC day: each step-log row written four
-- D1 rows (the row, its primary key and two indexes); an execution now writes one row and a counter a step.
CREATE TABLE `step_counts` (
	`workflow_id` text NOT NULL,
	`day` integer NOT NULL,
	`step_id` text NOT NULL,
	`passed` integer DEFAULT 0 NOT NULL,
	`completed` integer DEFAULT 0 NOT NULL,
	`failed` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`workflow_id`, `day`, `step_id`)
) WITHOUT ROWID;
--> statement-breakpoint
ALTER TABLE `executions` ADD `steps` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
UPDATE `executions` SET `steps` = (
  SELECT json_group_array(json_object('id', s.id, 'stepId', s.step_id, 'seq', s.seq, 'status', s.status,
    'startedAt', s.started_at, 'finishedAt', s.finished_at, 'output', json(s.output), 'error', s.error))
  FROM (SELECT * FROM `step_executions` WHERE execution_id = `executions`.id ORDER BY seq) s)
WHERE EXISTS (SELECT 1 FROM `step_executions` WHERE execution_id = `executions`.id);--> statement-breakpoint
INSERT INTO `step_counts` (workflow_id, day, step_id, passed, completed, failed)
SELECT x.workflow_id, s.started_at / 86400000, s.step_id, count(*),
  sum(s.status = 'COMPLETED'), sum(s.status = 'FAILED')
FROM `step_executions` s JOIN `executions` x ON x.id = s.execution_id
GROUP BY x.workflow_id, s.started_at / 86400000, s.step_id;--> statement-breakpoint
DROP TABLE `step_executions`;
