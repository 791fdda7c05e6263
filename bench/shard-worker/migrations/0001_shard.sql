-- The shard prototype's tables. contacts and events are laid out as the app's (migration 0011: WITHOUT
-- ROWID keyed by project and id, the same secondary indexes), so their rows written compare one to one.
CREATE TABLE contacts (
  id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  email TEXT NOT NULL,
  subscribed INTEGER NOT NULL,
  data TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX contacts_project_email ON contacts (project_id, email);
CREATE TABLE events (
  id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  contact_id TEXT NOT NULL,
  name TEXT NOT NULL,
  data TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  dispatched_at INTEGER,
  -- The executions the event started, as [page, position] pairs: a contact's executions are its events'.
  executions TEXT,
  PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE INDEX events_contact_created ON events (project_id, contact_id, created_at, id);
-- Executions, many to a row: a page holds up to 64 executions of one workflow started in one shard (JSON:
-- id, event, contact, status, step, times, the webhook delivery), rewritten whole when one of them changes;
-- the shard (`owner`) lists its pages with active executions in its own storage. An integer key is the rowid
-- (an execution's id names its page and position: reading one is one row). The workflow's pages, newest
-- first, are its executions list: one index entry per page, written when the page is, never updated.
CREATE TABLE pages (
  id INTEGER PRIMARY KEY,
  owner TEXT NOT NULL,
  workflow TEXT NOT NULL,
  active INTEGER NOT NULL,
  due INTEGER,
  body TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX pages_workflow ON pages (workflow, id);
