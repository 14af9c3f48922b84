/**
 * The orchestrator side of remote activities: pure logic over the ActivityTaskStore (shared by
 * every orchestrator, so all state changes are the store's fenced compare-and-sets), a Presigner,
 * a Clock and a TaskDispatcher. Transports call `handleHeartbeat`, `report` and `presign` with
 * raw message bodies; stages and executors use the `RemoteActivityClient` methods.
 */
import type { AISpend } from "../contract/ai-calls.js";
import { type ActivityReport, type ActivityTaskRecord, startedAttempts } from "../ports/activity-task-store.js";
import type { Logger } from "../ports/logger.js";
import { type BrokerOptions, type ResolvedBrokerOptions, resolveBrokerOptions } from "./broker-options.js";
import { errorMessage } from "../kernel/deps.js";
import {
  type HeartbeatReply,
  type HeartbeatRequest,
  type PresignReply,
  type ReportMessage,
  type StartRequest,
  TaskMessage,
  parseHeartbeatOrStart,
  parsePresignRequest,
  parseReportMessage,
  unwrap,
} from "../contract/tasks.js";
import { parseJsonBody, zodToProtocolError } from "../contract/job-message.js";
import { type HeartbeatBatchReply, looksLikeBeatBatch, parseHeartbeatBatch } from "../contract/heartbeat-batch.js";
import { fieldName, findUnstorable, toStorable } from "../contract/storable.js";
import { carrierFromContext, contextFromCarrier } from "../contract/trace-headers.js";
import type { TraceCarrier } from "../ports/records.js";
import { SpanKind, inSpan } from "../contract/spans.js";
import { countTaskOutcome } from "../contract/metrics.js";
import { DispatcherMissingError, versionMismatchMessage } from "./errors.js";
import { type OutcomeListener, OutcomeWaiters, abortReason } from "./outcome-waiters.js";
import { presignForTask } from "./broker-presign.js";
import { toOutcome } from "./broker-outcome.js";
import { attemptPrefix } from "./presign-scope.js";
import { type Via, newSecret } from "./task-capability.js";
import { type LeaseContext, heartbeat, refreshBatch, startAttempt } from "./broker-lease.js";
import { type TaskFacts, TaskFactsCache } from "./task-facts.js";
import {
  attemptLossCause,
  scheduleToCloseDeadline,
  scheduleToStartFired,
  scheduleToStartMessage,
  storedTimeouts,
  unwrapTimeouts,
} from "./timeouts.js";
import {
  type RemoteActivityClient,
  type SubmitSpec,
  type TaskDispatcher,
  type TaskOutcome,
  remoteTaskId,
  taskArtifactPrefix,
} from "./types.js";

export type { BrokerOptions } from "./broker-options.js";

/** Result of a report: whether it became the task's outcome, and why not. */
export interface ReportResult {
  accepted: boolean;
  reason?: "unknown_task" | "stale_attempt" | "already_terminal" | "run_cancelled";
  taskId: string;
}

/** Result of a broker reap: tasks failed for running out of attempts or time, and leases that expired. */
export interface ReapResult {
  failed: { taskId: string; error: string }[];
  /** Leases that expired with attempts left: the transport redelivers them. */
  leasesExpired: number;
}

/**
 * Why a report can never be stored (a string holding U+0000 or a lone surrogate anywhere in its
 * output, error, logs, annotations or metrics), or null. Postgres refuses such values in `text`
 * and `jsonb`, so recording the report as sent would fail on every redelivery.
 */
export function unstorableReport(msg: ReportMessage): string | null {
  const { output, outputRef, error, logs, annotations, metrics, aiCalls } = msg;
  const found = findUnstorable({ output, outputRef, error, logs, annotations, metrics, aiCalls });
  if (!found) return null;
  return `report of attempt ${msg.attempt} refused: ${fieldName("", found.path)} ${found.reason}; the task fails without retry (the same value cannot be stored on any attempt)`;
}

/** Creates a broker. */
export function createBroker(opts: BrokerOptions): Broker {
  return new Broker(opts);
}

