CREATE TABLE `enrollments` (
	`workflow_id` text NOT NULL,
	`contact_id` text NOT NULL,
	`active_execution_id` text,
	`last_execution_id` text NOT NULL,
	`runs` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`workflow_id`, `contact_id`)
);
--> statement-breakpoint
CREATE TABLE `executions` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`workflow_id` text NOT NULL,
	`contact_id` text NOT NULL,
	`trigger_event_id` text,
	`status` text NOT NULL,
	`current_step_id` text,
	`exit_reason` text,
	`context` text DEFAULT '{}' NOT NULL,
	`wake_at` integer,
	`started_at` integer NOT NULL,
	`completed_at` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `executions_workflow_started` ON `executions` (`project_id`,`workflow_id`,`started_at`,`id`);--> statement-breakpoint
CREATE INDEX `executions_workflow_status` ON `executions` (`workflow_id`,`status`);--> statement-breakpoint
CREATE INDEX `executions_wake` ON `executions` (`wake_at`) WHERE wake_at IS NOT NULL;--> statement-breakpoint
CREATE INDEX `executions_contact` ON `executions` (`contact_id`,`status`);--> statement-breakpoint
CREATE TABLE `step_executions` (
	`id` text PRIMARY KEY NOT NULL,
	`execution_id` text NOT NULL,
	`step_id` text NOT NULL,
	`seq` integer NOT NULL,
	`status` text NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`output` text,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `step_executions_execution` ON `step_executions` (`execution_id`,`seq`);--> statement-breakpoint
CREATE TABLE `waits` (
	`execution_id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`contact_id` text NOT NULL,
	`event_name` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `waits_lookup` ON `waits` (`project_id`,`contact_id`,`event_name`);--> statement-breakpoint
CREATE TABLE `workflow_steps` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`workflow_id` text NOT NULL,
	`type` text NOT NULL,
	`name` text NOT NULL,
	`config` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `steps_workflow` ON `workflow_steps` (`workflow_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `workflow_transitions` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`workflow_id` text NOT NULL,
	`from_step_id` text NOT NULL,
	`to_step_id` text NOT NULL,
	`branch` text,
	`branch_key` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `transitions_workflow` ON `workflow_transitions` (`workflow_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `transitions_from_branch` ON `workflow_transitions` (`from_step_id`,`branch_key`);--> statement-breakpoint
CREATE TABLE `workflows` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`description` text,
	`event_name` text NOT NULL,
	`enabled` integer NOT NULL,
	`allow_reentry` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `workflows_project_created` ON `workflows` (`project_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `workflows_trigger` ON `workflows` (`project_id`,`event_name`,`enabled`);