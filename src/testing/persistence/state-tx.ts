import type { LimitKeyState, LimitSlot, LiveSlotQuery, StageWaiter, WaiterQuery } from "../../ports/limits.js";
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
  PersistenceTx,
  RunFilter,
  RunGuard,
  RunPatch,
  StageGuard,
  StagePatch,
  StartStageAttempt,
  AICallSummaryQuery,
  AICallSummaryRow,
} from "../../ports/persistence.js";
import type {
  AICallRecord,
  AnnotationRecord,
  ArtifactRecord,
  LogRecord,
  OutboxRecord,
  RunRecord,
  RunStatus,
  StageRecord,
} from "../../ports/records.js";
import * as rs from "./runs-stages.js";
import * as ai from "./ai-calls.js";
import * as lim from "./limits.js";
import * as side from "./side-tables.js";
import { type MemoryState, pairKey } from "./state.js";

/**
 * PersistenceTx over the current MemoryState, with no locking of its own. `check` runs before
 * every operation: the transaction handle uses it to refuse calls after its transaction ended.
 */
export class StateTx implements PersistenceTx {
  constructor(
    private readonly state: () => MemoryState,
    private readonly check: () => void = () => {},
  ) {}

  private s(): MemoryState {
    this.check();
    return this.state();
  }

  async createRun(run: NewRun): Promise<RunRecord> {
    return rs.createRun(this.s(), run);
  }
  async createRunWithKey(run: NewRun, key: { command: string; key: string; result: unknown }, outbox: NewOutboxRow[]): Promise<boolean> {
    const s = this.s();
    if (s.idempotency.has(pairKey(key.command, key.key))) return false;
    rs.createRun(s, run);
    side.appendOutbox(s, outbox);
    side.completeIdempotencyKey(s, key.command, key.key, key.result, run.now);
    return true;
  }
  async createRunStarted(o: CreateRunStarted): Promise<"started" | "pending" | "exists"> {
    const s = this.s();
    if (s.idempotency.has(pairKey(o.key.command, o.key.key))) return "exists";
    const start = ![...s.runs.values()].some((r) => r.status === "PENDING");
    rs.createRun(s, o.run);
    if (start) {
      rs.updateRun(s, o.run.id, { status: "RUNNING", claimedBy: o.claimedBy, startedAt: o.run.now, currentGroupIndex: 0 }, o.run.now);
      for (const st of o.stages) rs.upsertStage(s, st);
    }
    side.appendOutbox(s, start ? [...o.created, ...o.started] : o.created);
    side.completeIdempotencyKey(s, o.key.command, o.key.key, o.key.result, o.run.now);
    return start ? "started" : "pending";
  }
  async startStageAttempt(o: StartStageAttempt): Promise<{ run: RunRecord; stage: StageRecord } | null> {
    const s = this.s();
    const run = rs.getRun(s, o.runId);
    const stage = rs.getStage(s, o.runId, o.stageId);
    if (!run || run.status !== "RUNNING" || run.workflowId !== o.workflowId) return null;
    if (!stage || stage.status !== "PENDING" || stage.attempt !== o.attempt - 1 || o.attempt > stage.maxAttempts) return null;
    const started = rs.updateStage(
      s,
      o.runId,
      o.stageId,
      { status: "RUNNING", attempt: o.attempt, executionToken: o.executionToken, startedAt: o.now, error: null },
      o.now,
    );
    side.appendOutbox(s, o.outbox);
    return { run: rs.updateRun(s, o.runId, { lastActivityAt: o.now }, o.now)!, stage: started! };
  }
  async commitStageAndRun(o: CommitStageAndRun): Promise<boolean> {
    const s = this.s();
    const run = rs.getRun(s, o.runId);
    const stage = rs.getStage(s, o.runId, o.stageId);
    if (!run || run.status !== "RUNNING" || run.currentGroupIndex !== o.groupIndex) return false;
    if (!stage) return false;
    if (
      o.stageStatus === "SUSPENDED" ? stage.status !== "SUSPENDED" : stage.status !== "RUNNING" || stage.executionToken !== o.executionToken
    )
      return false;
    rs.updateStage(s, o.runId, o.stageId, o.stagePatch, o.now);
    rs.updateRun(s, o.runId, o.runPatch, o.now);
    side.appendOutbox(s, o.outbox);
    if (o.logs) side.appendLogs(s, o.logs);
    return true;
  }
  async getRun(id: string, _opts?: { forUpdate?: boolean }): Promise<RunRecord | null> {
    return rs.getRun(this.s(), id);
  }
  async updateRun(id: string, patch: RunPatch, now: Date, guard?: RunGuard): Promise<RunRecord | null> {
    return rs.updateRun(this.s(), id, patch, now, guard);
  }
  async updateRuns(ids: string[], patch: RunPatch, now: Date): Promise<number> {
    const s = this.s();
    return [...new Set(ids)].filter((id) => rs.updateRun(s, id, patch, now) !== null).length;
  }
  async listRuns(filter: RunFilter): Promise<RunRecord[]> {
    return rs.listRuns(this.s(), filter);
  }
  async countRunsByStatus(): Promise<Record<RunStatus, number>> {
    return rs.countRunsByStatus(this.s());
  }
  async claimPendingRuns(limit: number, workerId: string, now: Date): Promise<RunRecord[]> {
    return rs.claimPendingRuns(this.s(), limit, workerId, now);
  }
  async findStaleRunningRuns(before: Date, limit: number): Promise<RunRecord[]> {
    return rs.findStaleRunningRuns(this.s(), before, limit);
  }

