-- The small-rowed tables the hot path inserts into become WITHOUT ROWID: a rowid table with a text primary
-- key writes its row and an entry of the key's index, one D1 row more per insert. (executions and
-- webhook_deliveries stay rowid tables: their rows are often over 1 KB, which a WITHOUT ROWID table stores
-- on an overflow page of its own, 4 KB a row.) Contacts and events are keyed by
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
-- Events listed in id order need time-ordered ids: the dispatched events whose ids were a hash (SES events,
-- email.sent, a step's subscription change: `evt_` and 24 hex digits) get `evt_`, their created_at as
-- newId writes it, and 16 of their hex digits; their executions follow. (Undispatched ones keep theirs: the
-- dispatch that finishes them derives its executions' ids from them.)
CREATE TABLE `__event_ids` (`old` text PRIMARY KEY NOT NULL, `new` text NOT NULL) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__event_ids` (old, new)
SELECT id, 'evt_' || substr('0123456789abcdefghjkmnpqrstvwxyz', (created_at / 35184372088832) % 32 + 1, 1) || substr('0123456789abcdefghjkmnpqrstvwxyz', (created_at / 1099511627776) % 32 + 1, 1) || substr('0123456789abcdefghjkmnpqrstvwxyz', (created_at / 34359738368) % 32 + 1, 1) || substr('0123456789abcdefghjkmnpqrstvwxyz', (created_at / 1073741824) % 32 + 1, 1) || substr('0123456789abcdefghjkmnpqrstvwxyz', (created_at / 33554432) % 32 + 1, 1) || substr('0123456789abcdefghjkmnpqrstvwxyz', (created_at / 1048576) % 32 + 1, 1) || substr('0123456789abcdefghjkmnpqrstvwxyz', (created_at / 32768) % 32 + 1, 1) || substr('0123456789abcdefghjkmnpqrstvwxyz', (created_at / 1024) % 32 + 1, 1) || substr('0123456789abcdefghjkmnpqrstvwxyz', (created_at / 32) % 32 + 1, 1) || substr('0123456789abcdefghjkmnpqrstvwxyz', (created_at / 1) % 32 + 1, 1) || substr(id, 5, 16)
FROM `events` WHERE length(id) = 28 AND dispatched_at IS NOT NULL;
--> statement-breakpoint
UPDATE `executions` SET trigger_event_id = (SELECT new FROM `__event_ids` WHERE old = executions.trigger_event_id)
WHERE trigger_event_id IN (SELECT old FROM `__event_ids`);
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
INSERT INTO `__new_events` (id, project_id, contact_id, name, data, created_at, dispatched_at) SELECT coalesce((SELECT new FROM `__event_ids` WHERE old = events.id), id), project_id, contact_id, name, data, created_at, dispatched_at FROM `events`;
--> statement-breakpoint
DROP TABLE `events`;
--> statement-breakpoint
ALTER TABLE `__new_events` RENAME TO `events`;
--> statement-breakpoint
DROP TABLE `__event_ids`;
--> statement-breakpoint
CREATE INDEX `events_contact_created` ON `events` (`project_id`,`contact_id`,`created_at`,`id`);
--> statement-breakpoint
CREATE INDEX `events_undispatched` ON `events` (`created_at`) WHERE dispatched_at IS NULL;
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
DROP INDEX `executions_workflow_status`;
--> statement-breakpoint
CREATE INDEX `executions_active` ON `executions` (`workflow_id`) WHERE status IN ('RUNNING', 'WAITING');
--> statement-breakpoint
DROP INDEX `executions_contact`;
--> statement-breakpoint
CREATE INDEX `executions_contact` ON `executions` (`contact_id`);
