-- Bulk changes of contacts by segment or filter (src/contacts/bulk.ts): a job per request, paged through the
-- segments queue; `cursor` is the last contact a page saw, moved only by the page that did it; a page is
-- worked by one delivery at a time (`lease_until`).
CREATE TABLE `bulk_jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`action` text NOT NULL,
	`segment_id` text,
	`filter` text,
	`status` text NOT NULL,
	`cursor` text DEFAULT '' NOT NULL,
	`matched` integer DEFAULT 0 NOT NULL,
	`changed` integer DEFAULT 0 NOT NULL,
	`lease_until` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`finished_at` integer
);--> statement-breakpoint
CREATE INDEX `bulk_jobs_project` ON `bulk_jobs` (`project_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `bulk_jobs_running` ON `bulk_jobs` (`updated_at`) WHERE status = 'RUNNING';
