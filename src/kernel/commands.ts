import type { WaitReason } from "../ports/limits.js";
import type { AnnotationInput } from "../contract/stage-types.js";
import type { RunStatus, TraceCarrier } from "../ports/records.js";

/** Creates a run (PENDING). Replays the first result for a repeated idempotency key. */
export interface RunCreateCommand {
  type: "run.create";
  idempotencyKey: string;
  workflowId: string;
  input: unknown;
  /** Per-stage config keyed by stage id; validated and defaulted. */
  config?: Record<string, unknown>;
  priority?: number;
  annotations?: AnnotationInput[];
  traceContext?: TraceCarrier;
}
/** Result of `run.create`. */
export interface RunCreateResult {
  workflowRunId: string;
  status: RunStatus;
  /** False when the key was seen before and the first result is replayed. */
  created: boolean;
}

/** Claims PENDING runs and enqueues (via the outbox) the jobs of their first group. */
export interface RunClaimPendingCommand {
  type: "run.claimPending";
  workerId: string;
  maxClaims?: number;
}
/** Result of `run.claimPending`. */
export interface RunClaimPendingResult {
  claimed: { workflowRunId: string; workflowId: string; jobIds: string[] }[];
}

/** Advances a run whose current group completed: next group's jobs, or run completion. */
export interface RunTransitionCommand {
  type: "run.transition";
  workflowRunId: string;
}
/** Result of `run.transition`. */
export interface RunTransitionResult {
  action: "advanced" | "completed" | "failed" | "noop";
  groupIndex: number;
}

/** Authoritative cancel: run, non-terminal stages, queued jobs and in-flight activities. */
export interface RunCancelCommand {
  type: "run.cancel";
  workflowRunId: string;
  reason?: string;
}
/** Result of `run.cancel`. */
export interface RunCancelResult {
  cancelled: boolean;
  status: RunStatus;
}

/** Resets `fromStageId` and every later stage, deletes their artifacts, and re-runs from there. */
export interface RunRerunFromCommand {
  type: "run.rerunFrom";
  workflowRunId: string;
  fromStageId: string;
}
/** Result of `run.rerunFrom`. */
export interface RunRerunFromResult {
  workflowRunId: string;
  fromStageId: string;
  resetStageIds: string[];
  deletedArtifacts: number;
}

/** Executes one attempt of one stage (phase 1 claim, phase 2 run with no transaction, phase 3 commit). */
export interface JobExecuteCommand {
  type: "job.execute";
  /** Optional: replays the first result for a repeated key. */
  idempotencyKey?: string;
  workflowRunId: string;
  workflowId: string;
  stageId: string;
  /** Overrides the run's stored config for this stage (tests, manual replays). */
  config?: Record<string, unknown>;
  /** Delivery facts of the transport, when the job came from one. */
  delivery?: { jobId: string; deliveryCount: number; attempt: number };
  /** Called while the stage runs, so a host can extend its job lease. */
  onHeartbeat?: () => void;
  /** Aborts the execution (host stop). */
  signal?: AbortSignal;
}
/** Result of `job.execute`. */
export interface JobExecuteResult {
  /** "waiting": a rate limit or concurrency key parked the stage (see `waiting`); the job is done, a grant queues a new one. */
  outcome: "completed" | "suspended" | "failed" | "waiting";
  /** Why the stage was parked (outcome "waiting"). */
  waiting?: { reason: WaitReason; detail: string; retryAt: Date | null };
  /** The run was no longer RUNNING (cancelled, failed, or the stage belongs to an old attempt): do not retry. */
  ghost?: boolean;
  /** The kernel wants another attempt after `retryDelayMs`. */
  retry?: boolean;
  retryDelayMs?: number;
  error?: string;
  nextPollAt?: Date;
  attempt?: number;
  /**
   * The commit of a completed stage also ran the run's transition (next group started, run
   * completed or failed, or parallel siblings still running): `run.transition` is not needed.
   */
  transitioned?: boolean;
}

/** Checks due SUSPENDED stages; a ready one completes and its run transitions. */
export interface StagePollSuspendedCommand {
  type: "stage.pollSuspended";
  maxChecks?: number;
}
/** Result of `stage.pollSuspended`. */
export interface StagePollSuspendedResult {
  checked: number;
  resumed: number;
  failed: number;
  resumedRunIds: string[];
}

