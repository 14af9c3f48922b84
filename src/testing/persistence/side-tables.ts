import type { AnnotationFilter, IdempotencyAcquire, NewAnnotation, NewLog, NewOutboxRow } from "../../ports/persistence.js";
import type { AnnotationRecord, ArtifactRecord, LogRecord, OutboxRecord } from "../../ports/records.js";
import { deepCopy } from "../clone.js";
import { type MemoryState, ms, pairKey } from "./state.js";

// Logs, artifacts, outbox, idempotency keys and annotations (AI calls: ai-calls.ts). Like runs-stages.ts,
// each function is synchronous and therefore atomic.

const DEFAULT_LOG_LIMIT = 1_000;

/** Oldest first; Array.prototype.sort is stable, so equal timestamps keep insertion order. */
const byCreatedAt = <T extends { createdAt: Date }>(a: T, b: T): number => ms(a.createdAt) - ms(b.createdAt);

export function appendLogs(s: MemoryState, logs: NewLog[]): void {
  for (const l of logs) s.logs.push(deepCopy(l));
}

export function listLogs(s: MemoryState, runId: string, opts?: { stageId?: string; limit?: number }): LogRecord[] {
  return s.logs
    .filter((l) => l.workflowRunId === runId && (opts?.stageId === undefined || l.stageId === opts.stageId))
    .sort(byCreatedAt)
    .slice(0, opts?.limit ?? DEFAULT_LOG_LIMIT)
    .map(deepCopy);
}

/** Re-recording a key replaces its metadata (the blob was overwritten). */
export function recordArtifact(s: MemoryState, a: ArtifactRecord): void {
  s.artifacts.set(pairKey(a.workflowRunId, a.key), deepCopy(a));
}

export function listArtifacts(s: MemoryState, runId: string, opts?: { keyPrefix?: string }): ArtifactRecord[] {
  return [...s.artifacts.values()]
    .filter((a) => a.workflowRunId === runId && (opts?.keyPrefix === undefined || a.key.startsWith(opts.keyPrefix)))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(deepCopy);
}

export function deleteArtifacts(s: MemoryState, runId: string, keyPrefix: string): number {
  let n = 0;
  for (const [k, a] of [...s.artifacts]) {
    if (a.workflowRunId === runId && a.key.startsWith(keyPrefix) && s.artifacts.delete(k)) n++;
  }
  return n;
}

/** A row id seen before is ignored (ON CONFLICT DO NOTHING): re-appending never resets delivery state. */
export function appendOutbox(s: MemoryState, rows: NewOutboxRow[]): void {
  for (const r of rows) {
    if (s.outbox.has(r.id)) continue;
    s.outbox.set(r.id, {
      id: r.id,
      kind: r.kind,
      workflowRunId: r.workflowRunId,
      type: r.type,
      payload: deepCopy(r.payload),
      createdAt: new Date(ms(r.createdAt)),
      publishedAt: null,
      claimedUntil: r.claimedUntil ? new Date(ms(r.claimedUntil)) : null,
      attempts: 0,
      lastError: null,
      deadLetteredAt: null,
    });
  }
}

export function claimOutbox(s: MemoryState, o: { now: Date; limit: number; leaseMs: number; ids?: string[] }): OutboxRecord[] {
  const ids = o.ids ? new Set(o.ids) : null;
  const rows = [...s.outbox.values()]
    .filter((r) => r.publishedAt === null && r.deadLetteredAt === null)
    // Given ids are the writer's own pre-claimed rows: taken whatever their claim.
    .filter((r) => (ids ? ids.has(r.id) : r.claimedUntil === null || ms(r.claimedUntil) <= ms(o.now)))
    .sort(byCreatedAt)
    .slice(0, Math.max(0, o.limit));
  for (const r of rows) r.claimedUntil = new Date(ms(o.now) + o.leaseMs);
  return rows.map(deepCopy);
}

export function markOutboxPublished(s: MemoryState, ids: string[], now: Date): void {
  for (const id of ids) {
    const r = s.outbox.get(id);
    if (r && r.publishedAt === null) r.publishedAt = new Date(ms(now));
  }
}

