/**
 * `defineRemoteStage`: wraps a stage so its `execute()` runs on a remote worker. The wrapper is
 * an async-batch stage with the same id and schemas: `execute` submits the task and suspends
 * (releasing the kernel's job lease), `checkCompletion` resumes it from the broker's outcome.
 * Right for activities that take minutes to hours.
 */
import { type StageLimits, stageLimitIssues } from "../contract/stage-limits.js";
import type { AnyStage, CheckContext, CompletionCheck, Stage, StageContext, StageOutcome } from "../contract/stage-types.js";
import { type Clock, systemClock } from "../ports/clock.js";
import { ValidationError } from "../contract/errors.js";
import { INT4_MAX, INT4_MIN, int4 } from "../contract/storable.js";
import { replayWorkerRecords } from "./replay.js";
import type { RemoteActivityClient } from "./types.js";
import { versionMismatchMessage } from "./errors.js";
import { type RemoteTimeouts, unwrapTimeouts } from "./timeouts.js";

/** Where and how a remote stage runs: queue, code version, labels, poll interval and wait bound. */
export interface RemoteStageOptions {
  queue: string;
  /** The code version workers must run; a task created under another version fails naming both. */
  stageCodeVersion: string;
  /**
   * Fallback check interval. An orchestrator that applies the outcome wakes the stage at once
   * (`stage.wake`); the poll only covers an outcome applied where no kernel listens. Default 5 s.
   */
  pollIntervalMs?: number;
  /** How long the stage may stay suspended (also the task's deadline). Default 1 h. */
  maxWaitMs?: number;
  /**
   * Temporal-style timers of the task (docs/flow-control.md): `scheduleToStartMs` (creation → first
   * start; fails the task), `startToCloseMs` (per attempt), `heartbeatTimeoutMs` (per attempt: the
   * longest gap between `ctx.heartbeat(details)` calls), both retried up to `maxAttempts`, and
   * `scheduleToCloseMs` (the whole task; replaces `maxWaitMs`). Each failure names its timer.
   */
  timeouts?: RemoteTimeouts;
  requiredLabels?: Record<string, string>;
  /**
   * Priority of the task (an integer; > 0 high band, 0 normal, < 0 low: docs/flow-control.md).
   * Default: the run's priority (`runs.create` `priority`).
   */
  priority?: number;
  /**
   * Concurrency key and rate limit of its tasks (docs/flow-control.md). Limits without an `id`
   * are the queue's (`queue:<queue>`): every stage on the queue that sets them shares them.
   * Default: the wrapped stage's `limits`.
   */
  limits?: StageLimits;
  /** Deliveries before the task fails. Default: the wrapped stage's retry.maxAttempts. */
  maxAttempts?: number;
  /** Ship earlier stages' outputs so ctx.require/optional work on the worker. Default false. */
  includeWorkflowContext?: boolean;
  /** Time source for the task deadline. Default: the system clock. */
  clock?: Clock;
  /**
   * Largest artifact (bytes) one `ctx.artifacts.put` of this stage may store; carried in the task.
   * The worker SDK refuses a bigger put before any request, the orchestrator refuses the presign,
   * and the size is signed into the upload URL. Default: the orchestrator's `remote.maxUploadBytes`
   * (5 GiB unless configured).
   */
  maxUploadBytes?: number;
  /**
   * Ship the run's known AI cost in the task, so AI budgets (`jetflow/ai`) on the worker count the
   * calls of earlier stages and attempts; without it they count only the attempt's own calls.
   * Costs one read of the run's AI calls per submit. Default false.
   */
  shipAISpend?: boolean;
}

/** State the suspended stage keeps (JSON). */
export interface RemoteStageState {
  taskId: string;
  codeVersion: string;
  submittedAt: string;
}

