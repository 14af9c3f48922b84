import type {
  ActivityReport,
  ActivityTaskRecord,
  ActivityTaskStatus,
  ActivityTaskStore,
  AttemptTimeout,
  LeaseRefresh,
  NewActivityTask,
  ReportVerdict,
} from "../ports/activity-task-store.js";
import { deepCopy } from "./clone.js";
import { startedAttempts } from "../ports/activity-task-store.js";
import { firedTimeout, leaseCap, scheduleToStartFired } from "../remote/timeouts.js";
import { newSecret } from "../remote/task-capability.js";
import { checkedPriority } from "../contract/priority.js";

const TERMINAL: readonly ActivityTaskStatus[] = ["COMPLETED", "FAILED", "CANCELLED"];
const isTerminal = (t: ActivityTaskRecord): boolean => TERMINAL.includes(t.status);
const STATUS_OF = { completed: "COMPLETED", failed: "FAILED", cancelled: "CANCELLED" } as const;

/**
 * ActivityTaskStore in memory with the fencing the broker relies on. Every method is synchronous
 * inside, so each transition is an atomic compare-and-set:
 * - startAttempt takes only a newer attempt (or repeats the current one with its own token), and
 *   only with an unspent capability (one attempt per capability);
 * - heartbeats and reports count only for the current attempt and token;
 * - the first report decides the single terminal outcome; later ones are refused with a reason.
 */
export class InMemoryActivityTaskStore implements ActivityTaskStore {
  private readonly tasks = new Map<string, ActivityTaskRecord>();
  /** Reports refused, oldest first (audit of late or stale reports). */
  readonly rejectedReports: { taskId: string; reason: string; report: unknown; at: Date }[] = [];

  async createTask(n: NewActivityTask): Promise<ActivityTaskRecord> {
    const priority = checkedPriority(n.priority, `createTask(${n.taskId})`);
    const existing = this.tasks.get(n.taskId);
    if (existing) return deepCopy(existing);
    const t: ActivityTaskRecord = {
      taskId: n.taskId,
      workflowRunId: n.workflowRunId,
      workflowId: n.workflowId,
      stageId: n.stageId,
      queue: n.queue,
      codeVersion: n.codeVersion,
      requiredLabels: deepCopy(n.requiredLabels),
      status: "PENDING",
      attempt: 0,
      maxAttempts: n.maxAttempts,
      priority,
      capability: n.capability,
      capabilitySpentBy: null,
      maxUploadBytes: n.maxUploadBytes ?? null,
      leaseToken: null,
      leaseDeadline: null,
      workerId: null,
      input: deepCopy(n.input),
      config: deepCopy(n.config),
      heartbeatDetails: null,
      heartbeatAt: null,
      outcome: null,
      output: null,
      error: null,
      report: null,
      reportedAt: null,
      deadline: n.deadline ? new Date(n.deadline.getTime()) : null,
      traceContext: deepCopy(n.traceContext),
      createdAt: new Date(n.now.getTime()),
      updatedAt: new Date(n.now.getTime()),
      // Timer fields only on tasks that have timers: records of others keep their shape.
      ...(n.timeouts ? { timeouts: deepCopy(n.timeouts), attemptStartedAt: null, progressAt: null } : {}),
    };
    this.tasks.set(t.taskId, t);
    return deepCopy(t);
  }

  async getTask(taskId: string): Promise<ActivityTaskRecord | null> {
    const t = this.tasks.get(taskId);
    return t ? deepCopy(t) : null;
  }

  async listTasks(f: {
    workflowRunId?: string;
    status?: ActivityTaskStatus[];
    queue?: string;
    limit?: number;
  }): Promise<ActivityTaskRecord[]> {
    return [...this.tasks.values()]
      .filter((t) => f.workflowRunId === undefined || t.workflowRunId === f.workflowRunId)
      .filter((t) => !f.status || f.status.includes(t.status))
      .filter((t) => f.queue === undefined || t.queue === f.queue)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
      .slice(0, f.limit ?? 100)
      .map(deepCopy);
  }

