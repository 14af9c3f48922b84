/**
 * The worker's view of the task transport (type-only; the worker SDK re-exports it from
 * `jetflow/worker`). It lives in src/ because src/ may not import worker-sdk/ and the in-process
 * transport implements it.
 *
 * JetStream mapping, one call each:
 * - `next`      pull one message from the durable consumer of `<p>.tasks.<queue>.<codeVersion>`
 *               (bounded `expires`); delivery count = attempt; generate a lease token; send the
 *               start heartbeat (request/reply); refused → `term()` and pull again; malformed →
 *               `term()` + dead letter with the ProtocolError (never handed to the worker).
 * - `heartbeat` `msg.working()` (`+WPI`); a heartbeat request/reply only when there are new
 *               details or the broker last extended the lease half a lease ago.
 * - `watchCancel` the queue's cancel notices (`<p>.cancel.<queue>`, core NATS).
 * - `report`    publish on `<p>.reports.<queue>`, await the PubAck, THEN `msg.ack()`.
 * - `release`   `msg.nak(delayMs)` (the next delivery is attempt + 1).
 * - `presign`   request/reply.
 */
import type { HeartbeatReply, PresignReply, PresignRequest, ReportMessage, TaskMessage } from "./tasks.js";
import type { TraceCarrier } from "./trace-headers.js";

/** One delivery of a task, held by this worker until reported or released. */
export interface LeasedTask {
  task: TaskMessage;
  /** The task message's `attemptBase` plus the transport's delivery count (1-based). */
  attempt: number;
  /** Attempts that may still start after this one (the broker's count of executions); absent from older brokers. */
  attemptsLeft?: number;
  /** Proves this delivery holds the lease; sent with every heartbeat, presign and report. */
  leaseToken: string;
  workerId: string;
  /** The previous attempt's last heartbeat details (undefined on a first attempt). */
  heartbeatDetails: unknown;
  /** W3C trace context the delivery carried (message headers, else the task body's carrier). */
  traceContext?: TraceCarrier;
}

/** Options of {@link WorkerTransport.next}: who asks, and how long to wait. */
export interface NextOptions {
  workerId: string;
  codeVersion: string;
  /** The worker's labels; only tasks whose requiredLabels they satisfy are delivered. */
  labels: Record<string, string>;
  /** Longest time to wait for a task (a bound, not a sleep). */
  waitMs: number;
  /** Aborting makes `next` resolve null promptly. */
  signal?: AbortSignal;
}

/** What a presign call needs besides the lease (the transport adds taskId/attempt/leaseToken). */
export type PresignCall = Omit<PresignRequest, "taskId" | "attempt" | "leaseToken">;

/** How a worker receives tasks and talks to the broker (NATS in production, in-process in tests). */
export interface WorkerTransport {
  /** The next task this worker may run, already started at the broker; null when none arrived in time. */
  next(queue: string, opts: NextOptions): Promise<LeasedTask | null>;
  /**
   * Optional: up to `max` tasks in one go (one pull, their starts in parallel), waiting like
   * `next` when none is ready; empty when none arrived in time. Workers with free capacity for
   * several tasks use it instead of `next`.
   */
  nextBatch?(queue: string, opts: NextOptions, max: number): Promise<LeasedTask[]>;
  /** Extends the lease and stores progress (`details` undefined: no new progress); the reply says whether to stop (`cancelled`, `!accepted`). */
  heartbeat(lease: LeasedTask, details: unknown): Promise<HeartbeatReply>;
  /**
   * Optional: calls `onCancel` once when the orchestrator announces that `lease`'s task was
   * cancelled (at once if it already did since the start); returns the unsubscribe. Without it,
   * a worker learns of a cancel only from a heartbeat reply.
   */
  watchCancel?(lease: LeasedTask, onCancel: () => void): () => void;
  /** Persists the report durably, then acknowledges the task (never the other way round). */
  report(lease: LeasedTask, report: ReportMessage): Promise<void>;
  /** Gives the task back for redelivery (attempt + 1) after `delayMs`, without an outcome. */
  release(lease: LeasedTask, opts: { delayMs: number }): Promise<void>;
  presign(lease: LeasedTask, req: PresignCall): Promise<PresignReply>;
  /** Releases the transport's resources (connections, subscriptions). */
  close?(): Promise<void>;
}
