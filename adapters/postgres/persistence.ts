/**
 * `createPostgresPersistence`: the kernel's Persistence port on postgres.js. `transaction(fn)`
 * runs on `sql.begin`; the handle it passes binds every method to that transaction.
 */
import postgres from "postgres";
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
} from "../../src/ports/persistence.js";
import type { LimitKeyState, LimitSlot, LiveSlotQuery, StageWaiter, WaiterQuery } from "../../src/ports/limits.js";
import type {
  AICallRecord,
  AnnotationRecord,
  ArtifactRecord,
  LogRecord,
  OutboxRecord,
  RunRecord,
  RunStatus,
  StageRecord,
} from "../../src/ports/records.js";
import * as rs from "./runs-stages.js";
import * as ai from "./ai-calls.js";
import * as lim from "./limits.js";
import * as side from "./side-tables.js";
import * as sw from "./stage-writes.js";
import { type TxConnectionState, assertConnectionAlive, isConnectionError, safeBegin } from "./safe-begin.js";
import { type Tables, tables } from "./tables.js";
import { admitted } from "./admission.js";
import { parseSchemaOnlyOptions } from "./options.js";

/**
 * `tx` whose methods flag `loss` when they fail with a connection error, so safeBegin knows the
 * connection died even if the caller wraps or replaces the error it rethrows.
 */
function reportingConnectionLoss(tx: PersistenceTx, loss: TxConnectionState): PersistenceTx {
  return new Proxy(tx, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== "function") return v;
      return async (...args: unknown[]) => {
        try {
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (err) {
          if (isConnectionError(err)) loss.lost = true;
          throw err;
        }
      };
    },
  });
}

/** Options of {@link createPostgresPersistence}. */
export interface PostgresPersistenceOptions {
  /** Schema holding jetflow's tables (created by `migrate`). Default "jetflow". */
  schema?: string;
}

/** Every PersistenceTx method over one `Ctx` (the client, or one transaction). */
class PgTx implements PersistenceTx {
  /** `run` wraps every query: the transaction's liveness check, or the client's admission gate. */
  constructor(
    private readonly c: rs.Ctx,
    private readonly run: <T>(query: () => Promise<T>) => Promise<T>,
  ) {}

  protected op<T>(query: (c: rs.Ctx) => Promise<T>): Promise<T> {
    return this.run(() => query(this.c));
  }

  createRun(run: NewRun): Promise<RunRecord> {
    return this.op((c) => rs.createRun(c, run));
  }
  createRunWithKey(run: NewRun, key: { command: string; key: string; result: unknown }, outbox: NewOutboxRow[]): Promise<boolean> {
    return this.op((c) => rs.createRunWithKey(c, run, key, outbox));
  }
  createRunStarted(o: CreateRunStarted): Promise<"started" | "pending" | "exists"> {
    return this.op((c) => rs.createRunStarted(c, o));
  }
  startStageAttempt(o: StartStageAttempt): Promise<{ run: RunRecord; stage: StageRecord } | null> {
    return this.op((c) => sw.startStageAttempt(c, o));
  }
  commitStageAndRun(o: CommitStageAndRun): Promise<boolean> {
    return this.op((c) => sw.commitStageAndRun(c, o));
  }
  getRun(id: string, opts?: { forUpdate?: boolean }): Promise<RunRecord | null> {
    return this.op((c) => rs.getRun(c, id, opts?.forUpdate === true));
  }
  updateRun(id: string, patch: RunPatch, now: Date, guard?: RunGuard): Promise<RunRecord | null> {
    return this.op((c) => rs.updateRun(c, id, patch, now, guard));
  }
  updateRuns(ids: string[], patch: RunPatch, now: Date): Promise<number> {
    return this.op((c) => rs.updateRuns(c, ids, patch, now));
  }
  listRuns(filter: RunFilter): Promise<RunRecord[]> {
    return this.op((c) => rs.listRuns(c, filter));
  }
  countRunsByStatus(): Promise<Record<RunStatus, number>> {
    return this.op((c) => rs.countRunsByStatus(c));
  }
  claimPendingRuns(limit: number, workerId: string, now: Date): Promise<RunRecord[]> {
    return this.op((c) => rs.claimPendingRuns(c, limit, workerId, now));
  }
  findStaleRunningRuns(before: Date, limit: number): Promise<RunRecord[]> {
    return this.op((c) => rs.findStaleRunningRuns(c, before, limit));
  }