  async startAttempt(
    taskId: string,
    s: {
      attempt: number;
      leaseToken: string;
      workerId: string;
      leaseDeadline: Date;
      now: Date;
      liveLeaseCutoff: Date;
      capability?: string | null;
    },
  ): Promise<{ accepted: boolean; task: ActivityTaskRecord | null }> {
    const t = this.tasks.get(taskId);
    if (!t) return { accepted: false, task: null };
    if (s.capability !== undefined && s.capability !== t.capability) return { accepted: false, task: deepCopy(t) };
    const sameCall = s.attempt === t.attempt && t.leaseToken === s.leaseToken && t.status === "LEASED";
    const liveLease = t.status === "LEASED" && t.leaseDeadline !== null && t.leaseDeadline.getTime() > s.liveLeaseCutoff.getTime();
    const unspent = t.capability === null || t.capabilitySpentBy === null;
    const newer = s.attempt > t.attempt && !liveLease && unspent;
    if (isTerminal(t) || !(newer || sameCall)) return { accepted: false, task: deepCopy(t) };
    if (newer && t.capability !== null) t.capabilitySpentBy = s.attempt;
    if (newer) t.attempts = [...(t.attempts ?? []), { attempt: s.attempt, workerId: s.workerId, startedAt: new Date(s.now.getTime()) }];
    if (newer && t.timeouts) {
      t.attemptStartedAt = new Date(s.now.getTime());
      t.progressAt = new Date(s.now.getTime());
    }
    t.status = "LEASED";
    t.attempt = s.attempt;
    t.leaseToken = s.leaseToken;
    t.workerId = s.workerId;
    t.leaseDeadline = leaseCap(t, s.leaseDeadline);
    t.updatedAt = new Date(s.now.getTime());
    return { accepted: true, task: deepCopy(t) };
  }

  async recordHeartbeat(
    taskId: string,
    b: { attempt: number; leaseToken: string; details?: unknown; leaseDeadline: Date; now: Date; release?: boolean },
  ): Promise<{ accepted: boolean; cancelled: boolean; timedOut?: AttemptTimeout }> {
    const t = this.tasks.get(taskId);
    if (!t) return { accepted: false, cancelled: false };
    // Any holder of a cancelled task is told to stop, whichever attempt it runs.
    if (t.status === "CANCELLED") return { accepted: false, cancelled: true };
    if (t.status !== "LEASED" || t.attempt !== b.attempt || t.leaseToken !== b.leaseToken) return { accepted: false, cancelled: false };
    const fired = firedTimeout(t, b.now);
    if (fired) return { accepted: false, cancelled: false, timedOut: fired };
    if (b.details !== undefined) t.heartbeatDetails = deepCopy(b.details ?? null);
    if (b.details !== undefined && t.timeouts) t.progressAt = new Date(b.now.getTime());
    t.heartbeatAt = new Date(b.now.getTime());
    t.leaseDeadline = leaseCap(t, b.leaseDeadline);
    t.updatedAt = new Date(b.now.getTime());
    if (b.release) t.capabilitySpentBy = null;
    return { accepted: true, cancelled: false };
  }

  async refreshLeases(beats: LeaseRefresh[], b: { leaseDeadline: Date; now: Date }): Promise<Set<number>> {
    const applied = new Set<number>();
    for (const [i, beat] of beats.entries()) {
      const { taskId, ...fence } = beat;
      if ((await this.recordHeartbeat(taskId, { ...fence, ...b })).accepted) applied.add(i);
    }
    return applied;
  }

  async reissueCapability(
    taskId: string,
    r: { capability: string; newCapability: string; lapsedBefore: Date; now: Date },
  ): Promise<ActivityTaskRecord | null> {
    const t = this.tasks.get(taskId);
    if (!t || t.status !== "LEASED" || t.capability !== r.capability || t.capabilitySpentBy === null) return null;
    if (t.leaseDeadline !== null && t.leaseDeadline.getTime() > r.lapsedBefore.getTime()) return null;
    t.capability = r.newCapability;
    t.capabilitySpentBy = null;
    t.updatedAt = new Date(r.now.getTime());
    return deepCopy(t);
  }

