-- Analytics (src/analytics.ts): counters by project, UTC day, metric and dimension, kept as things happen.
-- Emails' counters are added in the batches that store their events; events' by name by the cron, from
-- each project's cursor over the events' key (`rollup_cursors`, moved only by the statement that counts).
CREATE TABLE `stats_daily` (
	`project_id` text NOT NULL,
	`day` integer NOT NULL,
	`metric` text NOT NULL,
	`dim` text NOT NULL,
	`n` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`project_id`, `day`, `metric`, `dim`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `rollup_cursors` (
	`project_id` text PRIMARY KEY NOT NULL,
	`after` text DEFAULT '' NOT NULL
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `projects_database` ON `projects` (`database`);
