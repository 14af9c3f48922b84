/**
 * Rows the kernel keeps. Every Persistence adapter stores and returns exactly these shapes
 * (dates as Date, JSON as plain values).
 */
import type { Actor, LogLevel } from "../contract/stage-types.js";
import type { TraceCarrier } from "../contract/trace-headers.js";
export type { Actor, ActorKind, LogLevel } from "../contract/stage-types.js";
export type { TraceCarrier } from "../contract/trace-headers.js";

/** Lifecycle of a workflow run. Terminal: COMPLETED, FAILED, CANCELLED. */
export type RunStatus = "PENDING" | "RUNNING" | "COMPLETED" | "FAILED" | "CANCELLED";
/** Lifecycle of one stage of a run. Terminal: COMPLETED, FAILED, CANCELLED. */
export type StageStatus = "PENDING" | "RUNNING" | "SUSPENDED" | "COMPLETED" | "FAILED" | "CANCELLED";

/** Run statuses after which a run never changes. */
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ["COMPLETED", "FAILED", "CANCELLED"];
/** Stage statuses after which a stage never changes. */
export const TERMINAL_STAGE_STATUSES: readonly StageStatus[] = ["COMPLETED", "FAILED", "CANCELLED"];

/** A workflow run as stored. */
export interface RunRecord {
  id: string;
  workflowId: string;
  status: RunStatus;
  input: unknown;
  /** Per-stage config keyed by stage id, already validated and defaulted. */
  config: Record<string, unknown>;
  output: unknown | null;
  error: string | null;
  /** Execution group in progress; -1 until the run is claimed. */
  currentGroupIndex: number;
  priority: number;
  claimedBy: string | null;
  traceContext: TraceCarrier | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  /** Bumped by every stage progress; run.reapStuck looks at it. */
  lastActivityAt: Date;
}

/** A stage of a run as stored. */
export interface StageRecord {
  /** Row id (unique across runs). */
  id: string;
  workflowRunId: string;
  stageId: string;
  stageName: string;
  groupIndex: number;
  status: StageStatus;
  /** Executions started so far (1 after the first job.execute begins). */
  attempt: number;
  maxAttempts: number;
  /** Fencing token of the execution that currently owns the stage; a commit with another token is refused. */
  executionToken: string | null;
  /** Output inline when small; otherwise null and `outputRef` names a BlobStore key. */
  output: unknown | null;
  outputRef: string | null;
  error: string | null;
  suspendedState: unknown | null;
  nextPollAt: Date | null;
  pollIntervalMs: number | null;
  maxWaitUntil: Date | null;
  metrics: Record<string, number> | null;
  traceContext: TraceCarrier | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
}

/** A log line as stored. */
export interface LogRecord {
  id: string;
  workflowRunId: string;
  stageId: string | null;
  level: LogLevel;
  message: string;
  meta: Record<string, unknown> | null;
  createdAt: Date;
}

/** Metadata of a blob the kernel or a stage wrote under a run's prefix. Bytes live in the BlobStore. */
export interface ArtifactRecord {
  workflowRunId: string;
  stageId: string | null;
  key: string;
  size: number;
  contentType: string | null;
  createdAt: Date;
}

/** Outbox row kinds: `event` goes to the EventSink, `job` to the JobTransport. */
export type OutboxKind = "event" | "job";

/** An outbox row as stored. */
export interface OutboxRecord {
  id: string;
  kind: OutboxKind;
  workflowRunId: string;
  /** Event type for kind=event (e.g. "workflow:completed"), "job" for kind=job. */
  type: string;
  payload: Record<string, unknown>;
  createdAt: Date;
  publishedAt: Date | null;
  /** Rows are inserted pre-claimed by their writer (fast path); flushers only take rows whose claim expired. */
  claimedUntil: Date | null;
  attempts: number;
  lastError: string | null;
  /** Set when the row exhausted its retries; plugin.replayDLQ clears it. */
  deadLetteredAt: Date | null;
}

/** One key/value fact about a run (or one of its stages). */
export interface AnnotationRecord {
  id: string;
  workflowRunId: string;
  stageId: string | null;
  key: string;
  value: unknown;
  actor: Actor;
  idempotencyKey: string | null;
  createdAt: Date;
}

/** A recorded AI/model call (topic, model, tokens, cost). */
export interface AICallRecord {
  id: string;
  /** Dotted topic, e.g. `workflow.<runId>.stage.<stageId>`. */
  topic: string;
  model: string;
  callType: string;
  inputTokens: number;
  outputTokens: number;
  /** USD; null when the model's price is unknown (never guessed). */
  cost: number | null;
  /** provider, latencyMs, status ("ok" | "error"), error, cachedInputTokens. */
  meta: Record<string, unknown> | null;
  createdAt: Date;
}

/** Result cached for an idempotency key. */
export interface IdempotencyRecord {
  command: string;
  key: string;
  status: "IN_PROGRESS" | "COMPLETED";
  result: unknown | null;
  createdAt: Date;
  updatedAt: Date;
}
