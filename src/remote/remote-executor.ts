/**
 * `createRemoteExecutor`: the kernel's ActivityExecutor port over the broker. Blocking: it
 * submits the task, then waits for the outcome (woken by the broker's outcome notification,
 * re-reading the store every `pollIntervalMs` for outcomes recorded by other orchestrators)
 * while heartbeating the kernel job so its lease stays alive. Right for short activities.
 */
import type { ActivityExecutor, ActivityRequest } from "../ports/activity-executor.js";
import { type Clock, systemClock } from "../ports/clock.js";
import type { StageOutcome } from "../contract/stage-types.js";
import { RemoteActivityError } from "./errors.js";
import { abortReason } from "./outcome-waiters.js";
import { replayWorkerRecords } from "./replay.js";
import type { RemoteActivityClient } from "./types.js";
import { z } from "zod";
import { parseOptions, positiveInt, withMethods } from "../contract/options.js";

/** Options of {@link createRemoteExecutor}: default queue and code version, labels, poll interval and timeout. */
export interface RemoteExecutorOptions {
  /** Queue and version for stages without `stage.remote` (set by defineRemoteStage). */
  queue: string;
  stageCodeVersion: string;
  /** Longest wait between store re-reads and kernel heartbeats. Default 1 s. */
  pollIntervalMs?: number;
  /** Total time an activity may take; the task is failed after it. Default 10 min. */
  timeoutMs?: number;
  requiredLabels?: Record<string, string>;
  /** Deliveries per task. Default: the stage's retry.maxAttempts. */
  maxAttempts?: number;
  /** Largest artifact one upload may store, for stages whose `stage.remote` sets none. Default: the broker's. */
  maxUploadBytes?: number;
  clock?: Clock;
}

/** Every remote executor default, by name. */
export const REMOTE_EXECUTOR_DEFAULTS = { pollIntervalMs: 1_000, timeoutMs: 600_000 } as const;

const remoteExecutorSchema = z.object({
  queue: z.string().min(1, "must be a non-empty string"),
  stageCodeVersion: z.string().min(1, "must be a non-empty string"),
  pollIntervalMs: positiveInt.default(REMOTE_EXECUTOR_DEFAULTS.pollIntervalMs),
  timeoutMs: positiveInt.default(REMOTE_EXECUTOR_DEFAULTS.timeoutMs),
  requiredLabels: z.record(z.string(), z.string()).optional(),
  maxAttempts: positiveInt.optional(),
  maxUploadBytes: positiveInt.max(Number.MAX_SAFE_INTEGER).optional(),
  clock: withMethods<Clock>("a Clock", "now").default(systemClock),
});

/** Creates an executor that runs every stage it is given as a remote activity through `client`. */
export function createRemoteExecutor(client: RemoteActivityClient, options: RemoteExecutorOptions): ActivityExecutor {
  // The client is an argument, not an option, but its issue is reported with the options' ones.
  const opts = parseOptions(
    "remote executor",
    remoteExecutorSchema.extend({ client: withMethods("a Broker or RemoteActivityClient", "waitForOutcome") }),
    {
      ...options,
      client,
    },
  );
  const { pollIntervalMs, timeoutMs, clock } = opts;

  return {
    async execute(request: ActivityRequest): Promise<StageOutcome<unknown>> {
      if (request.signal.aborted) throw abortReason(request.signal);
      const remote = request.stage.remote;
      const startedAt = clock.now().getTime();
      const deadline = startedAt + timeoutMs;
      const maxUploadBytes = remote?.maxUploadBytes ?? opts.maxUploadBytes;
      const taskId = await client.submit({
        workflowRunId: request.workflowRunId,
        workflowId: request.workflowId,
        stageId: request.stageId,
        kernelAttempt: request.attempt,
        queue: remote?.queue ?? opts.queue,
        codeVersion: remote?.stageCodeVersion ?? opts.stageCodeVersion,
        requiredLabels: remote?.requiredLabels ?? opts.requiredLabels ?? {},
        priority: remote?.priority ?? request.context.priority ?? 0,
        maxAttempts: opts.maxAttempts ?? request.stage.retry?.maxAttempts ?? 3,
        input: request.input ?? null,
        config: request.config ?? {},
        deadline: new Date(deadline),
        ...(maxUploadBytes !== undefined ? { maxUploadBytes } : {}),
      });
      for (;;) {
        request.context.heartbeat();
        let outcome;
        try {
          outcome = await client.waitForOutcome(taskId, {
            timeoutMs: Math.max(1, Math.min(pollIntervalMs, deadline - clock.now().getTime())),
            signal: request.signal,
          });
        } catch (err) {
          if (!request.signal.aborted) throw err;
          // The kernel gave up on the attempt (or the run was cancelled): stop the worker too.
          const reason = abortReason(request.signal);
          await client.failTask(taskId, `abandoned by the orchestrator: ${reason.message}`);
          throw new RemoteActivityError(taskId, "abandoned", `remote task "${taskId}" abandoned: ${reason.message}`);
        }
        if (!outcome) throw new RemoteActivityError(taskId, "failed", `remote task "${taskId}" disappeared from the task store`);
        if (outcome.status === "pending") {
          if (clock.now().getTime() >= deadline) {
            const error = `timed out after ${timeoutMs} ms waiting for a remote worker`;
            await client.failTask(taskId, error);
            throw new RemoteActivityError(taskId, "timeout", `remote task "${taskId}" ${error}`);
          }
          continue;
        }
        await replayWorkerRecords(outcome, request.context);
        if (outcome.status === "completed") {
          return { output: outcome.output, ...(outcome.metrics ? { customMetrics: outcome.metrics } : {}) };
        }
        throw new RemoteActivityError(
          taskId,
          outcome.status,
          `remote activity ${outcome.status} (task ${taskId}, attempt ${outcome.attempt}): ${outcome.error ?? outcome.status}`,
        );
      }
    },
  };
}
