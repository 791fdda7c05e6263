CREATE TABLE `sns_messages` (
	`id` text PRIMARY KEY NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sns_messages_received` ON `sns_messages` (`received_at`);