-- The floor worker's tables: the rows DESIGN.md keeps in D1 for an event, an execution and a delivery.
CREATE TABLE contacts (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  data TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE events (
  id TEXT PRIMARY KEY,
  contact_id TEXT NOT NULL,
  name TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  dispatched_at INTEGER
);
CREATE TABLE executions (
  id TEXT PRIMARY KEY,
  contact_id TEXT NOT NULL,
  status TEXT NOT NULL,
  step TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE deliveries (
  id TEXT PRIMARY KEY,
  execution_id TEXT NOT NULL,
  status TEXT NOT NULL,
  status_code INTEGER,
  updated_at INTEGER NOT NULL
);
