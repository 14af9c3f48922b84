/**
 * What an attack could have changed, captured so before and after can be compared: Postgres
 * (row counts and a content hash of runs, stages and activity_tasks, over the columns that carry
 * state; lease deadlines and timestamps move with legitimate heartbeats and are left out), every
 * stream's last sequence and message count, and the worker registry's entries.
 */
import { createHash } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { workerRegistryBucket } from "../../src/contract/fleet.js";
import type { SecurityEnv } from "./env.js";

export interface Snapshot {
  postgres: Record<string, { rows: number; sha256: string }>;
  streams: Record<string, { lastSeq: number; messages: number }>;
  registry: Record<string, string>;
}

/** Table → state columns, ordered by the first (the key). */
const TABLES: Record<string, string[]> = {
  runs: ["id", "workflow_id", "status", "input", "output", "error", "current_group_index", "claimed_by"],
  stages: ["id", "run_id", "stage_id", "status", "attempt", "execution_token", "output", "output_ref", "error", "suspended_state"],
  activity_tasks: [
    "task_id",
    "queue",
    "code_version",
    "status",
    "attempt",
    "max_attempts",
    "lease_token",
    "worker_id",
    "input",
    "heartbeat_details",
    "outcome",
    "output",
    "error",
    "report",
    "capability",
    "max_upload_bytes",
  ],
};

export async function snapshot(env: SecurityEnv): Promise<Snapshot> {
  const out: Snapshot = { postgres: {}, streams: {}, registry: {} };
  for (const [table, cols] of Object.entries(TABLES)) {
    const rows = await env.sql.unsafe(
      `select ${cols.map((c) => `"${c}"`).join(", ")} from "${env.schema}"."${table}" order by "${cols[0]}"`,
    );
    out.postgres[table] = { rows: rows.length, sha256: createHash("sha256").update(JSON.stringify(rows)).digest("hex") };
  }
  const jsm = await jetstreamManager(env.orch);
  for await (const s of jsm.streams.list()) out.streams[s.config.name] = { lastSeq: s.state.last_seq, messages: s.state.messages };
  const kv = await new Kvm(env.orch).open(workerRegistryBucket(env.topology.prefix));
  for await (const key of await kv.keys()) {
    const e = await kv.get(key);
    if (e) out.registry[key] = `${e.revision}:${e.operation}:${createHash("sha256").update(e.value).digest("hex")}`;
  }
  return out;
}

/**
 * Differences between two snapshots, one line each, minus `allowed`: stream → how much its last
 * sequence may have grown through traffic the suite itself counted as legitimate or as an
 * attempt the server had to accept (a report on the attacker's own subject, which the broker then refused);
 * the attacker's own registry entry may have been rewritten (its key must remain).
 */
export function differences(
  before: Snapshot,
  after: Snapshot,
  allowed: { streamGrowth: Record<string, number>; ownRegistryKey: string },
): string[] {
  const out: string[] = [];
  const cmp = (what: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${what}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`);
  };
  for (const t of new Set([...Object.keys(before.postgres), ...Object.keys(after.postgres)]))
    cmp(`postgres ${t}`, before.postgres[t], after.postgres[t]);
  for (const s of new Set([...Object.keys(before.streams), ...Object.keys(after.streams)])) {
    const a = before.streams[s];
    const b = after.streams[s];
    if (!a || !b) {
      cmp(`stream ${s}`, a, b);
      continue;
    }
    const growth = allowed.streamGrowth[s] ?? 0;
    cmp(`stream ${s} last sequence (+${growth} expected)`, a.lastSeq + growth, b.lastSeq);
    // Work-queue streams: what was counted in was consumed again (reports) or sits in the attacker's consumer (tasks).
    if (growth === 0) cmp(`stream ${s} messages`, a.messages, b.messages);
  }
  // The attacker may rewrite its own entry (the spoofing attempts restore its content, at a new revision).
  const others = (r: Record<string, string>) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== allowed.ownRegistryKey));
  cmp("registry", others(before.registry), others(after.registry));
  cmp("registry keys", Object.keys(before.registry), Object.keys(after.registry));
  return out;
}