/** The external work of a SUSPENDED stage finished: check it now rather than at its next poll. */
export interface StageWakeCommand {
  type: "stage.wake";
  workflowRunId: string;
  stageId: string;
}
/** Result of `stage.wake`: whether the stage was still SUSPENDED, and whether the check resumed it. */
export interface StageWakeResult {
  woken: boolean;
  resumed: boolean;
}

/**
 * Grants parked stages (rate limits, concurrency keys) what fits now, round-robin between keys,
 * and queues their jobs. Run by every host tick and after a limited stage finishes.
 */
export interface StageAdmitWaitingCommand {
  type: "stage.admitWaiting";
  maxGrants?: number;
}
/** Result of `stage.admitWaiting`. */
export interface StageAdmitWaitingResult {
  granted: number;
  /** Earliest instant a rate-limited stage may be granted; null when none waits for tokens. */
  nextRetryAt: Date | null;
}

/** Releases expired job leases; fails stages whose jobs exhausted their deliveries. */
export interface LeaseReapStaleCommand {
  type: "lease.reapStale";
  staleThresholdMs: number;
}
/** Result of `lease.reapStale`. */
export interface LeaseReapStaleResult {
  released: number;
  deadLettered: number;
}

/** Repairs RUNNING runs with no activity for `stuckThresholdMs`: re-enqueues lost jobs, or fails the run. */
export interface RunReapStuckCommand {
  type: "run.reapStuck";
  stuckThresholdMs?: number;
  maxRuns?: number;
}
/** Result of `run.reapStuck`. */
export interface RunReapStuckResult {
  inspected: number;
  requeued: number;
  failed: number;
  runIds: string[];
}

/** Delivers unpublished outbox rows (events to the EventSink, jobs to the JobTransport). */
export interface OutboxFlushCommand {
  type: "outbox.flush";
  maxEvents?: number;
}
/** Result of `outbox.flush`. */
export interface OutboxFlushResult {
  published: number;
  failed: number;
  deadLettered: number;
}

/** Puts dead-lettered outbox rows back for delivery. */
export interface PluginReplayDLQCommand {
  type: "plugin.replayDLQ";
  maxEvents?: number;
}
/** Result of `plugin.replayDLQ`. */
export interface PluginReplayDLQResult {
  replayed: number;
}

/** Fails a stage (and its run) whose job the transport gave up on. */
export interface JobDeadLetterCommand {
  type: "job.deadLetter";
  workflowRunId: string;
  stageId: string;
  attempt: number;
  reason: string;
}
/** Result of `job.deadLetter`. */
export interface JobDeadLetterResult {
  failed: boolean;
}

/** Every command the kernel executes. */
export type KernelCommand =
  | RunCreateCommand
  | RunClaimPendingCommand
  | RunTransitionCommand
  | RunCancelCommand
  | RunRerunFromCommand
  | JobExecuteCommand
  | StagePollSuspendedCommand
  | StageWakeCommand
  | StageAdmitWaitingCommand
  | LeaseReapStaleCommand
  | RunReapStuckCommand
  | OutboxFlushCommand
  | PluginReplayDLQCommand
  | JobDeadLetterCommand;

/** The result type of each command, by command type. */
export interface CommandResultMap {
  "run.create": RunCreateResult;
  "run.claimPending": RunClaimPendingResult;
  "run.transition": RunTransitionResult;
  "run.cancel": RunCancelResult;
  "run.rerunFrom": RunRerunFromResult;
  "job.execute": JobExecuteResult;
  "stage.pollSuspended": StagePollSuspendedResult;
  "stage.wake": StageWakeResult;
  "stage.admitWaiting": StageAdmitWaitingResult;
  "lease.reapStale": LeaseReapStaleResult;
  "run.reapStuck": RunReapStuckResult;
  "outbox.flush": OutboxFlushResult;
  "plugin.replayDLQ": PluginReplayDLQResult;
  "job.deadLetter": JobDeadLetterResult;
}

/** The `type` of a kernel command. */
export type KernelCommandType = KernelCommand["type"];
/** The result type of command `C`. */
export type CommandResult<C extends KernelCommand> = CommandResultMap[C["type"]];
