/**
 * Keeps one attempt's lease alive and forwards progress. Sends at most one heartbeat per
 * interval, and one every interval even if the stage never calls `ctx.heartbeat`, so a cancel
 * is noticed within one interval (the transport turns a plain beat into a bare `+WPI` while the
 * broker lease is young, and cancel notices abort sooner). Details travel only when the stage reported new ones: a plain
 * liveness beat carries none and the broker keeps the stored ones (e.g. a previous attempt's).
 */
import type { HeartbeatReply } from "../src/contract/tasks.js";
import type { LeasedTask, WorkerTransport } from "./transport.js";
import type { WorkerLogger } from "./logger.js";
import { recordHeartbeatGap } from "../src/contract/metrics.js";
import { beatSlackMs, onBeatTick } from "./beat-clock.js";

export class Heartbeater {
  private latest: unknown;
  private lastSentAt = 0;
  private inflight: Promise<void> | null = null;
  private leaveClock: (() => void) | null = null;
  private dirty = false;
  /** When the lease was last confirmed (start, then each accepted heartbeat): the gap metric's origin. */
  private lastAcceptedAt = Date.now();

  constructor(
    private readonly transport: WorkerTransport,
    private readonly lease: LeasedTask,
    private readonly intervalMs: number,
    private readonly onReply: (reply: HeartbeatReply) => void,
    private readonly logger: WorkerLogger,
  ) {
    // Until the stage reports progress of its own, keep the previous attempt's details alive.
    this.latest = lease.heartbeatDetails;
  }

  start(): void {
    // The first beat is due an interval after the start (the start itself renewed the lease).
    const startedAt = Date.now();
    const dueAfter = this.intervalMs - beatSlackMs(this.intervalMs);
    // One clock for all leases of the process (beat-clock.ts); a stage-driven beat moves the next one back.
    this.leaveClock = onBeatTick(this.intervalMs, (now) => {
      if (now - Math.max(this.lastSentAt, startedAt) >= dueAfter) this.send();
    });
  }

  /** ctx.heartbeat: remembers the details; sends now unless one went out within the interval. */
  beat(details: unknown): void {
    if (details !== undefined) {
      this.latest = details;
      this.dirty = true;
    }
    if (Date.now() - this.lastSentAt >= this.intervalMs) this.send();
  }

  private send(): void {
    if (this.inflight) return; // coalesce: the next tick carries the latest details
    this.lastSentAt = Date.now();
    const details = this.dirty ? this.latest : undefined;
    this.dirty = false;
    this.inflight = this.transport
      .heartbeat(this.lease, details)
      .then(
        (reply) => {
          if (reply.accepted) {
            const now = Date.now();
            recordHeartbeatGap((now - this.lastAcceptedAt) / 1000, this.lease.task.queue);
            this.lastAcceptedAt = now;
          }
          this.onReply(reply);
        },
        (err: unknown) => {
          // Unsent details go with the next beat (unless newer ones replaced them meanwhile).
          if (details !== undefined) this.dirty = true;
          // The lease may still be valid; the next tick retries, and a lost lease shows in its reply.
          this.logger.warn({ taskId: this.lease.task.taskId, attempt: this.lease.attempt, err: String(err) }, "heartbeat failed");
        },
      )
      .finally(() => {
        this.inflight = null;
      });
  }

  /** Sends details the throttle held back (before a release, so the next attempt resumes from them). */
  async flush(): Promise<void> {
    if (this.inflight) await this.inflight;
    if (this.dirty) {
      this.send();
      await this.inflight;
    }
  }

  async stop(): Promise<void> {
    this.leaveClock?.();
    this.leaveClock = null;
    if (this.inflight) await this.inflight;
  }
}
