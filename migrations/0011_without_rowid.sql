-- The tables the hot path inserts into become WITHOUT ROWID: a rowid table with a text primary key writes
-- its row and an entry of the key's index, one D1 row more per insert. Contacts and events are keyed by
-- (project_id, id), their list order (ids are time-ordered), so contacts_project_created and
-- events_project_created go. executions_workflow_status becomes executions_active (a partial index of the
-- active executions, which a move between RUNNING and WAITING does not rewrite), and executions_contact
-- loses its status column for the same reason.
CREATE TABLE `__new_contacts` (
	`id` text NOT NULL,
	`project_id` text NOT NULL,
	`email` text NOT NULL,
	`subscribed` integer NOT NULL,
	`data` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`project_id`, `id`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_contacts` (id, project_id, email, subscribed, data, created_at, updated_at) SELECT id, project_id, email, subscribed, data, created_at, updated_at FROM `contacts`;
--> statement-breakpoint
DROP TABLE `contacts`;
--> statement-breakpoint
ALTER TABLE `__new_contacts` RENAME TO `contacts`;
--> statement-breakpoint
CREATE UNIQUE INDEX `contacts_project_email` ON `contacts` (`project_id`,`email`);
--> statement-breakpoint
CREATE TABLE `__new_events` (
	`id` text NOT NULL,
	`project_id` text NOT NULL,
	`contact_id` text NOT NULL,
	`name` text NOT NULL,
	`data` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	`dispatched_at` integer,
	PRIMARY KEY(`project_id`, `id`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_events` (id, project_id, contact_id, name, data, created_at, dispatched_at) SELECT id, project_id, contact_id, name, data, created_at, dispatched_at FROM `events`;
--> statement-breakpoint
DROP TABLE `events`;
--> statement-breakpoint
ALTER TABLE `__new_events` RENAME TO `events`;
--> statement-breakpoint
CREATE INDEX `events_contact_created` ON `events` (`project_id`,`contact_id`,`created_at`,`id`);
--> statement-breakpoint
CREATE INDEX `events_undispatched` ON `events` (`created_at`) WHERE dispatched_at IS NULL;
--> statement-breakpoint
CREATE TABLE `__new_executions` (
	`id` text NOT NULL,
	`project_id` text NOT NULL,
	`workflow_id` text NOT NULL,
	`contact_id` text NOT NULL,
	`trigger_event_id` text,
	`status` text NOT NULL,
	`current_step_id` text,
	`exit_reason` text,
	`context` text DEFAULT '{}' NOT NULL,
	`steps` text DEFAULT '[]' NOT NULL,
	`wake_at` integer,
	`started_at` integer NOT NULL,
	`completed_at` integer,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`id`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_executions` (id, project_id, workflow_id, contact_id, trigger_event_id, status, current_step_id, exit_reason, context, steps, wake_at, started_at, completed_at, updated_at) SELECT id, project_id, workflow_id, contact_id, trigger_event_id, status, current_step_id, exit_reason, context, steps, wake_at, started_at, completed_at, updated_at FROM `executions`;
--> statement-breakpoint
DROP TABLE `executions`;
--> statement-breakpoint
ALTER TABLE `__new_executions` RENAME TO `executions`;
--> statement-breakpoint
CREATE INDEX `executions_workflow_started` ON `executions` (`project_id`,`workflow_id`,`started_at`,`id`);
--> statement-breakpoint
CREATE INDEX `executions_active` ON `executions` (`workflow_id`) WHERE status IN ('RUNNING', 'WAITING');
--> statement-breakpoint
CREATE INDEX `executions_wake` ON `executions` (`wake_at`) WHERE wake_at IS NOT NULL;
--> statement-breakpoint
CREATE INDEX `executions_contact` ON `executions` (`contact_id`);
--> statement-breakpoint
CREATE INDEX `executions_running` ON `executions` (`updated_at`) WHERE status = 'RUNNING';
--> statement-breakpoint
CREATE INDEX `executions_ended` ON `executions` (`project_id`,`completed_at`) WHERE completed_at IS NOT NULL;
--> statement-breakpoint
CREATE TABLE `__new_enrollments` (
	`workflow_id` text NOT NULL,
	`contact_id` text NOT NULL,
	`active_execution_id` text,
	`last_execution_id` text NOT NULL,
	`runs` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`workflow_id`, `contact_id`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_enrollments` (workflow_id, contact_id, active_execution_id, last_execution_id, runs, updated_at) SELECT workflow_id, contact_id, active_execution_id, last_execution_id, runs, updated_at FROM `enrollments`;
--> statement-breakpoint
DROP TABLE `enrollments`;
--> statement-breakpoint
ALTER TABLE `__new_enrollments` RENAME TO `enrollments`;
--> statement-breakpoint
CREATE TABLE `__new_waits` (
	`execution_id` text NOT NULL,
	`project_id` text NOT NULL,
	`contact_id` text NOT NULL,
	`event_name` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`execution_id`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_waits` (execution_id, project_id, contact_id, event_name, created_at) SELECT execution_id, project_id, contact_id, event_name, created_at FROM `waits`;
--> statement-breakpoint
DROP TABLE `waits`;
--> statement-breakpoint
ALTER TABLE `__new_waits` RENAME TO `waits`;
--> statement-breakpoint
CREATE INDEX `waits_lookup` ON `waits` (`project_id`,`contact_id`,`event_name`);
--> statement-breakpoint
CREATE TABLE `__new_webhook_deliveries` (
	`id` text NOT NULL,
	`project_id` text NOT NULL,
	`workflow_id` text NOT NULL,
	`execution_id` text NOT NULL,
	`step_id` text NOT NULL,
	`url` text NOT NULL,
	`method` text NOT NULL,
	`status` text NOT NULL,
	`message` text NOT NULL,
	`attempts` text DEFAULT '[]' NOT NULL,
	`generation` integer DEFAULT 0 NOT NULL,
	`lease_until` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`id`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_webhook_deliveries` (id, project_id, workflow_id, execution_id, step_id, url, method, status, message, attempts, generation, lease_until, created_at, updated_at) SELECT id, project_id, workflow_id, execution_id, step_id, url, method, status, message, attempts, generation, lease_until, created_at, updated_at FROM `webhook_deliveries`;
--> statement-breakpoint
DROP TABLE `webhook_deliveries`;
--> statement-breakpoint
ALTER TABLE `__new_webhook_deliveries` RENAME TO `webhook_deliveries`;
--> statement-breakpoint
CREATE INDEX `deliveries_project_created` ON `webhook_deliveries` (`project_id`,`created_at`,`id`);
--> statement-breakpoint
CREATE INDEX `deliveries_execution` ON `webhook_deliveries` (`execution_id`);
