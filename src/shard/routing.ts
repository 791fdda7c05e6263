/**
 * Which engine a project runs on, and which shard of it a contact belongs to (docs/engine.md). A project's
 * engine is chosen when it is created and never changes, so this isolate keeps what it has read.
 */
import { registry } from "../db/databases";
import type { Env } from "../env";

export type Engine = "objects" | "shard";

/** Shards per project: a contact's events all go to one (its email's), so they are handled in order. */
export const SHARDS_PER_PROJECT = 4;

const engines = new Map<string, Engine>();

/** Read with the project elsewhere (its key's lookup): kept, so the first request reads nothing more. */
export function rememberEngine(projectId: string, engine: string): void {
  if (engines.size > 10_000) engines.clear();
  engines.set(projectId, engine === "shard" ? "shard" : "objects");
}

export async function engineOf(env: Env, projectId: string): Promise<Engine> {
  const hit = engines.get(projectId);
  if (hit) return hit;
  const row = await registry(env)
    .prepare("SELECT engine FROM projects WHERE id = ?1")
    .bind(projectId)
    .first<{ engine: Engine }>();
  const engine = row?.engine ?? "objects";
  if (engines.size > 10_000) engines.clear();
  if (row) engines.set(projectId, engine);
  return engine;
}

/** FNV-1a of the email, mod the shard count: the name of the contact's shard. */
export function shardName(projectId: string, email: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < email.length; i++) {
    h ^= email.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return `${projectId}/${(h >>> 0) % SHARDS_PER_PROJECT}`;
}

/** Every shard of a project. */
export const shardNames = (projectId: string) =>
  Array.from({ length: SHARDS_PER_PROJECT }, (_, i) => `${projectId}/${i}`);

export const shardStub = (env: Env, name: string) => env.SHARDS.get(env.SHARDS.idFromName(name));
