/**
 * The activity worker loop: long-polls its queue (bounded, stoppable), runs at most
 * `maxConcurrentTasks` tasks at once with the REAL stage code, and ends every delivery with a
 * durable report or a release. `stop()` drains by default: nothing new is pulled, in-flight
 * tasks finish, then it resolves. Given the activity module's path, stage code runs in
 * activity threads, reused across attempts (see thread-pool.ts); options: worker-options.ts.
 */
import { setMaxListeners } from "node:events";
import { WorkerConfigError } from "./errors.js";
import type { FleetMember, FleetWorkerView } from "./fleet-member.js";
import { type WorkerLogger, silentWorkerLogger } from "./logger.js";
import { type TaskResult, runTask } from "./run-task.js";
import { ActivityThreadPool } from "./thread-pool.js";
import type { LeasedTask } from "./transport.js";
import { resolveWorkerOptions, type ActivityWorkerOptions } from "./worker-options.js";
import { abortableDelay } from "../src/contract/abortable-delay.js";
import { LoopBackoff } from "../src/contract/failure-policy.js";
import { addTasksInflight } from "../src/contract/fleet-metrics.js";

export type { ActivityWorkerOptions, Isolation } from "./worker-options.js";

/** `failed`: the poll loop crashed; in-flight tasks were finished, nothing is pulled any more. */
export type WorkerStatus = "idle" | "running" | "draining" | "stopped" | "failed";

export interface WorkerStats {
  status: WorkerStatus;
  inFlight: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Deliveries given back (retry after a retryable failure, stop without drain). */
  released: number;
  lastPullAt: Date | null;
  /** Why the poll loop crashed (status `failed`), for a supervisor to report. */
  crash?: Error;
}

export interface ActivityWorker {
  /** Starts the poll loop (returns at once). */
  start(): void;
  /** Stops pulling; with `drain` (default) waits for in-flight tasks, otherwise aborts and releases them. */
  stop(opts?: { drain?: boolean }): Promise<void>;
  getStats(): WorkerStats;
  /** Resolves once the worker has stopped, however the stop was asked for (`stop()`, a fleet drain/stop request). */
  done(): Promise<void>;
}