/** The orchestrator side of remote activities: creates tasks, dispatches them, fences heartbeats and reports by lease token, presigns within a task's scope. */
export class Broker implements RemoteActivityClient {
  private dispatcher: TaskDispatcher | undefined;
  private readonly waiters = new OutcomeWaiters();
  /** Immutable fields of the tasks this broker created or read, so starts and reports skip reading the row. */
  private readonly facts = new TaskFactsCache();
  private readonly logger: Logger;
  readonly leaseMs: number;
  private readonly defaultMaxAttempts: number;
  private readonly presignExpiresInSec: number;
  private uploadTicketSecret: string;
  /** Whether the secret came from the options (then {@link useSharedUploadTicketSecret} keeps it). */
  private readonly uploadTicketSecretConfigured: boolean;

  private readonly opts: ResolvedBrokerOptions;

  /** @throws ValidationError naming each bad or unknown option. */
  constructor(options: BrokerOptions) {
    const opts = (this.opts = resolveBrokerOptions(options));
    this.dispatcher = opts.dispatcher;
    this.logger = opts.logger;
    this.leaseMs = opts.leaseMs;
    this.defaultMaxAttempts = opts.defaultMaxAttempts;
    this.presignExpiresInSec = opts.presignExpiresInSec;
    this.uploadTicketSecret = opts.uploadTicketSecret ?? newSecret();
    this.uploadTicketSecretConfigured = opts.uploadTicketSecret !== undefined;
  }

  /**
   * Signs upload tickets with `secret`, one every orchestrator sharing the task store agrees on
   * (the orchestrator reads it from Postgres at start), unless the options named one. Without it
   * each process keeps its own random secret, and a request for more part URLs that reaches
   * another orchestrator would be refused.
   */
  useSharedUploadTicketSecret(secret: string): void {
    if (!this.uploadTicketSecretConfigured) this.uploadTicketSecret = secret;
  }

  /** Wires the dispatcher once the transport exists (the transport may need the broker first). */
  attachDispatcher(dispatcher: TaskDispatcher): void {
    this.dispatcher = dispatcher;
  }

  /** Subscribes to terminal outcomes recorded through this broker instance. */
  onOutcome(listener: OutcomeListener): () => void {
    return this.waiters.onOutcome(listener);
  }

  /**
   * Runs in an `activity.dispatch` span (child of the active one, e.g. the stage attempt). The
   * span's context is persisted with the task and travels in its message, so the worker's
   * `activity.execute` span is its child even when the task is re-published later.
   */
  async submit(spec: SubmitSpec): Promise<string> {
    if (!this.dispatcher) throw new DispatcherMissingError();
    const dispatcher = this.dispatcher;
    const taskId = remoteTaskId(spec.workflowRunId, spec.stageId, spec.kernelAttempt);
    const attributes = {
      "messaging.system": "jetflow",
      "messaging.operation.type": "send",
      "messaging.destination.name": spec.queue,
      "jetflow.task.id": taskId,
      "jetflow.queue": spec.queue,
      "jetflow.run.id": spec.workflowRunId,
      "jetflow.stage.id": spec.stageId,
      "jetflow.stage.attempt": spec.kernelAttempt,
    };
    const parent = spec.traceContext ? contextFromCarrier(spec.traceContext) : undefined;
    return inSpan("activity.dispatch", { kind: SpanKind.PRODUCER, attributes, ...(parent ? { parent } : {}) }, () =>
      this.createAndPublish(spec, taskId, dispatcher, carrierFromContext() ?? spec.traceContext ?? null),
    );
  }

