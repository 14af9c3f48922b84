import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { type Clock, systemClock } from "../ports/clock.js";
import type { DeadLetteredJob, DequeueOptions, JobSpec, JobTransport, LeasedJob } from "../ports/job-transport.js";
import { deepCopy } from "./clone.js";

/** Options of InMemoryJobQueue; the defaults match the production transports'. */
export interface InMemoryJobQueueOptions {
  /** How long a delivery is leased before releaseStale may redeliver it. Default 30 s. */
  leaseMs?: number;
  /** Deliveries after which a job is dead-lettered instead of redelivered. Default 5. */
  maxDeliveries?: number;
  /** Time source for availableAt, leases and the de-dup window. Default: system clock. */
  clock?: Clock;
  /** How long a finished jobId is remembered, so a late duplicate enqueue is dropped. Default 2 min (JetStream's default). */
  dedupeWindowMs?: number;
}

interface Entry {
  spec: JobSpec;
  /** Enqueue order within a priority (a retried job goes to the back). */
  seq: number;
  state: "ready" | "leased";
  availableAt: number;
  deliveryCount: number;
  leaseToken: string | null;
  leaseExpiresAt: number;
  workerId: string | null;
}

/** Counts of the queue's contents, for assertions. */
export interface InMemoryJobQueueStats {
  /** Waiting to be delivered (including ones whose availableAt is still ahead). */
  ready: number;
  /** Delivered and not yet completed, suspended, failed or released. */
  leased: number;
  /** Dead letters not yet returned by releaseStale. */
  pendingDeadLetters: number;
}

/**
 * JobTransport in memory with the production semantics the kernel relies on: de-duplication by
 * jobId (while queued or leased, and for `dedupeWindowMs` after it finished), availableAt,
 * priority (highest first, then FIFO), leases fenced by token (an operation with a stale token is
 * ignored), redelivery only through releaseStale, and dead letters after `maxDeliveries`.
 * `dequeue({ waitMs })` waits for an enqueue or a job falling due, never by polling.
 */
export class InMemoryJobQueue implements JobTransport {
  /** Every job passed to enqueue, duplicates included (copies), for assertions. */
  readonly enqueued: JobSpec[] = [];
  private readonly leaseMs: number;
  private readonly maxDeliveries: number;
  private readonly clock: Clock;
  private readonly dedupeWindowMs: number;
  private readonly entries = new Map<string, Entry>();
  /** jobId → when it finished (ms), oldest first. */
  private readonly finished = new Map<string, number>();
  private deadLetters: DeadLetteredJob[] = [];
  private readonly waiters = new Set<() => void>();
  private seq = 0;
  private closed = false;

  constructor(opts: InMemoryJobQueueOptions = {}) {
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.maxDeliveries = opts.maxDeliveries ?? 5;
    this.clock = opts.clock ?? systemClock;
    this.dedupeWindowMs = opts.dedupeWindowMs ?? 120_000;
    if (!(this.leaseMs > 0)) throw new RangeError(`InMemoryJobQueue: leaseMs must be > 0, got ${this.leaseMs}`);
    if (!(this.maxDeliveries >= 1)) throw new RangeError(`InMemoryJobQueue: maxDeliveries must be >= 1, got ${this.maxDeliveries}`);
  }

  async enqueue(jobs: JobSpec[]): Promise<void> {
    if (this.closed) throw new Error("InMemoryJobQueue is closed");
    const now = this.now();
    this.forgetFinishedBefore(now - this.dedupeWindowMs);
    let added = false;
    for (const job of jobs) {
      if (typeof job.jobId !== "string" || job.jobId === "")
        throw new TypeError("InMemoryJobQueue.enqueue: jobId must be a non-empty string");
      this.enqueued.push(deepCopy(job));
      if (this.entries.has(job.jobId) || this.finished.has(job.jobId)) continue;
      this.entries.set(job.jobId, {
        spec: deepCopy(job),
        seq: ++this.seq,
        state: "ready",
        availableAt: job.availableAt ? job.availableAt.getTime() : 0,
        deliveryCount: 0,
        leaseToken: null,
        leaseExpiresAt: 0,
        workerId: null,
      });
      added = true;
    }
    if (added) this.wake();
  }

  async dequeue(opts: DequeueOptions): Promise<LeasedJob | null> {
    // waitMs is wall time (a caller's poll budget), independent of the injected clock.
    const deadline = performance.now() + Math.max(0, opts.waitMs ?? 0);
    for (;;) {
      if (this.closed) return null;
      const job = this.take(opts.workerId);
      if (job) return job;
      const remaining = deadline - performance.now();
      if (remaining <= 0) return null;
      const due = this.msUntilNextDue();
      await this.sleepUntilWoken(Math.min(remaining, due ?? Infinity));
    }
  }

