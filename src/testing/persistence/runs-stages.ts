import type { NewRun, NewStage, RunFilter, RunGuard, RunPatch, StageGuard, StagePatch } from "../../ports/persistence.js";
import type { RunRecord, RunStatus, StageRecord } from "../../ports/records.js";
import { deepCopy } from "../clone.js";
import { type MemoryState, applyPatch, ms, pairKey } from "./state.js";

// Run and stage tables. Functions run without awaiting, so each is atomic on its own; the
// caller (InMemoryPersistence) adds transactions and isolation.

const DEFAULT_LIST_LIMIT = 100;

export function createRun(s: MemoryState, r: NewRun): RunRecord {
  if (s.runs.has(r.id)) throw new Error(`InMemoryPersistence.createRun: run "${r.id}" already exists`);
  const run: RunRecord = {
    id: r.id,
    workflowId: r.workflowId,
    status: "PENDING",
    input: deepCopy(r.input),
    config: deepCopy(r.config),
    output: null,
    error: null,
    currentGroupIndex: -1,
    priority: r.priority,
    claimedBy: null,
    traceContext: deepCopy(r.traceContext),
    createdAt: new Date(ms(r.now)),
    updatedAt: new Date(ms(r.now)),
    startedAt: null,
    completedAt: null,
    lastActivityAt: new Date(ms(r.now)),
  };
  s.runs.set(run.id, run);
  return deepCopy(run);
}

export function getRun(s: MemoryState, id: string): RunRecord | null {
  const r = s.runs.get(id);
  return r ? deepCopy(r) : null;
}

export function updateRun(s: MemoryState, id: string, patch: RunPatch, now: Date, guard?: RunGuard): RunRecord | null {
  const r = s.runs.get(id);
  if (!r) return null;
  if (guard?.status && !guard.status.includes(r.status)) return null;
  applyPatch(r, patch);
  r.updatedAt = new Date(ms(now));
  return deepCopy(r);
}