  private async createAndPublish(
    spec: SubmitSpec,
    taskId: string,
    dispatcher: TaskDispatcher,
    traceContext: TraceCarrier | null,
  ): Promise<string> {
    const now = this.opts.clock.now();
    const timeouts = spec.timeouts ? unwrapTimeouts(spec.timeouts) : undefined;
    const record = await this.opts.store.createTask({
      taskId,
      workflowRunId: spec.workflowRunId,
      workflowId: spec.workflowId,
      stageId: spec.stageId,
      queue: spec.queue,
      codeVersion: spec.codeVersion,
      requiredLabels: spec.requiredLabels ?? {},
      maxAttempts: spec.maxAttempts ?? this.defaultMaxAttempts,
      priority: spec.priority ?? 0,
      capability: newSecret(),
      maxUploadBytes: spec.maxUploadBytes ?? this.opts.maxUploadBytes,
      input: spec.input,
      config: spec.config,
      deadline: scheduleToCloseDeadline(spec.deadline ?? null, timeouts, now),
      timeouts: storedTimeouts(timeouts),
      traceContext,
      now,
    });
    if (record.status === "PENDING" || record.status === "LEASED") this.facts.remember(record);
    // Re-publish while the task is not terminal: a crash between create and publish must not
    // strand it, and the transport deduplicates by taskId.
    if (record.status === "PENDING") await dispatcher.publish(this.toTaskMessage(record, spec.workflowContext, spec.aiSpent));
    return taskId;
  }

  /**
   * The wire message of a stored task, in the band of its stored priority (every publish of the
   * task builds its message here, so a republished task keeps its band).
   * @throws ProtocolError when the record cannot be expressed.
   */
  toTaskMessage(t: ActivityTaskRecord, workflowContext?: Record<string, unknown>, aiSpent?: AISpend): TaskMessage {
    const body = {
      v: 1 as const,
      taskId: t.taskId,
      workflowRunId: t.workflowRunId,
      workflowId: t.workflowId,
      stageId: t.stageId,
      queue: t.queue,
      codeVersion: t.codeVersion,
      requiredLabels: t.requiredLabels,
      maxAttempts: t.maxAttempts,
      // Absent for 0, so a normal-band message looks as it did before priorities.
      ...(t.priority ? { priority: t.priority } : {}),
      input: t.input,
      config: t.config,
      ...(t.heartbeatDetails != null ? { heartbeatDetails: t.heartbeatDetails } : {}),
      deadline: t.deadline ? t.deadline.toISOString() : null,
      artifactPrefix: taskArtifactPrefix(t.workflowRunId, t.stageId),
      ...(workflowContext ? { workflowContext } : {}),
      ...(t.traceContext ? { traceContext: t.traceContext } : {}),
      ...(t.capability ? { capability: t.capability } : {}),
      maxUploadBytes: t.maxUploadBytes ?? this.opts.maxUploadBytes,
      ...(aiSpent ? { aiSpent } : {}),
      createdAt: t.createdAt.toISOString(),
    };
    const r = TaskMessage.safeParse(body);
    if (!r.success) throw zodToProtocolError(`task ${t.taskId}`, r.error);
    return r.data;
  }

  /**
   * A heartbeat request body (start or beat). Never throws for a refused attempt (the reply says
   * so); @throws ProtocolError for a malformed body.
   */
  async handleHeartbeat(raw: unknown, via?: Via): Promise<HeartbeatReply> {
    const req = unwrap(parseHeartbeatOrStart(raw));
    return req.kind === "start" ? this.startAttempt(req, via) : this.heartbeat(req);
  }

  /**
   * Any body on the heartbeat subject: a start, a beat, or a batch of beats (heartbeat-batch.ts),
   * whose beats are each handled as a single one and answered in order. A batch fails as a whole
   * when one of its beats cannot be answered (e.g. Postgres is down): an error, never a refusal,
   * so no worker drops a lease it may still hold. @throws ProtocolError for a malformed body.
   */
  async handleHeartbeatBody(raw: unknown, via?: Via): Promise<HeartbeatReply | HeartbeatBatchReply> {
    const json = unwrap(parseJsonBody(raw, "heartbeat request"));
    if (!looksLikeBeatBatch(json)) return this.handleHeartbeat(json, via);
    const { beats } = unwrap(parseHeartbeatBatch(json));
    return { replies: await refreshBatch(this.leaseContext, beats) };
  }

  /** Opens attempt `req.attempt` and issues its lease token; see {@link startAttempt} in ./broker-lease.ts. */
  startAttempt(req: StartRequest, via?: Via): Promise<HeartbeatReply> {
    return startAttempt(this.leaseContext, req, via);
  }

  /** Stores progress and extends the lease of the current attempt; `cancelled` tells the worker to stop. */
  heartbeat(req: HeartbeatRequest): Promise<HeartbeatReply> {
    return heartbeat(this.leaseContext, req);
  }

