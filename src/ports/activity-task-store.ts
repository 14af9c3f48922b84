import type { TraceCarrier } from "./records.js";

/**
 * Durable state of remote activity tasks (the broker's store). Several orchestrators share it,
 * so every transition is a guarded compare-and-set: a stale attempt can never overwrite a newer one.
 */
export type ActivityTaskStatus = "PENDING" | "LEASED" | "COMPLETED" | "FAILED" | "CANCELLED";
/** How a remote activity attempt ended. */
export type ActivityOutcome = "completed" | "failed" | "cancelled";

/**
 * Per-attempt timers of a remote task, as Temporal defines them (schedule-to-close is the task's
 * `deadline`). Each is optional; the store caps every lease deadline at the first of them.
 */
export interface ActivityTimeouts {
  /** From creation until the first attempt starts; past it the task fails (not retried). */
  scheduleToStartMs?: number;
  /** Longest run of one attempt, from its start; past it the attempt loses its lease (retried). */
  startToCloseMs?: number;
  /**
   * Longest gap between an attempt's start or heartbeats WITH details (`ctx.heartbeat(details)`);
   * the SDK's automatic liveness beats do not count. Past it the attempt loses its lease (retried).
   */
  heartbeatTimeoutMs?: number;
}

/** Which per-attempt timer ended an attempt's lease. */
export type AttemptTimeout = "startToClose" | "heartbeat";

/** A remote activity task as the store holds it. */
export interface ActivityTaskRecord {
  taskId: string;
  workflowRunId: string;
  workflowId: string;
  stageId: string;
  queue: string;
  codeVersion: string;
  /** Labels a worker must carry to receive the task (e.g. { gpu: "true" }). */
  requiredLabels: Record<string, string>;
  status: ActivityTaskStatus;
  /** Current attempt (1-based; bumped each time a worker starts it). */
  attempt: number;
  maxAttempts: number;
  /**
   * The priority the task was submitted with (an int4 integer, 0 = normal band; see
   * src/contract/priority.ts). Every message of the task carries it, so a task published again
   * (re-dispatched or reissued) stays in its band. Tasks created before it was stored hold their
   * run's priority if they were unfinished then, else 0.
   */
  priority: number;
  /**
   * Proof of delivery: a random secret carried only in the task message, on the task's own queue
   * subject. Starting an attempt requires it. Null for tasks created before it existed.
   */
  capability: string | null;
  /**
   * The attempt the current capability opened, or null while it is unspent. A capability opens
   * one attempt: once that attempt's lease ends, only a new message with a new capability (see
   * `reissueCapability`) can open the next, so an earlier recipient of the task cannot start it
   * again. A release by the holder (a retry) returns the capability unspent to its message.
   */
  capabilitySpentBy: number | null;
  /** Largest artifact one upload of this task may store (bytes). Null for tasks created before it was recorded. */
  maxUploadBytes: number | null;
  /** Token of the attempt that holds the lease (issued by the broker); only its heartbeats and report are accepted. */
  leaseToken: string | null;
  leaseDeadline: Date | null;
  workerId: string | null;
  input: unknown;
  config: unknown;
  /** Last heartbeat's progress details; the next attempt reads them as ctx.heartbeatDetails. */
  heartbeatDetails: unknown | null;
  heartbeatAt: Date | null;
  outcome: ActivityOutcome | null;
  output: unknown | null;
  error: string | null;
  /** The raw report as received (also kept for rejected late reports' audit via `rejectedReports`). */
  report: unknown | null;
  reportedAt: Date | null;
  /** Absolute time after which the task is failed if still not done. */
  deadline: Date | null;
  traceContext: TraceCarrier | null;
  createdAt: Date;
  updatedAt: Date;
  /** Every started attempt, oldest first, with the worker that started it; absent until one starts. */
  attempts?: ActivityAttempt[];
  /** The task's timers (null: none; tasks created before they existed). */
  timeouts?: ActivityTimeouts | null;
  /** When the current attempt started (startToClose counts from it). */
  attemptStartedAt?: Date | null;
  /** When the current attempt started or last heartbeated with details (heartbeatTimeout counts from it). */
  progressAt?: Date | null;
}

