/**
 * Runs one leased task: validates input/config with the stage's schemas, runs the REAL
 * `stage.execute(ctx)` with a worker-built context (inline, or in a worker thread that proxies
 * the context back here), validates the output, and ends the delivery exactly once:
 * report (completed / failed / cancelled, durable before the ack) or release (retry, stop).
 */
import type { ReportAnnotation, ReportLog, ReportMessage } from "../src/contract/tasks.js";
import { PendingAICalls, type ReportAICall } from "../src/contract/ai-calls.js";
import { MAX_AI_CALLS, workerAIRecorder } from "./ai-recorder.js";
import type { AnyStage, AnnotationInput, StageContext } from "../src/contract/stage-types.js";
import type { LeasedTask, WorkerTransport } from "./transport.js";
import { createRemoteArtifacts } from "./artifacts.js";
import { ActivityCancelledError, LeaseLostError, TaskValidationError, WorkerError, WorkerStoppingError } from "./errors.js";
import { isRetryable, retryDelayMs } from "../src/contract/failure-policy.js";
import { issuesFromZod } from "../src/contract/validation.js";
import { Heartbeater } from "./heartbeater.js";
import { workflowContextAccess } from "./workflow-context.js";
import type { ActivityThreadPool } from "./thread-pool.js";
import type { ThreadTask } from "./thread-messages.js";
import type { WorkerLogger } from "./logger.js";
import { contextFromCarrier } from "../src/contract/trace-headers.js";
import { SpanKind, inSpan } from "../src/contract/spans.js";
import { recordActivityDuration } from "../src/contract/metrics.js";
import { SpanStatusCode, trace } from "@opentelemetry/api";

export interface RunTaskDeps {
  transport: WorkerTransport;
  stage: AnyStage | undefined;
  knownStageIds: string[];
  codeVersion: string;
  heartbeatIntervalMs: number;
  partSize: number;
  /** Outputs whose JSON is larger are stored by reference. */
  inlineOutputLimitBytes: number;
  /**
   * Thread isolation: stage code runs in one of the pool's activity threads; null runs it inline
   * on this event loop. Validation, heartbeats, artifacts and reports stay here either way.
   */
  thread: ActivityThreadPool | null;
  /** Aborted by stop({ drain: false }). */
  hardStop: AbortSignal;
  logger: WorkerLogger;
}

export type TaskResult = "completed" | "failed" | "cancelled" | "released";

const MAX_LOGS = 10_000;

/**
 * Runs the delivery in an `activity.execute` span, child of the broker's `activity.dispatch` span
 * (from the delivery's trace headers or the task's persisted carrier); the report is sent inside
 * it, so the orchestrator's `activity.report.apply` span is its child. Records the attempt's
 * duration in `jetflow.activity.duration`.
 */
export async function runTask(deps: RunTaskDeps, lease: LeasedTask): Promise<TaskResult> {
  const { task } = lease;
  const attributes = {
    "messaging.system": "jetflow",
    "messaging.operation.type": "process",
    "messaging.destination.name": task.queue,
    "jetflow.task.id": task.taskId,
    "jetflow.run.id": task.workflowRunId,
    "jetflow.stage.id": task.stageId,
    "jetflow.queue": task.queue,
    "jetflow.activity.attempt": lease.attempt,
    "jetflow.worker.id": lease.workerId,
    "jetflow.code_version": deps.codeVersion,
  };
  const parent = contextFromCarrier(lease.traceContext ?? task.traceContext);
  const started = performance.now();
  let result: TaskResult | "error" = "error";
  try {
    return await inSpan("activity.execute", { kind: SpanKind.CONSUMER, attributes, parent }, async (span) => {
      result = await runDelivery(deps, lease);
      span.setAttribute("jetflow.task.outcome", result);
      return result;
    });
  } finally {
    recordActivityDuration((performance.now() - started) / 1000, { "jetflow.queue": task.queue, "jetflow.task.outcome": result });
  }
}

