import type { LimitKeyState, LimitSlot, StageWaiter } from "../../ports/limits.js";
import type {
  AICallRecord,
  AnnotationRecord,
  ArtifactRecord,
  IdempotencyRecord,
  LogRecord,
  OutboxRecord,
  RunRecord,
  StageRecord,
} from "../../ports/records.js";

/**
 * Every table of the in-memory Persistence. Kept as plain Maps/arrays of records so a
 * transaction snapshot is one structuredClone and a rollback is one assignment.
 */
export interface MemoryState {
  runs: Map<string, RunRecord>;
  /** Keyed by stageKey(workflowRunId, stageId). */
  stages: Map<string, StageRecord>;
  logs: LogRecord[];
  /** Keyed by stageKey(workflowRunId, key). */
  artifacts: Map<string, ArtifactRecord>;
  outbox: Map<string, OutboxRecord>;
  /** Keyed by stageKey(command, key). */
  idempotency: Map<string, IdempotencyRecord>;
  annotations: AnnotationRecord[];
  aiCalls: AICallRecord[];
  /** Limit tables, keyed by pairKey(limitId, key), limitId+runId+stageId, pairKey(runId, stageId). */
  limitKeys: Map<string, LimitKeyState>;
  slots: Map<string, LimitSlot>;
  waiters: Map<string, StageWaiter>;
}

export function emptyState(): MemoryState {
  return {
    runs: new Map(),
    stages: new Map(),
    logs: [],
    artifacts: new Map(),
    outbox: new Map(),
    idempotency: new Map(),
    annotations: [],
    aiCalls: [],
    limitKeys: new Map(),
    slots: new Map(),
    waiters: new Map(),
  };
}

/** Composite key; NUL cannot appear in ids the kernel generates. */
export const pairKey = (a: string, b: string): string => `${a}\u0000${b}`;

export const ms = (d: Date): number => d.getTime();

/** Copies the defined fields of `patch` onto `target` (omitted or undefined fields keep their value). */
export function applyPatch<T extends object>(target: T, patch: Partial<T>): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v !== undefined) (target as Record<string, unknown>)[k] = structuredClone(v);
  }
}