/**
 * Attempts that started (executions): the attempt history's length, or for a task created before
 * the history was kept, the attempt number. Deliveries given back unstarted never count; this is
 * what `maxAttempts` bounds.
 */
export function startedAttempts(t: { attempt: number; attempts?: readonly unknown[] | null }): number {
  return t.attempts?.length ?? t.attempt;
}

/** One started attempt of a task: which worker opened it, and when. */
export interface ActivityAttempt {
  attempt: number;
  workerId: string;
  startedAt: Date;
}

/** A task to create. */
export interface NewActivityTask {
  taskId: string;
  workflowRunId: string;
  workflowId: string;
  stageId: string;
  queue: string;
  codeVersion: string;
  requiredLabels: Record<string, string>;
  maxAttempts: number;
  /**
   * See {@link ActivityTaskRecord.priority}; default 0. Anything but an int4 integer is refused
   * with a ValidationError naming `priority` (`checkedPriority`), by every store alike.
   */
  priority?: number;
  /** See {@link ActivityTaskRecord.capability}. */
  capability: string;
  /** See {@link ActivityTaskRecord.maxUploadBytes}. */
  maxUploadBytes?: number | null;
  input: unknown;
  config: unknown;
  deadline: Date | null;
  traceContext: TraceCarrier | null;
  now: Date;
  /** See {@link ActivityTimeouts}; the store caps leases by them. */
  timeouts?: ActivityTimeouts | null;
}

/** A worker's report of one attempt, with the lease token that fences it. */
export interface ActivityReport {
  attempt: number;
  leaseToken: string;
  outcome: ActivityOutcome;
  output?: unknown;
  error?: string;
  raw: unknown;
}

/** Whether a report became the task's outcome, and why not. */
export type ReportVerdict =
  | { accepted: true; task: ActivityTaskRecord }
  | { accepted: false; reason: "unknown_task" | "stale_attempt" | "already_terminal" | "run_cancelled"; task: ActivityTaskRecord | null };

/** One attempt's plain lease refresh, fenced like a heartbeat by attempt and lease token. */
export interface LeaseRefresh {
  taskId: string;
  attempt: number;
  leaseToken: string;
}

