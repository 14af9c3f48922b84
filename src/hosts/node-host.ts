import { z } from "zod";
import type { LeasedJob } from "../ports/job-transport.js";
import type { RunStarter } from "../kernel/types.js";
import { type HostBase, errorMessage, resolveOptions } from "./host-options.js";
import { backoffDelay } from "../contract/failure-policy.js";
import { runLeasedJob } from "./job-runner.js";
import { keepLease } from "./lease-keeper.js";
import { runMaintenance } from "./maintenance.js";
import { Sleeper, settlesWithin } from "./sleeper.js";
import { observeJobQueueDepth } from "../contract/metrics.js";

/** Options of {@link createNodeHost}; every duration is in milliseconds. */
export interface NodeHostConfig extends HostBase {
  /** Pause between orchestration ticks (claim, poll suspended, reap, flush). Default 10 s. */
  orchestrationIntervalMs?: number;
  /** Longest wait for a job per dequeue, and the pause when the queue is empty. Default 1 s. */
  jobPollIntervalMs?: number;
  /** Jobs executed at once by this host. Default 1. */
  maxConcurrentJobs?: number;
  /** Stop on SIGTERM/SIGINT (handlers are removed by stop()). Default true. */
  handleSignals?: boolean;
  /** stop() waits this long for in-flight jobs, then aborts them. Default 30 s. */
  shutdownTimeoutMs?: number;
  /** After aborting, how long stop() still waits for aborted jobs to settle. Default 5 s. */
  abortGraceMs?: number;
  /**
   * Lease extension cadence while a job runs. Default: a third of the job's lease as the
   * transport granted it (`leaseExpiresAt`), at least 100 ms; 10 s when the lease is unknown.
   */
  heartbeatIntervalMs?: number;
  /** Cap of the tick's exponential backoff while steps keep failing. Default max(60 s, interval). */
  maxTickBackoffMs?: number;
}

/** Counters of a node host. */
export interface HostStats {
  workerId: string;
  /** Jobs settled with the transport (any outcome). */
  jobsProcessed: number;
  jobsCompleted: number;
  jobsSuspended: number;
  /** Jobs whose attempt failed, plus jobs whose job.execute threw. */
  jobsFailed: number;
  jobsInFlight: number;
  orchestrationTicks: number;
  /** Ticks in a row with at least one failing step (0 when healthy). */
  consecutiveTickFailures: number;
  /** Failure of the most recent tick; cleared by a tick whose steps all succeed. */
  lastTickError?: { step: string; message: string; at: Date };
  isRunning: boolean;
  /** Time since start() (0 when stopped). */
  uptimeMs: number;
}

/** A long-lived host: polls jobs, runs maintenance, stops gracefully. */
export interface NodeHost {
  /** Starts both loops (first tick right away) and, unless disabled, the signal handlers. Idempotent. */
  start(): Promise<void>;
  /** Stops both loops, waits for in-flight jobs (bounded), removes signal handlers. Idempotent. */
  stop(): Promise<void>;
  getStats(): HostStats;
  /**
   * Claims PENDING runs now rather than at the next orchestration tick (wire it to the kernel's
   * `onRunCreated`): a new run's first job is queued within one claim instead of up to one
   * interval later. Calls during a claim coalesce into one more claim; a failed claim is logged
   * and left to the tick. Never throws; does nothing while the host is stopped.
   */
  claimSoon(): void;
  /**
   * For the kernel's `startOnCreate`: while the host runs, a run created in this process when no
   * run is PENDING is started in its creating write, claimed by this host, and its jobs wake the
   * job lanes at once. Null while the host is stopped (new runs stay PENDING for any host's claim).
   */
  starter(): RunStarter | null;
}

const nodeShape = {
  orchestrationIntervalMs: z.number().int().positive().default(10_000),
  jobPollIntervalMs: z.number().int().positive().default(1_000),
  maxConcurrentJobs: z.number().int().positive().default(1),
  handleSignals: z.boolean().default(true),
  shutdownTimeoutMs: z.number().int().nonnegative().default(30_000),
  abortGraceMs: z.number().int().nonnegative().default(5_000),
  heartbeatIntervalMs: z.number().int().positive().optional(),
  maxTickBackoffMs: z.number().int().positive().optional(),
};

const SIGNALS = ["SIGTERM", "SIGINT"] as const;

/**
 * A long-running host for the kernel: an orchestration loop (one tick every
 * `orchestrationIntervalMs`, backing off exponentially while steps fail and recovering on the
 * first healthy tick) and `maxConcurrentJobs` job lanes (dequeue → job.execute → settle with the
 * transport; no idle wait while there is work). Everything it starts, stop() ends.
 */