  private get leaseContext(): LeaseContext {
    const { store, clock } = this.opts;
    return {
      store,
      clock,
      logger: this.logger,
      leaseMs: this.leaseMs,
      facts: this.facts,
      failTask: (id, e) => this.failTask(id, e),
      reissue: (t, lapsedBefore) => this.reissue(t, lapsedBefore),
    };
  }

  /**
   * Replaces `t`'s spent capability and publishes the task as a new message whose `attemptBase`
   * is the attempts started so far. Should the publish fail, the row (leased, lapsed, unspent)
   * is what `redispatchStranded` publishes later.
   */
  private async reissue(t: ActivityTaskRecord, lapsedBefore: Date): Promise<boolean> {
    if (!this.dispatcher || t.capability === null) return false;
    const now = this.opts.clock.now();
    const fresh = await this.opts.store.reissueCapability(t.taskId, {
      capability: t.capability,
      newCapability: newSecret(),
      lapsedBefore,
      now,
    });
    if (!fresh) return false;
    this.facts.forget(t.taskId);
    await this.dispatcher.publish(
      { ...this.toTaskMessage(fresh), attemptBase: fresh.attempt },
      { dedupeId: `${t.taskId}~${fresh.attempt}~${now.getTime()}` },
    );
    return true;
  }

  /**
   * A report body. Fenced by the store: exactly one terminal outcome per task, stale attempts and
   * cancelled runs are recorded and refused. @throws ProtocolError for a malformed body.
   */
  async report(raw: unknown, traceCarrier?: TraceCarrier | null, via?: Via): Promise<ReportResult> {
    const msg = unwrap(parseReportMessage(raw));
    // `activity.report.apply` is a child of the worker's `activity.execute` span (the report's headers).
    const attributes = {
      "messaging.system": "jetflow",
      "messaging.operation.type": "process",
      "jetflow.task.id": msg.taskId,
      "jetflow.activity.attempt": msg.attempt,
      "jetflow.worker.id": msg.workerId,
      "jetflow.task.outcome": msg.outcome,
    };
    const parent = traceCarrier ? contextFromCarrier(traceCarrier) : undefined;
    return inSpan("activity.report.apply", { kind: SpanKind.CONSUMER, attributes, ...(parent ? { parent } : {}) }, async (span) => {
      // The fenced update decides; the row is read first only when this broker has not seen the task.
      const task: TaskFacts | null = this.facts.get(msg.taskId) ?? (await this.opts.store.getTask(msg.taskId));
      // A report on another queue's subject is treated as one for an unknown task.
      if (!task || (via && via.queue !== task.queue)) {
        span.setAttribute("jetflow.report.refused", "unknown_task");
        return { accepted: false, reason: "unknown_task", taskId: msg.taskId };
      }
      const report = this.toActivityReport(task, msg);
      const verdict = await this.opts.store.recordReport(msg.taskId, report, this.opts.clock.now());
      if (verdict.accepted || verdict.reason !== "stale_attempt") this.facts.forget(msg.taskId);
      if (verdict.accepted) {
        countTaskOutcome(report.outcome, task.queue);
        this.waiters.notify(msg.taskId, { workflowRunId: task.workflowRunId, stageId: task.stageId });
      } else {
        span.setAttribute("jetflow.report.refused", verdict.reason ?? "refused");
        this.logger.info(
          { taskId: msg.taskId, attempt: msg.attempt, workerId: msg.workerId, reason: verdict.reason },
          "remote report refused",
        );
      }
      return verdict.accepted ? { accepted: true, taskId: msg.taskId } : { accepted: false, reason: verdict.reason, taskId: msg.taskId };
    });
  }

