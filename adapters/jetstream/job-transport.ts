/**
 * The kernel's JobTransport on a JetStream work-queue stream with one durable pull consumer per
 * priority band (high, normal, low; src/contract/priority.ts), each shared by every orchestrator. The server owns leases (AckWait), redelivery and MaxDeliver; this module
 * maps the JobTransport calls onto the JetStream ack protocol:
 *
 * | JobTransport      | JetStream                                                         |
 * | ----------------- | ----------------------------------------------------------------- |
 * | enqueue           | publish with `Nats-Msg-Id` = jobId, await PubAck (dedupe window)  |
 * | dequeue           | no_wait pull of each band, highest first (starvation guard); if all are empty, one long pull on all bands at once (first-pull.ts); token = `<seq>-<delivery>` |
 * | heartbeat         | `+WPI` (AckWait restarts)                                          |
 * | complete, suspend | `+ACK` as a request (the server confirms it applied the ack)       |
 * | fail retry        | `-NAK {"delay"}`; fail without retry: `+TERM`                       |
 * | releaseStale      | drains max-deliveries advisories (see dead-letters.ts)             |
 *
 * Jobs whose `availableAt` is in the future wait in the delayed stream (see delayed-jobs.ts).
 * Fencing: calls with a token this instance does not hold (already finished, or superseded by a
 * newer delivery of the same message) are ignored. Across orchestrators the server applies an ack
 * by stream sequence, so a holder whose lease expired can still ack a redelivered job; the
 * kernel's execution tokens make that harmless, as the JobTransport contract says.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { JetflowError, ValidationError } from "../../src/contract/errors.js";
import type { DeadLetteredJob, DequeueOptions, JobSpec, JobTransport, LeasedJob } from "../../src/ports/job-transport.js";
import type { Logger } from "../../src/ports/logger.js";
import { ProtocolError } from "../../src/contract/protocol-error.js";
import { encodeJob, parseJob } from "../../src/contract/job-message.js";
import { createTopology, type Topology } from "../../src/contract/topology.js";
import { drainDeadLetters } from "./dead-letters.js";
import { startDelayedJobPromoter, type DelayedJobPromoter } from "./delayed-jobs.js";
import { jobFromHeaders, jobHeaders } from "./job-headers.js";
import type { PulledMessage } from "./pull.js";
import { pullFirst, pullReadyOne } from "./first-pull.js";
import { BandHints } from "./band-hints.js";
import { BandPicker, PRIORITY_BANDS, type PriorityBand } from "../../src/contract/priority.js";
import { ensureTopology, type EnsureTopologyOptions } from "./topology.js";
import { parseJobTransportOptions } from "./options.js";

/** Options of {@link createJetStreamJobTransport}: topology, lease (AckWait) and delivery limits. */
export interface JetStreamJobTransportOptions {
  topology?: Topology;
  /** Durable name of the normal band's jobs consumer. Default `topology.consumers.jobs`; the other bands use `topology.consumers.jobBands`. */
  consumer?: string;
  /**
   * Starvation guard: after this many deliveries in a row from higher bands, a lower band with
   * work is served once (per orchestrator). Default 10.
   */
  starvationLimit?: number;
  /** Lease = the consumer's AckWait. Every orchestrator must use the same value. */
  leaseMs: number;
  /** MaxDeliver of the jobs consumer; a job delivered this often without completing is dead-lettered. */
  maxDeliveries: number;
  /**
   * Create/update streams and consumers at start (default true, with leaseMs/maxDeliveries).
   * With false the consumer must exist; its AckWait is read and used for `leaseExpiresAt`.
   */
  ensure?: boolean | Omit<EnsureTopologyOptions, "topology" | "jobAckWaitMs" | "jobMaxDeliver">;
  /** Bound on PubAcks and ack confirmations. Default 5000 ms. */
  ackTimeoutMs?: number;
  /** Run the delayed-job promoter in this process once it dequeues (default true). */
  promoteDelayedJobs?: boolean;
  /** How long releaseStale waits for a max-deliveries advisory the server may still be storing. Default 100 ms. */
  deadLetterWaitMs?: number;
  /** Longest pull of the delayed-job promoter; bounds close(). Default 1000 ms. */
  promoterPollMs?: number;
  /** See DelayedJobPromoterOptions.maxPromotionAttempts. Default 20. */
  maxPromotionAttempts?: number;
  /** See DelayedJobPromoterOptions.promotionRetryMs. Default 1000 ms. */
  promotionRetryMs?: number;
  logger?: Logger;
}

