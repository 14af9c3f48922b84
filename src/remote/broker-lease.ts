/**
 * The lease half of the broker: opening an attempt (proof of delivery, live-lease rule, broker
 * issued token) and extending it by heartbeat. Pure functions of the store and the clock, so
 * the fencing rules read in one place.
 */
import type { ActivityTaskRecord, ActivityTaskStore } from "../ports/activity-task-store.js";
import type { Clock } from "../ports/clock.js";
import type { Logger } from "../ports/logger.js";
import type { HeartbeatReply, HeartbeatRequest, StartRequest } from "../contract/tasks.js";
import { countRedelivery } from "../contract/metrics.js";
import { versionMismatchMessage } from "./errors.js";
import { type Via, capabilityMatches, newSecret, takeoverGraceMs } from "./task-capability.js";

/** What the lease functions need from the broker. */
export interface LeaseContext {
  store: ActivityTaskStore;
  clock: Clock;
  logger: Logger;
  leaseMs: number;
  /** Fails the task for good (version mismatch, deadline, attempts exhausted). */
  failTask(taskId: string, error: string): Promise<void>;
}

/**
 * Opens attempt `req.attempt` (the transport's delivery count) for `req.workerId`, and issues
 * its lease token. Refused, with the same answer as for a task that does not exist, when the
 * request did not come through the task's own queue (`via`) or lacks the task message's
 * capability: whoever was never delivered the task learns nothing about it and cannot start,
 * fail or take it. A newer attempt is refused while the current one's lease is live (with
 * `retryAfterMs`), so a peer cannot steal a lease its holder keeps heartbeating.
 */
export async function startAttempt(b: LeaseContext, req: StartRequest, via?: Via): Promise<HeartbeatReply> {
  const { store, clock } = b;
  const task = await store.getTask(req.taskId);
  if (!task || (via && via.queue !== task.queue) || !capabilityMatches(task.capability, req.capability)) {
    if (task)
      b.logger.warn(
        { taskId: req.taskId, workerId: req.workerId, via: via?.queue, attempt: req.attempt },
        "start refused: no proof of delivery (wrong queue or capability)",
      );
    return { accepted: false, cancelled: false, reason: "unknown_task" };
  }
  if (task.status === "CANCELLED") return { accepted: false, cancelled: true, reason: "task cancelled" };
  if (task.status === "COMPLETED" || task.status === "FAILED") return { accepted: false, cancelled: false, reason: "already_terminal" };
  const now = clock.now();
  const liveLeaseCutoff = new Date(now.getTime() + takeoverGraceMs(b.leaseMs));
  // Refused before anything can fail the task: a stale attempt, or a newer one while the current
  // lease is live. A peer of the same queue can get a leased task redelivered to itself (it may
  // nak any delivery of its consumer), and must not fail the holder's task by claiming another
  // version or an attempt past maxAttempts.
  const live = task.status === "LEASED" && task.leaseDeadline !== null && task.leaseDeadline.getTime() > liveLeaseCutoff.getTime();
  if (req.attempt <= task.attempt || live) return refusedStart(task, req, now);
  let failure: string | null = null;
  if (req.codeVersion !== undefined && req.codeVersion !== task.codeVersion) {
    failure = versionMismatchMessage(task.codeVersion, req.codeVersion, `worker "${req.workerId}"`);
  } else if (task.deadline && task.deadline.getTime() <= now.getTime()) {
    failure = `deadline exceeded: task deadline ${task.deadline.toISOString()} passed before attempt ${req.attempt} started`;
  } else if (req.attempt > task.maxAttempts) {
    failure = `attempts exhausted: delivery ${req.attempt} exceeds maxAttempts ${task.maxAttempts} (last attempt ${task.attempt} by worker ${task.workerId ?? "unknown"} never reported)`;
  }
  if (failure) {
    await b.failTask(task.taskId, failure);
    return { accepted: false, cancelled: false, reason: failure };
  }
  const leaseDeadline = new Date(now.getTime() + b.leaseMs);
  const leaseToken = newSecret();
  const r = await store.startAttempt(task.taskId, {
    attempt: req.attempt,
    leaseToken,
    workerId: req.workerId,
    leaseDeadline,
    now,
    liveLeaseCutoff,
  });
  if (r.accepted && req.attempt > 1) countRedelivery(task.queue);
  if (!r.accepted) return refusedStart(r.task, req, now);
  return {
    accepted: true,
    cancelled: false,
    leaseToken,
    ...(task.heartbeatDetails != null ? { heartbeatDetails: task.heartbeatDetails } : {}),
    leaseDeadline: leaseDeadline.toISOString(),
  };
}

/** The answer to a start the lease rule refuses: the current attempt's lease is live, or the start is stale. */
function refusedStart(cur: ActivityTaskRecord | null, req: StartRequest, now: Date): HeartbeatReply {
  if (cur?.status === "CANCELLED") return { accepted: false, cancelled: true, reason: "task cancelled" };
  if (cur && cur.status === "LEASED" && cur.attempt < req.attempt && cur.leaseDeadline) {
    const retryAfterMs = Math.max(0, cur.leaseDeadline.getTime() - now.getTime());
    return {
      accepted: false,
      cancelled: false,
      reason: `lease_live: attempt ${cur.attempt} holds the lease until ${cur.leaseDeadline.toISOString()}`,
      retryAfterMs,
    };
  }
  return { accepted: false, cancelled: false, reason: `stale_attempt: task is at attempt ${cur?.attempt ?? "?"}` };
}

/** Stores progress and extends the lease of the current attempt; `cancelled` tells the worker to stop. */
export async function heartbeat(b: LeaseContext, req: HeartbeatRequest): Promise<HeartbeatReply> {
  const { store, clock } = b;
  let details = req.details;
  if (details === undefined) {
    // A bare liveness beat must not erase the progress a later attempt resumes from.
    const task = await store.getTask(req.taskId);
    if (!task) return { accepted: false, cancelled: false, reason: "unknown_task" };
    details = task.heartbeatDetails;
  }
  const now = clock.now();
  // A release ends the lease now, so the redelivery the holder is about to cause can start at once.
  const leaseDeadline = req.release ? now : new Date(now.getTime() + b.leaseMs);
  const r = await store.recordHeartbeat(req.taskId, {
    attempt: req.attempt,
    leaseToken: req.leaseToken,
    details: details ?? null,
    leaseDeadline,
    now,
  });
  return {
    accepted: r.accepted,
    cancelled: r.cancelled,
    ...(r.accepted ? { leaseDeadline: leaseDeadline.toISOString() } : { reason: r.cancelled ? "task cancelled" : "lease not held" }),
  };
}
