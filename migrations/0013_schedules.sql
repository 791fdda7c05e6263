-- Schedule triggers (src/domain/schedule.ts): the project's time zone, a workflow's schedule and when it
-- runs next; the cron's due read is a range of workflows_due (enabled schedules only have next_run_at).
ALTER TABLE `projects` ADD `time_zone` text DEFAULT 'UTC' NOT NULL;--> statement-breakpoint
ALTER TABLE `workflows` ADD `schedule` text;--> statement-breakpoint
ALTER TABLE `workflows` ADD `next_run_at` integer;--> statement-breakpoint
CREATE INDEX `workflows_due` ON `workflows` (`next_run_at`) WHERE next_run_at IS NOT NULL;
