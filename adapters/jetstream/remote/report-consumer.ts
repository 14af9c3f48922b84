/**
 * The orchestrator's report consumer of one queue: pulls `<p>.reports.<queue>` from the durable
 * `reports-<queue>` consumer and hands each body to `broker.report`. The message is acked only
 * after the broker resolved (the verdict is stored), so a crash redelivers it to another
 * orchestrator. A body that is not a report (ProtocolError) is acked and recorded as a dead
 * letter with the reason; any other error naks with a delay (the report is retried, never lost).
 */
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../../../src/ports/logger.js";
import { ProtocolError } from "../../../src/contract/protocol-error.js";
import { carrierFromHeaders } from "../../../src/contract/trace-headers.js";
import type { Topology } from "../../../src/contract/topology.js";
import type { Broker, ReportResult } from "../../../src/remote/broker.js";
import { pullOne, type PulledMessage } from "../pull.js";
import { ensureReportConsumer } from "./consumers.js";
import { reportConsumerName } from "./names.js";
import { abortableDelay } from "../../../src/contract/abortable-delay.js";
import { LoopBackoff } from "../../../src/contract/failure-policy.js";
import { parseReportConsumerOptions } from "../options.js";

/** A report body the broker could not read, with why. */
export interface ReportDeadLetter {
  subject: string;
  body: string;
  reason: string;
  streamSequence: number;
}

/** Options of {@link startReportConsumer}. */
export interface ReportConsumerOptions {
  topology: Topology;
  queue: string;
  /** Create the durable consumer first (default true). */
  ensure?: boolean;
  /** Longest single pull; bounds `stop()`. Default 1000 ms. */
  pollMs?: number;
  /** Redelivery delay after a transient failure. Default 1000 ms. */
  retryDelayMs?: number;
  /** Bound on ack confirmations. Default 5000 ms. */
  ackTimeoutMs?: number;
  /**
   * Reports handled at once (parallel pull loops). Each report is one Postgres commit, so a
   * single loop caps a queue's throughput at one commit latency per task. Default 8.
   */
  concurrency?: number;
  logger?: Logger;
  /** Called with every verdict (accepted or refused as stale/terminal/cancelled). */
  onReport?: (result: ReportResult) => void;
  /** Called with every dead letter (also logged at error level). */
  onDeadLetter?: (dl: ReportDeadLetter) => void;
}

/** A running report consumer. */
export interface ReportConsumer {
  readonly consumer: string;
  /** Stops pulling (within one poll) and waits for the report being handled. */
  stop(): Promise<void>;
}

/** Starts the pull loop of `queue`'s report consumer. */
export async function startReportConsumer(nc: NatsConnection, broker: Broker, options: ReportConsumerOptions): Promise<ReportConsumer> {
  const opts = parseReportConsumerOptions(options);
  const logger = opts.logger;
  const stream = opts.topology.streams.reports;
  const consumer = reportConsumerName(opts.queue);
  if (opts.ensure) await ensureReportConsumer(await jetstreamManager(nc), { topology: opts.topology, queue: opts.queue });
  const { pollMs, retryDelayMs, ackTimeoutMs } = opts;
  const stopCtl = new AbortController();

  async function handle(m: PulledMessage): Promise<void> {
    let result: ReportResult;
    try {
      result = await broker.report(m.data, carrierFromHeaders(m.headers), { queue: opts.queue });
    } catch (err) {
      if (err instanceof ProtocolError) {
        const dl: ReportDeadLetter = {
          subject: m.subject,
          body: new TextDecoder().decode(m.data),
          reason: err.message,
          streamSequence: m.meta.streamSequence,
        };
        logger.error({ ...dl, queue: opts.queue }, "report dead-lettered: not a valid report");
        opts.onDeadLetter?.(dl);
        await m.ack(ackTimeoutMs);
        return;
      }
      logger.warn(
        { queue: opts.queue, seq: m.meta.streamSequence, err: (err as Error)?.message ?? String(err) },
        "report not recorded; retrying later",
      );
      await m.nak(retryDelayMs);
      return;
    }
    await m.ack(ackTimeoutMs);
    opts.onReport?.(result);
  }

  async function loop(): Promise<void> {
    const backoff = new LoopBackoff();
    while (!stopCtl.signal.aborted) {
      let m: PulledMessage | null;
      try {
        m = await pullOne(nc, { stream, consumer, waitMs: pollMs });
        backoff.reset();
      } catch (err) {
        if (stopCtl.signal.aborted || nc.isClosed()) return;
        logger.error({ queue: opts.queue, err: (err as Error).message }, "report pull failed");
        await abortableDelay(backoff.next(), stopCtl.signal);
        continue;
      }
      if (!m) continue;
      try {
        await handle(m);
      } catch (err) {
        // The ack/nak did not reach the server: AckWait redelivers the report; broker.report is idempotent per attempt.
        logger.error({ queue: opts.queue, seq: m.meta.streamSequence, err: (err as Error).message }, "report ack failed");
      }
    }
  }

  const concurrency = opts.concurrency;
  // Reports of different tasks are independent, and broker.report fences attempts of one task in the store.
  const running = Promise.all(Array.from({ length: concurrency }, () => loop())).then(() => undefined);
  return {
    consumer,
    async stop() {
      stopCtl.abort();
      await running;
    },
  };
}
