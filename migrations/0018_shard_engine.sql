-- The shard engine (docs/engine.md): a project whose `engine` is 'shard' runs its executions in shard
-- Durable Objects that keep them in pages, many to a D1 row, instead of one object and one row each.
ALTER TABLE `projects` ADD `engine` text DEFAULT 'objects' NOT NULL;
--> statement-breakpoint
-- Moved on by every change to a project's workflows, steps and transitions (the triggers below): a shard
-- keeps the workflows its events start in memory, and each commit holds the version it read against this.
ALTER TABLE `projects` ADD `workflows_version` integer DEFAULT 0 NOT NULL;
--> statement-breakpoint
-- The executions an event started, as a JSON array of their ids (a contact's executions are its events').
ALTER TABLE `events` ADD `executions` text;
--> statement-breakpoint
-- Up to 16 executions of one workflow, started by one shard from one snapshot of the workflow: `body` is
-- their states as a JSON array, rewritten whole when one of them changes; `snapshot` the workflow they run;
-- `counts` their per-step counters by UTC day ({day: {step: [passed, completed, failed]}}), written with
-- the page (no row of their own) and added to `step_counts` when retention deletes the page.
-- An execution's id names its page and its place there. `active` counts the executions not ended and the
-- deliveries not finished; the shard (`owner`) lists the pages it holds active in its own storage.
-- `pages_workflow` is a workflow's executions list, newest page first: one entry per page, never updated.
CREATE TABLE `pages` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`workflow_id` text NOT NULL,
	`owner` text NOT NULL,
	`active` integer NOT NULL,
	`snapshot` text NOT NULL,
	`body` text NOT NULL,
	`counts` text DEFAULT '{}' NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `pages_workflow` ON `pages` (`project_id`, `workflow_id`, `id`);
--> statement-breakpoint
-- A project's pages by age (ids are time-ordered): what retention ranges over. One entry per page, written
-- when the page is made and never again (an index on what changes would be rewritten with each write).
CREATE INDEX `pages_project` ON `pages` (`project_id`, `id`);
--> statement-breakpoint
CREATE TRIGGER `workflows_insert_version` AFTER INSERT ON `workflows` BEGIN
  UPDATE projects SET workflows_version = workflows_version + 1 WHERE id = NEW.project_id;
END;
--> statement-breakpoint
CREATE TRIGGER `workflows_update_version` AFTER UPDATE ON `workflows` BEGIN
  UPDATE projects SET workflows_version = workflows_version + 1 WHERE id = NEW.project_id;
END;
--> statement-breakpoint
CREATE TRIGGER `workflows_delete_version` AFTER DELETE ON `workflows` BEGIN
  UPDATE projects SET workflows_version = workflows_version + 1 WHERE id = OLD.project_id;
END;
--> statement-breakpoint
CREATE TRIGGER `workflow_steps_insert_version` AFTER INSERT ON `workflow_steps` BEGIN
  UPDATE projects SET workflows_version = workflows_version + 1 WHERE id = NEW.project_id;
END;
--> statement-breakpoint
CREATE TRIGGER `workflow_steps_update_version` AFTER UPDATE ON `workflow_steps` BEGIN
  UPDATE projects SET workflows_version = workflows_version + 1 WHERE id = NEW.project_id;
END;
--> statement-breakpoint
CREATE TRIGGER `workflow_steps_delete_version` AFTER DELETE ON `workflow_steps` BEGIN
  UPDATE projects SET workflows_version = workflows_version + 1 WHERE id = OLD.project_id;
END;
--> statement-breakpoint
CREATE TRIGGER `workflow_transitions_insert_version` AFTER INSERT ON `workflow_transitions` BEGIN
  UPDATE projects SET workflows_version = workflows_version + 1 WHERE id = NEW.project_id;
END;
--> statement-breakpoint
CREATE TRIGGER `workflow_transitions_update_version` AFTER UPDATE ON `workflow_transitions` BEGIN
  UPDATE projects SET workflows_version = workflows_version + 1 WHERE id = NEW.project_id;
END;
--> statement-breakpoint
CREATE TRIGGER `workflow_transitions_delete_version` AFTER DELETE ON `workflow_transitions` BEGIN
  UPDATE projects SET workflows_version = workflows_version + 1 WHERE id = OLD.project_id;
END;