/** The port for remote activity task state; every transition is a guarded compare-and-set. */
export interface ActivityTaskStore {
  /**
   * Idempotent by taskId: returns the existing task unchanged when it already exists.
   * @throws ValidationError when `priority` is not an int4 integer (nothing is stored).
   */
  createTask(task: NewActivityTask): Promise<ActivityTaskRecord>;
  getTask(taskId: string): Promise<ActivityTaskRecord | null>;
  listTasks(filter: {
    workflowRunId?: string;
    status?: ActivityTaskStatus[];
    queue?: string;
    limit?: number;
  }): Promise<ActivityTaskRecord[]>;
  /**
   * A worker starts `attempt`: accepted only when the task is not terminal, `attempt` is newer
   * than the stored one (or equal with the same token, for an idempotent retry of this call), and
   * no other attempt's lease is still live: a LEASED task whose lease deadline is after
   * `liveLeaseCutoff` is refused, so a newer attempt cannot take a task from a holder that is
   * still heartbeating. A newer attempt's start time and progress time are `now`, and its lease
   * deadline is capped by the task's startToClose and heartbeat timeouts. A newer attempt also
   * needs the task's capability unspent (see {@link ActivityTaskRecord.capabilitySpentBy}) and spends it.
   */
  startAttempt(
    taskId: string,
    start: {
      attempt: number;
      leaseToken: string;
      workerId: string;
      leaseDeadline: Date;
      now: Date;
      liveLeaseCutoff: Date;
      /**
       * When given, the start also requires the stored capability to equal this one (the broker
       * checked the worker's against a cached copy and skipped reading the row).
       */
      capability?: string | null;
    },
  ): Promise<{ accepted: boolean; task: ActivityTaskRecord | null }>;
  /**
   * Stores progress and extends the lease, for the current attempt only (one guarded update, no
   * read first). `details` undefined keeps the stored details. `cancelled` tells the worker to stop.
   * A beat with details is progress (heartbeatTimeout restarts). The lease deadline is capped by
   * the task's timers; a beat after one fired is refused with `timedOut` naming it.
   */
  recordHeartbeat(
    taskId: string,
    beat: {
      attempt: number;
      leaseToken: string;
      details?: unknown;
      leaseDeadline: Date;
      now: Date;
      /** The holder gives the task back (a retry): its capability becomes unspent, so its message's redelivery may open the next attempt. */
      release?: boolean;
    },
  ): Promise<{ accepted: boolean; cancelled: boolean; timedOut?: AttemptTimeout }>;
  /**
   * Plain lease refreshes of many attempts at once (no details, no release), as one write: each
   * beat is applied exactly when `recordHeartbeat` without details would accept it (current
   * attempt, its lease token, LEASED, no timer fired), with the same capped deadline; the others
   * change nothing. Returns the indices (into `beats`) of the beats applied; the caller learns why
   * the rest were refused from `recordHeartbeat`, one by one.
   */
  refreshLeases(beats: LeaseRefresh[], b: { leaseDeadline: Date; now: Date }): Promise<Set<number>>;
  /**
   * Replaces a spent capability whose attempt's lease ended (at or before `lapsedBefore`) with
   * `newCapability`, unspent, so the task can be published again as a new message that alone
   * opens the next attempt. Guarded by `capability` (the spent one): of concurrent callers one
   * wins; the others, and a task that is terminal, unspent or still leased, get null.
   */
  reissueCapability(
    taskId: string,
    r: { capability: string; newCapability: string; lapsedBefore: Date; now: Date },
  ): Promise<ActivityTaskRecord | null>;
  /**
   * Sets the single terminal outcome; later or stale reports are refused with a reason. A report of
   * an attempt whose startToClose or heartbeat timer fired is stale (it lost its lease).
   */
  recordReport(taskId: string, report: ActivityReport, now: Date): Promise<ReportVerdict>;
  /** Marks every non-terminal task of the run CANCELLED; returns their ids. */
  cancelTasksForRun(workflowRunId: string, now: Date): Promise<string[]>;
  /**
   * Fails a non-terminal task with `error` (deadline passed, attempts exhausted, version mismatch).
   * Returns the failed task, or null when the task is unknown or already terminal (nothing changed).
   */
  failTask(taskId: string, error: string, now: Date): Promise<ActivityTaskRecord | null>;
  /**
   * LEASED tasks whose lease expired before `now`, non-terminal tasks past their deadline, and
   * PENDING tasks whose scheduleToStart timeout passed before `now`.
   */
  findExpired(now: Date, limit: number): Promise<ActivityTaskRecord[]>;
  /**
   * Claims up to `limit` tasks whose message may be gone and must be published again: not past
   * their deadline, with attempts left (started attempts, the history's length), unchanged since `cutoff`, and either PENDING or LEASED
   * with a lease that ended before `cutoff` (no attempt started since the lease ran out, so the
   * transport is not redelivering it: its deliveries ran out on refusals, or the message was
   * lost). Each claimed task's `updatedAt` becomes `now`, so concurrent callers claim disjoint
   * tasks and one task is claimed at most once per period. Oldest first. A claimed task whose
   * capability is spent gets a new, unspent one (each claimed task its own), so the message
   * published for it can open the next attempt.
   */
  claimStranded(now: Date, cutoff: Date, limit: number): Promise<ActivityTaskRecord[]>;
}