async function runDelivery(deps: RunTaskDeps, lease: LeasedTask): Promise<TaskResult> {
  const { task } = lease;
  const controller = new AbortController();
  const onStop = () => controller.abort(new WorkerStoppingError());
  if (deps.hardStop.aborted) onStop();
  else deps.hardStop.addEventListener("abort", onStop, { once: true });
  const hb = new Heartbeater(
    deps.transport,
    lease,
    deps.heartbeatIntervalMs,
    (reply) => {
      if (controller.signal.aborted) return;
      if (reply.cancelled) controller.abort(new ActivityCancelledError(task.taskId));
      else if (!reply.accepted) controller.abort(new LeaseLostError(task.taskId, lease.attempt, reply.reason ?? "refused"));
    },
    deps.logger,
  );
  const logs: ReportLog[] = [];
  const annotations: ReportAnnotation[] = [];
  const aiCalls: ReportAICall[] = [];
  const pendingAI = new PendingAICalls();
  const base = () => {
    // Streams the stage left running are recorded (as aborted) now: after the report they would be lost.
    pendingAI.abandonAll();
    return {
      v: 1 as const,
      taskId: task.taskId,
      attempt: lease.attempt,
      leaseToken: lease.leaseToken,
      workerId: lease.workerId,
      codeVersion: deps.codeVersion,
      logs: logs.slice(0, MAX_LOGS),
      annotations,
      ...(aiCalls.length > 0 ? { aiCalls: aiCalls.slice(0, MAX_AI_CALLS) } : {}),
      reportedAt: new Date().toISOString(),
    };
  };

  // A cancel notice aborts at once; the broker heartbeat's `cancelled` remains the fallback.
  const unwatch = deps.transport.watchCancel?.(lease, () => {
    if (!controller.signal.aborted) controller.abort(new ActivityCancelledError(task.taskId));
  });
  hb.start();
  deps.logger.debug({ taskId: task.taskId, attempt: lease.attempt }, "delivery leased; heartbeats started");
  let end: { result: TaskResult; report?: ReportMessage; delayMs?: number };
  try {
    end = await execute(deps, lease, controller.signal, hb, { logs, annotations, aiCalls, pendingAI }, base);
  } catch (err) {
    end = failureEnd(deps, lease, err, controller.signal, base);
  } finally {
    deps.hardStop.removeEventListener("abort", onStop);
    unwatch?.();
    await hb.stop();
  }
  deps.logger.debug({ taskId: task.taskId, attempt: lease.attempt, result: end.result }, "attempt ended");
  if (end.report?.outcome === "failed")
    trace.getActiveSpan()?.setStatus({ code: SpanStatusCode.ERROR, message: end.report.error ?? "failed" });
  // Outside the try: a report that fails to send must not be turned into a "failed" outcome.
  if (end.report) {
    await deps.transport.report(lease, end.report);
  } else {
    await hb.flush();
    await deps.transport.release(lease, { delayMs: end.delayMs ?? 0 });
  }
  return end.result;
}

type Base = () => Omit<ReportMessage, "outcome">;

/** What the attempt collects for its report. */
interface Records {
  logs: ReportLog[];
  annotations: ReportAnnotation[];
  aiCalls: ReportAICall[];
  /** Streams still in flight, abandoned when the report is built. */
  pendingAI: PendingAICalls;
}

async function execute(
  deps: RunTaskDeps,
  lease: LeasedTask,
  signal: AbortSignal,
  hb: Heartbeater,
  records: Records,
  base: Base,
): Promise<{ result: TaskResult; report: ReportMessage }> {
  const { task } = lease;
  const stage = deps.stage;
  if (!stage) {
    throw new WorkerError(
      "CONFIG",
      `no stage "${task.stageId}" is registered on this worker (registered: ${deps.knownStageIds.join(", ") || "none"})`,
      false,
    );
  }
  if (task.codeVersion !== deps.codeVersion) {
    throw new WorkerError(
      "VERSION_MISMATCH",
      `code version mismatch: task was created for stageCodeVersion "${task.codeVersion}" but this worker runs "${deps.codeVersion}"`,
      false,
    );
  }
  const input = validate(stage.schemas.input, task.input, "invalid task input");
  const config = validate(stage.schemas.config, task.config ?? {}, "invalid task config");
  const ctx = buildContext(deps, lease, stage, input, config, signal, hb, records);
  deps.logger.debug({ taskId: task.taskId, attempt: lease.attempt, thread: deps.thread !== null }, "running the stage body");
  const result = (deps.thread ? await deps.thread.run(threadTask(lease), ctx) : await stage.execute(ctx)) as {
    output?: unknown;
    suspended?: unknown;
    customMetrics?: Record<string, number>;
  };
  if (result && result.suspended === true)
    throw new WorkerError("CONFIG", `stage "${stage.id}" suspended; remote activities must return { output }`, false);
  if (!result || !("output" in result))
    throw new WorkerError("CONFIG", `stage "${stage.id}" returned neither { output } nor { suspended: true }`, false);
  const output = validate(stage.schemas.output, result.output, "invalid stage output");
  const json = JSON.stringify(output) ?? "null";
  const report: ReportMessage =
    Buffer.byteLength(json) > deps.inlineOutputLimitBytes
      ? { ...base(), outcome: "completed", outputRef: await storeOutput(deps, lease, signal, json) }
      : { ...base(), outcome: "completed", output };
  if (result.customMetrics) report.metrics = result.customMetrics;
  return { result: "completed", report };
}