/** Newest first; ties broken by id (descending) so pages are deterministic. */
const newestFirst = (a: RunRecord, b: RunRecord): number => ms(b.createdAt) - ms(a.createdAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export function listRuns(s: MemoryState, f: RunFilter): RunRecord[] {
  return [...s.runs.values()]
    .filter((r) => f.workflowId === undefined || r.workflowId === f.workflowId)
    .filter((r) => !f.status || f.status.includes(r.status))
    .filter(
      (r) =>
        !f.createdBefore ||
        ms(r.createdAt) < ms(f.createdBefore) ||
        (f.beforeId !== undefined && ms(r.createdAt) === ms(f.createdBefore) && r.id < f.beforeId),
    )
    .filter((r) => !f.createdAfter || ms(r.createdAt) >= ms(f.createdAfter))
    .filter((r) => f.idempotencyKey === undefined || idempotentRunId(s, f.idempotencyKey) === r.id)
    .filter((r) => !f.annotation || hasAnnotation(s, r.id, f.annotation))
    .sort(newestFirst)
    .slice(0, f.limit ?? DEFAULT_LIST_LIMIT)
    .map(deepCopy);
}

/** The run `run.create` returned for an idempotency key (the kernel caches `{ workflowRunId }`). */
function idempotentRunId(s: MemoryState, key: string): string | undefined {
  for (const row of s.idempotency.values()) {
    if (row.command === "run.create" && row.key === key) return (row.result as { workflowRunId?: string } | null)?.workflowRunId;
  }
  return undefined;
}

function hasAnnotation(s: MemoryState, runId: string, f: { key: string; value?: unknown }): boolean {
  return s.annotations.some(
    (a) => a.workflowRunId === runId && a.key === f.key && (f.value === undefined || JSON.stringify(a.value) === JSON.stringify(f.value)),
  );
}

export function countRunsByStatus(s: MemoryState): Record<RunStatus, number> {
  const out: Record<RunStatus, number> = { PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0 };
  for (const r of s.runs.values()) out[r.status]++;
  return out;
}

export function claimPendingRuns(s: MemoryState, limit: number, workerId: string, now: Date): RunRecord[] {
  const picked = [...s.runs.values()]
    .filter((r) => r.status === "PENDING")
    .sort((a, b) => b.priority - a.priority || ms(a.createdAt) - ms(b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, Math.max(0, limit));
  for (const r of picked) {
    r.status = "RUNNING";
    r.claimedBy = workerId;
    r.startedAt = new Date(ms(now));
    r.lastActivityAt = new Date(ms(now));
    r.updatedAt = new Date(ms(now));
  }
  return picked.map(deepCopy);
}

export function findStaleRunningRuns(s: MemoryState, before: Date, limit: number): RunRecord[] {
  return [...s.runs.values()]
    .filter((r) => r.status === "RUNNING" && ms(r.lastActivityAt) < ms(before))
    .sort((a, b) => ms(a.lastActivityAt) - ms(b.lastActivityAt))
    .slice(0, Math.max(0, limit))
    .map(deepCopy);
}

export function upsertStage(s: MemoryState, n: NewStage): StageRecord {
  const key = pairKey(n.workflowRunId, n.stageId);
  const existing = s.stages.get(key);
  if (existing) return deepCopy(existing);
  const st: StageRecord = {
    id: n.id,
    workflowRunId: n.workflowRunId,
    stageId: n.stageId,
    stageName: n.stageName,
    groupIndex: n.groupIndex,
    status: "PENDING",
    attempt: 0,
    maxAttempts: n.maxAttempts,
    executionToken: null,
    output: null,
    outputRef: null,
    error: null,
    suspendedState: null,
    nextPollAt: null,
    pollIntervalMs: null,
    maxWaitUntil: null,
    metrics: null,
    traceContext: deepCopy(n.traceContext),
    createdAt: new Date(ms(n.now)),
    updatedAt: new Date(ms(n.now)),
    startedAt: null,
    completedAt: null,
  };
  s.stages.set(key, st);
  return deepCopy(st);
}

export function getStage(s: MemoryState, runId: string, stageId: string): StageRecord | null {
  const st = s.stages.get(pairKey(runId, stageId));
  return st ? deepCopy(st) : null;
}

export function listStages(s: MemoryState, runId: string): StageRecord[] {
  return [...s.stages.values()]
    .filter((st) => st.workflowRunId === runId)
    .sort((a, b) => a.groupIndex - b.groupIndex || ms(a.createdAt) - ms(b.createdAt) || (a.stageId < b.stageId ? -1 : 1))
    .map(deepCopy);
}

export function updateStage(
  s: MemoryState,
  runId: string,
  stageId: string,
  patch: StagePatch,
  now: Date,
  guard?: StageGuard,
): StageRecord | null {
  const st = s.stages.get(pairKey(runId, stageId));
  if (!st) return null;
  if (guard?.status && !guard.status.includes(st.status)) return null;
  // `executionToken: null` is a real guard ("nobody owns it"); only undefined means "don't check".
  if (guard?.executionToken !== undefined && guard.executionToken !== st.executionToken) return null;
  if (guard?.attempt !== undefined && guard.attempt !== st.attempt) return null;
  applyPatch(st, patch);
  st.updatedAt = new Date(ms(now));
  return deepCopy(st);
}

export function deleteStages(s: MemoryState, runId: string, stageIds: string[]): number {
  let n = 0;
  for (const id of new Set(stageIds)) if (s.stages.delete(pairKey(runId, id))) n++;
  return n;
}

export function claimDueSuspendedStages(s: MemoryState, now: Date, limit: number, leaseMs: number): StageRecord[] {
  const due = [...s.stages.values()]
    .filter((st) => st.status === "SUSPENDED" && st.nextPollAt !== null && ms(st.nextPollAt) <= ms(now))
    .sort((a, b) => ms(a.nextPollAt!) - ms(b.nextPollAt!))
    .slice(0, Math.max(0, limit));
  // Returned rows carry the new nextPollAt, as UPDATE ... RETURNING would.
  for (const st of due) st.nextPollAt = new Date(ms(now) + leaseMs);
  return due.map(deepCopy);
}
