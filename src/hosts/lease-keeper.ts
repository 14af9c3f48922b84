import type { JobTransport, LeasedJob } from "../ports/job-transport.js";
import type { Logger } from "../ports/logger.js";
import { errorMessage } from "./host-options.js";

/** What is left of the lease the transport granted (NaN when its deadline is not a date). */
export function leaseRemainingMs(job: LeasedJob): number {
  return new Date(job.leaseExpiresAt).getTime() - Date.now();
}

/** Heartbeat often enough that two can be lost before the lease the transport granted runs out. */
export function heartbeatIntervalFor(job: LeasedJob, configured: number | undefined): number {
  if (configured !== undefined) return configured;
  const leaseMs = leaseRemainingMs(job);
  return Number.isFinite(leaseMs) && leaseMs > 0 ? Math.max(100, Math.floor(leaseMs / 3)) : 10_000;
}

export interface LeaseKeeper {
  /** For `job.execute`'s onHeartbeat: stage-initiated heartbeats, throttled to one per interval. */
  beat(): void;
  /** Stops the periodic heartbeat; call when the job settles. */
  stop(): void;
}

/**
 * Keeps a job's lease alive while this process runs it: a periodic heartbeat (so a stage that
 * never calls ctx.heartbeat is not redelivered while healthy) plus throttled stage heartbeats.
 * Heartbeat failures are logged; the lease then expires and the kernel's fencing handles the
 * redelivery.
 */
export function keepLease(job: LeasedJob, transport: JobTransport, logger: Logger, configuredIntervalMs?: number): LeaseKeeper {
  const interval = heartbeatIntervalFor(job, configuredIntervalMs);
  let lastBeat = Date.now();
  const send = () => {
    lastBeat = Date.now();
    transport.heartbeat(job).catch((err) => logger.warn({ jobId: job.jobId, err: errorMessage(err) }, "job heartbeat failed"));
  };
  // The half-interval slack keeps timer jitter from skipping a beat right after a stage-initiated one.
  const timer = setInterval(() => {
    if (Date.now() - lastBeat >= interval / 2) send();
  }, interval);
  return {
    beat: () => {
      if (Date.now() - lastBeat >= interval) send();
    },
    stop: () => clearInterval(timer),
  };
}
