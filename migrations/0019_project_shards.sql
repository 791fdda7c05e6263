-- How many shards a project on the shard engine has (src/shard/routing.ts): chosen at creation, never
-- changed, since a contact's shard is its email's hash modulo this count. Projects made before this
-- migration had 4; the API sets each new project's (1 unless asked).
ALTER TABLE projects ADD COLUMN shards INTEGER NOT NULL DEFAULT 4;
