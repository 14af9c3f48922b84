import type { Kernel } from "../kernel/types.js";
import type { Logger } from "../ports/logger.js";
import { errorMessage, type ResolvedTuning } from "./host-options.js";

/** What one maintenance (orchestration) tick did. */
export interface MaintenanceTickResult {
  /** Pending runs claimed (their first jobs are queued). */
  claimed: number;
  /** Suspended stages checked; resumed ones were already followed by run.transition. */
  suspendedChecked: number;
  /** Stale job leases released for redelivery. */
  staleReleased: number;
  /** Outbox rows delivered (events and jobs). */
  eventsFlushed: number;
  /** Stuck runs repaired (requeued) or failed. */
  stuckReaped: number;
  /** Stages parked by a rate limit or concurrency key that were granted (their jobs queued). */
  limitGranted: number;
  /** Steps that threw (the others still ran); empty on a healthy tick. */
  errors: TickStepError[];
}

/** A tick step that threw; the other steps still ran. */
export interface TickStepError {
  step: "run.claimPending" | "stage.pollSuspended" | "lease.reapStale" | "run.reapStuck" | "stage.admitWaiting" | "outbox.flush";
  error: string;
}

export interface TickOutcome {
  result: MaintenanceTickResult;
  errors: TickStepError[];
  /** True when the tick produced work a job loop can pick up now. */
  newWork: boolean;
  /** When a rate-limited stage may next be granted (the kernel runs that grant pass itself, see `wakeGrantsAt`). */
  nextGrantAt: Date | null;
}

/**
 * One orchestration tick: claim pending runs, poll suspended stages, release stale leases,
 * repair stuck runs, grant stages parked by limits, flush the outbox. Each step is isolated: a step that throws is logged and
 * recorded, and the remaining steps still run (a broken outbox must not stop claiming).
 * The outbox is flushed last so the jobs and events the earlier steps queued go out this tick.
 */
export async function runMaintenance(kernel: Kernel, t: ResolvedTuning, workerId: string, logger: Logger): Promise<TickOutcome> {
  const errors: TickStepError[] = [];
  const result: MaintenanceTickResult = {
    claimed: 0,
    suspendedChecked: 0,
    staleReleased: 0,
    eventsFlushed: 0,
    stuckReaped: 0,
    limitGranted: 0,
    errors,
  };
  let newWork = false;
  let nextGrantAt: Date | null = null;
  const step = async (name: TickStepError["step"], fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      errors.push({ step: name, error: errorMessage(err) });
      logger.error({ workerId, step: name, err: errorMessage(err) }, "orchestration step failed");
    }
  };
  await step("run.claimPending", async () => {
    const r = await kernel.dispatch({ type: "run.claimPending", workerId, maxClaims: t.maxClaimsPerTick });
    result.claimed = r.claimed.length;
    if (r.claimed.length > 0) newWork = true;
  });
  await step("stage.pollSuspended", async () => {
    const r = await kernel.dispatch({ type: "stage.pollSuspended", maxChecks: t.maxSuspendedChecksPerTick });
    result.suspendedChecked = r.checked;
    if (r.resumed > 0) newWork = true;
  });
  await step("lease.reapStale", async () => {
    const r = await kernel.dispatch({ type: "lease.reapStale", staleThresholdMs: t.staleLeaseThresholdMs });
    result.staleReleased = r.released;
    if (r.released > 0) newWork = true;
  });
  await step("run.reapStuck", async () => {
    const r = await kernel.dispatch({ type: "run.reapStuck", stuckThresholdMs: t.stuckRunThresholdMs, maxRuns: t.maxStuckRunsPerTick });
    result.stuckReaped = r.requeued + r.failed;
    if (r.requeued > 0) newWork = true;
  });
  await step("stage.admitWaiting", async () => {
    const r = await kernel.dispatch({ type: "stage.admitWaiting" });
    result.limitGranted = r.granted;
    nextGrantAt = r.nextRetryAt;
    if (r.granted > 0) newWork = true;
  });
  await step("outbox.flush", async () => {
    const r = await kernel.dispatch({ type: "outbox.flush", maxEvents: t.maxOutboxFlushPerTick });
    result.eventsFlushed = r.published;
    if (r.published > 0) newWork = true;
  });
  return { result, errors, newWork, nextGrantAt };
}
