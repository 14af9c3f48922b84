import { z } from "zod";
import { nonNegativeInt, parseOptions, positiveInt, withMethods } from "../contract/options.js";
import type { Kernel } from "../kernel/types.js";
import type { JobTransport } from "../ports/job-transport.js";
import type { Logger } from "../ports/logger.js";

/** Tuning shared by the node and serverless hosts (defaults of the seed's node host). */
export interface HostTuning {
  /** Age of an expired lease before `lease.reapStale` makes the job deliverable again. Default 60 s. */
  staleLeaseThresholdMs?: number;
  /** Pending runs claimed per orchestration tick. Default 10. */
  maxClaimsPerTick?: number;
  /** Suspended stages checked per tick. Default 10. */
  maxSuspendedChecksPerTick?: number;
  /** Outbox rows delivered per tick. Default 100. */
  maxOutboxFlushPerTick?: number;
  /** RUNNING runs with no activity for this long are repaired by `run.reapStuck`. Default: the kernel's `stuckThresholdMs` (5 min). */
  stuckRunThresholdMs?: number;
  /** Runs inspected by `run.reapStuck` per tick. Default 10. */
  maxStuckRunsPerTick?: number;
  /** First redelivery delay after `job.execute` threw (infrastructure error); doubles per delivery. Default 1 s. */
  jobRetryBaseDelayMs?: number;
  /** Cap of that delay. Default 60 s. */
  jobRetryMaxDelayMs?: number;
  /** Where the host reports failures it survives. Default: warn/error as JSON lines on stderr. */
  logger?: Logger;
}

export interface HostBase extends HostTuning {
  kernel: Kernel;
  jobTransport: JobTransport;
  /** Unique per process; recorded as the claimer of runs. */
  workerId: string;
}

/** Every host default, by name; {@link HostTuning} documents each. */
export const HOST_DEFAULTS = {
  staleLeaseThresholdMs: 60_000,
  maxClaimsPerTick: 10,
  maxSuspendedChecksPerTick: 10,
  maxOutboxFlushPerTick: 100,
  maxStuckRunsPerTick: 10,
  jobRetryBaseDelayMs: 1_000,
  jobRetryMaxDelayMs: 60_000,
} as const;

const tuningSchema = z.object({
  kernel: withMethods<Kernel>("a Kernel (createKernel)", "dispatch"),
  jobTransport: withMethods<JobTransport>("a JobTransport", "dequeue", "complete", "suspend", "fail", "heartbeat"),
  logger: withMethods<Logger>("a Logger", "warn", "error").optional(),
  workerId: z.string().min(1, "must be a non-empty string"),
  staleLeaseThresholdMs: positiveInt.default(HOST_DEFAULTS.staleLeaseThresholdMs),
  maxClaimsPerTick: positiveInt.default(HOST_DEFAULTS.maxClaimsPerTick),
  maxSuspendedChecksPerTick: positiveInt.default(HOST_DEFAULTS.maxSuspendedChecksPerTick),
  maxOutboxFlushPerTick: positiveInt.default(HOST_DEFAULTS.maxOutboxFlushPerTick),
  // No default here: the kernel owns the stuck-run threshold (DEFAULT_STUCK_RUN_THRESHOLD_MS).
  stuckRunThresholdMs: positiveInt.optional(),
  maxStuckRunsPerTick: positiveInt.default(HOST_DEFAULTS.maxStuckRunsPerTick),
  jobRetryBaseDelayMs: nonNegativeInt.default(HOST_DEFAULTS.jobRetryBaseDelayMs),
  jobRetryMaxDelayMs: nonNegativeInt.default(HOST_DEFAULTS.jobRetryMaxDelayMs),
});

export type ResolvedTuning = Omit<z.output<typeof tuningSchema>, "logger"> & { logger: Logger };

/** Validates a host's options (the shared tuning extended by `extra`) and fills defaults. @throws ValidationError */
export function resolveOptions<S extends z.ZodRawShape>(what: string, opts: HostBase, extra: S): ResolvedTuning & z.output<z.ZodObject<S>> {
  const o = parseOptions(what, tuningSchema.extend(extra), opts) as ResolvedTuning & z.output<z.ZodObject<S>>;
  return { ...o, logger: o.logger ?? stderrLogger };
}

/** Default logger: a host must not fail silently, but debug/info chatter stays off. */
export const stderrLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: "warn", msg, ...obj })}\n`),
  error: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: "error", msg, ...obj })}\n`),
};

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
