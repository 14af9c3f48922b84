/**
 * `createPostgresPersistence`: the kernel's Persistence port on postgres.js. `transaction(fn)`
 * runs on `sql.begin`; the handle it passes binds every method to that transaction.
 */
import postgres from "postgres";
import type {
  AnnotationFilter,
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
} from "../../src/ports/persistence.js";
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
import * as side from "./side-tables.js";
import { type TxConnectionState, assertConnectionAlive, isConnectionError, safeBegin } from "./safe-begin.js";
import { type Tables, tables } from "./tables.js";
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
  constructor(
    private readonly c: rs.Ctx,
    private readonly check: () => void = () => {},
  ) {}

  private ctx(): rs.Ctx {
    this.check();
    return this.c;
  }

  createRun(run: NewRun): Promise<RunRecord> {
    return rs.createRun(this.ctx(), run);
  }
  getRun(id: string, opts?: { forUpdate?: boolean }): Promise<RunRecord | null> {
    return rs.getRun(this.ctx(), id, opts?.forUpdate === true);
  }
  updateRun(id: string, patch: RunPatch, now: Date, guard?: RunGuard): Promise<RunRecord | null> {
    return rs.updateRun(this.ctx(), id, patch, now, guard);
  }
  listRuns(filter: RunFilter): Promise<RunRecord[]> {
    return rs.listRuns(this.ctx(), filter);
  }
  countRunsByStatus(): Promise<Record<RunStatus, number>> {
    return rs.countRunsByStatus(this.ctx());
  }
  claimPendingRuns(limit: number, workerId: string, now: Date): Promise<RunRecord[]> {
    return rs.claimPendingRuns(this.ctx(), limit, workerId, now);
  }
  findStaleRunningRuns(before: Date, limit: number): Promise<RunRecord[]> {
    return rs.findStaleRunningRuns(this.ctx(), before, limit);
  }

  upsertStage(stage: NewStage): Promise<StageRecord> {
    return rs.upsertStage(this.ctx(), stage);
  }
  getStage(runId: string, stageId: string, opts?: { forUpdate?: boolean }): Promise<StageRecord | null> {
    return rs.getStage(this.ctx(), runId, stageId, opts?.forUpdate === true);
  }
  listStages(runId: string): Promise<StageRecord[]> {
    return rs.listStages(this.ctx(), runId);
  }
  updateStage(runId: string, stageId: string, patch: StagePatch, now: Date, guard?: StageGuard): Promise<StageRecord | null> {
    return rs.updateStage(this.ctx(), runId, stageId, patch, now, guard);
  }
  deleteStages(runId: string, stageIds: string[]): Promise<number> {
    return rs.deleteStages(this.ctx(), runId, stageIds);
  }
  claimDueSuspendedStages(now: Date, limit: number, leaseMs: number): Promise<StageRecord[]> {
    return rs.claimDueSuspendedStages(this.ctx(), now, limit, leaseMs);
  }

  appendLogs(logs: NewLog[]): Promise<void> {
    return side.appendLogs(this.ctx(), logs);
  }
  listLogs(runId: string, opts?: { stageId?: string; limit?: number }): Promise<LogRecord[]> {
    return side.listLogs(this.ctx(), runId, opts);
  }

  recordArtifact(a: ArtifactRecord): Promise<void> {
    return side.recordArtifact(this.ctx(), a);
  }
  listArtifacts(runId: string, opts?: { keyPrefix?: string }): Promise<ArtifactRecord[]> {
    return side.listArtifacts(this.ctx(), runId, opts);
  }
  deleteArtifacts(runId: string, keyPrefix: string): Promise<number> {
    return side.deleteArtifacts(this.ctx(), runId, keyPrefix);
  }

  appendOutbox(rows: NewOutboxRow[]): Promise<void> {
    return side.appendOutbox(this.ctx(), rows);
  }
  claimOutbox(o: { now: Date; limit: number; leaseMs: number; ids?: string[] }): Promise<OutboxRecord[]> {
    return side.claimOutbox(this.ctx(), o);
  }
  markOutboxPublished(ids: string[], now: Date): Promise<void> {
    return side.markOutboxPublished(this.ctx(), ids, now);
  }
  markOutboxFailed(id: string, error: string, now: Date, deadLetter: boolean): Promise<void> {
    return side.markOutboxFailed(this.ctx(), id, error, now, deadLetter);
  }
  listDeadLetters(limit: number): Promise<OutboxRecord[]> {
    return side.listDeadLetters(this.ctx(), limit);
  }
  requeueDeadLetters(ids: string[], _now: Date): Promise<number> {
    return side.requeueDeadLetters(this.ctx(), ids);
  }

  acquireIdempotencyKey(command: string, key: string, now: Date, opts?: { staleBefore?: Date }): Promise<IdempotencyAcquire> {
    return side.acquireIdempotencyKey(this.ctx(), command, key, now, opts);
  }
  completeIdempotencyKey(command: string, key: string, result: unknown, now: Date): Promise<void> {
    return side.completeIdempotencyKey(this.ctx(), command, key, result, now);
  }
  releaseIdempotencyKey(command: string, key: string): Promise<void> {
    return side.releaseIdempotencyKey(this.ctx(), command, key);
  }
  storeIdempotencyResult(
    command: string,
    key: string,
    result: unknown,
    now: Date,
    opts?: { staleBefore?: Date },
  ): Promise<IdempotencyAcquire> {
    return side.storeIdempotencyResult(this.ctx(), command, key, result, now, opts);
  }

  insertAnnotations(rows: NewAnnotation[]): Promise<number> {
    return side.insertAnnotations(this.ctx(), rows);
  }
  listAnnotations(runId: string, filter?: AnnotationFilter): Promise<AnnotationRecord[]> {
    return side.listAnnotations(this.ctx(), runId, filter);
  }

  recordAICall(call: AICallRecord): Promise<void> {
    return side.recordAICall(this.ctx(), call);
  }
  listAICalls(topicPrefix: string): Promise<AICallRecord[]> {
    return side.listAICalls(this.ctx(), topicPrefix);
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
    super({ db: sql, t, inTx: false });
    this.t = t;
  }

  async transaction<T>(fn: (tx: PersistenceTx) => Promise<T>): Promise<T> {
    let open = true;
    try {
      return await safeBegin(this.sql, async (txSql, loss) => {
        const tx = new PgTx({ db: txSql, t: this.t, inTx: true }, () => {
          if (!open) throw new Error("PostgresPersistence: transaction handle used after its transaction ended");
          assertConnectionAlive(loss);
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
