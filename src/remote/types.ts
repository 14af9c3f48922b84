/**
 * Interfaces of the orchestrator side of remote activities. A transport implements
 * `TaskDispatcher` (orchestrator → workers); stages and executors talk to a
 * `RemoteActivityClient` (the Broker, or a proxy to one).
 */
import type { CancelNotice, TaskMessage, ReportLog, ReportAnnotation } from "../contract/tasks.js";
import type { AISpend, ReportAICall } from "../contract/ai-calls.js";
import type { TraceCarrier } from "../ports/records.js";
import type { RemoteTimeouts } from "./timeouts.js";

/**
 * Publishes tasks to workers. On JetStream: `publish` = publish on
 * `<p>.tasks.<queue>.<codeVersion>` with `Nats-Msg-Id = taskId` (so a re-publish is deduplicated),
 * awaiting the PubAck; `notifyCancelled` = a best-effort core-NATS publish on `<p>.cancel.<queue>`
 * that the queue's workers act on (broker heartbeat replies answer `cancelled: true` regardless,
 * so losing it only delays the abort).
 */
export interface TaskDispatcher {
  /**
   * Durable once resolved; idempotent per `dedupeId` (default: the taskId). A re-dispatch passes
   * a new id, so the server does not drop it as a duplicate of the message it replaces.
   */
  publish(task: TaskMessage, opts?: { dedupeId?: string }): Promise<void>;
  /** Best effort: tells the workers of `notice.queue` these tasks of the run were cancelled. */
  notifyCancelled(notice: CancelNotice): Promise<void>;
}

/** What a stage or executor asks the broker to run remotely. */
export interface SubmitSpec {
  workflowRunId: string;
  workflowId: string;
  stageId: string;
  /** The kernel's attempt of the stage: with run and stage it makes the task id (re-submit is idempotent). */
  kernelAttempt: number;
  queue: string;
  codeVersion: string;
  requiredLabels?: Record<string, string>;
  /**
   * Priority (the run's, or the stage's `priority`): its band picks the subject and consumer, so
   * workers start higher bands first (src/contract/priority.ts). Default 0 (normal band).
   */
  priority?: number;
  /** Deliveries to workers before the task fails. Default: the broker's `defaultMaxAttempts`. */
  maxAttempts?: number;
  input: unknown;
  config: unknown;
  /** Absolute time after which the task fails if not done (schedule-to-close). */
  deadline?: Date | null;
  /**
   * Temporal-style timers (src/remote/timeouts.ts); `scheduleToCloseMs` moves `deadline` earlier
   * when it ends sooner.
   */
  timeouts?: RemoteTimeouts;
  /** Largest artifact one upload of the task may store. Default: the broker's `maxUploadBytes`. */
  maxUploadBytes?: number;
  /** Outputs of earlier stages, for stages that call ctx.require on the worker. */
  workflowContext?: Record<string, unknown>;
  traceContext?: TraceCarrier | null;
  /** Known AI cost of the run and stage so far, for the worker's budget checks. */
  aiSpent?: AISpend;
}

/** Status of a remote task as the executor sees it. */
export type TaskOutcomeStatus = "pending" | "completed" | "failed" | "cancelled";

/** What the orchestrator knows about a task: terminal outcomes carry the worker's logs and annotations. */
export interface TaskOutcome {
  taskId: string;
  status: TaskOutcomeStatus;
  /** Code version the task was created for. */
  codeVersion: string;
  attempt: number;
  output?: unknown;
  error?: string;
  logs: ReportLog[];
  annotations: ReportAnnotation[];
  /** AI calls the attempt reported (see `jetflow/ai`). */
  aiCalls: ReportAICall[];
  metrics?: Record<string, number>;
  workerId: string | null;
}

/** The orchestrator-side API stages and executors use (implemented by the Broker). */
export interface RemoteActivityClient {
  /** Creates (idempotently) and publishes a task; returns its id. */
  submit(spec: SubmitSpec): Promise<string>;
  /** Null when the task does not exist. */
  getOutcome(taskId: string): Promise<TaskOutcome | null>;
  /**
   * Resolves with the terminal outcome as soon as it is known, or with the current (pending)
   * one after `timeoutMs`; rejects when `signal` aborts.
   */
  waitForOutcome(taskId: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<TaskOutcome | null>;
  /** Fails a non-terminal task (abandoned, timed out, version mismatch); workers see `accepted: false`. */
  failTask(taskId: string, error: string): Promise<void>;
}

/** The deterministic task id: the same run, stage and kernel attempt always map to the same task. */
export function remoteTaskId(workflowRunId: string, stageId: string, kernelAttempt: number): string {
  return `${workflowRunId}.${stageId}.${kernelAttempt}`;
}

/** Prefix of a stage's artifacts (`run.rerunFrom` deletes it); attempts write under `<prefix><attempt>/`. */
export function taskArtifactPrefix(workflowRunId: string, stageId: string): string {
  return `runs/${workflowRunId}/${stageId}/`;
}