  async recordReport(taskId: string, r: ActivityReport, now: Date): Promise<ReportVerdict> {
    const t = this.tasks.get(taskId);
    const refuse = (reason: "unknown_task" | "stale_attempt" | "already_terminal" | "run_cancelled"): ReportVerdict => {
      this.rejectedReports.push({ taskId, reason, report: deepCopy(r.raw), at: new Date(now.getTime()) });
      return { accepted: false, reason, task: t ? deepCopy(t) : null };
    };
    if (!t) return refuse("unknown_task");
    if (t.status === "CANCELLED") return refuse("run_cancelled");
    if (isTerminal(t)) return refuse("already_terminal");
    if (t.status !== "LEASED" || t.attempt !== r.attempt || t.leaseToken !== r.leaseToken) return refuse("stale_attempt");
    // An attempt whose timer fired lost its lease: its report is as stale as a superseded one's.
    if (firedTimeout(t, now)) return refuse("stale_attempt");
    t.status = STATUS_OF[r.outcome];
    t.outcome = r.outcome;
    t.output = deepCopy(r.output ?? null);
    t.error = r.error ?? null;
    t.report = deepCopy(r.raw ?? null);
    t.reportedAt = new Date(now.getTime());
    t.updatedAt = new Date(now.getTime());
    return { accepted: true, task: deepCopy(t) };
  }

  async cancelTasksForRun(workflowRunId: string, now: Date): Promise<string[]> {
    const ids: string[] = [];
    for (const t of this.tasks.values()) {
      if (t.workflowRunId !== workflowRunId || isTerminal(t)) continue;
      t.status = "CANCELLED";
      t.outcome = "cancelled";
      t.error = "run cancelled";
      t.updatedAt = new Date(now.getTime());
      ids.push(t.taskId);
    }
    return ids;
  }

  /** Returns the failed task, or null when it is unknown or already terminal (nothing changed). */
  async failTask(taskId: string, error: string, now: Date): Promise<ActivityTaskRecord | null> {
    const t = this.tasks.get(taskId);
    if (!t || isTerminal(t)) return null;
    t.status = "FAILED";
    t.outcome = "failed";
    t.error = error;
    t.updatedAt = new Date(now.getTime());
    return deepCopy(t);
  }

  async findExpired(now: Date, limit: number): Promise<ActivityTaskRecord[]> {
    const at = now.getTime();
    const expiry = (t: ActivityTaskRecord): number | null => {
      if (isTerminal(t)) return null;
      const lease = t.status === "LEASED" && t.leaseDeadline && t.leaseDeadline.getTime() < at ? t.leaseDeadline.getTime() : null;
      const deadline = t.deadline && t.deadline.getTime() < at ? t.deadline.getTime() : null;
      if (scheduleToStartFired(t, new Date(at - 1))) return t.createdAt.getTime() + t.timeouts!.scheduleToStartMs!;
      if (lease === null) return deadline;
      return deadline === null ? lease : Math.min(lease, deadline);
    };
    return [...this.tasks.values()]
      .map((t) => ({ t, e: expiry(t) }))
      .filter((x): x is { t: ActivityTaskRecord; e: number } => x.e !== null)
      .sort((a, b) => a.e - b.e)
      .slice(0, Math.max(0, limit))
      .map((x) => deepCopy(x.t));
  }

  async claimStranded(now: Date, cutoff: Date, limit: number): Promise<ActivityTaskRecord[]> {
    const before = (d: Date | null) => d !== null && d.getTime() < cutoff.getTime();
    const claimed = [...this.tasks.values()]
      .filter((t) => (t.status === "PENDING" || (t.status === "LEASED" && before(t.leaseDeadline))) && before(t.updatedAt))
      .filter((t) => startedAttempts(t) < t.maxAttempts && !(t.deadline && t.deadline.getTime() <= now.getTime()))
      .sort((a, b) => a.updatedAt.getTime() - b.updatedAt.getTime())
      .slice(0, Math.max(0, limit));
    for (const t of claimed) {
      t.updatedAt = new Date(now.getTime());
      if (t.capability !== null && t.capabilitySpentBy !== null) {
        t.capability = newSecret();
        t.capabilitySpentBy = null;
      }
    }
    return claimed.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime()).map(deepCopy);
  }
}
