/**
 * Moves jobs from the delayed stream to the jobs stream when their `availableAt` arrives.
 *
 * Why a separate stream: a job that is not due could be nak'ed with its remaining delay on the
 * jobs consumer, but every such delivery counts against MaxDeliver, so a delayed job would get
 * fewer real attempts than any other (none at all with maxDeliveries = 1). Delayed jobs instead
 * wait on their own consumer, which has no MaxDeliver: a not-due message is nak'ed with the exact
 * remaining delay (the server is the timer), and a due one is re-published to the jobs stream with
 * `Nats-Msg-Id` = jobId before being acked. A crash between the two re-publishes the same id,
 * which JetStream drops inside its duplicate window; the jobs consumer therefore sees each job
 * once, with its full delivery budget.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../../src/ports/logger.js";
import { parseJob } from "../../src/contract/job-message.js";
import type { Topology } from "../../src/contract/topology.js";
import { pullOne } from "./pull.js";

export interface DelayedJobPromoterOptions {
  topology: Topology;
  /** Longest single pull; bounds how long stop() waits. Default 1000 ms. */
  pollMs?: number;
  ackTimeoutMs: number;
  logger: Logger;
  /**
   * Deliveries of one delayed message after which a promotion that keeps failing (the jobs stream
   * refuses it: too large, no stream for the subject) is given up and dead-lettered. Default 20.
   */
  maxPromotionAttempts?: number;
  /** First retry delay of a failed promotion; doubles per delivery, capped at 60 s. Default 1000 ms. */
  promotionRetryMs?: number;
  /**
   * Called for a delayed message that is terminated, never promoted: its body cannot be read, or
   * its promotion failed `maxPromotionAttempts` times. `reason` says which.
   */
  onPoison(subject: string, data: Uint8Array, headers: import("@nats-io/transport-node").MsgHdrs | undefined, reason: string): void;
}

/** A running promoter; `stop()` ends its loop and resolves once the last pull returned. */
export interface DelayedJobPromoter {
  stop(): Promise<void>;
  /** Jobs promoted so far (for tests and stats). */
  readonly promoted: number;
}

export function startDelayedJobPromoter(nc: NatsConnection, js: JetStreamClient, opts: DelayedJobPromoterOptions): DelayedJobPromoter {
  const { topology: t, logger } = opts;
  const pollMs = opts.pollMs ?? 1_000;
  const maxAttempts = opts.maxPromotionAttempts ?? 20;
  const retryMs = opts.promotionRetryMs ?? 1_000;
  let stopped = false;
  let promoted = 0;

  const step = async (): Promise<void> => {
    const m = await pullOne(nc, { stream: t.streams.jobsDelayed, consumer: t.consumers.jobsDelayed, waitMs: pollMs });
    if (!m) return;
    if (stopped) {
      await m.nak(0); // hand it to another orchestrator's promoter at once
      return;
    }
    const parsed = parseJob(m.data);
    if (!parsed.ok) {
      await m.term();
      opts.onPoison(m.subject, m.data, m.headers, `unreadable job message: ${parsed.error.message}`);
      return;
    }
    const job = parsed.value;
    const remaining = (job.availableAt?.getTime() ?? 0) - Date.now();
    if (remaining > 0) {
      await m.nak(remaining);
      return;
    }
    const subject = t.jobSubject(job.priority);
    try {
      await js.publish(subject, m.data, { msgID: job.jobId, headers: m.headers, timeout: opts.ackTimeoutMs });
    } catch (err) {
      if (stopped || nc.isClosed()) throw err;
      // The delayed consumer has no MaxDeliver (not-due naks must not spend attempts), so a job the
      // jobs stream keeps refusing would otherwise come back forever: count its deliveries instead.
      const attempts = m.meta.deliveryCount;
      const why = (err as Error).message;
      if (attempts >= maxAttempts) {
        await m.term();
        opts.onPoison(m.subject, m.data, m.headers, `promotion to ${subject} failed ${attempts} times; last error: ${why}`);
        return;
      }
      const delay = Math.min(60_000, retryMs * 2 ** Math.min(attempts - 1, 16));
      logger.warn({ jobId: job.jobId, attempts, retryInMs: delay, err: why }, "delayed-job promoter: promotion failed; retrying later");
      await m.nak(delay);
      return;
    }
    await m.ack(opts.ackTimeoutMs);
    promoted++;
  };

  const loop = (async () => {
    let failures = 0;
    while (!stopped) {
      try {
        await step();
        failures = 0;
      } catch (err) {
        if (stopped || nc.isClosed()) break;
        failures++;
        logger.warn({ err: (err as Error).message, failures }, "delayed-job promoter: step failed; retrying");
        // Back off on repeated failures (server down) without spinning; bounded, stop() is honoured next turn.
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** Math.min(failures, 6))));
      }
    }
  })();

  return {
    get promoted() {
      return promoted;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