/** Makes `stage` run as a remote activity on a worker serving `opts.queue`; same schemas, same id. */
export function defineRemoteStage<S extends AnyStage>(stage: S, client: RemoteActivityClient, opts: RemoteStageOptions): S {
  const issues: { path: string; message: string }[] = [];
  if (!stage || typeof stage.execute !== "function") issues.push({ path: "stage", message: "must be a stage" });
  if (!client || typeof client.submit !== "function") issues.push({ path: "client", message: "must be a Broker or RemoteActivityClient" });
  if (typeof opts?.queue !== "string" || opts.queue === "") issues.push({ path: "queue", message: "must be a non-empty string" });
  if (typeof opts?.stageCodeVersion !== "string" || opts.stageCodeVersion === "")
    issues.push({ path: "stageCodeVersion", message: "must be a non-empty string" });
  const pollIntervalMs = opts?.pollIntervalMs ?? 5_000;
  const timeouts = opts?.timeouts !== undefined ? unwrapTimeouts(opts.timeouts) : undefined;
  const maxWaitMs = timeouts?.scheduleToCloseMs ?? opts?.maxWaitMs ?? 3_600_000;
  if (!(pollIntervalMs > 0)) issues.push({ path: "pollIntervalMs", message: "must be positive" });
  if (!(maxWaitMs > 0)) issues.push({ path: "maxWaitMs", message: "must be positive" });
  // Bounded as the task store holds it (int4), so a bad value fails here, not at the first submit.
  if (opts?.priority !== undefined && !int4().safeParse(opts.priority).success)
    issues.push({ path: "priority", message: `must be an integer from ${INT4_MIN} to ${INT4_MAX}` });
  if (opts?.maxUploadBytes !== undefined && !(Number.isSafeInteger(opts.maxUploadBytes) && opts.maxUploadBytes > 0))
    issues.push({ path: "maxUploadBytes", message: "must be a positive whole number of bytes" });
  issues.push(...stageLimitIssues(opts?.limits));
  if (stage?.mode === "async-batch")
    issues.push({ path: "stage.mode", message: "an async-batch stage already suspends; wrap the activity itself" });
  if (issues.length > 0) throw new ValidationError(`defineRemoteStage(${String(stage?.id)})`, issues);

  const clock = opts.clock ?? systemClock;
  const remote: Stage["remote"] = {
    queue: opts.queue,
    stageCodeVersion: opts.stageCodeVersion,
    ...(opts.requiredLabels ? { requiredLabels: { ...opts.requiredLabels } } : {}),
    ...(opts.priority !== undefined ? { priority: opts.priority } : {}),
    ...(opts.maxUploadBytes !== undefined ? { maxUploadBytes: opts.maxUploadBytes } : {}),
  };

  const wrapper: AnyStage = {
    id: stage.id,
    name: stage.name,
    ...(stage.description !== undefined ? { description: stage.description } : {}),
    dependencies: stage.dependencies,
    mode: "async-batch",
    schemas: stage.schemas,
    retry: stage.retry,
    ...((opts.limits ?? stage.limits) ? { limits: opts.limits ?? stage.limits } : {}),
    remote,
    async execute(ctx: StageContext<unknown, unknown>): Promise<StageOutcome<unknown, RemoteStageState>> {
      const taskId = await client.submit({
        workflowRunId: ctx.workflowRunId,
        workflowId: ctx.workflowId,
        stageId: ctx.stageId,
        kernelAttempt: ctx.attempt,
        queue: opts.queue,
        codeVersion: opts.stageCodeVersion,
        requiredLabels: opts.requiredLabels ?? {},
        priority: opts.priority ?? ctx.priority ?? 0,
        maxAttempts: opts.maxAttempts ?? stage.retry?.maxAttempts ?? 3,
        input: ctx.input ?? null,
        config: ctx.config ?? {},
        deadline: new Date(clock.now().getTime() + maxWaitMs),
        ...(timeouts ? { timeouts } : {}),
        ...(opts.maxUploadBytes !== undefined ? { maxUploadBytes: opts.maxUploadBytes } : {}),
        ...(opts.includeWorkflowContext ? { workflowContext: { ...ctx.workflowContext } } : {}),
        ...(opts.shipAISpend && ctx.ai ? { aiSpent: await ctx.ai.spent() } : {}),
      });
      return {
        suspended: true,
        state: { taskId, codeVersion: opts.stageCodeVersion, submittedAt: clock.now().toISOString() },
        pollConfig: { pollInterval: pollIntervalMs, maxWaitTime: maxWaitMs },
      };
    },
    async checkCompletion(state: RemoteStageState, ctx: CheckContext<unknown>): Promise<CompletionCheck<unknown>> {
      if (!state || typeof state.taskId !== "string") return { ready: false, error: "remote stage state has no taskId" };
      const outcome = await client.getOutcome(state.taskId);
      if (!outcome) return { ready: false, error: `remote task "${state.taskId}" does not exist` };
      if (outcome.codeVersion !== opts.stageCodeVersion) {
        // Deploy safety: this orchestrator runs other stage code than the task was created for.
        const error = versionMismatchMessage(outcome.codeVersion, opts.stageCodeVersion, "this orchestrator");
        if (outcome.status === "pending") await client.failTask(state.taskId, error);
        return { ready: false, error };
      }
      if (outcome.status === "pending") return { ready: false, nextCheckIn: pollIntervalMs };
      await replayWorkerRecords(outcome, ctx);
      if (outcome.status === "completed") {
        const parsed = stage.schemas.output.safeParse(outcome.output);
        if (!parsed.success) {
          return { ready: false, error: `remote task "${state.taskId}" returned invalid output: ${parsed.error.message}` };
        }
        return { ready: true, output: parsed.data, ...(outcome.metrics ? { customMetrics: outcome.metrics } : {}) };
      }
      return {
        ready: false,
        error: `remote activity ${outcome.status} (task ${state.taskId}, attempt ${outcome.attempt}): ${outcome.error ?? outcome.status}`,
      };
    },
  };
  return Object.freeze(wrapper) as S;
}