/** Counts the attempt and releases the claim, so the next flush may retry (or, dead-lettered, never). */
export function markOutboxFailed(s: MemoryState, id: string, error: string, now: Date, deadLetter: boolean): void {
  const r = s.outbox.get(id);
  if (!r || r.publishedAt !== null) return;
  r.attempts++;
  r.lastError = error;
  r.claimedUntil = null;
  if (deadLetter) r.deadLetteredAt = new Date(ms(now));
}

export function listDeadLetters(s: MemoryState, limit: number): OutboxRecord[] {
  return [...s.outbox.values()]
    .filter((r) => r.deadLetteredAt !== null && r.publishedAt === null)
    .sort((a, b) => ms(a.deadLetteredAt!) - ms(b.deadLetteredAt!) || byCreatedAt(a, b))
    .slice(0, Math.max(0, limit))
    .map(deepCopy);
}

export function requeueDeadLetters(s: MemoryState, ids: string[]): number {
  let n = 0;
  for (const id of new Set(ids)) {
    const r = s.outbox.get(id);
    if (!r || r.deadLetteredAt === null || r.publishedAt !== null) continue;
    r.deadLetteredAt = null;
    r.attempts = 0;
    r.claimedUntil = null;
    n++;
  }
  return n;
}

export function acquireIdempotencyKey(
  s: MemoryState,
  command: string,
  key: string,
  now: Date,
  opts?: { staleBefore?: Date },
): IdempotencyAcquire {
  const row = s.idempotency.get(pairKey(command, key));
  if (row?.status === "COMPLETED") return { kind: "completed", result: deepCopy(row.result) };
  // An IN_PROGRESS key last touched before staleBefore was abandoned (its holder crashed): take it over.
  if (row && !(opts?.staleBefore && ms(row.updatedAt) < ms(opts.staleBefore))) return { kind: "in_progress" };
  s.idempotency.set(pairKey(command, key), {
    command,
    key,
    status: "IN_PROGRESS",
    result: null,
    createdAt: new Date(ms(now)),
    updatedAt: new Date(ms(now)),
  });
  return { kind: "acquired" };
}

export function completeIdempotencyKey(s: MemoryState, command: string, key: string, result: unknown, now: Date): void {
  const k = pairKey(command, key);
  const row = s.idempotency.get(k);
  if (row) {
    row.status = "COMPLETED";
    row.result = deepCopy(result ?? null);
    row.updatedAt = new Date(ms(now));
  } else {
    // Completing without acquiring still caches the result (an upsert in SQL).
    s.idempotency.set(k, {
      command,
      key,
      status: "COMPLETED",
      result: deepCopy(result ?? null),
      createdAt: new Date(ms(now)),
      updatedAt: new Date(ms(now)),
    });
  }
}

export function storeIdempotencyResult(
  s: MemoryState,
  command: string,
  key: string,
  result: unknown,
  now: Date,
  opts?: { staleBefore?: Date },
): IdempotencyAcquire {
  const acquired = acquireIdempotencyKey(s, command, key, now, opts);
  if (acquired.kind === "acquired") completeIdempotencyKey(s, command, key, result, now);
  return acquired;
}

/** Only an IN_PROGRESS key is released: a completed result stays cached. */
export function releaseIdempotencyKey(s: MemoryState, command: string, key: string): void {
  const k = pairKey(command, key);
  if (s.idempotency.get(k)?.status === "IN_PROGRESS") s.idempotency.delete(k);
}

export function insertAnnotations(s: MemoryState, rows: NewAnnotation[]): number {
  let n = 0;
  for (const r of rows) {
    if (
      r.idempotencyKey !== null &&
      s.annotations.some((a) => a.workflowRunId === r.workflowRunId && a.idempotencyKey === r.idempotencyKey)
    ) {
      continue;
    }
    s.annotations.push(deepCopy(r));
    n++;
  }
  return n;
}

export function listAnnotations(s: MemoryState, runId: string, f?: AnnotationFilter): AnnotationRecord[] {
  return s.annotations
    .filter((a) => a.workflowRunId === runId)
    .filter((a) => f?.keyPrefix === undefined || a.key.startsWith(f.keyPrefix))
    .filter((a) => f?.actorId === undefined || a.actor.id === f.actorId)
    .filter((a) => f?.stageId === undefined || a.stageId === f.stageId)
    .sort(byCreatedAt)
    .map(deepCopy);
}