  /**
   * Fails the reporting attempt with `reason` when the store refused its report as data (a value
   * it can never hold): fenced by the report's lease token like any report, so a stale attempt
   * changes nothing. @throws ProtocolError for a malformed body.
   */
  async failReport(raw: unknown, reason: string): Promise<ReportResult> {
    const msg = unwrap(parseReportMessage(raw));
    const audit = toStorable({ v: 1, taskId: msg.taskId, attempt: msg.attempt, workerId: msg.workerId, outcome: "failed", error: reason });
    const verdict = await this.opts.store.recordReport(
      msg.taskId,
      { attempt: msg.attempt, leaseToken: msg.leaseToken, raw: audit, outcome: "failed", error: reason },
      this.opts.clock.now(),
    );
    if (verdict.accepted) {
      countTaskOutcome("failed", verdict.task.queue);
      this.waiters.notify(msg.taskId, { workflowRunId: verdict.task.workflowRunId, stageId: verdict.task.stageId });
      return { accepted: true, taskId: msg.taskId };
    }
    return { accepted: false, reason: verdict.reason, taskId: msg.taskId };
  }

  private toActivityReport(task: TaskFacts, msg: ReportMessage): ActivityReport {
    const refused = unstorableReport(msg);
    if (refused) {
      // The value can never be stored, so retrying cannot help: the attempt fails (still fenced by
      // its lease) with a reason naming the field, and an audit copy with the characters replaced.
      this.logger.warn({ taskId: msg.taskId, attempt: msg.attempt, workerId: msg.workerId, error: refused }, "remote report refused");
      const raw = toStorable({ ...msg, outcome: "failed", error: refused, output: undefined, outputRef: undefined });
      return { attempt: msg.attempt, leaseToken: msg.leaseToken, raw, outcome: "failed", error: refused };
    }
    const base = { attempt: msg.attempt, leaseToken: msg.leaseToken, raw: msg };
    if (msg.codeVersion !== task.codeVersion) {
      // Deploy safety: a report from other code never resumes the task, it fails it (still fenced).
      return {
        ...base,
        outcome: "failed",
        error: versionMismatchMessage(task.codeVersion, msg.codeVersion, `the reporting worker "${msg.workerId}"`),
      };
    }
    if (msg.outcome === "completed" && msg.outputRef) {
      const own = attemptPrefix({ workflowRunId: task.workflowRunId, stageId: task.stageId, attempt: msg.attempt });
      if (!msg.outputRef.key.startsWith(own) || msg.outputRef.key.split("/").includes("..")) {
        return { ...base, outcome: "failed", error: `outputRef "${msg.outputRef.key}" is outside the attempt's prefix ${own}` };
      }
      return { ...base, outcome: "completed" };
    }
    if (msg.outcome === "completed") return { ...base, outcome: "completed", output: msg.output };
    return { ...base, outcome: msg.outcome, error: msg.error ?? msg.outcome };
  }

  /** A presign request body. @throws ProtocolError, TaskNotFoundError, LeaseNotHeldError, PresignRefusedError. */
  async presign(raw: unknown, via?: Via): Promise<PresignReply> {
    const req = unwrap(parsePresignRequest(raw));
    return presignForTask(
      {
        store: this.opts.store,
        presigner: this.opts.presigner,
        clock: this.opts.clock,
        blobStore: this.opts.blobStore,
        expiresInSec: this.presignExpiresInSec,
        defaultMaxUploadBytes: this.opts.maxUploadBytes,
        pageMaxParts: this.opts.presignPageParts,
        uploadTicketSecret: this.uploadTicketSecret,
      },
      req,
      via?.queue,
    );
  }

  /**
   * Cancels every unfinished task of the run. Workers learn it from the cancel notice on their
   * queue's subject at once, and from the `cancelled` of their next broker heartbeat otherwise.
   */
  async cancelRun(workflowRunId: string): Promise<string[]> {
    // Queues first (cache, else one read per task): the notice goes to each task's own queue only.
    const before = await this.opts.store.listTasks({ workflowRunId });
    const ids = await this.opts.store.cancelTasksForRun(workflowRunId, this.opts.clock.now());
    for (const id of ids) this.facts.forget(id);
    if (ids.length > 0 && this.dispatcher) {
      const byQueue = new Map<string, string[]>();
      for (const t of before) if (ids.includes(t.taskId)) byQueue.set(t.queue, [...(byQueue.get(t.queue) ?? []), t.taskId]);
      for (const [queue, taskIds] of byQueue) {
        try {
          await this.dispatcher.notifyCancelled({ workflowRunId, queue, taskIds });
        } catch (err) {
          // Committed already; broker heartbeat replies carry `cancelled: true` within half a lease.
          this.logger.warn({ workflowRunId, queue, err: errorMessage(err) }, "cancel notice to workers failed");
        }
      }
    }
    for (const id of ids) this.waiters.notify(id);
    return ids;
  }

