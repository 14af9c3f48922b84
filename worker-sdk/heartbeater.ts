/**
 * Keeps one attempt's lease alive and forwards progress. Beats once per interval, carrying the
 * latest details only when the stage reported new ones (at most one beat with details per
 * interval). When the transport can keep a delivery alive by itself (JetStream `+WPI`) and the
 * broker stated its lease, a plain beat costs only that, and the broker hears from the attempt
 * at least every half lease (renewing its stored deadline, which then never comes within the
 * lease/4 takeover grace, and answering cancelled / lease lost): no broker request and no
 * database write per plain beat. Otherwise every beat asks the broker.
 */
import type { HeartbeatReply } from "../src/contract/tasks.js";
import type { LeasedTask, WorkerTransport } from "./transport.js";
import type { WorkerLogger } from "./logger.js";
import { recordHeartbeatGap } from "../src/contract/metrics.js";

export class Heartbeater {
  private latest: unknown;
  private lastSentAt = 0;
  /** When the broker last heard from this attempt (start, then each heartbeat request). */
  private lastBrokerAt = Date.now();
  /** How often the broker must hear from the attempt: every interval, or every half lease if plain beats can skip it. */
  private readonly brokerEveryMs: number;
  private inflight: Promise<void> | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
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
    this.brokerEveryMs =
      transport.keepAlive && lease.leaseMs !== undefined ? Math.max(intervalMs, Math.floor(lease.leaseMs / 2)) : intervalMs;
  }

  start(): void {
    this.timer = setInterval(() => {
      // Skip a tick right after a stage-driven beat; otherwise beat even without new details.
      if (Date.now() - this.lastSentAt >= this.intervalMs / 2) this.beatNow();
    }, this.intervalMs);
  }

  /** ctx.heartbeat: remembers the details; sends now unless one went out within the interval. */
  beat(details: unknown): void {
    if (details !== undefined) {
      this.latest = details;
      this.dirty = true;
    }
    if (Date.now() - this.lastSentAt >= this.intervalMs) this.beatNow();
  }

  /** New details, or the broker is due to hear from the attempt: a heartbeat request; else a keep-alive. */
  private beatNow(): void {
    // Ask the broker now if waiting for the next tick would leave it unheard-of for longer than brokerEveryMs.
    if (this.dirty || Date.now() - this.lastBrokerAt + this.intervalMs > this.brokerEveryMs) this.send();
    else this.keepAlive();
  }

  /** A plain liveness beat at the transport only (no broker request). */
  private keepAlive(): void {
    if (this.inflight || !this.transport.keepAlive) return;
    this.lastSentAt = Date.now();
    this.inflight = this.transport
      .keepAlive(this.lease)
      .catch((err: unknown) => {
        // The next tick asks the broker instead, which also says whether the lease is still held.
        this.lastBrokerAt = 0;
        this.logger.warn({ taskId: this.lease.task.taskId, attempt: this.lease.attempt, err: String(err) }, "keep-alive failed");
      })
      .finally(() => {
        this.inflight = null;
      });
  }

  private send(): void {
    if (this.inflight) return; // coalesce: the next tick carries the latest details
    this.lastSentAt = this.lastBrokerAt = Date.now();
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
          // Unsent details go with the next beat, unless newer ones replaced them meanwhile.
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
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.inflight) await this.inflight;
  }
}
