import { DEFAULT_RETRY_POLICY } from "../contract/failure-policy.js";
import { DEFAULT_INLINE_OUTPUT_LIMIT_BYTES, DEFAULT_STUCK_RUN_THRESHOLD_MS } from "../contract/defaults.js";
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { nonNegativeInt, parseOptions, positiveInt } from "../contract/options.js";
import type { ActivityExecutor } from "../ports/activity-executor.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { Clock } from "../ports/clock.js";
import type { EventSink } from "../ports/event-sink.js";
import type { JobTransport } from "../ports/job-transport.js";
import type { Logger } from "../ports/logger.js";
import { silentLogger } from "../ports/logger.js";
import type { Persistence } from "../ports/persistence.js";
import type { WorkflowRegistry } from "../ports/registry.js";
import type { Scheduler } from "../ports/scheduler.js";
import { createLocalExecutor } from "../executors/local.js";
import type { CommandResult, KernelCommand } from "./commands.js";
import { createPluginRunner } from "./plugins-runtime.js";
import type { KernelConfig, RunStarter } from "./types.js";
import { OutboxMarks } from "./outbox-marks.js";
import { EarlyWakes } from "./early-wakes.js";

/** Resolved kernel options (every default applied). */
export interface ResolvedOptions {
  inlineOutputLimitBytes: number;
  outboxMaxAttempts: number;
  outboxClaimMs: number;
  idempotencyStaleMs: number;
  defaultMaxAttempts: number;
  cancelCheckIntervalMs: number;
  suspendedCheckLeaseMs: number;
  stuckThresholdMs: number;
  unstartedRunThresholdMs: number;
  outboxMarkDelayMs: number;
  limitGrantTtlMs: number;
}

/** State of this kernel's own grant passes (src/kernel/commands/stage-admit-waiting.ts). */
export interface GrantKick {
  /** A pass is running; `again`: one more was asked for meanwhile. */
  running: boolean;
  again: boolean;
  /** This kernel has seen a limited stage (no passes are kicked before). */
  seenLimited: boolean;
  /** The wake-up armed for the earliest next token of a rate-limited waiter, and when it fires (epoch ms). */
  timer: ReturnType<typeof setTimeout> | null;
  timerAt: number;
}

/**
 * What every command handler receives. One instance per kernel: the kernel keeps no global
 * state, only the in-flight executions of this process (so a cancel can abort them at once).
 */
export interface KernelDeps {
  persistence: Persistence;
  blobStore: BlobStore;
  jobTransport: JobTransport;
  /** The configured sink wrapped with the plugins: a plugin throw is a delivery failure. */
  eventSink: EventSink;
  scheduler: Scheduler;
  clock: Clock;
  registry: WorkflowRegistry;
  executor: ActivityExecutor;
  logger: Logger;
  onRunCancelled?: (workflowRunId: string) => Promise<void>;
  onRunCreated?: (workflowRunId: string) => void;
  startOnCreate?: () => RunStarter | null;
  options: ResolvedOptions;
  /** AbortControllers of stage executions running in this process, by run id. */
  inflight: Map<string, Set<AbortController>>;
  /** Fast-path deliveries waiting to be marked published (batched). */
  outboxMarks: OutboxMarks;
  /** stage.wake calls that may have come before their stage was suspended. */
  earlyWakes: EarlyWakes;
  /** The grant pass this kernel runs after a limited stage frees a slot (`kickGrants`) or at a next token (`wakeGrantsAt`). */
  grantKick: GrantKick;
  newId(): string;
  /** Re-entrant dispatch, for commands that trigger others (poll → transition). */
  dispatch<C extends KernelCommand>(command: C): Promise<CommandResult<C>>;
}

/** Every kernel default, by name; {@link KernelOptions} documents each. */
export const KERNEL_DEFAULTS = {
  inlineOutputLimitBytes: DEFAULT_INLINE_OUTPUT_LIMIT_BYTES,
  outboxMaxAttempts: 5,
  outboxClaimMs: 30_000,
  idempotencyStaleMs: 5 * 60_000,
  defaultMaxAttempts: DEFAULT_RETRY_POLICY.maxAttempts,
  cancelCheckIntervalMs: 1000,
  suspendedCheckLeaseMs: 60_000,
  stuckThresholdMs: DEFAULT_STUCK_RUN_THRESHOLD_MS,
  unstartedRunThresholdMs: 10_000,
  outboxMarkDelayMs: 50,
  limitGrantTtlMs: 30_000,
} as const satisfies ResolvedOptions;

const kernelOptionsSchema = z.object({
  inlineOutputLimitBytes: nonNegativeInt.default(KERNEL_DEFAULTS.inlineOutputLimitBytes),
  outboxMaxAttempts: positiveInt.default(KERNEL_DEFAULTS.outboxMaxAttempts),
  outboxClaimMs: nonNegativeInt.default(KERNEL_DEFAULTS.outboxClaimMs),
  idempotencyStaleMs: nonNegativeInt.default(KERNEL_DEFAULTS.idempotencyStaleMs),
  defaultMaxAttempts: positiveInt.default(KERNEL_DEFAULTS.defaultMaxAttempts),
  cancelCheckIntervalMs: nonNegativeInt.default(KERNEL_DEFAULTS.cancelCheckIntervalMs),
  suspendedCheckLeaseMs: nonNegativeInt.default(KERNEL_DEFAULTS.suspendedCheckLeaseMs),
  stuckThresholdMs: nonNegativeInt.default(KERNEL_DEFAULTS.stuckThresholdMs),
  unstartedRunThresholdMs: nonNegativeInt.default(KERNEL_DEFAULTS.unstartedRunThresholdMs),
  outboxMarkDelayMs: nonNegativeInt.default(KERNEL_DEFAULTS.outboxMarkDelayMs),
  limitGrantTtlMs: positiveInt.default(KERNEL_DEFAULTS.limitGrantTtlMs),
});

/** Applies defaults and validates options; throws ValidationError on nonsense or a misspelt option rather than misbehaving later. */
export function resolveOptions(config: KernelConfig): ResolvedOptions {
  const o = parseOptions("kernel", kernelOptionsSchema, config.options);
  // 0 would make the cancel watcher spin; treat it as "as often as possible".
  return { ...o, cancelCheckIntervalMs: Math.max(1, o.cancelCheckIntervalMs) };
}

export function createDeps(config: KernelConfig, dispatch: KernelDeps["dispatch"]): KernelDeps {
  const logger = config.logger ?? silentLogger;
  const options = resolveOptions(config);
  const deps: KernelDeps = {
    persistence: config.persistence,
    blobStore: config.blobStore,
    jobTransport: config.jobTransport,
    eventSink: createPluginRunner({ plugins: config.plugins ?? [], sink: config.eventSink }),
    scheduler: config.scheduler,
    clock: config.clock,
    registry: config.registry,
    executor: config.executor ?? createLocalExecutor(),
    logger,
    options,
    inflight: new Map(),
    grantKick: { running: false, again: false, seenLimited: false, timer: null, timerAt: 0 },
    outboxMarks: new OutboxMarks(config.persistence, config.clock, logger, options.outboxMarkDelayMs),
    earlyWakes: new EarlyWakes(),
    newId: () => randomUUID(),
    dispatch,
  };
  if (config.onRunCancelled) deps.onRunCancelled = config.onRunCancelled;
  if (config.onRunCreated) deps.onRunCreated = config.onRunCreated;
  if (config.startOnCreate) deps.startOnCreate = config.startOnCreate;
  return deps;
}

/** Message of anything thrown, for error columns and logs. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === "string" ? err : JSON.stringify(err);
}