/** A JobTransport on JetStream; `close()` stops its loops (the connection stays the caller's). */
export interface JetStreamJobTransport extends JobTransport {
  readonly topology: Topology;
  depth(): Promise<number>;
  close(): Promise<void>;
}

interface Held {
  msg: PulledMessage;
  leaseExpiresAt: number;
}

/** A message a multi-band long pull brought besides the one it returned; leased by a later dequeue. */
interface Stashed {
  msg: PulledMessage;
  band: PriorityBand;
  receivedAt: number;
}

/**
 * A band's ready check (no_wait) unanswered this long counts as empty for now (see pullReadyOne:
 * nats-server 2.9 parks some no_wait pulls, often under concurrent pulls; waiting for them stalled
 * dequeues and halved throughput). Its late delivery, if any, is stashed for the next dequeue.
 */
const READY_PULL_QUICK_MS = 100;
/** How long a parked ready check is still listened to. */
const READY_PULL_KEEP_MS = 5_000;

/** Most advisories one releaseStale call handles; the rest wait for the next call. */
const MAX_DEAD_LETTERS_PER_CALL = 256;

/**
 * Connects a JobTransport to the jobs stream, creating the topology first unless `ensure: false`.
 * @throws JetflowError UNAVAILABLE without JetStream; CONFLICT if the consumer exists with another AckWait and ensure is false.
 */
export async function createJetStreamJobTransport(
  nc: NatsConnection,
  options: JetStreamJobTransportOptions,
): Promise<JetStreamJobTransport> {
  const opts = parseJobTransportOptions(options);
  const topology = opts.topology ?? createTopology();
  const jsm = await jetstreamManager(nc);
  const consumer = opts.consumer ?? topology.consumers.jobs;
  let leaseMs = opts.leaseMs;
  let maxDeliveries = opts.maxDeliveries;
  if (opts.ensure !== false) {
    const extra = typeof opts.ensure === "object" ? opts.ensure : {};
    await ensureTopology(jsm, { ...extra, topology, jobAckWaitMs: opts.leaseMs, jobMaxDeliver: opts.maxDeliveries });
  } else {
    const info = await jsm.consumers.info(topology.streams.jobs, consumer);
    leaseMs = Math.round((info.config.ack_wait ?? 30e9) / 1e6); // server default AckWait is 30 s
    maxDeliveries = info.config.max_deliver && info.config.max_deliver > 0 ? info.config.max_deliver : Number.MAX_SAFE_INTEGER;
  }
  return new JetStreamJobTransportImpl(nc, jetstream(nc), jsm, topology, consumer, leaseMs, maxDeliveries, opts);
}

