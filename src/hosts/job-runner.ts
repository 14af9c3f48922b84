import type { JobExecuteResult } from "../kernel/commands.js";
import type { Kernel } from "../kernel/types.js";
import type { JobTransport, LeasedJob } from "../ports/job-transport.js";
import type { Logger } from "../ports/logger.js";
import { errorMessage } from "./host-options.js";
import { backoffDelay } from "../contract/failure-policy.js";
import { leaseRemainingMs } from "./lease-keeper.js";

/** How a host finished one leased job. */
export type JobDisposition =
  | { kind: "completed"; result: JobExecuteResult }
  | { kind: "suspended"; result: JobExecuteResult }
  | { kind: "failed"; result: JobExecuteResult }
  /** job.execute threw (database down, bug): the transport redelivers after a backoff. */
  | { kind: "error"; error: string; retryDelayMs: number };

export interface RunJobOptions {
  kernel: Kernel;
  jobTransport: JobTransport;
  logger: Logger;
  workerId: string;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  /** Extends the lease: called (throttled by the caller) while the stage runs. */
  onHeartbeat?: () => void;
  signal?: AbortSignal;
  /**
   * How long one transport call that settles the job may take before the runner gives up on it
   * (default: twice the lease the transport granted, at least 5 s). A call that never settles (a
   * driver wedged by a dropped connection) would otherwise hold the lane and, through the
   * periodic heartbeat, the job's lease forever.
   */
  settleTimeoutMs?: number;
}

/**
 * Executes one leased job and settles it with the transport:
 * - completed → `complete`, then `run.transition` unless the commit already transitioned the run (its failure is logged: the stage is committed
 *   and `run.reapStuck` repairs the run if the transition keeps failing);
 * - suspended → `suspend(job, nextPollAt)`; `stage.pollSuspended` takes over;
 * - failed → `complete`: a ghost is never retried, and a retry the kernel wants is already
 *   queued through the outbox under a new job id, so redelivering this one would duplicate it;
 * - job.execute threw → `fail(job, { retry: true, delayMs })` with exponential backoff per
 *   delivery, so a database outage does not burn through deliveries in a tight loop.
 * Transport errors and calls that do not settle within `settleTimeoutMs` are logged, not thrown:
 * the caller stops heartbeating, the lease expires and the job is redelivered, which the kernel's
 * fencing makes harmless.
 */
export async function runLeasedJob(job: LeasedJob, o: RunJobOptions): Promise<JobDisposition> {
  const ctx = {
    workerId: o.workerId,
    jobId: job.jobId,
    workflowRunId: job.workflowRunId,
    stageId: job.stageId,
    deliveryCount: job.deliveryCount,
  };
  const settleTimeoutMs = o.settleTimeoutMs ?? defaultSettleTimeoutMs(job);
  const settle = (op: string, fn: () => Promise<void>) => settleBounded(o, ctx, op, fn, settleTimeoutMs);
  let result: JobExecuteResult;
  try {
    result = await o.kernel.dispatch({
      type: "job.execute",
      workflowRunId: job.workflowRunId,
      workflowId: job.workflowId,
      stageId: job.stageId,
      delivery: { jobId: job.jobId, deliveryCount: job.deliveryCount, attempt: job.attempt },
      ...(o.onHeartbeat ? { onHeartbeat: o.onHeartbeat } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } catch (err) {
    const error = errorMessage(err);
    const retryDelayMs = backoffDelay(job.deliveryCount, o.retryBaseDelayMs, o.retryMaxDelayMs);
    o.logger.error({ ...ctx, err: error, retryDelayMs }, "job.execute threw; job will be redelivered");
    await settle("fail", () => o.jobTransport.fail(job, { error, retry: true, delayMs: retryDelayMs }));
    return { kind: "error", error, retryDelayMs };
  }
  switch (result.outcome) {
    case "completed": {
      await settle("complete", () => o.jobTransport.complete(job));
      try {
        // The commit usually transitioned the run already (then there is nothing left to do).
        if (!result.transitioned) await o.kernel.dispatch({ type: "run.transition", workflowRunId: job.workflowRunId });
      } catch (err) {
        o.logger.error(
          { ...ctx, err: errorMessage(err) },
          "run.transition after a completed job failed; run.reapStuck will repair the run",
        );
      }
      return { kind: "completed", result };
    }
    case "suspended": {
      const nextPollAt = result.nextPollAt ?? new Date();
      await settle("suspend", () => o.jobTransport.suspend(job, nextPollAt));
      return { kind: "suspended", result };
    }
    default: {
      if (result.outcome === "waiting") {
        // Parked by a rate limit or concurrency key: the grant pass queues a new job.
        o.logger.debug({ ...ctx, waiting: result.waiting?.detail }, "stage waits for admission");
        await settle("complete", () => o.jobTransport.complete(job));
        return { kind: "failed", result };
      }
      if (!result.ghost) o.logger.warn({ ...ctx, err: result.error, retry: result.retry === true }, "stage attempt failed");
      await settle("complete", () => o.jobTransport.complete(job));
      return { kind: "failed", result };
    }
  }
}

function defaultSettleTimeoutMs(job: LeasedJob): number {
  const leaseMs = leaseRemainingMs(job);
  return Math.max(5_000, Number.isFinite(leaseMs) ? 2 * leaseMs : 0);
}

async function settleBounded(
  o: RunJobOptions,
  ctx: Record<string, unknown>,
  op: string,
  fn: () => Promise<void>,
  timeoutMs: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    if ((await Promise.race([fn(), timedOut])) === "timeout") {
      o.logger.error({ ...ctx, op, timeoutMs }, "job transport call did not settle; the lease will expire and the job be redelivered");
    }
  } catch (err) {
    o.logger.error({ ...ctx, op, err: errorMessage(err) }, "job transport call failed; the lease will expire and the job be redelivered");
  } finally {
    clearTimeout(timer);
  }
}
