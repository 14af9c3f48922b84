import { z } from "zod";
import { ValidationError } from "../contract/errors.js";
import type { LeasedJob } from "../ports/job-transport.js";
import { type HostBase, errorMessage, resolveOptions } from "./host-options.js";
import { backoffDelay } from "../contract/failure-policy.js";
import { runLeasedJob } from "./job-runner.js";
import { keepLease } from "./lease-keeper.js";
import { type MaintenanceTickResult, runMaintenance } from "./maintenance.js";
import { issuesFromZod } from "../contract/validation.js";

/** A job as a queue message body carries it (the platform owns ack/retry). */
export interface JobMessage {
  jobId: string;
  workflowRunId: string;
  workflowId: string;
  stageId: string;
  attempt: number;
  maxAttempts?: number;
  /** Delivery count the platform reports (1 when unknown). */
  deliveryCount?: number;
  payload: Record<string, unknown>;
}

/** How `handleJob` ended; ack on completed/suspended, retry the message on failed with `retry`. */
export interface JobResult {
  outcome: "completed" | "suspended" | "failed";
  error?: string;
  /** True when the platform should redeliver the message (infrastructure error); false for a final or ghost failure. */
  retry?: boolean;
  /** Suggested redelivery delay when `retry`. */
  retryDelayMs?: number;
  nextPollAt?: Date;
}

/** Counts of one {@link ServerlessHost.processJobs} call. */
export interface ProcessJobsResult {
  processed: number;
  succeeded: number;
  failed: number;
}

/** Configuration of {@link createServerlessHost}. */
export type ServerlessHostConfig = HostBase;
export type { MaintenanceTickResult };

/** A host for platforms that invoke you per job or per tick (functions, cron). */
export interface ServerlessHost {
  /** Executes one job the platform already dequeued; dispatches run.transition after completion. */
  handleJob(msg: JobMessage): Promise<JobResult>;
  /** Dequeues (without waiting) and runs up to `maxJobs` jobs from the job transport. Default 1. */
  processAvailableJobs(opts?: { maxJobs?: number }): Promise<ProcessJobsResult>;
  /** One bounded maintenance cycle; resumed suspended stages are already transitioned by the kernel. */
  runMaintenanceTick(): Promise<MaintenanceTickResult>;
}

const jobMessageSchema = z.object({
  jobId: z.string().min(1),
  workflowRunId: z.string().min(1),
  workflowId: z.string().min(1),
  stageId: z.string().min(1),
  attempt: z.number().int().positive(),
  maxAttempts: z.number().int().positive().optional(),
  deliveryCount: z.number().int().positive().optional(),
  payload: z.record(z.string(), z.unknown()).default({}),
});

/** Node-host options a shared config object may carry; the serverless host has no loops, so it ignores them. */
const NODE_ONLY_OPTIONS = Object.fromEntries(
  [
    "orchestrationIntervalMs",
    "jobPollIntervalMs",
    "maxConcurrentJobs",
    "handleSignals",
    "shutdownTimeoutMs",
    "abortGraceMs",
    "heartbeatIntervalMs",
    "maxTickBackoffMs",
  ].map((k) => [k, z.unknown().optional()]),
);

/**
 * A stateless host for functions/edge runtimes: no timers, no signals, nothing left running
 * between invocations. The platform's own queue delivers to `handleJob`; a cron calls
 * `runMaintenanceTick`; `processAvailableJobs` drains the kernel's transport when there is no
 * platform queue.
 */
