/**
 * The lease half of the broker: opening an attempt (proof of delivery, live-lease rule, broker
 * issued token) and extending it by heartbeat. Pure functions of the store and the clock, so
 * the fencing rules read in one place.
 */
import { type ActivityTaskRecord, type ActivityTaskStore, startedAttempts } from "../ports/activity-task-store.js";
import type { Clock } from "../ports/clock.js";
import type { Logger } from "../ports/logger.js";
import type { HeartbeatReply, HeartbeatRequest, StartRequest } from "../contract/tasks.js";
import { countRedelivery } from "../contract/metrics.js";
import { versionMismatchMessage } from "./errors.js";
import { type Via, capabilityMatches, newSecret, takeoverGraceMs } from "./task-capability.js";
import type { TaskFacts, TaskFactsCache } from "./task-facts.js";
import { scheduleToStartFired, scheduleToStartMessage, timedOutReason } from "./timeouts.js";

/** Attempts that may still start after `t`'s current one. */
const attemptsLeft = (t: ActivityTaskRecord) => Math.max(0, t.maxAttempts - startedAttempts(t));

/** What the lease functions need from the broker. */
export interface LeaseContext {
  store: ActivityTaskStore;
  clock: Clock;
  logger: Logger;
  leaseMs: number;
  /** Immutable facts of tasks this broker created or read: a start whose checks pass here skips reading the row. */
  facts?: TaskFactsCache;
  /** Fails the task for good (version mismatch, deadline, attempts exhausted). */
  failTask(taskId: string, error: string): Promise<void>;
  /**
   * Gives `task` (its spent capability's attempt lost its lease) a new capability and publishes
   * it as a new message; false when another caller did first or the task moved on.
   */
  reissue(task: ActivityTaskRecord, lapsedBefore: Date): Promise<boolean>;
}

/**
 * Opens attempt `req.attempt` (the transport's delivery count) for `req.workerId`, and issues
 * its lease token. Refused, with the same answer as for a task that does not exist, when the
 * request did not come through the task's own queue (`via`) or lacks the task message's
 * capability: whoever was never delivered the task learns nothing about it and cannot start,
 * fail or take it. A newer attempt is refused while the current one's lease is live (with
 * `retryAfterMs`), so a peer cannot steal a lease its holder keeps heartbeating. A capability
 * opens one attempt: once that attempt's lease has ended, a delivery of its message (presenting
 * the spent capability) cannot start the task again. The broker then publishes the task anew with
 * a new capability and refuses the old delivery (`superseded`): only a real delivery of the new
 * message can open the next attempt, so an attempt number is never just a worker's word.
 */
export async function startAttempt(b: LeaseContext, req: StartRequest, via?: Via): Promise<HeartbeatReply> {
  const cached = b.facts?.get(req.taskId);
  if (cached && admits(cached, req, via, b.clock.now())) {
    const fast = await startCached(b, cached, req);
    if (fast) return fast;
  }
  return startRead(b, req, via);
}

/** Whether the cached facts let attempt `req.attempt` start with no failure to record (else the slow path decides). */
function admits(t: TaskFacts, req: StartRequest, via: Via | undefined, now: Date): boolean {
  return (
    (!via || via.queue === t.queue) &&
    capabilityMatches(t.capability, req.capability) &&
    (req.codeVersion === undefined || req.codeVersion === t.codeVersion) &&
    !(t.deadline && t.deadline.getTime() <= now.getTime()) &&
    // Past scheduleToStart the slow path decides (it fails a task that never started).
    !(t.timeouts?.scheduleToStartMs !== undefined && t.createdAt.getTime() + t.timeouts.scheduleToStartMs <= now.getTime()) &&
    req.attempt <= t.maxAttempts
  );
}

/**
 * The start as one guarded update (no read first): the store also requires the capability the
 * cache holds. Null when the row disagrees with the cache (then the slow path reads it).
 */
