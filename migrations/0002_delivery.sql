CREATE TABLE `emails` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`contact_id` text NOT NULL,
	`template_id` text,
	`workflow_execution_id` text,
	`source_type` text NOT NULL,
	`type` text NOT NULL,
	`status` text NOT NULL,
	`to_email` text NOT NULL,
	`from_email` text,
	`from_name` text,
	`reply_to` text,
	`subject` text,
	`body` text,
	`headers` text,
	`data` text,
	`message_id` text,
	`opens` integer DEFAULT 0 NOT NULL,
	`clicks` integer DEFAULT 0 NOT NULL,
	`error` text,
	`lease_until` integer,
	`sent_at` integer,
	`delivered_at` integer,
	`opened_at` integer,
	`clicked_at` integer,
	`bounced_at` integer,
	`complained_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `emails_project_created` ON `emails` (`project_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `emails_message` ON `emails` (`message_id`);--> statement-breakpoint
CREATE TABLE `templates` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`subject` text NOT NULL,
	`body` text NOT NULL,
	`from_email` text NOT NULL,
	`from_name` text,
	`reply_to` text,
	`type` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `templates_project_created` ON `templates` (`project_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
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
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `deliveries_project_created` ON `webhook_deliveries` (`project_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `deliveries_execution` ON `webhook_deliveries` (`execution_id`);--> statement-breakpoint
ALTER TABLE `projects` ADD `signing_secret` text;--> statement-breakpoint
UPDATE `projects` SET `signing_secret` = lower(hex(randomblob(32))) WHERE `signing_secret` IS NULL;
