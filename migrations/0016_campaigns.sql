-- Campaigns (src/campaigns.ts): a broadcast to the subscribed contacts of the project, a segment or a
-- filter. The fan-out pages through the audience from `cursor` (moved only by the holder of the 30 s
-- `lease_until`), making one emails row per recipient (its id derived from (campaign, contact)); the
-- counters are kept as things happen (the fan-out, the email consumer, SES's notifications, unsubscribes).
CREATE TABLE `campaigns` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`subject` text,
	`body` text,
	`template_id` text,
	`from_email` text,
	`from_name` text,
	`reply_to` text,
	`audience` text NOT NULL,
	`status` text NOT NULL,
	`scheduled_at` integer,
	`time_zone` text,
	`cursor` text DEFAULT '' NOT NULL,
	`lease_until` integer,
	`fanned_out` integer DEFAULT 0 NOT NULL,
	`recipients` integer DEFAULT 0 NOT NULL,
	`sent` integer DEFAULT 0 NOT NULL,
	`skipped` integer DEFAULT 0 NOT NULL,
	`delivered` integer DEFAULT 0 NOT NULL,
	`opened` integer DEFAULT 0 NOT NULL,
	`clicked` integer DEFAULT 0 NOT NULL,
	`bounced` integer DEFAULT 0 NOT NULL,
	`complained` integer DEFAULT 0 NOT NULL,
	`unsubscribed` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `campaigns_project_created` ON `campaigns` (`project_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `campaigns_due` ON `campaigns` (`scheduled_at`) WHERE status = 'SCHEDULED';--> statement-breakpoint
CREATE INDEX `campaigns_sending` ON `campaigns` (`updated_at`) WHERE status = 'SENDING' AND fanned_out = 0;--> statement-breakpoint
ALTER TABLE `emails` ADD `campaign_id` text;