async function startCached(b: LeaseContext, t: TaskFacts, req: StartRequest): Promise<HeartbeatReply | null> {
  const now = b.clock.now();
  const leaseDeadline = new Date(now.getTime() + b.leaseMs);
  const leaseToken = newSecret();
  const r = await b.store.startAttempt(t.taskId, {
    attempt: req.attempt,
    leaseToken,
    workerId: req.workerId,
    leaseDeadline,
    now,
    liveLeaseCutoff: new Date(now.getTime() + takeoverGraceMs(b.leaseMs)),
    capability: t.capability,
  });
  if (r.accepted) {
    if (req.attempt > 1) countRedelivery(t.queue);
    return {
      accepted: true,
      cancelled: false,
      leaseToken,
      ...(r.task?.heartbeatDetails != null ? { heartbeatDetails: r.task.heartbeatDetails } : {}),
      leaseDeadline: leaseDeadline.toISOString(),
      leaseMs: b.leaseMs,
      ...(r.task ? { attemptsLeft: attemptsLeft(r.task) } : {}),
    };
  }
  const cur = r.task;
  if (!cur || cur.capability !== t.capability) {
    b.facts?.forget(t.taskId);
    return null;
  }
  if (cur.status === "COMPLETED" || cur.status === "FAILED") return { accepted: false, cancelled: false, reason: "already_terminal" };
  // A spent capability, a live lease or a stale attempt: the slow path decides, with the row read.
  return null;
}

/** Why a start the store refused did not happen, for a task the caller may know about. */
function refusedStart(cur: ActivityTaskRecord | null, req: StartRequest, now: Date): HeartbeatReply {
  if (cur?.status === "CANCELLED") return { accepted: false, cancelled: true, reason: "task cancelled" };
  if (cur && cur.status === "LEASED" && cur.attempt < req.attempt && cur.leaseDeadline) return leaseLiveReply(cur, cur.leaseDeadline, now);
  return { accepted: false, cancelled: false, reason: `stale_attempt: task is at attempt ${cur?.attempt ?? "?"}` };
}

/** A start refused because another attempt's lease is still live: retry once it has run out. */
function leaseLiveReply(holder: ActivityTaskRecord, deadline: Date, now: Date): HeartbeatReply {
  return {
    accepted: false,
    cancelled: false,
    reason: `lease_live: attempt ${holder.attempt} holds the lease until ${deadline.toISOString()}`,
    retryAfterMs: Math.max(0, deadline.getTime() - now.getTime()),
  };
}

/**
 * A delivery of a message whose capability already opened an attempt: a redelivery racing the
 * holder's beats waits (`retryAfterMs`) while that lease is live; once it has ended, the task is
 * failed if nothing may run any more, else published again with a new capability, and this
 * delivery is refused for good.
 */
async function spentCapability(
  b: LeaseContext,
  task: ActivityTaskRecord,
  req: StartRequest,
  live: boolean,
  liveLeaseCutoff: Date,
): Promise<HeartbeatReply> {
  const now = b.clock.now();
  if (live && task.leaseDeadline) return leaseLiveReply(task, task.leaseDeadline, now);
  const failure = endOfTask(task, now);
  if (failure) {
    await b.failTask(task.taskId, failure);
    return { accepted: false, cancelled: false, reason: failure };
  }
  const reissued = await b.reissue(task, liveLeaseCutoff);
  b.logger.info(
    { taskId: task.taskId, workerId: req.workerId, attempt: task.attempt, reissued },
    "a spent capability was presented after its attempt's lease ended; the task goes out as a new message",
  );
  return {
    accepted: false,
    cancelled: false,
    reason: `superseded: attempt ${task.attempt}'s lease ended; the task was published again as a new message`,
  };
}

/** Why a task that lost its lease may not run again (deadline passed, attempts exhausted), or null. */
function endOfTask(task: ActivityTaskRecord, now: Date): string | null {
  if (task.deadline && task.deadline.getTime() <= now.getTime())
    return `scheduleToClose timeout: deadline exceeded: task deadline ${task.deadline.toISOString()} passed after attempt ${task.attempt} lost its lease`;
  if (startedAttempts(task) >= task.maxAttempts)
    return `attempts exhausted: ${startedAttempts(task)} of maxAttempts ${task.maxAttempts} started (last attempt ${task.attempt} by worker ${task.workerId ?? "unknown"} never reported)`;
  return null;
}

