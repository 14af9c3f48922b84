import type { LimitsTx } from "./limits.js";
import type {
  AICallRecord,
  Actor,
  AnnotationRecord,
  ArtifactRecord,
  LogLevel,
  LogRecord,
  OutboxKind,
  OutboxRecord,
  RunRecord,
  RunStatus,
  StageRecord,
  StageStatus,
  TraceCarrier,
} from "./records.js";

/** A run to insert. */
export interface NewRun {
  id: string;
  workflowId: string;
  input: unknown;
  config: Record<string, unknown>;
  priority: number;
  traceContext: TraceCarrier | null;
  now: Date;
}

/** Fields a run update may change; omitted fields keep their value. */
export type RunPatch = Partial<
  Pick<
    RunRecord,
    "status" | "output" | "error" | "currentGroupIndex" | "claimedBy" | "startedAt" | "completedAt" | "lastActivityAt" | "traceContext"
  >
>;

/** A stage row to insert. */
export interface NewStage {
  id: string;
  workflowRunId: string;
  stageId: string;
  stageName: string;
  groupIndex: number;
  maxAttempts: number;
  traceContext: TraceCarrier | null;
  now: Date;
}

/** Fields of a stage row an update may change. */
export type StagePatch = Partial<
  Pick<
    StageRecord,
    | "status"
    | "attempt"
    | "maxAttempts"
    | "executionToken"
    | "output"
    | "outputRef"
    | "error"
    | "suspendedState"
    | "nextPollAt"
    | "pollIntervalMs"
    | "maxWaitUntil"
    | "metrics"
    | "traceContext"
    | "startedAt"
    | "completedAt"
  >
>;

/** Compare-and-set guard: the update applies only when every given field matches the stored row. */
export interface RunGuard {
  status?: RunStatus[];
}
/** Conditions a stage row must meet for an update to apply (compare-and-set). */
export interface StageGuard {
  status?: StageStatus[];
  executionToken?: string | null;
  attempt?: number;
}

/** Filter and keyset pagination of `listRuns`. */
export interface RunFilter {
  workflowId?: string;
  status?: RunStatus[];
  /** Runs created strictly before this (keyset pagination, newest first). */
  createdBefore?: Date;
  /**
   * With `createdBefore`: the id of the last run of the previous page, so the page continues after
   * `(createdBefore, beforeId)` in list order (newest first, then id descending) and runs created
   * in the same millisecond as that run are neither skipped nor repeated.
   */
  beforeId?: string;
  /** Runs created at or after this. */
  createdAfter?: Date;
  /** Only the run whose `run.create` used this idempotency key. */
  idempotencyKey?: string;
  /** Only runs carrying an annotation with this key (and this JSON value when `value` is given). */
  annotation?: { key: string; value?: unknown };
  limit?: number;
}

/** A log line to insert. */
export interface NewLog {
  id: string;
  workflowRunId: string;
  stageId: string | null;
  level: LogLevel;
  message: string;
  meta: Record<string, unknown> | null;
  createdAt: Date;
}

/** An outbox row to insert (jobs and events published after commit). */
export interface NewOutboxRow {
  id: string;
  kind: OutboxKind;
  workflowRunId: string;
  type: string;
  payload: Record<string, unknown>;
  createdAt: Date;
  /** The writer's claim for its own fast-path delivery; null lets any flusher take it at once. */
  claimedUntil: Date | null;
}

/** An annotation to insert. */
export interface NewAnnotation {
  id: string;
  workflowRunId: string;
  stageId: string | null;
  key: string;
  value: unknown;
  actor: Actor;
  /** Rows with an idempotency key already stored for the run are skipped silently. */
  idempotencyKey: string | null;
  createdAt: Date;
}

/** Filter of `listAnnotations`. */
export interface AnnotationFilter {
  keyPrefix?: string;
  actorId?: string;
  stageId?: string;
}

/** Arguments of {@link PersistenceTx.startStageAttempt}. */
export interface StartStageAttempt {
  runId: string;
  workflowId: string;
  stageId: string;
  attempt: number;
  executionToken: string;
  now: Date;
  outbox: NewOutboxRow[];
}

/** Arguments of {@link PersistenceTx.createRunStarted}. */
export interface CreateRunStarted {
  run: NewRun;
  key: { command: string; key: string; result: unknown };
  /** The host that starts the run (the run's claimedBy). */
  claimedBy: string;
  /** Group 0's stage rows. */
  stages: NewStage[];
  /** Outbox rows written with the run either way (its creation event). */
  created: NewOutboxRow[];
  /** Outbox rows written only when the run starts in this write (its start event, its stages' jobs). */
  started: NewOutboxRow[];
}

/** Arguments of {@link PersistenceTx.commitStageAndRun}. */
export interface CommitStageAndRun {
  runId: string;
  groupIndex: number;
  stageId: string;
  /** The stage's attempt token the write requires (ignored when `stageStatus` is SUSPENDED). */
  executionToken: string;
  /**
   * The stage status the write requires: RUNNING under `executionToken` (the default: an
   * attempt's outcome), or SUSPENDED (a resume after its external work finished).
   */
  stageStatus?: "RUNNING" | "SUSPENDED";
  stagePatch: StagePatch;
  runPatch: RunPatch;
  now: Date;
  outbox: NewOutboxRow[];
  /** Log rows of the stage, written only with the outcome (a row whose id exists is skipped). */
  logs?: NewLog[];
}

