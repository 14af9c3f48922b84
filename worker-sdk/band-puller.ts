/**
 * How a worker pulls its task consumers (one per priority band and label set, task-sources.ts):
 *
 * - **ready**: what the consumers have now, highest band first (the starvation guard may put a
 *   lower band first), one `{batch, no_wait}` pull per consumer (ready-pull.ts). This is what a
 *   busy worker does when a slot frees, so a high-priority task is the next one it starts.
 * - **long poll** (nothing ready): one `{batch: 1, expires}` request to EVERY consumer, all answered
 *   on one inbox that is drained once the first task arrives (which is handed out at once).
 *   nats-server (2.9 included) skips a waiting request whose reply subject lost interest, so the
 *   others deliver nothing later; an idle worker starts a task of any band or label set as soon as
 *   it is published. A message the server sent before it saw the unsubscribe arrives during the
 *   drain and is kept (the stash), handed out next, or given back (`-NAK`) if unclaimed for a while.
 */
import { createInbox, nanos, type Msg, type NatsConnection } from "@nats-io/transport-node";
import type { PriorityBand } from "../src/contract/priority.js";
import { ReadyPullError, pullReady } from "./ready-pull.js";
import type { TaskSources } from "./task-sources.js";
import type { WorkerLogger } from "./logger.js";

/** A pulled delivery and when its pull was sent (its AckWait runs since then). */
export interface Pulled {
  msg: Msg;
  pulledAt: number;
}

/** What the puller needs from its transport. */
export interface BandPullerOptions {
  /** Bound on a ready-pull of a consumer known to exist. */
  timeoutMs: number;
  /** Bound on a ready-pull of a consumer never heard from (missing consumers do not answer on 2.9). */
  silentAfterMs: number;
  /** A stashed delivery older than this is given back instead of started. */
  stashMaxAgeMs: number;
  logger: WorkerLogger;
  /** Gives a delivery back at once. */
  nak(reply: string): Promise<void>;
}

/** Ready pulls, the all-consumer long poll and the stash of one worker transport. */
export class BandPuller {
  private readonly stash: (Pulled & { band: PriorityBand })[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: BandPullerOptions,
  ) {}

  /**
   * Up to `max` ready deliveries, highest band first (stashed ones before pulling their band).
   * @throws ReadyPullError-derived Error when a pull failed and nothing was pulled.
   */
  async ready(all: TaskSources, max: number): Promise<Pulled[]> {
    this.dropStale();
    await this.probe(all);
    const got: Pulled[] = [];
    for (const band of all.picker.order()) {
      if (got.length >= max) break;
      const before = got.length;
      for (const s of this.stash.filter((x) => x.band === band).slice(0, max - got.length)) {
        this.stash.splice(this.stash.indexOf(s), 1);
        got.push(s);
      }
      for (const src of all.round(band)) {
        if (got.length >= max) break;
        const pulledAt = performance.now();
        try {
          const msgs = await pullReady(this.nc, src.nextSubject, max - got.length, this.readyBound(all, src));
          got.push(...msgs.map((msg) => ({ msg, pulledAt })));
          all.answered(src);
        } catch (err) {
          if (err instanceof ReadyPullError && err.silent) {
            all.silent(src);
            continue;
          }
          if (/permissions violation/i.test(String(err))) {
            // Say it, then skip it; when nothing is left the caller learns why it can never pull.
            this.opts.logger.warn(
              { consumer: src.consumer, err: String(err) },
              "this worker's credential may not pull one of its consumers",
            );
            if (!all.denied(src)) continue;
            throw new Error(`every task consumer of this worker was refused: ${(err as Error).message}`);
          }
          if (got.length > 0) {
            this.opts.logger.warn({ consumer: src.consumer, err: String(err) }, "a ready-pull failed; leasing what the others brought");
            return got;
          }
          throw new Error(`pull from ${src.consumer} failed: ${(err as Error).message}`);
        }
      }
      if (got.length === before) all.picker.empty(band);
      for (let i = before; i < got.length; i++) all.picker.served(band);
    }
    return got;
  }