/** How a failed or interrupted attempt ends: released (stop, retry) or reported (cancelled, final failure). */
function failureEnd(
  deps: RunTaskDeps,
  lease: LeasedTask,
  err: unknown,
  signal: AbortSignal,
  base: Base,
): { result: TaskResult; report?: ReportMessage; delayMs?: number } {
  const reason: unknown = signal.aborted ? signal.reason : null;
  if (reason instanceof WorkerStoppingError) return { result: "released", delayMs: 0 };
  if (reason instanceof ActivityCancelledError)
    return { result: "cancelled", report: { ...base(), outcome: "cancelled", error: reason.message } };
  const message = err instanceof Error ? err.message : String(err);
  const retryable = !(reason instanceof LeaseLostError) && isRetryable(err);
  if (retryable && (lease.attemptsLeft ?? lease.task.maxAttempts - lease.attempt) > 0) {
    // Another delivery retries it; the progress reported so far carries over.
    deps.logger.warn({ taskId: lease.task.taskId, attempt: lease.attempt, err: message }, "activity attempt failed; releasing for retry");
    return { result: "released", delayMs: retryDelayMs(lease.attempt, deps.stage?.retry) };
  }
  return { result: "failed", report: { ...base(), outcome: "failed", error: message, retryable } };
}

function threadTask(lease: LeasedTask): Omit<ThreadTask, "file"> {
  const { task } = lease;
  return {
    stageId: task.stageId,
    workflowRunId: task.workflowRunId,
    workflowId: task.workflowId,
    attempt: lease.attempt,
    input: task.input,
    config: task.config ?? {},
    workflowContext: task.workflowContext ?? null,
    heartbeatDetails: lease.heartbeatDetails,
    ...(task.aiSpent ? { aiSpent: task.aiSpent } : {}),
  };
}

function validate(schema: AnyStage["schemas"]["input"], value: unknown, what: string): unknown {
  if (schema === "none") return undefined;
  const r = schema.safeParse(value);
  if (!r.success) throw new TaskValidationError(what, issuesFromZod(r.error));
  return r.data;
}

async function storeOutput(
  deps: RunTaskDeps,
  lease: LeasedTask,
  signal: AbortSignal,
  json: string,
): Promise<{ key: string; size: number }> {
  const artifacts = createRemoteArtifacts(deps.transport, lease, { partSize: deps.partSize, signal, logger: deps.logger });
  return artifacts.put("_output.json", json, { contentType: "application/json" });
}

function buildContext(
  deps: RunTaskDeps,
  lease: LeasedTask,
  stage: AnyStage,
  input: unknown,
  config: unknown,
  signal: AbortSignal,
  hb: Heartbeater,
  { logs, annotations, aiCalls, pendingAI }: Records,
): StageContext<unknown, unknown> {
  const { task } = lease;
  const access = workflowContextAccess(stage.id, task.workflowContext);
  let dropped = 0;
  return {
    workflowRunId: task.workflowRunId,
    workflowId: task.workflowId,
    stageId: task.stageId,
    stageName: stage.name,
    attempt: lease.attempt,
    input,
    config,
    workflowContext: access.workflowContext,
    require: access.require,
    optional: access.optional,
    async log(level, message, meta) {
      if (logs.length >= MAX_LOGS) {
        dropped++;
        if (dropped === 1) deps.logger.warn({ taskId: task.taskId }, `more than ${MAX_LOGS} log lines; the rest are dropped`);
        return;
      }
      logs.push({ level, message, ...(meta ? { meta } : {}), at: new Date().toISOString() });
    },
    annotate: ((keyOrInput: string | { key: string } | AnnotationInput, value?: unknown) => {
      if (typeof keyOrInput === "string") annotations.push({ attributes: { [keyOrInput]: value } });
      else if ("attributes" in keyOrInput) {
        annotations.push({
          attributes: { ...keyOrInput.attributes },
          ...(keyOrInput.idempotencyKey ? { idempotencyKey: keyOrInput.idempotencyKey } : {}),
        });
      } else annotations.push({ attributes: { [keyOrInput.key]: value } });
    }) as StageContext<unknown, unknown>["annotate"],
    resumeState: undefined,
    signal,
    heartbeat(details?: unknown) {
      hb.beat(details);
    },
    heartbeatDetails: lease.heartbeatDetails,
    artifacts: createRemoteArtifacts(deps.transport, lease, { partSize: deps.partSize, signal, logger: deps.logger }),
    ai: workerAIRecorder(
      task,
      (call) => {
        if (aiCalls.length < MAX_AI_CALLS) aiCalls.push(call);
        else if (aiCalls.length === MAX_AI_CALLS)
          deps.logger.warn({ taskId: task.taskId }, `more than ${MAX_AI_CALLS} AI calls; the rest are not reported`);
      },
      pendingAI,
    ),
  };
}