/** What `summarizeAICalls` groups AI calls by. */
export type AICallGrouping = "workflow" | "model" | "stage" | "run";

/** Filter and grouping of `summarizeAICalls`. */
export interface AICallSummaryQuery {
  by: AICallGrouping;
  /** Only calls whose topic starts with this (`workflow.<runId>.` for one run). */
  topicPrefix?: string;
  /** Only calls made at or after this instant. */
  since?: Date;
}

/** Totals of one group of AI calls. */
export interface AICallSummaryRow {
  /** The workflow id, model, stage id or run id of the group. */
  key: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  /** USD, sum of the known costs. */
  cost: number;
  /** Calls whose model had no price: `cost` does not include them. */
  unknownCostCalls: number;
  /** Calls that failed (`meta.status = "error"`). */
  errors: number;
}

/** Outcome of acquiring an idempotency key: acquired, already completed with its result, or in progress. */
export type IdempotencyAcquire = { kind: "acquired" } | { kind: "completed"; result: unknown } | { kind: "in_progress" };

/**
 * Everything the kernel reads and writes, as one unit of work.
 * Methods called on a `PersistenceTx` inside `transaction()` commit or roll back together;
 * called on the `Persistence` itself each method commits on its own.
 */
export interface PersistenceTx extends LimitsTx {
  // --- runs
  createRun(run: NewRun): Promise<RunRecord>;
  /**
   * When (`key.command`, `key.key`) is a new idempotency key: inserts the run, its outbox rows
   * and the key (COMPLETED with `key.result`) as one atomic write, and returns true. When the key
   * exists (or a concurrent writer of it commits first) nothing is written and it returns false.
   */
  createRunWithKey(run: NewRun, key: { command: string; key: string; result: unknown }, outbox: NewOutboxRow[]): Promise<boolean>;
  /**
   * {@link createRunWithKey} that also starts the run when no run is PENDING (so starting it jumps
   * no queue): the run RUNNING at group 0, claimed by `claimedBy` (startedAt `now`), with
   * `stages` inserted and `created` + `started` appended, all in one atomic write; "started".
   * With a PENDING run present, the run is created PENDING with `created` only, for the hosts to
   * claim in priority order; "pending". A key that exists writes nothing; "exists".
   */
  createRunStarted(o: CreateRunStarted): Promise<"started" | "pending" | "exists">;
  /**
   * The usual start of a stage attempt as one atomic write (no transaction round trips): when
   * run `runId` of `workflowId` is RUNNING and its stage `stageId` is PENDING at `attempt - 1`
   * with `attempt` within its maxAttempts, sets the run's lastActivityAt, starts the stage
   * (RUNNING at `attempt` under `executionToken`, startedAt `now`, error cleared), appends
   * `outbox`, and returns both rows as written. Otherwise returns null and leaves the stage and
   * the outbox untouched (the run's lastActivityAt may have moved; the caller takes its full path).
   */
  startStageAttempt(o: StartStageAttempt): Promise<{ run: RunRecord; stage: StageRecord } | null>;
  /**
   * A stage's outcome and its run's resulting transition as one atomic write: when run `runId`
   * is RUNNING at group `groupIndex` and stage `stageId` is RUNNING under `executionToken` (or
   * SUSPENDED, with `stageStatus: "SUSPENDED"`), applies `stagePatch` to the stage and
   * `runPatch` to the run (locking the run row first, as every run write does), appends `outbox`
   * and `logs`, and returns true. Otherwise writes nothing and returns false.
   */
  commitStageAndRun(o: CommitStageAndRun): Promise<boolean>;
  /** `forUpdate` locks the row until the transaction ends (no-op outside one). */
  getRun(id: string, opts?: { forUpdate?: boolean }): Promise<RunRecord | null>;
  /** Applies `patch` (and bumps updatedAt to `now`) when `guard` holds; returns the new row or null. */
  updateRun(id: string, patch: RunPatch, now: Date, guard?: RunGuard): Promise<RunRecord | null>;
  /** Applies `patch` (and updatedAt `now`) to every run in `ids`, unguarded; returns how many it changed. */
  updateRuns(ids: string[], patch: RunPatch, now: Date): Promise<number>;
  listRuns(filter: RunFilter): Promise<RunRecord[]>;
  countRunsByStatus(): Promise<Record<RunStatus, number>>;
  /**
   * Atomically moves up to `limit` PENDING runs (highest priority, then oldest first) to RUNNING,
   * setting claimedBy/startedAt/lastActivityAt; concurrent claimers never get the same run
   * (SKIP LOCKED).
   */
  claimPendingRuns(limit: number, workerId: string, now: Date): Promise<RunRecord[]>;
  /** RUNNING runs whose lastActivityAt is older than `before`, oldest first. */
  findStaleRunningRuns(before: Date, limit: number): Promise<RunRecord[]>;

