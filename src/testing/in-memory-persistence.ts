import type { LimitKeyState, LimitSlot, LiveSlotQuery, StageWaiter, WaiterQuery } from "../ports/limits.js";
import { AsyncLocalStorage } from "node:async_hooks";
import type {
  AnnotationFilter,
  CommitStageAndRun,
  CreateRunStarted,
  IdempotencyAcquire,
  NewAnnotation,
  NewLog,
  NewOutboxRow,
  NewRun,
  NewStage,
  Persistence,
  PersistenceTx,
  RunFilter,
  RunGuard,
  RunPatch,
  StageGuard,
  StagePatch,
  StartStageAttempt,
  AICallSummaryQuery,
  AICallSummaryRow,
} from "../ports/persistence.js";
import type {
  AICallRecord,
  AnnotationRecord,
  ArtifactRecord,
  LogRecord,
  OutboxRecord,
  RunRecord,
  RunStatus,
  StageRecord,
} from "../ports/records.js";
import { deepCopy } from "./clone.js";
import { AsyncMutex } from "./mutex.js";
import { StateTx } from "./persistence/state-tx.js";
import { type MemoryState, emptyState } from "./persistence/state.js";

interface TxScope {
  owner: InMemoryPersistence;
  open: boolean;
}

/** Which transaction of which instance the current async call chain runs inside. */
const txScope = new AsyncLocalStorage<TxScope>();

/**
 * Persistence in memory, for tests and single-process demos. Every operation — a transaction or
 * a single call — runs under one async mutex, so transactions are serialisable; a transaction
 * that throws restores the snapshot taken when it began (runs, stages, logs, outbox rows,
 * annotations: everything it wrote vanishes). Values are deep-copied in and out.
 *
 * Misuse a real database would punish is reported at once: calling this object (instead of the
 * `tx` handle) from inside `transaction()` throws rather than deadlocking, and a `tx` handle used
 * after its transaction ended throws.
 */
export class InMemoryPersistence implements Persistence {
  private state: MemoryState = emptyState();
  private readonly mutex = new AsyncMutex();
  private readonly direct = new StateTx(() => this.state);

  async transaction<T>(fn: (tx: PersistenceTx) => Promise<T>): Promise<T> {
    this.refuseReentry("transaction");
    return await this.mutex.run(async () => {
      const scope: TxScope = { owner: this, open: true };
      const tx = new StateTx(
        () => this.state,
        () => {
          if (!scope.open) throw new Error("InMemoryPersistence: transaction handle used after its transaction ended");
        },
      );
      const snapshot = deepCopy(this.state);
      try {
        return await txScope.run(scope, () => fn(tx));
      } catch (err) {
        this.state = snapshot;
        throw err;
      } finally {
        scope.open = false;
      }
    });
  }

  /** Drops every row (a fresh database), waiting for in-flight operations first. */
  async reset(): Promise<void> {
    await this.mutex.run(async () => {
      this.state = emptyState();
    });
  }

  /** Test inspection: every outbox row, published or not, oldest first. */
  async outboxRows(): Promise<OutboxRecord[]> {
    return this.locked("outboxRows", () =>
      [...this.state.outbox.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime()).map(deepCopy),
    );
  }

  async close(): Promise<void> {}

  private refuseReentry(method: string): void {
    const scope = txScope.getStore();
    if (scope?.owner === this && scope.open) {
      throw new Error(
        `InMemoryPersistence.${method} called on the Persistence object inside transaction(): use the tx handle ` +
          "(a real database would run it on another connection, outside the transaction, and could deadlock)",
      );
    }
  }

  private async locked<T>(method: string, op: () => Promise<T> | T): Promise<T> {
    this.refuseReentry(method);
    return this.mutex.run(async () => op());
  }

