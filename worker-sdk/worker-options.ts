/**
 * The options of `createActivityWorker`: one strict zod schema built from one defaults object,
 * so every knob has one default and a misspelt option (`pollWaitMS`) is refused by name instead
 * of silently falling back to the default.
 */
import { z } from "zod";
import { DEFAULT_INLINE_OUTPUT_LIMIT_BYTES, DEFAULT_PART_SIZE, DEFAULT_TASK_HEARTBEAT_INTERVAL_MS } from "../src/contract/defaults.js";
import type { AnyStage } from "../src/contract/stage-types.js";
import { formatIssues, issuesFromZod } from "../src/contract/validation.js";
import { WorkerConfigError } from "./errors.js";
import type { FleetMember } from "./fleet-member.js";
import type { WorkerLogger } from "./logger.js";
import type { WorkerTransport } from "./transport.js";

/** Longest single long-poll of the worker loop. */
export const DEFAULT_POLL_WAIT_MS = 5_000;
/**
 * V8 old-generation limit of an activity thread. A constant rather than a share of the machine's
 * memory so that an activity fails the same way on every worker; raise it for memory-hungry stages.
 */
export const DEFAULT_THREAD_HEAP_MB = 512;
/** How long an activity thread may ignore `ctx.signal` after a cancel before it is terminated. */
export const DEFAULT_CANCEL_GRACE_MS = 10_000;
/**
 * How long an activity thread may take to import its module and reach `stage.execute`. Loading
 * from TypeScript sources takes 5–9 s per thread on a loaded 2-core machine; a thread past this
 * bound is terminated and the attempt fails retryably rather than holding its lease forever.
 */
export const DEFAULT_THREAD_START_TIMEOUT_MS = 60_000;
/**
 * Attempts an activity thread serves before it is replaced. Reuse spares each attempt a thread
 * boot and a module import (about 0.2 s of CPU compiled); replacing bounds what a leaking stage
 * can accumulate. 1 gives every attempt a fresh thread.
 */
export const DEFAULT_THREAD_MAX_ATTEMPTS = 100;

/** Every defaulted knob of the worker, in one place. */
export const WORKER_DEFAULTS = Object.freeze({
  maxConcurrentTasks: 1,
  heartbeatIntervalMs: DEFAULT_TASK_HEARTBEAT_INTERVAL_MS,
  pollWaitMs: DEFAULT_POLL_WAIT_MS,
  partSize: DEFAULT_PART_SIZE,
  inlineOutputLimitBytes: DEFAULT_INLINE_OUTPUT_LIMIT_BYTES,
  threadHeapMb: DEFAULT_THREAD_HEAP_MB,
  cancelGraceMs: DEFAULT_CANCEL_GRACE_MS,
  threadStartTimeoutMs: DEFAULT_THREAD_START_TIMEOUT_MS,
  threadMaxAttempts: DEFAULT_THREAD_MAX_ATTEMPTS,
});

/** Where a task's stage code runs: in activity threads (reused, see `threadMaxAttempts`), or on the worker's own event loop. */
export type Isolation = "thread" | "inline";

export interface ActivityWorkerOptions {
  transport: WorkerTransport;
  queue: string;
  /** Must equal the version tasks were created for; others fail naming both versions. */
  stageCodeVersion: string;
  /** The real stage definitions this worker can run, by stage id (validation runs against them on the main thread). */
  registry: Map<string, AnyStage> | Record<string, AnyStage>;
  workerId: string;
  /**
   * Absolute file of the activity module the registry was loaded from (`loadStageModule(...).file`).
   * With it, stage code runs in activity threads, which import this file.
   */
  modulePath?: string;
  /** Default "thread" when `modulePath` is given, else "inline" (in-memory stages cannot be re-imported in a thread). */
  isolation?: Isolation;
  /** Default 1. */
  maxConcurrentTasks?: number;
  /** Lease keep-alive and progress interval. Default 5 s. */
  heartbeatIntervalMs?: number;
  /** Tasks whose requiredLabels these labels do not satisfy are never delivered here. */
  labels?: Record<string, string>;
  logger?: WorkerLogger;
  /** Longest single long-poll. Default 5 s. */
  pollWaitMs?: number;
  /** Artifacts larger than this go up as multipart. Default 64 MiB. */
  partSize?: number;
  /** Outputs whose JSON is larger are stored in the object store by reference. Default 64 KiB. */
  inlineOutputLimitBytes?: number;
  /** Thread isolation: the activity thread's heap limit (V8 maxOldGenerationSizeMb). Default 512. */
  threadHeapMb?: number;
  /** Thread isolation: how long a cancelled/stopped activity may ignore ctx.signal before its thread is terminated. Default 10 s. */
  cancelGraceMs?: number;
  /** Thread isolation: how long a thread may take to reach the stage body before the attempt fails retryably. Default 60 s. */
  threadStartTimeoutMs?: number;
  /**
   * Thread isolation: attempts one thread serves before it is replaced. Default 100; 1 runs every
   * attempt in a fresh thread. Module-level state of the activity module lives as long as its
   * thread. A thread whose attempt was aborted, crashed or timed out is never reused.
   */
  threadMaxAttempts?: number;
  /**
   * Optional fleet membership (registry entry + remote control), e.g. `createNatsFleetMember(nc)`.
   * Without it the worker is invisible to `workers list` and cannot be drained remotely.
   */
  fleet?: FleetMember;
  /** Milliseconds the caller spent loading the stage code; shown in the fleet registry (`jetflow workers list`). */
  codeLoadMs?: number;
  /** How often a supervisor (the worker service) restarted this worker's project; shown in the fleet registry. */
  restarts?: number;
}