  async upsertStage(stage: NewStage): Promise<StageRecord> {
    return rs.upsertStage(this.s(), stage);
  }
  async upsertStages(stages: NewStage[]): Promise<StageRecord[]> {
    const s = this.s();
    return stages.map((st) => rs.upsertStage(s, st));
  }
  async getStage(runId: string, stageId: string, _opts?: { forUpdate?: boolean }): Promise<StageRecord | null> {
    return rs.getStage(this.s(), runId, stageId);
  }
  async listStages(runId: string): Promise<StageRecord[]> {
    return rs.listStages(this.s(), runId);
  }
  async updateStage(runId: string, stageId: string, patch: StagePatch, now: Date, guard?: StageGuard): Promise<StageRecord | null> {
    return rs.updateStage(this.s(), runId, stageId, patch, now, guard);
  }
  async deleteStages(runId: string, stageIds: string[]): Promise<number> {
    return rs.deleteStages(this.s(), runId, stageIds);
  }
  async claimDueSuspendedStages(now: Date, limit: number, leaseMs: number): Promise<StageRecord[]> {
    return rs.claimDueSuspendedStages(this.s(), now, limit, leaseMs);
  }

  async appendLogs(logs: NewLog[]): Promise<void> {
    side.appendLogs(this.s(), logs);
  }
  async listLogs(runId: string, opts?: { stageId?: string; limit?: number }): Promise<LogRecord[]> {
    return side.listLogs(this.s(), runId, opts);
  }

  async recordArtifact(a: ArtifactRecord): Promise<void> {
    side.recordArtifact(this.s(), a);
  }
  async listArtifacts(runId: string, opts?: { keyPrefix?: string }): Promise<ArtifactRecord[]> {
    return side.listArtifacts(this.s(), runId, opts);
  }
  async deleteArtifacts(runId: string, keyPrefix: string): Promise<number> {
    return side.deleteArtifacts(this.s(), runId, keyPrefix);
  }