export function createActivityWorker(opts: ActivityWorkerOptions): ActivityWorker {
  const o = resolveWorkerOptions(opts);
  const { registry, heartbeatIntervalMs, pollWaitMs } = o;
  const max = o.maxConcurrentTasks;
  const logger = opts.logger ?? silentWorkerLogger;
  const thread =
    o.isolation === "thread"
      ? new ActivityThreadPool(
          o.modulePath!,
          {
            heapMb: o.threadHeapMb,
            cancelGraceMs: o.cancelGraceMs,
            startTimeoutMs: o.threadStartTimeoutMs,
            maxAttemptsPerThread: o.threadMaxAttempts,
          },
          logger,
        )
      : null;
  const labels = o.labels;
  const stats: WorkerStats = { status: "idle", inFlight: 0, completed: 0, failed: 0, cancelled: 0, released: 0, lastPullAt: null };
  const inFlight = new Map<string, Promise<void>>();
  const pollAbort = new AbortController();
  const hardStop = new AbortController();
  // Every in-flight task listens for a hard stop: allow as many listeners as tasks without a leak warning.
  setMaxListeners(max + 10, hardStop.signal);
  let loop: Promise<void> | null = null;
  let stopping = false;
  let stopped: Promise<void> | null = null;
  let markDone!: () => void;
  const donePromise = new Promise<void>((r) => (markDone = r));
  const fleet = opts.fleet;
  const startedAt = new Date();
  const notify = () => fleet?.changed();

  const settle = (key: string, p: Promise<TaskResult>) => {
    const tracked = p
      .then((r) => {
        stats[r]++;
      })
      .catch((err: unknown) => {
        // The delivery was neither reported nor released (transport down): its lease expires and it is redelivered.
        logger.error({ key, err: err instanceof Error ? err.message : String(err) }, "task ended without a durable outcome");
      })
      .finally(() => {
        addTasksInflight(-1, opts.queue);
        inFlight.delete(key);
        stats.inFlight = inFlight.size;
        notify();
      });
    inFlight.set(key, tracked);
    addTasksInflight(1, opts.queue);
    stats.inFlight = inFlight.size;
    notify();
  };

  async function run(): Promise<void> {
    const errorBackoff = new LoopBackoff();
    while (!stopping) {
      if (inFlight.size >= max) {
        await Promise.race(inFlight.values());
        continue;
      }
      let leases: LeasedTask[];
      try {
        const next = { workerId: opts.workerId, codeVersion: opts.stageCodeVersion, labels, waitMs: pollWaitMs, signal: pollAbort.signal };
        // Lease up to the free capacity in one pull (its starts in parallel), not one task per round trip.
        const free = max - inFlight.size;
        if (opts.transport.nextBatch && free > 1) leases = await opts.transport.nextBatch(opts.queue, next, free);
        else {
          const one = await opts.transport.next(opts.queue, next);
          leases = one ? [one] : [];
        }
        errorBackoff.reset();
      } catch (err) {
        logger.error({ queue: opts.queue, err: err instanceof Error ? err.message : String(err) }, "pulling a task failed");
        await abortableDelay(errorBackoff.next(), pollAbort.signal);
        continue;
      }
      stats.lastPullAt = new Date();
      if (stopping) {
        // Arrived while stopping: hand them straight back rather than start new work.
        for (const lease of leases) await opts.transport.release(lease, { delayMs: 0 });
        stats.released += leases.length;
        break;
      }
      for (const lease of leases) start(lease);
    }
  }

  /** Runs a leased task in the background, counted in `inFlight`. */
  function start(lease: LeasedTask): void {
    const key = `${lease.task.taskId}#${lease.attempt}`;
    const stage = registry.get(lease.task.stageId);
    settle(
      key,
      runTask(
        {
          transport: opts.transport,
          stage,
          knownStageIds: [...registry.keys()],
          codeVersion: opts.stageCodeVersion,
          heartbeatIntervalMs,
          partSize: o.partSize,
          inlineOutputLimitBytes: o.inlineOutputLimitBytes,
          thread,
          hardStop: hardStop.signal,
          logger,
        },
        lease,
      ),
    );
  }

  async function shutdown(drain: boolean, failed: boolean): Promise<void> {
    stopping = true;
    stats.status = "draining";
    notify();
    pollAbort.abort();
    if (!drain) hardStop.abort();
    if (loop) await loop;
    while (inFlight.size > 0) await Promise.all(inFlight.values());
    await thread?.close();
    stats.status = failed ? "failed" : "stopped";
    if (fleet && loop) {
      // Only a started worker joined the fleet.
      await fleet
        .leave()
        .catch((err: unknown) => logger.error({ err: err instanceof Error ? err.message : String(err) }, "leaving the fleet failed"));
    }
    markDone();
  }

  /** Idempotent: a second call joins the first; a non-draining call escalates a drain in progress. */
  function stop({ drain = true }: { drain?: boolean } = {}, failed = false): Promise<void> {
    if (!drain) hardStop.abort();
    stopped ??= shutdown(drain, failed);
    return stopped;
  }

  const worker: ActivityWorker = {
    start() {
      if (loop) throw new WorkerConfigError("the worker is already started");
      stats.status = "running";
      loop = run().catch((err: unknown) => {
        stats.crash = err instanceof Error ? err : new Error(String(err));
        logger.error({ err: err instanceof Error ? err.message : String(err) }, "worker loop crashed");
        // Finish what is in flight, publish `failed`, resolve done(): a supervisor restarts the process.
        void stop({ drain: true }, true);
      });
      if (fleet) {
        const view: FleetWorkerView = {
          workerId: opts.workerId,
          queue: opts.queue,
          labels: { ...labels },
          stageCodeVersion: opts.stageCodeVersion,
          maxConcurrentTasks: max,
          startedAt,
          ...(o.restarts !== undefined ? { restarts: o.restarts } : {}),
          ...(o.codeLoadMs !== undefined ? { codeLoadMs: o.codeLoadMs } : {}),
          getStats: () => ({ ...stats }),
          stop: (o) => stop(o),
        };
        fleet
          .join(view)
          .catch((err: unknown) =>
            logger.error(
              { err: err instanceof Error ? err.message : String(err) },
              "joining the fleet failed; the worker runs unregistered",
            ),
          );
      }
    },
    stop: (o) => stop(o),
    getStats: () => ({ ...stats }),
    done: () => donePromise,
  };
  return worker;
}
