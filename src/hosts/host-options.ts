import { z } from "zod";
import { ValidationError } from "../contract/errors.js";
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

const ms = z.number().int().nonnegative();
const positive = z.number().int().positive();

const tuningSchema = z.object({
  workerId: z.string().min(1, "must be a non-empty string"),
  staleLeaseThresholdMs: positive.default(60_000),
  maxClaimsPerTick: positive.default(10),
  maxSuspendedChecksPerTick: positive.default(10),
  maxOutboxFlushPerTick: positive.default(100),
  // No default here: the kernel owns the stuck-run threshold (DEFAULT_STUCK_RUN_THRESHOLD_MS).
  stuckRunThresholdMs: positive.optional(),
  maxStuckRunsPerTick: positive.default(10),
  jobRetryBaseDelayMs: ms.default(1_000),
  jobRetryMaxDelayMs: ms.default(60_000),
});

export type ResolvedTuning = z.output<typeof tuningSchema> & { logger: Logger };

/** Validates options with `schema` (extending the shared tuning) and fills defaults. */
export function resolveOptions<S extends z.ZodRawShape>(
  what: string,
  opts: HostBase,
  extra: S,
): ResolvedTuning & z.output<z.ZodObject<S>> {
  if (typeof opts !== "object" || opts === null) throw new ValidationError(`invalid ${what} options`, [{ path: "", message: "must be an object" }]);
  const issues: { path: string; message: string }[] = [];
  if (typeof opts.kernel?.dispatch !== "function") issues.push({ path: "kernel", message: "must be a Kernel (createKernel)" });
  const t = opts.jobTransport as Partial<JobTransport> | undefined;
  for (const m of ["dequeue", "complete", "suspend", "fail", "heartbeat"] as const) {
    if (typeof t?.[m] !== "function") issues.push({ path: `jobTransport.${m}`, message: "must be a function (a JobTransport)" });
  }
  const { kernel: _k, jobTransport: _t, logger, ...rest } = opts as HostBase & Record<string, unknown>;
  // strict: a misspelt option (orchestrationIntervalMS) must not silently fall back to a default.
  const parsed = tuningSchema.extend(extra).strict().safeParse(
    // undefined means "use the default", so drop explicit undefineds before parsing.
    Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)),
  );
  if (!parsed.success) for (const i of parsed.error.issues) issues.push({ path: i.path.map(String).join("."), message: i.message });
  if (issues.length > 0) throw new ValidationError(`invalid ${what} options`, issues);
  return { ...(parsed.data as object), logger: logger ?? stderrLogger } as ResolvedTuning & z.output<z.ZodObject<S>>;
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