  async appendOutbox(rows: NewOutboxRow[]): Promise<void> {
    side.appendOutbox(this.s(), rows);
  }
  async claimOutbox(o: { now: Date; limit: number; leaseMs: number; ids?: string[] }): Promise<OutboxRecord[]> {
    return side.claimOutbox(this.s(), o);
  }
  async markOutboxPublished(ids: string[], now: Date): Promise<void> {
    side.markOutboxPublished(this.s(), ids, now);
  }
  async markOutboxFailed(id: string, error: string, now: Date, deadLetter: boolean): Promise<void> {
    side.markOutboxFailed(this.s(), id, error, now, deadLetter);
  }
  async listDeadLetters(limit: number): Promise<OutboxRecord[]> {
    return side.listDeadLetters(this.s(), limit);
  }
  async requeueDeadLetters(ids: string[], _now: Date): Promise<number> {
    return side.requeueDeadLetters(this.s(), ids);
  }

  async acquireIdempotencyKey(command: string, key: string, now: Date, opts?: { staleBefore?: Date }): Promise<IdempotencyAcquire> {
    return side.acquireIdempotencyKey(this.s(), command, key, now, opts);
  }
  async completeIdempotencyKey(command: string, key: string, result: unknown, now: Date): Promise<void> {
    side.completeIdempotencyKey(this.s(), command, key, result, now);
  }
  async storeIdempotencyResult(
    command: string,
    key: string,
    result: unknown,
    now: Date,
    opts?: { staleBefore?: Date },
  ): Promise<IdempotencyAcquire> {
    return side.storeIdempotencyResult(this.s(), command, key, result, now, opts);
  }
  async releaseIdempotencyKey(command: string, key: string): Promise<void> {
    side.releaseIdempotencyKey(this.s(), command, key);
  }

  async insertAnnotations(rows: NewAnnotation[]): Promise<number> {
    return side.insertAnnotations(this.s(), rows);
  }
  async listAnnotations(runId: string, filter?: AnnotationFilter): Promise<AnnotationRecord[]> {
    return side.listAnnotations(this.s(), runId, filter);
  }

  async recordAICall(call: AICallRecord): Promise<void> {
    ai.recordAICall(this.s(), call);
  }
  async listAICalls(topicPrefix: string): Promise<AICallRecord[]> {
    return ai.listAICalls(this.s(), topicPrefix);
  }
  async summarizeAICalls(q: AICallSummaryQuery): Promise<AICallSummaryRow[]> {
    return ai.summarizeAICalls(this.s(), q);
  }

  // --- limits (rate limits, concurrency keys)
  async lockLimitKeys(keys: { limitId: string; key: string }[]): Promise<LimitKeyState[]> {
    return lim.lockLimitKeys(this.s(), keys);
  }
  async saveLimitKey(state: LimitKeyState): Promise<void> {
    return lim.saveLimitKey(this.s(), state);
  }
  async countLiveSlots(q: LiveSlotQuery): Promise<number> {
    return lim.countLiveSlots(this.s(), q);
  }
  async getSlot(limitId: string, runId: string, stageId: string): Promise<LimitSlot | null> {
    return lim.getSlot(this.s(), limitId, runId, stageId);
  }
  async putSlot(slot: LimitSlot): Promise<void> {
    return lim.putSlot(this.s(), slot);
  }
  async putWaiter(w: StageWaiter): Promise<void> {
    return lim.putWaiter(this.s(), w);
  }
  async getWaiter(runId: string, stageId: string): Promise<StageWaiter | null> {
    return lim.getWaiter(this.s(), runId, stageId);
  }
  async deleteWaiter(runId: string, stageId: string): Promise<void> {
    return lim.deleteWaiter(this.s(), runId, stageId);
  }
  async listWaiters(q: WaiterQuery): Promise<StageWaiter[]> {
    return lim.listWaiters(this.s(), q);
  }
  async waitingLimitIds(limit: number): Promise<string[]> {
    return lim.waitingLimitIds(this.s(), limit);
  }
  async pruneLimits(_now: Date, grantedAfter: Date, limit: number): Promise<number> {
    return lim.pruneLimits(this.s(), grantedAfter, limit);
  }
}
