/**
 * Temporal-style timeouts of remote tasks (docs/flow-control.md): what each timer means, when it
 * fires, and the failure text that names it. Stores apply {@link leaseCap} and {@link firedTimeout}
 * (the Postgres store mirrors them in SQL); the broker and its reaper name the timer that fired.
 *
 * | timer             | counts from                              | when it fires                      |
 * | ----------------- | ---------------------------------------- | ---------------------------------- |
 * | scheduleToStart   | task creation                            | task fails (no retry)              |
 * | startToClose      | the attempt's start                      | attempt loses its lease → retried  |
 * | heartbeatTimeout  | the attempt's start or last details beat | attempt loses its lease → retried  |
 * | scheduleToClose   | task creation (the task `deadline`)      | task fails (no retry)              |
 */
import { z } from "zod";
import { ValidationError } from "../contract/errors.js";
import type { ActivityTaskRecord, ActivityTimeouts, AttemptTimeout } from "../ports/activity-task-store.js";

const ms = z.number().int().positive().max(2_147_483_647);

/** The timeouts a remote stage may set (all optional, milliseconds). */
export const RemoteTimeouts = z.strictObject({
  scheduleToStartMs: ms.optional(),
  startToCloseMs: ms.optional(),
  heartbeatTimeoutMs: ms.optional(),
  /** The task's deadline (same as the stage's `maxWaitMs`, which it replaces when both are set). */
  scheduleToCloseMs: ms.optional(),
});
export type RemoteTimeouts = z.infer<typeof RemoteTimeouts>;

/** Validated timeouts. @throws ValidationError naming each bad field. */
export function unwrapTimeouts(t: unknown): RemoteTimeouts {
  const r = RemoteTimeouts.safeParse(t);
  if (!r.success)
    throw new ValidationError(
      "remote stage timeouts",
      r.error.issues.map((i) => ({ path: i.path.join(".") || "timeouts", message: i.message })),
    );
  return r.data;
}

/** The task deadline: the earlier of `deadline` and `now + scheduleToCloseMs`. */
export function scheduleToCloseDeadline(deadline: Date | null, t: RemoteTimeouts | undefined, now: Date): Date | null {
  if (t?.scheduleToCloseMs === undefined) return deadline;
  const end = now.getTime() + t.scheduleToCloseMs;
  return new Date(deadline ? Math.min(deadline.getTime(), end) : end);
}

/** The per-attempt part the store keeps, or null when none is set. */
export function storedTimeouts(t: RemoteTimeouts | undefined): ActivityTimeouts | null {
  if (!t) return null;
  const { scheduleToStartMs, startToCloseMs, heartbeatTimeoutMs } = t;
  const out: ActivityTimeouts = {
    ...(scheduleToStartMs !== undefined ? { scheduleToStartMs } : {}),
    ...(startToCloseMs !== undefined ? { startToCloseMs } : {}),
    ...(heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs } : {}),
  };
  return Object.keys(out).length > 0 ? out : null;
}

type Timers = Pick<ActivityTaskRecord, "timeouts" | "attemptStartedAt" | "progressAt">;

const plus = (d: Date | null | undefined, ms: number | undefined): number | null => (d && ms !== undefined ? d.getTime() + ms : null);

/** When each per-attempt timer of the current attempt fires (null: not set). */
export function timerDeadlines(t: Timers): Record<AttemptTimeout, number | null> {
  return {
    startToClose: plus(t.attemptStartedAt, t.timeouts?.startToCloseMs),
    heartbeat: plus(t.progressAt, t.timeouts?.heartbeatTimeoutMs),
  };
}

/** `leaseDeadline` capped at the first per-attempt timer. */
export function leaseCap(t: Timers, leaseDeadline: Date): Date {
  const ends = Object.values(timerDeadlines(t)).filter((x): x is number => x !== null);
  return new Date(Math.min(leaseDeadline.getTime(), ...ends));
}

/** The per-attempt timer that has fired at `at` (the earliest), or null. */
export function firedTimeout(t: Timers, at: Date): AttemptTimeout | null {
  const d = timerDeadlines(t);
  const fired = (Object.keys(d) as AttemptTimeout[]).filter((k) => d[k] !== null && d[k]! <= at.getTime());
  fired.sort((a, b) => d[a]! - d[b]!);
  return fired[0] ?? null;
}

/** Whether a never-started task's scheduleToStart timer has fired at `at`. */
export function scheduleToStartFired(t: Pick<ActivityTaskRecord, "status" | "timeouts" | "createdAt">, at: Date): boolean {
  const s2s = t.timeouts?.scheduleToStartMs;
  return t.status === "PENDING" && s2s !== undefined && t.createdAt.getTime() + s2s <= at.getTime();
}

/** Failure text of a task no worker started within its scheduleToStart timeout. */
export function scheduleToStartMessage(t: Pick<ActivityTaskRecord, "timeouts" | "createdAt" | "queue">): string {
  return `scheduleToStart timeout: no worker of queue "${t.queue}" started the task within ${t.timeouts?.scheduleToStartMs} ms of ${t.createdAt.toISOString()}`;
}

/** Why the current attempt lost its lease, naming the timer when one fired (for the reaper's failure text). */
export function attemptLossCause(t: ActivityTaskRecord): string {
  const fired = t.leaseDeadline ? firedTimeout(t, t.leaseDeadline) : null;
  if (fired === "startToClose")
    return `hit its startToClose timeout (${t.timeouts?.startToCloseMs} ms since it started at ${t.attemptStartedAt?.toISOString()})`;
  if (fired === "heartbeat")
    return `hit its heartbeat timeout (no heartbeat with details for ${t.timeouts?.heartbeatTimeoutMs} ms since ${t.progressAt?.toISOString()})`;
  return `lost its lease at ${t.leaseDeadline?.toISOString() ?? "?"} without reporting`;
}

/** The refusal reason a worker's heartbeat gets once `timer` fired. */
export function timedOutReason(timer: AttemptTimeout): string {
  return timer === "startToClose"
    ? "startToClose timeout: the attempt ran too long"
    : "heartbeat timeout: no heartbeat with details in time";
}
