import type { LimitCheck } from "../../contract/stage-limits.js";
import { resolveLimitChecks } from "../../contract/stage-limits.js";
import type { AnyStage } from "../../contract/stage-types.js";
import type { PersistenceTx } from "../../ports/persistence.js";
import type { RunRecord, StageRecord } from "../../ports/records.js";
import type { StageAdmitWaitingCommand, StageAdmitWaitingResult } from "../commands.js";
import { type KernelDeps, errorMessage } from "../deps.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { type Admission, admit, lockKeysOf } from "../limits/admit.js";
import { queueStageJob } from "../run-helpers.js";
import { grantWaiting } from "../limits/grant.js";

const MAX_LIMITS_PER_PASS = 50;
const MAX_WAITERS_PER_LIMIT = 500;
const DEFAULT_MAX_GRANTS = 200;
/**
 * A park's wake-up fires no sooner than this: it is armed inside the parking transaction, and the
 * pass must see the waiter committed. Missed (a slower commit), the host's next tick grants it.
 */
const PARK_WAKE_FLOOR_MS = 25;
/** The longest a wake-up timer is set for; a later token is re-armed by the pass it runs. */
const MAX_WAKE_MS = 60_000;

/** stage.admitWaiting: one grant pass in one transaction, then the granted jobs go out. */
export async function stageAdmitWaiting(deps: KernelDeps, cmd: StageAdmitWaitingCommand): Promise<StageAdmitWaitingResult> {
  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  const res = await deps.persistence.transaction(async (tx) => {
    const r = await grantWaiting(tx, batch, now, {
      maxLimits: MAX_LIMITS_PER_PASS,
      maxWaitersPerLimit: MAX_WAITERS_PER_LIMIT,
      maxGrants: cmd.maxGrants ?? DEFAULT_MAX_GRANTS,
      grantTtlMs: deps.options.limitGrantTtlMs,
    });
    await tx.pruneLimits(now, new Date(now.getTime() - deps.options.limitGrantTtlMs), 500);
    await batch.write(tx);
    return r;
  });
  await deliverFastPath(deps, batch);
  // The pass after this one runs at the next token, not at the host's next tick (every 10 s by default).
  if (res.nextRetryAt) wakeGrantsAt(deps, res.nextRetryAt);
  return res;
}

/** The name of a stage's limits that set no `id`: its queue's for a remote stage, else its own. */
export function defaultLimitId(workflowId: string, stage: AnyStage): string {
  return stage.remote ? `queue:${stage.remote.queue}` : `stage:${workflowId}/${stage.id}`;
}

/** The checks of `stage` for `run`; a key function that throws is reported as a string. */
export function checksOf(run: RunRecord, stage: AnyStage): LimitCheck[] | { error: string } {
  try {
    return resolveLimitChecks(stage.limits, defaultLimitId(run.workflowId, stage), run.input);
  } catch (err) {
    return { error: `limit key of stage "${stage.id}" failed: ${errorMessage(err)}` };
  }
}

/**
 * Admits attempt `attempt` of `stage` (locked by the caller's transaction) or parks it: the
 * waiter row records why, and the grant pass queues its job once it fits.
 */
export async function admitOrPark(
  deps: KernelDeps,
  tx: PersistenceTx,
  run: RunRecord,
  stage: StageRecord,
  checks: LimitCheck[],
  attempt: number,
  now: Date,
): Promise<Admission> {
  const who = { runId: run.id, stageId: stage.stageId, attempt };
  const a = await admit(tx, checks, who, now, deps.options.limitGrantTtlMs);
  if (a.admitted) {
    await tx.deleteWaiter(run.id, stage.stageId);
    return a;
  }
  // Parked for a token: a pass at that token grants it (a slot freeing kicks one anyway).
  if (a.retryAt) wakeGrantsAt(deps, a.retryAt, PARK_WAKE_FLOOR_MS);
  const prev = await tx.getWaiter(run.id, stage.stageId);
  await tx.putWaiter({
    runId: run.id,
    workflowId: run.workflowId,
    stageId: stage.stageId,
    attempt,
    limitId: checks[0]!.limitId,
    key: checks[0]!.key,
    checks,
    reason: a.reason,
    detail: a.detail,
    retryAt: a.retryAt,
    parks: (prev?.parks ?? 0) + 1,
    createdAt: prev?.createdAt ?? now,
    updatedAt: now,
  });
  return a;
}

/**
 * Queues the job of PENDING stage `row` of `def`, or parks it when a limit does not admit it: a
 * limited stage is admitted before its job is dispatched, so parked work never crowds the job
 * queue ahead of other keys. Returns the job id, or null when parked.
 */
export async function queueOrPark(
  deps: KernelDeps,
  tx: PersistenceTx,
  batch: OutboxBatch,
  run: RunRecord,
  row: StageRecord,
  def: AnyStage,
  now: Date,
): Promise<string | null> {
  if (def.limits) {
    deps.grantKick.seenLimited = true;
    const checks = checksOf(run, def);
    // A key function that throws: the job goes out and its execution fails the stage with the error.
    if (!("error" in checks) && !(await admitOrPark(deps, tx, run, row, checks, row.attempt + 1, now)).admitted) return null;
  }
  return queueStageJob(batch, run, row, row.attempt + 1);
}

/** Locks, in one statement, every (limit, key) row the limited stages of `runs`' group 0 touch (one lock order per transaction). */
export async function preLockLimits(tx: PersistenceTx, items: { run: RunRecord; defs: readonly AnyStage[] }[]): Promise<void> {
  const keys = items.flatMap(({ run, defs }) =>
    defs.flatMap((def) => {
      if (!def.limits) return [];
      const checks = checksOf(run, def);
      return "error" in checks ? [] : lockKeysOf(checks);
    }),
  );
  if (keys.length > 0) await tx.lockLimitKeys(keys);
}

/**
 * Runs a grant pass soon, without waiting for it: a limited stage just gave its slot back. One
 * pass at a time per kernel; a request during a pass runs one more after it.
 */
export function kickGrants(deps: KernelDeps): void {
  const state = deps.grantKick;
  if (state.running) {
    state.again = true;
    return;
  }
  state.running = true;
  void (async () => {
    try {
      do {
        state.again = false;
        await deps.dispatch({ type: "stage.admitWaiting" });
      } while (state.again);
    } catch (err) {
      deps.logger.warn({ err: errorMessage(err) }, "granting waiting stages failed; the next host tick retries");
    } finally {
      state.running = false;
    }
  })();
}

/**
 * Runs a grant pass at `at` (a rate-limited waiter's next token) without waiting for the host's
 * orchestration tick: one timer per kernel, at the earliest instant asked for (`floorMs` at the
 * soonest). It does not keep the process alive.
 */
export function wakeGrantsAt(deps: KernelDeps, at: Date, floorMs = 0): void {
  const state = deps.grantKick;
  const delay = Math.min(MAX_WAKE_MS, Math.max(floorMs, at.getTime() - deps.clock.now().getTime()));
  const due = Date.now() + delay;
  if (state.timer && state.timerAt <= due) return;
  if (state.timer) clearTimeout(state.timer);
  state.timerAt = due;
  state.timer = setTimeout(() => {
    state.timer = null;
    kickGrants(deps);
  }, delay);
  state.timer.unref?.();
}