  async failTask(taskId: string, error: string): Promise<void> {
    const t = await this.opts.store.failTask(taskId, error, this.opts.clock.now());
    this.facts.forget(taskId);
    if (t) {
      countTaskOutcome("failed", t.queue);
      this.waiters.notify(taskId, { workflowRunId: t.workflowRunId, stageId: t.stageId });
    }
  }

  /** Fails tasks past their deadline and tasks whose last allowed attempt lost its lease. */
  async reapExpired(limit = 100): Promise<ReapResult> {
    const now = this.opts.clock.now();
    const expired = await this.opts.store.findExpired(now, limit);
    const result: ReapResult = { failed: [], leasesExpired: 0 };
    for (const t of expired) {
      let error: string | null = null;
      if (t.deadline && t.deadline.getTime() <= now.getTime()) {
        error = `scheduleToClose timeout: deadline exceeded: task deadline ${t.deadline.toISOString()} passed (status ${t.status}, attempt ${t.attempt} of ${t.maxAttempts})`;
      } else if (scheduleToStartFired(t, now)) {
        error = scheduleToStartMessage(t);
      } else if (t.status === "LEASED" && startedAttempts(t) >= t.maxAttempts) {
        error = `attempts exhausted: attempt ${t.attempt}, the last of ${t.maxAttempts} allowed, (worker ${t.workerId ?? "unknown"}) ${attemptLossCause(t)}`;
      }
      if (error === null) {
        result.leasesExpired++;
        continue;
      }
      const failed = await this.opts.store.failTask(t.taskId, error, now);
      if (failed) {
        countTaskOutcome("failed", t.queue);
        this.waiters.notify(t.taskId, { workflowRunId: t.workflowRunId, stageId: t.stageId });
        result.failed.push({ taskId: t.taskId, error });
      }
    }
    return result;
  }

  /**
   * Publishes again the tasks whose message may be gone (see `ActivityTaskStore.claimStranded`):
   * a crash between create and publish, deliveries spent on refusals until the consumer's
   * MaxDeliver, or a message a server crash lost. Each goes out as a new message (its own dedupe
   * id, so the server keeps it) whose `attemptBase` is the attempts already started, so the next
   * delivery opens the next attempt. Should the old message still be queued, whichever delivery
   * starts second is refused as stale and terminated: one execution per attempt either way.
   * Returns how many were published.
   */
  async redispatchStranded(opts: { olderThanMs: number; limit?: number }): Promise<number> {
    if (!this.dispatcher) throw new DispatcherMissingError();
    const now = this.opts.clock.now();
    const stranded = await this.opts.store.claimStranded(now, new Date(now.getTime() - opts.olderThanMs), opts.limit ?? 100);
    for (const t of stranded) {
      const message = this.toTaskMessage(t);
      await this.dispatcher.publish(t.attempt > 0 ? { ...message, attemptBase: t.attempt } : message, {
        dedupeId: `${t.taskId}~${t.attempt}~${now.getTime()}`,
      });
      this.logger.info({ taskId: t.taskId, status: t.status, attempt: t.attempt }, "stranded remote task re-dispatched");
    }
    return stranded.length;
  }

  async getOutcome(taskId: string): Promise<TaskOutcome | null> {
    const t = await this.opts.store.getTask(taskId);
    return t ? toOutcome(t, this.opts.blobStore) : null;
  }

  async waitForOutcome(taskId: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<TaskOutcome | null> {
    const w = this.waiters.wait(taskId, opts.timeoutMs, opts.signal);
    let first: TaskOutcome | null;
    try {
      first = await this.getOutcome(taskId);
    } catch (err) {
      w.cancel();
      throw err;
    }
    if (!first || first.status !== "pending") {
      w.cancel();
      return first;
    }
    if ((await w.done) === "aborted") throw abortReason(opts.signal!);
    return this.getOutcome(taskId);
  }
}