  async heartbeat(job: LeasedJob): Promise<void> {
    const e = this.current(job);
    if (e) e.leaseExpiresAt = this.now() + this.leaseMs;
  }

  async complete(job: LeasedJob): Promise<void> {
    if (this.current(job)) this.finish(job.jobId);
  }

  async suspend(job: LeasedJob, _nextPollAt: Date): Promise<void> {
    if (this.current(job)) this.finish(job.jobId);
  }

  async fail(job: LeasedJob, opts: { error: string; retry: boolean; delayMs?: number }): Promise<void> {
    const e = this.current(job);
    if (!e) return;
    if (!opts.retry) return this.finish(job.jobId);
    if (e.deliveryCount >= this.maxDeliveries) {
      this.finish(job.jobId);
      this.deadLetters.push({
        job: deepCopy(e.spec),
        reason: `exhausted ${this.maxDeliveries} deliveries; last error: ${opts.error}`,
      });
      return;
    }
    this.makeReady(e, this.now() + Math.max(0, opts.delayMs ?? 0));
    this.wake();
  }

  async releaseStale(now: Date, thresholdMs: number): Promise<{ released: number; deadLettered: DeadLetteredJob[] }> {
    const cutoff = now.getTime() - thresholdMs;
    let released = 0;
    for (const e of [...this.entries.values()]) {
      if (e.state !== "leased" || e.leaseExpiresAt > cutoff) continue;
      if (e.deliveryCount >= this.maxDeliveries) {
        this.finish(e.spec.jobId);
        this.deadLetters.push({
          job: deepCopy(e.spec),
          reason: `lease expired on delivery ${e.deliveryCount} of ${this.maxDeliveries} (last worker ${e.workerId ?? "unknown"})`,
        });
      } else {
        this.makeReady(e, 0);
        released++;
      }
    }
    const deadLettered = this.deadLetters;
    this.deadLetters = [];
    if (released > 0) this.wake();
    return { released, deadLettered };
  }

  async depth(): Promise<number> {
    return this.stats().ready;
  }

  /** Current contents, for assertions. */
  stats(): InMemoryJobQueueStats {
    let ready = 0;
    let leased = 0;
    for (const e of this.entries.values()) e.state === "ready" ? ready++ : leased++;
    return { ready, leased, pendingDeadLetters: this.deadLetters.length };
  }

  /** Wakes every waiting dequeue (which then returns null) and refuses further enqueues. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake();
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  private take(workerId: string): LeasedJob | null {
    const now = this.now();
    let best: Entry | null = null;
    for (const e of this.entries.values()) {
      if (e.state !== "ready" || e.availableAt > now) continue;
      if (!best || e.spec.priority > best.spec.priority || (e.spec.priority === best.spec.priority && e.seq < best.seq)) best = e;
    }
    if (!best) return null;
    best.state = "leased";
    best.deliveryCount++;
    best.leaseToken = randomUUID();
    best.leaseExpiresAt = now + this.leaseMs;
    best.workerId = workerId;
    return {
      ...deepCopy(best.spec),
      deliveryCount: best.deliveryCount,
      leaseToken: best.leaseToken,
      leaseExpiresAt: new Date(best.leaseExpiresAt),
    };
  }

  /** The entry `job` still holds the lease of, or null when its token is stale. */
  private current(job: LeasedJob): Entry | null {
    const e = this.entries.get(job.jobId);
    return e && e.state === "leased" && e.leaseToken === job.leaseToken ? e : null;
  }

  private makeReady(e: Entry, availableAt: number): void {
    e.state = "ready";
    e.seq = ++this.seq;
    e.availableAt = availableAt;
    e.leaseToken = null;
    e.leaseExpiresAt = 0;
    e.workerId = null;
  }

  private finish(jobId: string): void {
    this.entries.delete(jobId);
    this.finished.delete(jobId); // re-insert at the end: the map stays ordered by finish time
    this.finished.set(jobId, this.now());
  }

  private forgetFinishedBefore(cutoff: number): void {
    for (const [id, at] of this.finished) {
      if (at >= cutoff) break;
      this.finished.delete(id);
    }
  }

  /** Milliseconds until the earliest delayed ready job falls due, or null when none is delayed. */
  private msUntilNextDue(): number | null {
    const now = this.now();
    let next: number | null = null;
    for (const e of this.entries.values()) {
      if (e.state === "ready" && e.availableAt > now && (next === null || e.availableAt < next)) next = e.availableAt;
    }
    return next === null ? null : next - now;
  }

  private sleepUntilWoken(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, Math.ceil(ms)));
      this.waiters.add(done);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
