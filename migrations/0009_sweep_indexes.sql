CREATE INDEX `emails_queued` ON `emails` (`updated_at`) WHERE status = 'QUEUED';--> statement-breakpoint
CREATE INDEX `emails_sending` ON `emails` (`lease_until`) WHERE status = 'SENDING';--> statement-breakpoint
CREATE INDEX `executions_running` ON `executions` (`updated_at`) WHERE status = 'RUNNING';