/** The start after reading the task: every refusal and failure is decided here. */
async function startRead(b: LeaseContext, req: StartRequest, via?: Via): Promise<HeartbeatReply> {
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
  if (task.capability !== null && task.capabilitySpentBy !== null) return spentCapability(b, task, req, live, liveLeaseCutoff);
  if (req.attempt <= task.attempt || live) return refusedStart(task, req, now);
  let failure: string | null = null;
  if (req.codeVersion !== undefined && req.codeVersion !== task.codeVersion) {
    failure = versionMismatchMessage(task.codeVersion, req.codeVersion, `worker "${req.workerId}"`);
  } else if (task.deadline && task.deadline.getTime() <= now.getTime()) {
    failure = `scheduleToClose timeout: deadline exceeded: task deadline ${task.deadline.toISOString()} passed before attempt ${req.attempt} started`;
  } else if (scheduleToStartFired(task, now)) {
    failure = scheduleToStartMessage(task);
  } else {
    failure = endOfTask(task, now);
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
    // Guarded by the capability read: a reissue in between (the read one spent, its lease lapsed)
    // must not let the old capability open an attempt beside the new message.
    ...(task.capability !== null ? { capability: task.capability } : {}),
  });
  if (r.accepted && req.attempt > 1) countRedelivery(task.queue);
  if (!r.accepted) return refusedStart(r.task, req, now);
  b.facts?.remember(task);
  return {
    accepted: true,
    cancelled: false,
    leaseToken,
    ...(task.heartbeatDetails != null ? { heartbeatDetails: task.heartbeatDetails } : {}),
    leaseDeadline: leaseDeadline.toISOString(),
    leaseMs: b.leaseMs,
    ...(r.task ? { attemptsLeft: attemptsLeft(r.task) } : {}),
  };
}

/**
 * Stores progress and extends the lease of the current attempt; `cancelled` tells the worker to
 * stop. One guarded update, no read first: a beat without details keeps the stored ones.
 */
export async function heartbeat(b: LeaseContext, req: HeartbeatRequest): Promise<HeartbeatReply> {
  const now = b.clock.now();
  // A release ends the lease now, so the redelivery the holder is about to cause can start at once.
  const leaseDeadline = req.release ? now : new Date(now.getTime() + b.leaseMs);
  const r = await b.store.recordHeartbeat(req.taskId, {
    attempt: req.attempt,
    leaseToken: req.leaseToken,
    ...(req.details !== undefined ? { details: req.details } : {}),
    leaseDeadline,
    now,
    ...(req.release ? { release: true } : {}),
  });
  if (r.timedOut)
    b.logger.warn({ taskId: req.taskId, attempt: req.attempt, timeout: r.timedOut }, "remote attempt timed out; its lease ends");
  return {
    accepted: r.accepted,
    cancelled: r.cancelled,
    ...(r.accepted
      ? { leaseDeadline: leaseDeadline.toISOString(), leaseMs: b.leaseMs }
      : { reason: r.cancelled ? "task cancelled" : r.timedOut ? timedOutReason(r.timedOut) : "lease not held" }),
  };
}

/**
 * The beats of a batch, answered in order. Plain lease refreshes (no details, no release) are
 * applied in one write (`refreshLeases`); each beat it did not apply, and every other beat, takes
 * the single path, which answers why (cancelled, timed out, lease not held). Should the shared
 * write fail (a deadlock with a cancel, say), every beat takes the single path instead.
 */
export async function refreshBatch(b: LeaseContext, beats: HeartbeatRequest[]): Promise<HeartbeatReply[]> {
  const now = b.clock.now();
  const leaseDeadline = new Date(now.getTime() + b.leaseMs);
  const plain = beats.flatMap((beat, i) => (beat.details === undefined && !beat.release ? [i] : []));
  let applied = new Set<number>();
  try {
    const done = await b.store.refreshLeases(
      plain.map((i) => beats[i]!),
      { leaseDeadline, now },
    );
    applied = new Set([...done].map((k) => plain[k]!));
  } catch (err) {
    b.logger.warn({ beats: plain.length, err: String(err) }, "batched lease refresh failed; the beats go one by one");
  }
  const accepted: HeartbeatReply = { accepted: true, cancelled: false, leaseDeadline: leaseDeadline.toISOString(), leaseMs: b.leaseMs };
  return Promise.all(beats.map((beat, i) => (applied.has(i) ? accepted : heartbeat(b, beat))));
}