  createRun(run: NewRun): Promise<RunRecord> {
    return this.locked("createRun", () => this.direct.createRun(run));
  }
  createRunWithKey(run: NewRun, key: { command: string; key: string; result: unknown }, outbox: NewOutboxRow[]): Promise<boolean> {
    return this.locked("createRunWithKey", () => this.direct.createRunWithKey(run, key, outbox));
  }
  createRunStarted(o: CreateRunStarted): Promise<"started" | "pending" | "exists"> {
    return this.locked("createRunStarted", () => this.direct.createRunStarted(o));
  }
  startStageAttempt(o: StartStageAttempt): Promise<{ run: RunRecord; stage: StageRecord } | null> {
    return this.locked("startStageAttempt", () => this.direct.startStageAttempt(o));
  }
  commitStageAndRun(o: CommitStageAndRun): Promise<boolean> {
    return this.locked("commitStageAndRun", () => this.direct.commitStageAndRun(o));
  }
  getRun(id: string, opts?: { forUpdate?: boolean }): Promise<RunRecord | null> {
    return this.locked("getRun", () => this.direct.getRun(id, opts));
  }
  updateRun(id: string, patch: RunPatch, now: Date, guard?: RunGuard): Promise<RunRecord | null> {
    return this.locked("updateRun", () => this.direct.updateRun(id, patch, now, guard));
  }
  updateRuns(ids: string[], patch: RunPatch, now: Date): Promise<number> {
    return this.locked("updateRuns", () => this.direct.updateRuns(ids, patch, now));
  }
  listRuns(filter: RunFilter): Promise<RunRecord[]> {
    return this.locked("listRuns", () => this.direct.listRuns(filter));
  }
  countRunsByStatus(): Promise<Record<RunStatus, number>> {
    return this.locked("countRunsByStatus", () => this.direct.countRunsByStatus());
  }
  claimPendingRuns(limit: number, workerId: string, now: Date): Promise<RunRecord[]> {
    return this.locked("claimPendingRuns", () => this.direct.claimPendingRuns(limit, workerId, now));
  }
  findStaleRunningRuns(before: Date, limit: number): Promise<RunRecord[]> {
    return this.locked("findStaleRunningRuns", () => this.direct.findStaleRunningRuns(before, limit));
  }

  upsertStage(stage: NewStage): Promise<StageRecord> {
    return this.locked("upsertStage", () => this.direct.upsertStage(stage));
  }
  upsertStages(stages: NewStage[]): Promise<StageRecord[]> {
    return this.locked("upsertStages", () => this.direct.upsertStages(stages));
  }
  getStage(runId: string, stageId: string, opts?: { forUpdate?: boolean }): Promise<StageRecord | null> {
    return this.locked("getStage", () => this.direct.getStage(runId, stageId, opts));
  }
  listStages(runId: string): Promise<StageRecord[]> {
    return this.locked("listStages", () => this.direct.listStages(runId));
  }
  updateStage(runId: string, stageId: string, patch: StagePatch, now: Date, guard?: StageGuard): Promise<StageRecord | null> {
    return this.locked("updateStage", () => this.direct.updateStage(runId, stageId, patch, now, guard));
  }
  deleteStages(runId: string, stageIds: string[]): Promise<number> {
    return this.locked("deleteStages", () => this.direct.deleteStages(runId, stageIds));
  }
  claimDueSuspendedStages(now: Date, limit: number, leaseMs: number): Promise<StageRecord[]> {
    return this.locked("claimDueSuspendedStages", () => this.direct.claimDueSuspendedStages(now, limit, leaseMs));
  }

  appendLogs(logs: NewLog[]): Promise<void> {
    return this.locked("appendLogs", () => this.direct.appendLogs(logs));
  }
  listLogs(runId: string, opts?: { stageId?: string; limit?: number }): Promise<LogRecord[]> {
    return this.locked("listLogs", () => this.direct.listLogs(runId, opts));
  }

  recordArtifact(a: ArtifactRecord): Promise<void> {
    return this.locked("recordArtifact", () => this.direct.recordArtifact(a));
  }
  listArtifacts(runId: string, opts?: { keyPrefix?: string }): Promise<ArtifactRecord[]> {
    return this.locked("listArtifacts", () => this.direct.listArtifacts(runId, opts));
  }
  deleteArtifacts(runId: string, keyPrefix: string): Promise<number> {
    return this.locked("deleteArtifacts", () => this.direct.deleteArtifacts(runId, keyPrefix));
  }