export function createServerlessHost(config: ServerlessHostConfig): ServerlessHost {
  const o = resolveOptions("serverless host", config, NODE_ONLY_OPTIONS);
  const { kernel, jobTransport } = config;
  const logger = o.logger.child?.({ workerId: o.workerId }) ?? o.logger;

  async function handleJob(msg: JobMessage): Promise<JobResult> {
    const parsed = jobMessageSchema.safeParse(msg);
    if (!parsed.success) {
      throw new ValidationError("invalid job message", issuesFromZod(parsed.error));
    }
    try {
      return await executeJob(parsed.data);
    } finally {
      await markDelivered();
    }
  }

  async function executeJob(m: z.infer<typeof jobMessageSchema>): Promise<JobResult> {
    const deliveryCount = m.deliveryCount ?? 1;
    try {
      const result = await kernel.dispatch({
        type: "job.execute",
        workflowRunId: m.workflowRunId,
        workflowId: m.workflowId,
        stageId: m.stageId,
        delivery: { jobId: m.jobId, deliveryCount, attempt: m.attempt },
      });
      if (result.outcome === "completed") {
        try {
          if (!result.transitioned) await kernel.dispatch({ type: "run.transition", workflowRunId: m.workflowRunId });
        } catch (err) {
          // The stage is committed; acking is right and run.reapStuck repairs the run.
          logger.error(
            { jobId: m.jobId, err: errorMessage(err) },
            "run.transition after a completed job failed; run.reapStuck will repair the run",
          );
        }
        return { outcome: "completed" };
      }
      if (result.outcome === "suspended") return { outcome: "suspended", ...(result.nextPollAt ? { nextPollAt: result.nextPollAt } : {}) };
      // A kernel-scheduled retry is already queued through the outbox; redelivering would duplicate it.
      return { outcome: "failed", retry: false, ...(result.error !== undefined ? { error: result.error } : {}) };
    } catch (err) {
      const retryDelayMs = backoffDelay(deliveryCount, o.jobRetryBaseDelayMs, o.jobRetryMaxDelayMs);
      logger.error({ jobId: m.jobId, err: errorMessage(err), retryDelayMs }, "job.execute threw; the message should be retried");
      return { outcome: "failed", error: errorMessage(err), retry: true, retryDelayMs };
    }
  }

  async function processAvailableJobs(opts: { maxJobs?: number } = {}): Promise<ProcessJobsResult> {
    const maxJobs = opts.maxJobs ?? 1;
    if (!Number.isInteger(maxJobs) || maxJobs < 1)
      throw new ValidationError("invalid processAvailableJobs options", [{ path: "maxJobs", message: "must be an integer >= 1" }]);
    const out: ProcessJobsResult = { processed: 0, succeeded: 0, failed: 0 };
    try {
      await processJobs(maxJobs, out);
    } finally {
      if (out.processed > 0) await markDelivered();
    }
    return out;
  }

  async function processJobs(maxJobs: number, out: ProcessJobsResult): Promise<void> {
    for (let i = 0; i < maxJobs; i++) {
      const job: LeasedJob | null = await jobTransport.dequeue({ workerId: o.workerId, waitMs: 0 });
      if (!job) break;
      const lease = keepLease(job, jobTransport, logger);
      let d: Awaited<ReturnType<typeof runLeasedJob>>;
      try {
        d = await runLeasedJob(job, {
          kernel,
          jobTransport,
          logger,
          workerId: o.workerId,
          retryBaseDelayMs: o.jobRetryBaseDelayMs,
          retryMaxDelayMs: o.jobRetryMaxDelayMs,
          onHeartbeat: lease.beat,
        });
      } finally {
        lease.stop();
      }
      out.processed++;
      if (d.kind === "completed" || d.kind === "suspended") out.succeeded++;
      else out.failed++;
    }
  }

  async function runMaintenanceTick(): Promise<MaintenanceTickResult> {
    const { result } = await runMaintenance(kernel, o, o.workerId, logger);
    return result;
  }

  /**
   * The kernel batches published marks on a short timer, which a frozen or recycled function
   * instance may never run: each invocation writes its marks before it returns, so a delivered
   * row is not delivered again by a later flush.
   */
  async function markDelivered(): Promise<void> {
    await kernel.dispatch({ type: "outbox.flush", maxEvents: 0 }).catch((err: unknown) => {
      logger.warn({ err: errorMessage(err) }, "could not write published marks; their rows are delivered again later");
    });
  }

  return { handleJob, processAvailableJobs, runMaintenanceTick };
}