  upsertStage(stage: NewStage): Promise<StageRecord> {
    return this.op((c) => rs.upsertStage(c, stage));
  }
  upsertStages(stages: NewStage[]): Promise<StageRecord[]> {
    return this.op((c) => sw.upsertStages(c, stages));
  }
  getStage(runId: string, stageId: string, opts?: { forUpdate?: boolean }): Promise<StageRecord | null> {
    return this.op((c) => rs.getStage(c, runId, stageId, opts?.forUpdate === true));
  }
  listStages(runId: string): Promise<StageRecord[]> {
    return this.op((c) => rs.listStages(c, runId));
  }
  updateStage(runId: string, stageId: string, patch: StagePatch, now: Date, guard?: StageGuard): Promise<StageRecord | null> {
    return this.op((c) => rs.updateStage(c, runId, stageId, patch, now, guard));
  }
  deleteStages(runId: string, stageIds: string[]): Promise<number> {
    return this.op((c) => rs.deleteStages(c, runId, stageIds));
  }
  claimDueSuspendedStages(now: Date, limit: number, leaseMs: number): Promise<StageRecord[]> {
    return this.op((c) => rs.claimDueSuspendedStages(c, now, limit, leaseMs));
  }

  appendLogs(logs: NewLog[]): Promise<void> {
    return this.op((c) => side.appendLogs(c, logs));
  }
  listLogs(runId: string, opts?: { stageId?: string; limit?: number }): Promise<LogRecord[]> {
    return this.op((c) => side.listLogs(c, runId, opts));
  }

  recordArtifact(a: ArtifactRecord): Promise<void> {
    return this.op((c) => side.recordArtifact(c, a));
  }
  listArtifacts(runId: string, opts?: { keyPrefix?: string }): Promise<ArtifactRecord[]> {
    return this.op((c) => side.listArtifacts(c, runId, opts));
  }
  deleteArtifacts(runId: string, keyPrefix: string): Promise<number> {
    return this.op((c) => side.deleteArtifacts(c, runId, keyPrefix));
  }

  appendOutbox(rows: NewOutboxRow[]): Promise<void> {
    return this.op((c) => side.appendOutbox(c, rows));
  }
  claimOutbox(o: { now: Date; limit: number; leaseMs: number; ids?: string[] }): Promise<OutboxRecord[]> {
    return this.op((c) => side.claimOutbox(c, o));
  }
  markOutboxPublished(ids: string[], now: Date): Promise<void> {
    return this.op((c) => side.markOutboxPublished(c, ids, now));
  }
  markOutboxFailed(id: string, error: string, now: Date, deadLetter: boolean): Promise<void> {
    return this.op((c) => side.markOutboxFailed(c, id, error, now, deadLetter));
  }
  listDeadLetters(limit: number): Promise<OutboxRecord[]> {
    return this.op((c) => side.listDeadLetters(c, limit));
  }
  requeueDeadLetters(ids: string[], _now: Date): Promise<number> {
    return this.op((c) => side.requeueDeadLetters(c, ids));
  }

  acquireIdempotencyKey(command: string, key: string, now: Date, opts?: { staleBefore?: Date }): Promise<IdempotencyAcquire> {
    return this.op((c) => side.acquireIdempotencyKey(c, command, key, now, opts));
  }
  completeIdempotencyKey(command: string, key: string, result: unknown, now: Date): Promise<void> {
    return this.op((c) => side.completeIdempotencyKey(c, command, key, result, now));
  }
  releaseIdempotencyKey(command: string, key: string): Promise<void> {
    return this.op((c) => side.releaseIdempotencyKey(c, command, key));
  }
  storeIdempotencyResult(
    command: string,
    key: string,
    result: unknown,
    now: Date,
    opts?: { staleBefore?: Date },
  ): Promise<IdempotencyAcquire> {
    return this.op((c) => side.storeIdempotencyResult(c, command, key, result, now, opts));
  }