  appendOutbox(rows: NewOutboxRow[]): Promise<void> {
    return this.locked("appendOutbox", () => this.direct.appendOutbox(rows));
  }
  claimOutbox(o: { now: Date; limit: number; leaseMs: number; ids?: string[] }): Promise<OutboxRecord[]> {
    return this.locked("claimOutbox", () => this.direct.claimOutbox(o));
  }
  markOutboxPublished(ids: string[], now: Date): Promise<void> {
    return this.locked("markOutboxPublished", () => this.direct.markOutboxPublished(ids, now));
  }
  markOutboxFailed(id: string, error: string, now: Date, deadLetter: boolean): Promise<void> {
    return this.locked("markOutboxFailed", () => this.direct.markOutboxFailed(id, error, now, deadLetter));
  }
  listDeadLetters(limit: number): Promise<OutboxRecord[]> {
    return this.locked("listDeadLetters", () => this.direct.listDeadLetters(limit));
  }
  requeueDeadLetters(ids: string[], now: Date): Promise<number> {
    return this.locked("requeueDeadLetters", () => this.direct.requeueDeadLetters(ids, now));
  }

  storeIdempotencyResult(
    command: string,
    key: string,
    result: unknown,
    now: Date,
    opts?: { staleBefore?: Date },
  ): Promise<IdempotencyAcquire> {
    return this.locked("storeIdempotencyResult", () => this.direct.storeIdempotencyResult(command, key, result, now, opts));
  }
  acquireIdempotencyKey(command: string, key: string, now: Date, opts?: { staleBefore?: Date }): Promise<IdempotencyAcquire> {
    return this.locked("acquireIdempotencyKey", () => this.direct.acquireIdempotencyKey(command, key, now, opts));
  }
  completeIdempotencyKey(command: string, key: string, result: unknown, now: Date): Promise<void> {
    return this.locked("completeIdempotencyKey", () => this.direct.completeIdempotencyKey(command, key, result, now));
  }
  releaseIdempotencyKey(command: string, key: string): Promise<void> {
    return this.locked("releaseIdempotencyKey", () => this.direct.releaseIdempotencyKey(command, key));
  }

  insertAnnotations(rows: NewAnnotation[]): Promise<number> {
    return this.locked("insertAnnotations", () => this.direct.insertAnnotations(rows));
  }
  listAnnotations(runId: string, filter?: AnnotationFilter): Promise<AnnotationRecord[]> {
    return this.locked("listAnnotations", () => this.direct.listAnnotations(runId, filter));
  }

  recordAICall(call: AICallRecord): Promise<void> {
    return this.locked("recordAICall", () => this.direct.recordAICall(call));
  }
  listAICalls(topicPrefix: string): Promise<AICallRecord[]> {
    return this.locked("listAICalls", () => this.direct.listAICalls(topicPrefix));
  }
  summarizeAICalls(q: AICallSummaryQuery): Promise<AICallSummaryRow[]> {
    return this.locked("summarizeAICalls", () => this.direct.summarizeAICalls(q));
  }

  // --- limits
  lockLimitKeys(keys: { limitId: string; key: string }[]): Promise<LimitKeyState[]> {
    return this.locked("lockLimitKeys", () => this.direct.lockLimitKeys(keys));
  }
  saveLimitKey(state: LimitKeyState): Promise<void> {
    return this.locked("saveLimitKey", () => this.direct.saveLimitKey(state));
  }
  countLiveSlots(q: LiveSlotQuery): Promise<number> {
    return this.locked("countLiveSlots", () => this.direct.countLiveSlots(q));
  }
  getSlot(limitId: string, runId: string, stageId: string): Promise<LimitSlot | null> {
    return this.locked("getSlot", () => this.direct.getSlot(limitId, runId, stageId));
  }
  putSlot(slot: LimitSlot): Promise<void> {
    return this.locked("putSlot", () => this.direct.putSlot(slot));
  }
  putWaiter(w: StageWaiter): Promise<void> {
    return this.locked("putWaiter", () => this.direct.putWaiter(w));
  }
  getWaiter(runId: string, stageId: string): Promise<StageWaiter | null> {
    return this.locked("getWaiter", () => this.direct.getWaiter(runId, stageId));
  }
  deleteWaiter(runId: string, stageId: string): Promise<void> {
    return this.locked("deleteWaiter", () => this.direct.deleteWaiter(runId, stageId));
  }
  listWaiters(q: WaiterQuery): Promise<StageWaiter[]> {
    return this.locked("listWaiters", () => this.direct.listWaiters(q));
  }
  waitingLimitIds(limit: number): Promise<string[]> {
    return this.locked("waitingLimitIds", () => this.direct.waitingLimitIds(limit));
  }
  pruneLimits(now: Date, grantedAfter: Date, limit: number): Promise<number> {
    return this.locked("pruneLimits", () => this.direct.pruneLimits(now, grantedAfter, limit));
  }
}
