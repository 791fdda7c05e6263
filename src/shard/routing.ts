/**
 * Which engine a project runs on, how many shards it has, and which shard a contact belongs to
 * (docs/engine.md). Both are chosen when the project is created and never change, so this isolate keeps
 * what it has read.
 */
import { registry } from "../db/databases";
import type { Env } from "../env";

export type Engine = "objects" | "shard";

/**
 * Shards a new project gets unless it asks for more. One: a shard commits what arrived during its last
 * commit together, so the fewer shards, the larger each commit and the fewer D1 statements an execution
 * costs (docs/engine.md, "Shards per project"); the project's D1 database takes every shard's commits one
 * at a time anyway. More shards spread a very busy project's step runs over more objects.
 */
export const DEFAULT_SHARDS = 1;
export const MAX_SHARDS = 16;

interface Placement {
  engine: Engine;
  shards: number;
}

const placements = new Map<string, Placement>();

function keep(projectId: string, engine: string, shards: number): Placement {
  const p: Placement = { engine: engine === "shard" ? "shard" : "objects", shards: Math.max(1, shards) };
  if (placements.size > 10_000) placements.clear();
  placements.set(projectId, p);
  return p;
}

/** Read with the project elsewhere (its key's lookup): kept, so the first request reads nothing more. */
export const rememberPlacement = keep;

async function placementOf(env: Env, projectId: string): Promise<Placement> {
  const hit = placements.get(projectId);
  if (hit) return hit;
  const row = await registry(env)
    .prepare("SELECT engine, shards FROM projects WHERE id = ?1")
    .bind(projectId)
    .first<{ engine: Engine; shards: number }>();
  return row ? keep(projectId, row.engine, row.shards) : { engine: "objects", shards: DEFAULT_SHARDS };
}

export async function engineOf(env: Env, projectId: string): Promise<Engine> {
  return (await placementOf(env, projectId)).engine;
}

/** FNV-1a of the email, mod the project's shard count: the name of the contact's shard. */
function shardName(projectId: string, email: string, shards: number): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < email.length; i++) {
    h ^= email.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return `${projectId}/${(h >>> 0) % shards}`;
}

/** The name of the shard of the project that holds this contact's executions. */
export async function shardOf(env: Env, projectId: string, email: string): Promise<string> {
  return shardName(projectId, email, (await placementOf(env, projectId)).shards);
}

/** How many shards the project has. */
export async function shardCount(env: Env, projectId: string): Promise<number> {
  return (await placementOf(env, projectId)).shards;
}

/** Every shard of a project. */
export async function shardNames(env: Env, projectId: string): Promise<string[]> {
  const { shards } = await placementOf(env, projectId);
  return Array.from({ length: shards }, (_, i) => `${projectId}/${i}`);
}

export const shardStub = (env: Env, name: string) => env.SHARDS.get(env.SHARDS.idFromName(name));
