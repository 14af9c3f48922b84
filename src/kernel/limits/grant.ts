/**
 * The grant pass: admits parked stages as slots free and tokens refill, round-robin between
 * keys (the key admitted longest ago goes first), and queues each granted stage's job in the
 * same transaction. Any orchestrator may run it; the (limit, key) row locks serialise them.
 */
import type { StageWaiter } from "../../ports/limits.js";
import type { PersistenceTx } from "../../ports/persistence.js";
import { type OutboxBatch, jobIdOf } from "../outbox.js";
import { admit, lockKeysOf } from "./admit.js";

/** Bounds of one pass. */
export interface GrantBounds {
  maxLimits: number;
  /** Waiters read per limit (in turns between keys); the rest wait for the next pass. */
  maxWaitersPerLimit: number;
  maxGrants: number;
  grantTtlMs: number;
}

/** What a pass did. */
export interface GrantResult {
  granted: number;
  /** Earliest instant a rate-limited waiter may be granted (null: none is waiting on tokens). */
  nextRetryAt: Date | null;
}

/** Grants what fits in every limit with waiters; jobs of granted stages go into `batch`. */
export async function grantWaiting(tx: PersistenceTx, batch: OutboxBatch, now: Date, b: GrantBounds): Promise<GrantResult> {
  const result: GrantResult = { granted: 0, nextRetryAt: null };
  for (const limitId of await tx.waitingLimitIds(b.maxLimits)) {
    if (result.granted >= b.maxGrants) break;
    // In turns: a bounded read still holds the head of every waiting key, however deep one key's backlog.
    const waiters = await tx.listWaiters({ limitId, limit: b.maxWaitersPerLimit, byTurns: true });
    // Lock every row any of these waiters may touch at once, in the adapter's fixed order, so two
    // passes (or a pass and an admission) never wait on each other in opposite orders.
    const locked = await tx.lockLimitKeys(waiters.flatMap((w) => lockKeysOf(w.checks)));
    const lastAdmitted = new Map(locked.filter((s) => s.limitId === limitId).map((s) => [s.key, s.lastAdmittedAt?.getTime() ?? -1]));
    const queues = new Map<string, StageWaiter[]>();
    for (const w of waiters) queues.set(w.key, [...(queues.get(w.key) ?? []), w]);
    while (queues.size > 0 && result.granted < b.maxGrants) {
      const key = nextKey(queues, lastAdmitted);
      const w = queues.get(key)![0]!;
      // The list was read before the locks: a concurrent pass may have granted this stage since
      // (its slot is then its own and would not count against it: a second grant and job).
      const current = await tx.getWaiter(w.runId, w.stageId);
      if (!current || current.attempt !== w.attempt || current.parks !== w.parks) {
        shift(queues, key);
        continue;
      }
      const stage = await tx.getStage(w.runId, w.stageId);
      if (!stage || stage.status !== "PENDING" || stage.attempt !== w.attempt - 1) {
        await tx.deleteWaiter(w.runId, w.stageId); // the stage moved on (cancelled, rerun): nothing to grant
        shift(queues, key);
        continue;
      }
      const a = await admit(tx, w.checks, { runId: w.runId, stageId: w.stageId, attempt: w.attempt }, now, b.grantTtlMs, true);
      if (!a.admitted) {
        await tx.putWaiter({ ...w, reason: a.reason, detail: a.detail, retryAt: a.retryAt, updatedAt: now });
        if (a.retryAt && (!result.nextRetryAt || a.retryAt < result.nextRetryAt)) result.nextRetryAt = a.retryAt;
        // A full total blocks every key of the limit; a full key or empty bucket only this key.
        if (a.reason === "queue-concurrency") break;
        queues.delete(key);
        continue;
      }
      const run = await tx.getRun(w.runId);
      await tx.deleteWaiter(w.runId, w.stageId);
      if (run && run.status === "RUNNING") {
        batch.job({
          // A new id: the parked delivery's id may still be in the transport's de-duplication window.
          jobId: `${jobIdOf(run.id, w.stageId, w.attempt)}~g${w.parks}`,
          workflowRunId: run.id,
          workflowId: run.workflowId,
          stageId: w.stageId,
          attempt: w.attempt,
          maxAttempts: stage.maxAttempts,
          priority: run.priority,
          payload: {},
          ...(run.traceContext ? { traceContext: run.traceContext } : {}),
        });
        result.granted++;
      }
      lastAdmitted.set(key, now.getTime() + result.granted); // to the back of the round robin
      shift(queues, key);
    }
  }
  return result;
}

/** The key admitted longest ago (never admitted first), ties to the oldest waiter. */
function nextKey(queues: Map<string, StageWaiter[]>, lastAdmitted: Map<string, number>): string {
  let best: string | null = null;
  for (const [key, q] of queues) {
    if (best === null) {
      best = key;
      continue;
    }
    const a = lastAdmitted.get(key) ?? -1;
    const b = lastAdmitted.get(best) ?? -1;
    if (a < b || (a === b && q[0]!.createdAt < queues.get(best)![0]!.createdAt)) best = key;
  }
  return best!;
}

function shift(queues: Map<string, StageWaiter[]>, key: string): void {
  const q = queues.get(key)!;
  q.shift();
  if (q.length === 0) queues.delete(key);
}
