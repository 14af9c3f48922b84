/**
 * Jobs that exhausted the jobs consumer's MaxDeliver. nats-server 2.9 leaves such a message in the
 * work-queue stream forever and only publishes a max-deliveries advisory; the `<S>_JOBS_DEAD`
 * stream keeps those advisories, so each is handled once, by whichever orchestrator pulls it, even
 * across restarts. Handling one: read the job by stream sequence, delete it from the jobs stream,
 * ack the advisory. A crash after the delete and before the kernel fails the stage loses only the
 * notification; the kernel's stuck-run reaper covers that window.
 */
import { JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import type { DeadLetteredJob } from "../../src/ports/job-transport.js";
import type { Logger } from "../../src/ports/logger.js";
import { parseJob } from "../../src/contract/job-message.js";
import type { Topology } from "../../src/contract/topology.js";
import { jobFromHeaders } from "./job-headers.js";
import { pullOne } from "./pull.js";

/** The part of `io.nats.jetstream.advisory.v1.max_deliver` jetflow reads. */
const MaxDeliverAdvisory = z.object({
  type: z.string().optional(),
  stream: z.string(),
  consumer: z.string(),
  stream_seq: z.number().int().positive(),
  deliveries: z.number().int(),
});

/** Attempts at handling one advisory before it is given up (bounds a failure that repeats). */
const MAX_ADVISORY_DELIVERIES = 20;

export interface DrainOptions {
  topology: Topology;
  /** Stop after this many advisories (bounds one releaseStale call). */
  max: number;
  /** How long the first pull waits for an advisory the server may still be storing. */
  firstWaitMs: number;
  ackTimeoutMs: number;
  logger: Logger;
}

/** Pulls pending max-deliveries advisories (the first pull waits up to firstWaitMs) and turns each into a dead letter. */
export async function drainDeadLetters(nc: NatsConnection, jsm: JetStreamManager, opts: DrainOptions): Promise<DeadLetteredJob[]> {
  const { topology: t, logger } = opts;
  const out: DeadLetteredJob[] = [];
  for (let i = 0; i < opts.max; i++) {
    const m = await pullOne(nc, { stream: t.streams.jobsDead, consumer: t.consumers.jobsDead, waitMs: i === 0 ? opts.firstWaitMs : 0 });
    if (!m) break;
    let advisory: z.output<typeof MaxDeliverAdvisory>;
    try {
      advisory = MaxDeliverAdvisory.parse(JSON.parse(new TextDecoder().decode(m.data)));
    } catch (err) {
      logger.error({ err: (err as Error).message, subject: m.subject }, "unreadable max-deliveries advisory; dropped");
      await m.term();
      continue;
    }
    if (m.meta.deliveryCount > MAX_ADVISORY_DELIVERIES) {
      // Handling it failed every time (the dead-letters consumer has no MaxDeliver): stop, loudly.
      logger.error(
        { seq: advisory.stream_seq, stream: advisory.stream, deliveries: m.meta.deliveryCount },
        "max-deliveries advisory could not be handled; dropped (the job stays in its stream for an operator)",
      );
      await m.term();
      continue;
    }
    const stored = await jsm.streams.getMessage(advisory.stream, { seq: advisory.stream_seq });
    if (!stored) {
      // Already gone: acked late by its holder, or another orchestrator handled it before a crash.
      logger.debug({ seq: advisory.stream_seq }, "max-deliveries advisory for a message no longer in the stream");
      await m.ack(opts.ackTimeoutMs);
      continue;
    }
    const parsed = parseJob(stored.data);
    const job = parsed.ok ? parsed.value : jobFromHeaders(stored.header, stored.data);
    const reason = `job delivered ${advisory.deliveries} times without completing (consumer ${advisory.consumer} MaxDeliver reached)`;
    // Delete first: if the holder acked it meanwhile the delete finds nothing and no dead letter is reported.
    if (!(await deleteIfPresent(jsm, advisory.stream, advisory.stream_seq))) {
      await m.ack(opts.ackTimeoutMs);
      continue;
    }
    if (job) out.push({ job, reason: parsed.ok ? reason : `${reason}; body unreadable: ${parsed.error.message}` });
    else logger.error({ seq: advisory.stream_seq, subject: stored.subject }, "dead-lettered message carries no job id; removed");
    await m.ack(opts.ackTimeoutMs);
  }
  return out;
}

/** Deletes one message; false when it was already gone (JetStream error 10037, no message found). */
async function deleteIfPresent(jsm: JetStreamManager, stream: string, seq: number): Promise<boolean> {
  try {
    return await jsm.streams.deleteMessage(stream, seq, false);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === 10037) return false;
    throw err;
  }
}