export function createNodeHost(config: NodeHostConfig): NodeHost {
  const o = resolveOptions("node host", config, nodeShape);
  const { kernel, jobTransport } = config;
  const logger = o.logger.child?.({ workerId: o.workerId }) ?? o.logger;
  const maxTickBackoffMs = o.maxTickBackoffMs ?? Math.max(60_000, o.orchestrationIntervalMs);

  const stats = { jobsProcessed: 0, jobsCompleted: 0, jobsSuspended: 0, jobsFailed: 0, orchestrationTicks: 0, consecutiveTickFailures: 0 };
  let lastTickError: HostStats["lastTickError"];
  let running = false;
  let stopObservingDepth: (() => void) | null = null;
  let startedAt = 0;
  let loops: Promise<void>[] = [];
  let stopping: Promise<void> | null = null;
  const inFlight = new Map<LeasedJob, AbortController>();
  const tickSleeper = new Sleeper();
  const jobSleeper = new Sleeper();
  let earlyTick: { at: number; timer: NodeJS.Timeout } | null = null;
  let claiming: Promise<void> | null = null;
  let claimAgain = false;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "signal received; stopping host");
    stop().catch((err) => logger.error({ err: errorMessage(err) }, "host stop after signal failed"));
  };

  /**
   * Brings the next tick forward to `at` (a suspended stage's nextPollAt), so a stage polled every
   * second is not left waiting for a 10 s orchestration interval. Ignored while ticks back off.
   */
  function tickNoLaterThan(at: Date): void {
    const when = at.getTime();
    if (!running || !Number.isFinite(when) || (earlyTick && earlyTick.at <= when)) return;
    if (earlyTick) clearTimeout(earlyTick.timer);
    earlyTick = {
      at: when,
      timer: setTimeout(
        () => {
          earlyTick = null;
          if (stats.consecutiveTickFailures === 0) tickSleeper.wake();
        },
        Math.max(0, when - Date.now()),
      ),
    };
  }

  async function tickLoop(): Promise<void> {
    while (running) {
      // A wake-up requested while this tick runs must not be lost in the following sleep.
      const gen = tickSleeper.generation;
      // A rate-limited stage's next token needs no early tick: the kernel runs that grant pass itself.
      const { errors, newWork } = await runMaintenance(kernel, o, o.workerId, logger);
      stats.orchestrationTicks++;
      if (newWork) jobSleeper.wake();
      if (errors.length > 0) {
        stats.consecutiveTickFailures++;
        const first = errors[0]!;
        lastTickError = { step: first.step, message: first.error, at: new Date() };
      } else {
        if (stats.consecutiveTickFailures > 0) logger.info({ after: stats.consecutiveTickFailures }, "orchestration recovered");
        stats.consecutiveTickFailures = 0;
        lastTickError = undefined;
      }
      if (!running) break;
      const f = stats.consecutiveTickFailures;
      await tickSleeper.sleep(f === 0 ? o.orchestrationIntervalMs : backoffDelay(f + 1, o.orchestrationIntervalMs, maxTickBackoffMs), gen);
    }
  }

  function claimSoon(): void {
    if (!running) return;
    if (claiming) {
      claimAgain = true;
      return;
    }
    claiming = (async () => {
      do {
        claimAgain = false;
        try {
          const r = await kernel.dispatch({ type: "run.claimPending", workerId: o.workerId, maxClaims: o.maxClaimsPerTick });
          if (r.claimed.length > 0) jobSleeper.wake();
        } catch (err) {
          logger.warn({ err: errorMessage(err) }, "claiming new runs at once failed; the next tick claims them");
        }
      } while (claimAgain && running);
    })().finally(() => {
      claiming = null;
    });
  }

  function starter(): RunStarter | null {
    return running ? { claimedBy: o.workerId, started: () => jobSleeper.wake() } : null;
  }

  async function jobLane(lane: number): Promise<void> {
    let dequeueFailures = 0;
    while (running) {
      const gen = jobSleeper.generation;
      const began = Date.now();
      let job: LeasedJob | null;
      try {
        job = await jobTransport.dequeue({ workerId: o.workerId, waitMs: o.jobPollIntervalMs });
        dequeueFailures = 0;
      } catch (err) {
        dequeueFailures++;
        const delay = backoffDelay(dequeueFailures, o.jobPollIntervalMs, maxTickBackoffMs);
        logger.error({ lane, err: errorMessage(err), retryInMs: delay }, "job dequeue failed");
        await jobSleeper.sleep(delay);
        continue;
      }
      if (!job) {
        // Transports that do not wait return at once; keep the idle cadence at jobPollIntervalMs.
        await jobSleeper.sleep(o.jobPollIntervalMs - (Date.now() - began), gen);
        continue;
      }
      if (!running) {
        // Leased while stop() began: hand it straight back rather than start new work.
        await jobTransport
          .fail(job, { error: "host stopping", retry: true, delayMs: 0 })
          .catch((err) =>
            logger.error(
              { jobId: job.jobId, err: errorMessage(err) },
              "could not hand back a job leased during stop; its lease will expire",
            ),
          );
        break;
      }
      await executeJob(job);
    }
  }

  async function executeJob(job: LeasedJob): Promise<void> {
    const ac = new AbortController();
    inFlight.set(job, ac);
    const lease = keepLease(job, jobTransport, logger, o.heartbeatIntervalMs);
    try {
      const d = await runLeasedJob(job, {
        kernel,
        jobTransport,
        logger,
        workerId: o.workerId,
        retryBaseDelayMs: o.jobRetryBaseDelayMs,
        retryMaxDelayMs: o.jobRetryMaxDelayMs,
        onHeartbeat: lease.beat,
        signal: ac.signal,
      });
      stats.jobsProcessed++;
      if (d.kind === "completed") {
        stats.jobsCompleted++;
      } else if (d.kind === "suspended") {
        stats.jobsSuspended++;
        if (d.result.nextPollAt) tickNoLaterThan(new Date(d.result.nextPollAt));
      } else {
        stats.jobsFailed++;
      }
    } finally {
      lease.stop();
      inFlight.delete(job);
    }
  }

  async function start(): Promise<void> {
    if (stopping) await stopping;
    if (running) return;
    running = true;
    startedAt = Date.now();
    if (o.handleSignals) for (const s of SIGNALS) process.on(s, onSignal);
    const guard = (name: string, p: Promise<void>) =>
      p.catch((err) => logger.error({ loop: name, err: errorMessage(err) }, "host loop crashed"));
    loops = [guard("orchestration", tickLoop()), ...Array.from({ length: o.maxConcurrentJobs }, (_, i) => guard(`job-${i}`, jobLane(i)))];
    const depth = jobTransport.depth?.bind(jobTransport);
    stopObservingDepth = depth
      ? observeJobQueueDepth(depth, { "jetflow.host.id": o.workerId }, (err) =>
          logger.warn({ err: errorMessage(err) }, "queue depth not observed"),
        )
      : null;
    logger.info({ maxConcurrentJobs: o.maxConcurrentJobs }, "host started");
  }

  function stop(): Promise<void> {
    if (stopping) return stopping;
    if (!running) return Promise.resolve();
    running = false;
    stopObservingDepth?.();
    stopObservingDepth = null;
    for (const s of SIGNALS) process.off(s, onSignal);
    if (earlyTick) clearTimeout(earlyTick.timer);
    earlyTick = null;
    tickSleeper.wake();
    jobSleeper.wake();
    const all = Promise.all([...loops, ...(claiming ? [claiming] : [])]);
    stopping = (async () => {
      if (!(await settlesWithin(all, o.shutdownTimeoutMs))) {
        logger.warn({ inFlight: inFlight.size, shutdownTimeoutMs: o.shutdownTimeoutMs }, "shutdown timeout: aborting in-flight jobs");
        for (const ac of inFlight.values()) ac.abort(new Error("host stopped"));
        if (!(await settlesWithin(all, o.abortGraceMs))) {
          logger.error({ inFlight: inFlight.size }, "aborted jobs did not settle; their leases will expire and they will be redelivered");
        }
      }
      loops = [];
      // The kernel batches published marks on a short timer; write them now, so a clean stop
      // leaves no delivered row for another orchestrator's flush to deliver again.
      await kernel.dispatch({ type: "outbox.flush", maxEvents: 0 }).catch((err: unknown) => {
        logger.warn({ err: errorMessage(err) }, "could not write the last published marks; their rows are delivered again later");
      });
      logger.info({ jobsProcessed: stats.jobsProcessed }, "host stopped");
    })().finally(() => {
      stopping = null;
    });
    return stopping;
  }

  return {
    start,
    stop,
    claimSoon,
    starter,
    getStats: () => ({
      workerId: o.workerId,
      ...stats,
      jobsInFlight: inFlight.size,
      ...(lastTickError ? { lastTickError: { ...lastTickError } } : {}),
      isRunning: running,
      uptimeMs: running ? Date.now() - startedAt : 0,
    }),
  };
}
