import type { WaitReason } from "../ports/limits.js";
import type { ActivityExecutor } from "../ports/activity-executor.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { Clock } from "../ports/clock.js";
import type { EventSink } from "../ports/event-sink.js";
import type { JobTransport } from "../ports/job-transport.js";
import type { Logger } from "../ports/logger.js";
import type { AnnotationFilter, Persistence, RunFilter } from "../ports/persistence.js";
import type { AnnotationRecord, LogRecord, RunRecord, StageRecord } from "../ports/records.js";
import type { WorkflowRegistry } from "../ports/registry.js";
import type { Scheduler } from "../ports/scheduler.js";
import type { AnnotationInput } from "../contract/stage-types.js";
import type { CommandResult, KernelCommand } from "./commands.js";
import type { KernelPlugin } from "./plugins.js";

/** Tuning of the kernel; every field has a default. */
export interface KernelOptions {
  /** Stage outputs whose JSON is larger go to the BlobStore. Default 64 KiB. */
  inlineOutputLimitBytes?: number;
  /** Delivery attempts of an outbox row before it is dead-lettered. Default 5. */
  outboxMaxAttempts?: number;
  /** How long a fast-path writer keeps its claim on fresh outbox rows. Default 30 s. */
  outboxClaimMs?: number;
  /** An IN_PROGRESS idempotency key older than this is considered abandoned. Default 5 min. */
  idempotencyStaleMs?: number;
  /** Default max attempts for stages that do not set one. Default 3. */
  defaultMaxAttempts?: number;
  /** While a stage runs in this process, how often its run's status is re-read to notice a cancel. Default 1000 ms. */
  cancelCheckIntervalMs?: number;
  /** How long stage.pollSuspended keeps a claimed stage away from concurrent pollers. Default 60 s. */
  suspendedCheckLeaseMs?: number;
  /** run.reapStuck's default inactivity threshold when the command gives none. Default 5 min. */
  stuckThresholdMs?: number;
  /**
   * A RUNNING run whose first group never started (claimed, then the start failed: a lost
   * connection, a crash) is started by `run.reapStuck` after this long. No stage can be running
   * yet, so this is far shorter than `stuckThresholdMs`. Default 10 s.
   */
  unstartedRunThresholdMs?: number;
  /**
   * How long the published marks of fast-path deliveries wait to be written together (one
   * UPDATE for every delivery of the window). The rows stay claimed by their writer meanwhile, so
   * the delay only postpones the `published_at` stamp. 0: the next event-loop turn. Default 50 ms.
   */
  outboxMarkDelayMs?: number;
  /**
   * How long a slot granted to a parked stage (rate limits, concurrency keys) stays reserved for
   * its job to arrive; a job lost in transit gives the slot back after this. Default 30 s.
   */
  limitGrantTtlMs?: number;
}

/** Who starts a run `run.create` starts itself (see KernelConfig `startOnCreate`). */
export interface RunStarter {
  /** The run's claimedBy: the host whose lanes run its jobs and whose reaper watches it. */
  claimedBy: string;
  /** The run started in its creating write; its first jobs are queued. Must not throw. */
  started(workflowRunId: string): void;
}

/** What {@link createKernel} needs: the ports, the workflow registry, and optional executor, plugins, logger and options. */
export interface KernelConfig {
  persistence: Persistence;
  blobStore: BlobStore;
  jobTransport: JobTransport;
  eventSink: EventSink;
  scheduler: Scheduler;
  clock: Clock;
  registry: WorkflowRegistry;
  /** Defaults to `createLocalExecutor()`. */
  executor?: ActivityExecutor;
  /** Hooks fired on cancellation so in-flight remote activities can be interrupted. */
  onRunCancelled?: (workflowRunId: string) => Promise<void>;
  /**
   * Called after `run.create` committed a new PENDING run (not on a replayed key), so a host can
   * claim it at once instead of at its next orchestration tick (NodeHost `claimSoon`). Must not
   * throw; it is not awaited.
   */
  onRunCreated?: (workflowRunId: string) => void;
  /**
   * Lets `run.create` start a new run in its own write when no run is PENDING: the run is
   * RUNNING, claimed by `claimedBy`, with its first group's stages and jobs queued, saving the
   * claim's transaction. `started` is then called instead of `onRunCreated`. Return null (a
   * stopped host) to leave new runs PENDING for a claim. Wire it to NodeHost `starter`.
   */
  startOnCreate?: () => RunStarter | null;
  plugins?: KernelPlugin[];
  /** Where the kernel reports failures it must not throw (fast-path outbox delivery, cancel hooks). Default silent. */
  logger?: Logger;
  options?: KernelOptions;
}

/** A run with its stages, for the query side. */
export interface RunView {
  run: RunRecord;
  stages: StageRecord[];
  /** Stages parked by a rate limit or concurrency key, and why (docs/flow-control.md). */
  waiting: StageWait[];
}

/** A stage waiting for admission under its limits. */
export interface StageWait {
  stageId: string;
  reason: WaitReason;
  /** `concurrency key "t1" of "queue:render#concurrency" full: 2/2 running`. */
  detail: string;
  /** When a rate-limited stage gets its next token; null: when a slot frees. */
  retryAt: Date | null;
  /** First parked. */
  since: Date;
}

/** The command kernel: `dispatch` executes a command; the query side reads runs, stages, logs and annotations. */
export interface Kernel {
  dispatch<C extends KernelCommand>(command: C): Promise<CommandResult<C>>;
  annotations: {
    attach(workflowRunId: string, input: AnnotationInput & { stageId?: string }): Promise<{ inserted: number }>;
    list(workflowRunId: string, filter?: AnnotationFilter): Promise<AnnotationRecord[]>;
  };
  runs: {
    get(workflowRunId: string): Promise<RunView | null>;
    list(filter: RunFilter): Promise<RunRecord[]>;
    logs(workflowRunId: string, opts?: { stageId?: string; limit?: number }): Promise<LogRecord[]>;
    /** Output of a completed stage (reads the BlobStore when it was stored there). */
    stageOutput(workflowRunId: string, stageId: string): Promise<unknown>;
    /** Run counts per status (for stats endpoints). */
    countByStatus?(): Promise<Record<RunRecord["status"], number>>;
  };
}
