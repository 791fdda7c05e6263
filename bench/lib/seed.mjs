// SQL for seeding a stopped stack's local D1 directly (`wrangler d1 execute DB --local --file`): a project
// with known keys, and any number of contacts and index rows generated inside SQLite by recursive CTEs,
// so the file stays a few lines long whatever the count.
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const q = (s) => `'${String(s).replace(/'/g, "''")}'`;

export function newProject(label) {
  return {
    id: `prj_bench${label}`,
    publicKey: `pk_${randomBytes(32).toString("base64url")}`,
    secretKey: `sk_${randomBytes(32).toString("base64url")}`,
    webhookSecret: `whsec_${randomBytes(32).toString("base64")}`,
  };
}

/** The contact id and email of seeded contact number i (1-based). Ids sort in i order. */
export const seededEmail = (i) => `c${i}@seed.bench`;

/** `shards`: on the shard engine, as many as the API gives a new project unless told (1). */
export function seedSql(project, { contacts = 0, waits = 0, engine = "objects", shards = 1 } = {}) {
  const now = Date.now();
  const lines = [
    `INSERT INTO projects (id, name, public_key_hash, secret_key_hash, public_key_prefix, secret_key_prefix,
       webhook_secret, signing_secret, engine, shards, created_at, updated_at)
     VALUES (${q(project.id)}, 'Bench', ${q(sha256(project.publicKey))}, ${q(sha256(project.secretKey))},
       ${q(project.publicKey.slice(0, 9))}, ${q(project.secretKey.slice(0, 9))}, ${q(project.webhookSecret)},
       ${q(randomBytes(32).toString("hex"))}, ${q(engine)}, ${Number(shards)}, ${now}, ${now});`,
  ];
  if (contacts > 0) {
    // One contact in ten is on the "pro" plan (what the segment benchmark selects).
    lines.push(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${contacts})
       INSERT INTO contacts (id, project_id, email, subscribed, data, created_at, updated_at)
       SELECT printf('ctc_seed%09d', i), ${q(project.id)}, 'c' || i || '@seed.bench', 1,
         CASE WHEN i % 10 = 0 THEN '{"plan":"pro"}' ELSE '{"plan":"free"}' END, ${now - 86_400_000} + i, ${now - 86_400_000} + i
       FROM n;`,
    );
  }
  if (waits > 0) {
    // Index rows of executions waiting for "bench.resume", one per seeded contact: what dispatch
    // searches when an event arrives. Their executions never hear from anyone.
    lines.push(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${waits})
       INSERT INTO waits (execution_id, project_id, contact_id, event_name, created_at)
       SELECT printf('exec_seed%09d', i), ${q(project.id)}, printf('ctc_seed%09d', i), 'bench.resume', ${now}
       FROM n;`,
    );
  }
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "plunk-edge-seed-")), "seed.sql");
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}