  // --- stages
  /** Inserts the stage, or returns the existing row for (workflowRunId, stageId) unchanged. */
  upsertStage(stage: NewStage): Promise<StageRecord>;
  /** {@link upsertStage} for many stages in one write: every row, inserted or stored before, in no particular order. */
  upsertStages(stages: NewStage[]): Promise<StageRecord[]>;
  getStage(workflowRunId: string, stageId: string, opts?: { forUpdate?: boolean }): Promise<StageRecord | null>;
  listStages(workflowRunId: string): Promise<StageRecord[]>;
  updateStage(workflowRunId: string, stageId: string, patch: StagePatch, now: Date, guard?: StageGuard): Promise<StageRecord | null>;
  deleteStages(workflowRunId: string, stageIds: string[]): Promise<number>;
  /**
   * SUSPENDED stages with nextPollAt <= now, soonest first. Each returned stage gets
   * nextPollAt = now + leaseMs in the same statement, so a concurrent poller skips it.
   */
  claimDueSuspendedStages(now: Date, limit: number, leaseMs: number): Promise<StageRecord[]>;

  // --- logs
  appendLogs(logs: NewLog[]): Promise<void>;
  listLogs(workflowRunId: string, opts?: { stageId?: string; limit?: number }): Promise<LogRecord[]>;

  // --- artifacts (metadata; bytes are in the BlobStore)
  recordArtifact(artifact: ArtifactRecord): Promise<void>;
  listArtifacts(workflowRunId: string, opts?: { keyPrefix?: string }): Promise<ArtifactRecord[]>;
  deleteArtifacts(workflowRunId: string, keyPrefix: string): Promise<number>;

  // --- outbox
  appendOutbox(rows: NewOutboxRow[]): Promise<void>;
  /**
   * Unpublished, not dead-lettered rows whose claim is null or expired (oldest first), or the
   * given `ids`; each returned row gets claimedUntil = now + leaseMs (SKIP LOCKED).
   */
  claimOutbox(opts: { now: Date; limit: number; leaseMs: number; ids?: string[] }): Promise<OutboxRecord[]>;
  markOutboxPublished(ids: string[], now: Date): Promise<void>;
  /**
   * Records a failed delivery (attempts + 1, lastError) and releases the claim (claimedUntil = null)
   * so the next flush may retry it; `deadLetter` moves the row to the dead-letter queue instead.
   */
  markOutboxFailed(id: string, error: string, now: Date, deadLetter: boolean): Promise<void>;
  listDeadLetters(limit: number): Promise<OutboxRecord[]>;
  /** Clears dead-letter state and attempts so the rows are delivered again. */
  requeueDeadLetters(ids: string[], now: Date): Promise<number>;

  // --- idempotency
  /**
   * Takes the key for one dispatch. `opts.staleBefore`: an IN_PROGRESS row last updated before
   * this instant was abandoned by a crashed dispatcher and is taken over (`acquired`); adapters
   * that ignore it keep such keys blocked until released.
   */
  acquireIdempotencyKey(command: string, key: string, now: Date, opts?: { staleBefore?: Date }): Promise<IdempotencyAcquire>;
  completeIdempotencyKey(command: string, key: string, result: unknown, now: Date): Promise<void>;
  /**
   * Stores `result` as the completed result of a key not seen before (`acquired`); a key already
   * stored is left alone and reported (`completed` with its result, or `in_progress`; an
   * IN_PROGRESS key older than `opts.staleBefore` is taken over: `acquired`). Called inside the
   * transaction doing the guarded work, key and work commit or roll back together, and a
   * concurrent call for the same key waits for that transaction: exactly one of them is `acquired`.
   */
  storeIdempotencyResult(
    command: string,
    key: string,
    result: unknown,
    now: Date,
    opts?: { staleBefore?: Date },
  ): Promise<IdempotencyAcquire>;
  releaseIdempotencyKey(command: string, key: string): Promise<void>;

  // --- annotations
  insertAnnotations(rows: NewAnnotation[]): Promise<number>;
  listAnnotations(workflowRunId: string, filter?: AnnotationFilter): Promise<AnnotationRecord[]>;

  // --- AI call accounting
  /** Stores one call; a call whose id is already stored is skipped (a replayed report records it once). */
  recordAICall(call: AICallRecord): Promise<void>;
  listAICalls(topicPrefix: string): Promise<AICallRecord[]>;
  /**
   * Totals per group, costliest first (then by key). Topics are `workflow.<runId>.stage.<stageId>`;
   * grouping by workflow joins the run (calls of deleted runs group under `"(unknown)"`).
   */
  summarizeAICalls(q: AICallSummaryQuery): Promise<AICallSummaryRow[]>;
}

/** The persistence port: everything the kernel reads and writes, plus `transaction()`. */
export interface Persistence extends PersistenceTx {
  /** Runs `fn` in one transaction: all its writes commit together, or none if it throws. */
  transaction<T>(fn: (tx: PersistenceTx) => Promise<T>): Promise<T>;
  /** Releases connections this adapter owns (never a client it was given). */
  close?(): Promise<void>;
}
