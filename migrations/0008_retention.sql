CREATE TABLE `sweep_cursors` (
	`name` text PRIMARY KEY NOT NULL,
	`cursor` text NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `projects` ADD `retention_days` integer DEFAULT 30 NOT NULL;--> statement-breakpoint
CREATE INDEX `emails_retained` ON `emails` (`project_id`,`created_at`) WHERE body IS NOT NULL OR data IS NOT NULL OR headers IS NOT NULL;--> statement-breakpoint
CREATE INDEX `executions_ended` ON `executions` (`project_id`,`completed_at`) WHERE completed_at IS NOT NULL;