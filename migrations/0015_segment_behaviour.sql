-- Segments that see behaviour (src/domain/segments.ts): static segments (members added by email; their
-- condition is JSON null), and the next recompute of a segment whose membership moves with time alone.
ALTER TABLE `segments` ADD `type` text DEFAULT 'DYNAMIC' NOT NULL;--> statement-breakpoint
ALTER TABLE `segments` ADD `recompute_at` integer;--> statement-breakpoint
CREATE INDEX `segments_recompute` ON `segments` (`recompute_at`) WHERE recompute_at IS NOT NULL;