const positiveInt = (d: number) => z.number().int().positive().default(d);
const nonEmpty = z.string().min(1, "must be a non-empty string");
const hasFn = (name: string) => (v: unknown) =>
  typeof v === "object" && v !== null && typeof (v as Record<string, unknown>)[name] === "function";

const Schema = z
  .strictObject({
    transport: z.custom<WorkerTransport>(hasFn("next"), "must be a WorkerTransport"),
    queue: nonEmpty,
    stageCodeVersion: nonEmpty,
    registry: z.custom<ActivityWorkerOptions["registry"]>((v) => typeof v === "object" && v !== null, "must be a Map or record of stages"),
    workerId: nonEmpty,
    modulePath: nonEmpty.optional(),
    isolation: z.enum(["thread", "inline"]).optional(),
    maxConcurrentTasks: positiveInt(WORKER_DEFAULTS.maxConcurrentTasks),
    heartbeatIntervalMs: z.number().positive().finite().default(WORKER_DEFAULTS.heartbeatIntervalMs),
    labels: z.record(z.string(), z.string()).default({}),
    logger: z.custom<WorkerLogger>(hasFn("error"), "must be a WorkerLogger").optional(),
    pollWaitMs: z.number().positive().finite().default(WORKER_DEFAULTS.pollWaitMs),
    partSize: positiveInt(WORKER_DEFAULTS.partSize),
    inlineOutputLimitBytes: positiveInt(WORKER_DEFAULTS.inlineOutputLimitBytes),
    threadHeapMb: positiveInt(WORKER_DEFAULTS.threadHeapMb),
    cancelGraceMs: z.number().nonnegative().finite().default(WORKER_DEFAULTS.cancelGraceMs),
    threadStartTimeoutMs: z.number().positive().finite().default(WORKER_DEFAULTS.threadStartTimeoutMs),
    threadMaxAttempts: positiveInt(WORKER_DEFAULTS.threadMaxAttempts),
    fleet: z.custom<FleetMember>(hasFn("join"), "must be a FleetMember").optional(),
    codeLoadMs: z.number().nonnegative().finite().optional(),
    restarts: z.number().int().nonnegative().optional(),
  })
  .superRefine((o, ctx) => {
    if (o.isolation === "thread" && !o.modulePath) {
      ctx.addIssue({
        code: "custom",
        path: ["isolation"],
        message: `"thread" needs modulePath: a thread re-imports the activity module, in-memory stage objects cannot cross`,
      });
    }
  });

/** The options with every default filled in and `registry` as a Map. */
export type ResolvedWorkerOptions = Omit<z.output<typeof Schema>, "registry" | "isolation"> & {
  registry: Map<string, AnyStage>;
  isolation: Isolation;
};

/** Validates and completes worker options. @throws WorkerConfigError naming each bad or unknown option. */
export function resolveWorkerOptions(opts: ActivityWorkerOptions): ResolvedWorkerOptions {
  const r = Schema.safeParse(opts);
  if (!r.success) {
    const issues = issuesFromZod(r.error);
    throw new WorkerConfigError(formatIssues("invalid options", issues), issues);
  }
  const o = r.data;
  const registry = o.registry instanceof Map ? new Map(o.registry) : new Map(Object.entries(o.registry));
  if (registry.size === 0) throw new WorkerConfigError("registry holds no stage");
  for (const [id, s] of registry) {
    if (!s || typeof s.execute !== "function" || s.id !== id)
      throw new WorkerConfigError(`registry entry "${id}" is not a stage with that id`);
  }
  return { ...o, registry, isolation: o.isolation ?? (o.modulePath ? "thread" : "inline") };
}