  insertAnnotations(rows: NewAnnotation[]): Promise<number> {
    return this.op((c) => side.insertAnnotations(c, rows));
  }
  listAnnotations(runId: string, filter?: AnnotationFilter): Promise<AnnotationRecord[]> {
    return this.op((c) => side.listAnnotations(c, runId, filter));
  }

  recordAICall(call: AICallRecord): Promise<void> {
    return this.op((c) => ai.recordAICall(c, call));
  }
  listAICalls(topicPrefix: string): Promise<AICallRecord[]> {
    return this.op((c) => ai.listAICalls(c, topicPrefix));
  }
  summarizeAICalls(q: AICallSummaryQuery): Promise<AICallSummaryRow[]> {
    return this.op((c) => ai.summarizeAICalls(c, q));
  }

  // --- limits (rate limits, concurrency keys)
  lockLimitKeys(keys: { limitId: string; key: string }[]): Promise<LimitKeyState[]> {
    return this.op((c) => lim.lockLimitKeys(c, keys));
  }
  saveLimitKey(state: LimitKeyState): Promise<void> {
    return this.op((c) => lim.saveLimitKey(c, state));
  }
  countLiveSlots(q: LiveSlotQuery): Promise<number> {
    return this.op((c) => lim.countLiveSlots(c, q));
  }
  getSlot(limitId: string, runId: string, stageId: string): Promise<LimitSlot | null> {
    return this.op((c) => lim.getSlot(c, limitId, runId, stageId));
  }
  putSlot(slot: LimitSlot): Promise<void> {
    return this.op((c) => lim.putSlot(c, slot));
  }
  putWaiter(w: StageWaiter): Promise<void> {
    return this.op((c) => lim.putWaiter(c, w));
  }
  getWaiter(runId: string, stageId: string): Promise<StageWaiter | null> {
    return this.op((c) => lim.getWaiter(c, runId, stageId));
  }
  deleteWaiter(runId: string, stageId: string): Promise<void> {
    return this.op((c) => lim.deleteWaiter(c, runId, stageId));
  }
  listWaiters(q: WaiterQuery): Promise<StageWaiter[]> {
    return this.op((c) => lim.listWaiters(c, q));
  }
  waitingLimitIds(limit: number): Promise<string[]> {
    return this.op((c) => lim.waitingLimitIds(c, limit));
  }
  pruneLimits(_now: Date, grantedAfter: Date, limit: number): Promise<number> {
    return this.op((c) => lim.pruneLimits(c, grantedAfter, limit));
  }
}

/** The Postgres Persistence; `close()` ends the client only when this adapter created it. */
export class PostgresPersistence extends PgTx implements Persistence {
  private readonly t: Tables;

  constructor(
    private readonly sql: postgres.Sql,
    schema: string,
    private readonly owned: boolean,
  ) {
    const t = tables(sql, schema);
    super({ db: sql, t, inTx: false }, (query) => admitted(sql, query));
    this.t = t;
  }

  async transaction<T>(fn: (tx: PersistenceTx) => Promise<T>): Promise<T> {
    let open = true;
    try {
      return await safeBegin(this.sql, async (txSql, loss) => {
        const tx = new PgTx({ db: txSql, t: this.t, inTx: true }, (query) => {
          if (!open) throw new Error("PostgresPersistence: transaction handle used after its transaction ended");
          assertConnectionAlive(loss);
          return query();
        });
        return await fn(reportingConnectionLoss(tx, loss));
      });
    } finally {
      open = false;
    }
  }

  async close(): Promise<void> {
    if (this.owned) await this.sql.end({ timeout: 5 });
  }
}

/**
 * Persistence on postgres.js. Pass a client you own (it is never closed by `close()`), or a
 * connection URL (then `close()` ends the client created here). Run `migrate(sql, { schema })`
 * first.
 */
export function createPostgresPersistence(sqlOrUrl: postgres.Sql | string, opts: PostgresPersistenceOptions = {}): PostgresPersistence {
  const { schema } = parseSchemaOnlyOptions("Postgres persistence", opts);
  const owned = typeof sqlOrUrl === "string";
  const sql = typeof sqlOrUrl === "string" ? postgres(sqlOrUrl, { onnotice: () => {} }) : sqlOrUrl;
  return new PostgresPersistence(sql, schema, owned);
}