class JetStreamJobTransportImpl implements JetStreamJobTransport {
  private readonly held = new Map<string, Held>();
  /** Stream sequence → token of the newest delivery this instance holds. */
  private readonly tokenBySeq = new Map<number, string>();
  /** Dead letters found locally (unreadable messages, retries past the budget); reported by the next releaseStale. */
  private readonly poison: DeadLetteredJob[] = [];
  private promoter: DelayedJobPromoter | undefined;
  private closed = false;
  private readonly picker: BandPicker;
  private readonly bands: Record<PriorityBand, string>;
  private readonly stash: Stashed[] = [];
  private hints: BandHints | undefined;
  private readonly ackTimeoutMs: number;
  private readonly logger: Logger;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly topology: Topology,
    private readonly consumer: string,
    private readonly leaseMs: number,
    private readonly maxDeliveries: number,
    private readonly opts: ReturnType<typeof parseJobTransportOptions<JetStreamJobTransportOptions>>,
  ) {
    this.ackTimeoutMs = opts.ackTimeoutMs;
    this.logger = opts.logger;
    this.picker = new BandPicker(opts.starvationLimit);
    this.bands = { ...topology.consumers.jobBands, normal: consumer };
  }

  async enqueue(jobs: JobSpec[]): Promise<void> {
    this.assertOpen("enqueue");
    const now = Date.now();
    await Promise.all(
      jobs.map(async (job) => {
        let body: Uint8Array;
        try {
          body = encodeJob(job);
        } catch (err) {
          if (err instanceof ProtocolError) throw new ValidationError(`job ${job.jobId}`, err.issues);
          throw err;
        }
        const delayed = job.availableAt !== undefined && job.availableAt.getTime() > now;
        const subject = delayed ? this.topology.delayedJobSubject(job.priority) : this.topology.jobSubject(job.priority);
        // The PubAck is the durability point; a duplicate (same jobId inside the window) is acked too.
        await this.js.publish(subject, body, { msgID: job.jobId, headers: jobHeaders(job), timeout: this.ackTimeoutMs });
      }),
    );
  }

  async dequeue(opts: DequeueOptions): Promise<LeasedJob | null> {
    if (this.closed) return null;
    this.startPromoter();
    const deadline = Date.now() + Math.max(0, opts.waitMs ?? 0);
    // Disposed messages (poison, not yet due) do not end the call, but a run of them is bounded.
    for (let disposed = 0; disposed < 64; disposed++) {
      let m: PulledMessage | null;
      try {
        m = await this.nextBanded(Math.max(0, deadline - Date.now()));
      } catch (err) {
        if (this.closed) return null; // the caller closed us (and maybe the connection) mid-pull
        throw err;
      }
      if (!m) return null;
      if (this.closed) {
        await m.nak(0); // let another orchestrator take it now rather than after AckWait
        return null;
      }
      const leased = await this.lease(m, opts.workerId);
      if (leased) return leased;
    }
    return null;
  }

  /**
   * The next due message, highest band first: what each band has ready (the guard may put a
   * starved band first), else one long pull on every band that returns the first to arrive.
   */
  private async nextBanded(waitMs: number): Promise<PulledMessage | null> {
    this.dropStaleStash();
    this.hints ??= new BandHints(this.nc, this.topology, this.logger);
    for (const band of this.picker.order()) {
      const i = this.stash.findIndex((s) => s.band === band);
      const sentAt = performance.now();
      const hint = this.hints.shouldAsk(band, sentAt);
      if (i < 0 && !hint.ask) {
        this.picker.empty(band);
        continue;
      }
      const m =
        i >= 0
          ? this.stash.splice(i, 1)[0]!.msg
          : await pullReadyOne(this.nc, {
              stream: this.topology.streams.jobs,
              consumer: this.bands[band],
              quickMs: READY_PULL_QUICK_MS,
              keepMs: READY_PULL_KEEP_MS,
              onLate: (msg) => this.stash.push({ msg, band, receivedAt: Date.now() }),
            });
      if (m) {
        this.picker.served(band);
        return m;
      }
      this.hints.empty(band, hint.token, sentAt);
      this.picker.empty(band);
    }
    if (waitMs <= 0) return null;
    const consumers = PRIORITY_BANDS.map((b) => this.bands[b]);
    const first = await pullFirst(this.nc, {
      stream: this.topology.streams.jobs,
      consumers,
      waitMs,
      onLate: (msg) => this.stash.push({ msg, band: this.bandOf(msg), receivedAt: Date.now() }),
      onLateError: (err) => this.logger.warn({ err: String(err) }, "a late delivery of a long pull was lost until its AckWait"),
    });
    if (first) this.picker.served(this.bandOf(first));
    return first;
  }

  private bandOf(m: PulledMessage): PriorityBand {
    return PRIORITY_BANDS.find((b) => this.bands[b] === m.meta.consumer) ?? "normal";
  }

  /** A stashed message unclaimed for half a lease goes back (its AckWait runs since it arrived). */
  private dropStaleStash(): void {
    const cutoff = Date.now() - this.leaseMs / 2;
    for (let i = this.stash.length - 1; i >= 0; i--) {
      if (this.stash[i]!.receivedAt >= cutoff) continue;
      const [s] = this.stash.splice(i, 1);
      s!.msg.nak(0).catch((err: unknown) => this.logger.warn({ err: String(err) }, "could not give back a stashed job"));
    }
  }

  /** Turns a pulled message into a LeasedJob, or disposes of it (poison, not yet due) and returns null. */
  private async lease(m: PulledMessage, workerId: string): Promise<LeasedJob | null> {
    const parsed = parseJob(m.data);
    if (!parsed.ok) {
      await m.term();
      this.recordPoison(m.subject, m.data, m.headers, parsed.error.message);
      return null;
    }
    const job = parsed.value;
    const remaining = (job.availableAt?.getTime() ?? 0) - Date.now();
    if (remaining > 0) {
      // Only reachable through clock skew between orchestrators (delayed jobs are promoted when due);
      // the nak spends one delivery, which is why the promoter exists.
      this.logger.warn({ jobId: job.jobId, remainingMs: remaining }, "job reached the jobs stream before it was due; deferring");
      await m.nak(remaining);
      return null;
    }
    const { streamSequence: seq, deliveryCount } = m.meta;
    const token = `${seq}-${deliveryCount}`;
    const older = this.tokenBySeq.get(seq);
    if (older) this.held.delete(older); // a newer delivery supersedes ours: the old lease is void
    const leaseExpiresAt = Date.now() + this.leaseMs;
    this.held.set(token, { msg: m, leaseExpiresAt });
    this.tokenBySeq.set(seq, token);
    this.logger.debug({ jobId: job.jobId, seq, deliveryCount, workerId }, "job leased");
    return { ...job, deliveryCount, leaseToken: token, leaseExpiresAt: new Date(leaseExpiresAt) };
  }

  async heartbeat(job: LeasedJob): Promise<void> {
    const h = this.holding(job, "heartbeat");
    if (!h) return;
    await h.msg.working();
    h.leaseExpiresAt = Date.now() + this.leaseMs;
    job.leaseExpiresAt = new Date(h.leaseExpiresAt);
  }

  async complete(job: LeasedJob): Promise<void> {
    const h = this.release(job, "complete");
    if (h) await h.msg.ack(this.ackTimeoutMs);
  }

  async suspend(job: LeasedJob, _nextPollAt: Date): Promise<void> {
    // stage.pollSuspended (driven by the database) takes over; the job itself is done.
    const h = this.release(job, "suspend");
    if (h) await h.msg.ack(this.ackTimeoutMs);
  }

  async fail(job: LeasedJob, opts: { error: string; retry: boolean; delayMs?: number }): Promise<void> {
    const h = this.release(job, "fail");
    if (!h) return;
    if (opts.retry && h.msg.meta.deliveryCount < this.maxDeliveries) {
      await h.msg.nak(Math.max(0, opts.delayMs ?? 0));
      return;
    }
    // No retry, or no delivery left: +TERM removes it from the work queue (no advisory, no wait).
    await h.msg.term();
    if (opts.retry) {
      const { deliveryCount: _d, leaseToken: _t, leaseExpiresAt: _e, ...spec } = job;
      this.poison.push({ job: spec, reason: `exhausted ${this.maxDeliveries} deliveries; last error: ${opts.error}` });
    }
  }

  async releaseStale(_now: Date, _thresholdMs: number): Promise<{ released: number; deadLettered: DeadLetteredJob[] }> {
    // The server redelivers expired leases itself; only local bookkeeping of long-lost leases is dropped here.
    const cutoff = Date.now() - this.leaseMs;
    for (const [token, h] of this.held) {
      if (h.leaseExpiresAt < cutoff) this.forget(token, h);
    }
    const deadLettered = this.poison.splice(0);
    if (this.closed) return { released: 0, deadLettered };
    // 2.9 only notices an exhausted last delivery while serving a pull, so its advisory appears once
    // some orchestrator dequeues again (hosts always do). A `max_bytes: 1` pull would trigger it
    // without taking a job, but on 2.9.10 it resets the delivery count of redeliveries: not used.
    deadLettered.push(
      ...(await drainDeadLetters(this.nc, this.jsm, {
        topology: this.topology,
        max: MAX_DEAD_LETTERS_PER_CALL,
        firstWaitMs: this.opts.deadLetterWaitMs,
        ackTimeoutMs: this.ackTimeoutMs,
        logger: this.logger,
      })),
    );
    return { released: 0, deadLettered };
  }

  async depth(): Promise<number> {
    const [delayed, ...bands] = await Promise.all([
      this.jsm.consumers.info(this.topology.streams.jobsDelayed, this.topology.consumers.jobsDelayed),
      ...PRIORITY_BANDS.map((b) => this.jsm.consumers.info(this.topology.streams.jobs, this.bands[b])),
    ]);
    // Waiting = not yet delivered; delayed jobs count whether a promoter holds them or not.
    return bands.reduce((n, c) => n + c.num_pending, 0) + delayed.num_pending + delayed.num_ack_pending;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const promoter = this.promoter;
    this.promoter = undefined;
    await promoter?.stop();
    this.hints?.close();
    // Stashed jobs were never handed out: give them back now rather than after AckWait.
    await Promise.allSettled(this.stash.splice(0).map((s) => s.msg.nak(0)));
    // Held jobs are left to AckWait: their holders may still finish them through another transport.
    this.held.clear();
    this.tokenBySeq.clear();
  }

  private startPromoter(): void {
    if (this.promoter || !this.opts.promoteDelayedJobs) return;
    this.promoter = startDelayedJobPromoter(this.nc, this.js, {
      topology: this.topology,
      pollMs: this.opts.promoterPollMs,
      maxPromotionAttempts: this.opts.maxPromotionAttempts,
      promotionRetryMs: this.opts.promotionRetryMs,
      ackTimeoutMs: this.ackTimeoutMs,
      logger: this.logger,
      onPoison: (subject, data, headers, reason) => this.recordPoison(subject, data, headers, reason),
    });
  }

  private recordPoison(subject: string, data: Uint8Array, headers: MsgHdrs | undefined, reason: string): void {
    const job = jobFromHeaders(headers, data);
    if (job) this.poison.push({ job, reason });
    else
      this.logger.error(
        { subject, reason, body: new TextDecoder().decode(data).slice(0, 1024) },
        "terminated a job message without a readable job id",
      );
  }

  private holding(job: LeasedJob, op: string): Held | undefined {
    const h = this.held.get(job.leaseToken);
    if (!h)
      this.logger.debug({ jobId: job.jobId, leaseToken: job.leaseToken, op }, "ignored: lease token not held (finished or superseded)");
    return h;
  }

  private release(job: LeasedJob, op: string): Held | undefined {
    const h = this.holding(job, op);
    if (h) this.forget(job.leaseToken, h);
    return h;
  }

  private forget(token: string, h: Held): void {
    this.held.delete(token);
    const seq = h.msg.meta.streamSequence;
    if (this.tokenBySeq.get(seq) === token) this.tokenBySeq.delete(seq);
  }

  private assertOpen(op: string): void {
    if (this.closed) throw new JetflowError("UNAVAILABLE", `JetStream job transport is closed (${op})`);
  }
}