  /**
   * One long poll on every consumer (skipped ones included: a request to a missing consumer just
   * goes unanswered). Resolves with the first delivery (extras go to the stash), or null when the
   * wait ended empty or `signal` aborted (a delivery that races the abort is given back).
   */
  longPoll(all: TaskSources, waitMs: number, signal: AbortSignal): Promise<Pulled | null> {
    if (signal.aborted || this.nc.isClosed()) return Promise.resolve(null);
    const inbox = createInbox((this.nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    const pulledAt = performance.now();
    let first: Msg | undefined;
    const sources = all.permitted;
    let open = sources.length;
    return new Promise<Pulled | null>((resolve) => {
      let settled = false;
      /** A delivery after the first, sent before the server saw the unsubscribe: kept for the next lease. */
      const late = (msg: Msg) => {
        if (signal.aborted) return void this.giveBack(msg);
        this.stash.push({ msg, pulledAt, band: this.sourceOf(all, msg)?.band ?? "normal" });
      };
      const finish = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", finish);
        // Drain, not unsubscribe: deliveries already on their way still arrive (to `late`) until
        // the drain's flush returns, rather than waiting out their AckWait.
        if (!sub.isClosed() && !this.nc.isClosed())
          sub.drain().catch((err: unknown) => this.opts.logger.warn({ err: String(err) }, "draining the long poll's inbox failed"));
        if (signal.aborted) {
          if (first) void this.giveBack(first);
          return resolve(null);
        }
        if (first) {
          const src = this.sourceOf(all, first);
          if (src) {
            all.answered(src);
            all.picker.served(src.band);
          }
        }
        resolve(first ? { msg: first, pulledAt } : null);
      };
      const sub = this.nc.subscribe(inbox, {
        callback: (err, m) => {
          if (err) {
            this.opts.logger.warn({ err: String(err) }, "long poll of the task consumers failed");
            return finish();
          }
          const code = m.headers?.code ?? 0;
          if (code === 0 && m.reply) {
            if (settled || first) return late(m);
            first = m;
            return finish();
          }
          if (settled) return;
          if (code !== 404 && code !== 408 && code !== 409) {
            this.opts.logger.warn({ code, description: m.headers?.description ?? "" }, "a task consumer refused the long poll");
          }
          if (--open <= 0) finish();
        },
      });
      // Missing consumers never answer: end a little after the expiry rather than wait for them.
      const timer = setTimeout(finish, waitMs + Math.min(this.opts.timeoutMs, 1_000));
      signal.addEventListener("abort", finish, { once: true });
      const body = JSON.stringify({ batch: 1, expires: nanos(Math.max(1, waitMs)) });
      for (const src of sources) this.nc.publish(src.nextSubject, body, { reply: inbox });
    });
  }

  /**
   * First contact with consumers never heard from, all at once (a missing one costs `silentAfterMs`,
   * so asking them one after another stalled a worker with several label sets for seconds). Each
   * probe takes at most one delivery; what they bring goes to the stash, which `ready` hands out
   * in band order right after.
   */
  private async probe(all: TaskSources): Promise<void> {
    const unknown = all.unknown();
    if (unknown.length === 0) return;
    const pulledAt = performance.now();
    const results = await Promise.allSettled(unknown.map((src) => pullReady(this.nc, src.nextSubject, 1, this.opts.silentAfterMs)));
    let denied: Error | undefined;
    results.forEach((r, i) => {
      const src = unknown[i]!;
      if (r.status === "fulfilled") {
        all.answered(src);
        for (const msg of r.value) this.stash.push({ msg, pulledAt, band: src.band });
      } else if (r.reason instanceof ReadyPullError && r.reason.silent) {
        all.silent(src);
      } else if (/permissions violation/i.test(String(r.reason))) {
        this.opts.logger.warn(
          { consumer: src.consumer, err: String(r.reason) },
          "this worker's credential may not pull one of its consumers",
        );
        if (all.denied(src)) denied = r.reason as Error;
      } else {
        this.opts.logger.warn({ consumer: src.consumer, err: String(r.reason) }, "first pull of a task consumer failed");
      }
    });
    if (denied) throw new Error(`every task consumer of this worker was refused: ${denied.message}`);
  }

  /** Gives every stashed delivery back (the transport is closing). */
  async close(): Promise<void> {
    await Promise.allSettled(this.stash.splice(0).map((s) => this.giveBack(s.msg)));
  }

  private readyBound(all: TaskSources, src: TaskSources["all"][number]): number {
    return all.multiple && !all.known(src) ? this.opts.silentAfterMs : this.opts.timeoutMs;
  }

  private sourceOf(all: TaskSources, m: Msg): TaskSources["all"][number] | undefined {
    // $JS.ACK.<stream>.<consumer>.… (or with domain and account hash: $JS.ACK.<domain>.<hash>.<stream>.<consumer>.…)
    const t = (m.reply ?? "").split(".");
    return all.byConsumer(t.length >= 11 ? t[5]! : t[3]!);
  }

  private dropStale(): void {
    const cutoff = performance.now() - this.opts.stashMaxAgeMs;
    for (let i = this.stash.length - 1; i >= 0; i--) {
      if (this.stash[i]!.pulledAt < cutoff) void this.giveBack(this.stash.splice(i, 1)[0]!.msg);
    }
  }

  private async giveBack(m: Msg): Promise<void> {
    if (!m.reply) return;
    await this.opts.nak(m.reply).catch((err: unknown) => this.opts.logger.warn({ err: String(err) }, "could not give back a pulled task"));
  }
}
