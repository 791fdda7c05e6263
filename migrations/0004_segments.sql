CREATE TABLE `segment_members` (
	`segment_id` text NOT NULL,
	`contact_id` text NOT NULL,
	`project_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`segment_id`, `contact_id`)
);
--> statement-breakpoint
CREATE INDEX `segment_members_contact` ON `segment_members` (`contact_id`);--> statement-breakpoint
CREATE INDEX `segment_members_list` ON `segment_members` (`segment_id`,`created_at`,`contact_id`);--> statement-breakpoint
CREATE TABLE `segments` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`slug` text NOT NULL,
	`description` text,
	`condition` text NOT NULL,
	`generation` integer DEFAULT 0 NOT NULL,
	`backfill` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `segments_project_slug` ON `segments` (`project_id`,`slug`);--> statement-breakpoint
CREATE INDEX `segments_project_created` ON `segments` (`project_id`,`created_at`,`id`);