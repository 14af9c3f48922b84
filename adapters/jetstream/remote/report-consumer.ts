/**
 * The orchestrator's report consumer of one queue: pulls `<p>.reports.<queue>` from the durable
 * `reports-<queue>` consumer and hands each body to `broker.report`. The message is acked only
 * after the broker resolved (the verdict is stored), so a crash redelivers it to another
 * orchestrator. A body that is not a report (ProtocolError) is acked and recorded as a dead
 * letter with the reason. A report the store refuses as data (SQLSTATE class 22/23: a value it
 * can never hold) is dead-lettered at once and its attempt failed with that reason (fenced by the
 * lease token). Any other error naks with a doubling delay, at most `maxDeliveries` times: then the
 * report is dead-lettered, and the task's lease expiry redelivers or fails the attempt. No report
 * is retried without bound.
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
  /** Replicas of that consumer (3 on an R3 cluster); unset follows the reports stream. */
  replicas?: number;
  /** Longest single pull; bounds `stop()`. Default 1000 ms. */
  pollMs?: number;
  /** Redelivery delay after the first transient failure, doubling per delivery. Default 1000 ms. */
  retryDelayMs?: number;
  /** Cap of the doubling redelivery delay. Default 30 000 ms. */
  maxRetryDelayMs?: number;
  /** Deliveries of one report before it is dead-lettered (bounds retries). Default 30. */
  maxDeliveries?: number;
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

/** True for a database refusal of the data itself (SQLSTATE class 22 data exception, 23 integrity violation): never transient. */
function isStoreDataError(err: unknown): boolean {
  const e = err as { code?: unknown; severity?: unknown } | null;
  return typeof e?.code === "string" && typeof e.severity === "string" && /^2[23][0-9A-Z]{3}$/.test(e.code);
}

/** Starts the pull loop of `queue`'s report consumer. */
export async function startReportConsumer(nc: NatsConnection, broker: Broker, options: ReportConsumerOptions): Promise<ReportConsumer> {
  const opts = parseReportConsumerOptions(options);
  const logger = opts.logger;
  const stream = opts.topology.streams.reports;
  const consumer = reportConsumerName(opts.queue);
  if (opts.ensure)
    await ensureReportConsumer(await jetstreamManager(nc), {
      topology: opts.topology,
      queue: opts.queue,
      ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}),
    });
  const { pollMs, retryDelayMs, maxRetryDelayMs, maxDeliveries, ackTimeoutMs } = opts;
  const stopCtl = new AbortController();

  function deadLetter(m: PulledMessage, reason: string): void {
    const dl: ReportDeadLetter = {
      subject: m.subject,
      body: new TextDecoder().decode(m.data),
      reason,
      streamSequence: m.meta.streamSequence,
    };
    logger.error({ ...dl, queue: opts.queue, deliveries: m.meta.deliveryCount }, "report dead-lettered");
    opts.onDeadLetter?.(dl);
  }

  async function handle(m: PulledMessage): Promise<void> {
    let result: ReportResult;
    try {
      result = await broker.report(m.data, carrierFromHeaders(m.headers), { queue: opts.queue });
    } catch (err) {
      if (err instanceof ProtocolError) {
        deadLetter(m, `not a valid report: ${err.message}`);
        await m.ack(ackTimeoutMs);
        return;
      }
      const detail = (err as Error)?.message ?? String(err);
      if (isStoreDataError(err)) {
        // Retrying cannot help: fail the attempt with the reason (fenced by its lease token).
        const reason = `the store refused the report (SQLSTATE ${(err as { code: string }).code}): ${detail}`;
        deadLetter(m, reason);
        await broker
          .failReport(m.data, reason)
          .catch((e: unknown) =>
            logger.error({ queue: opts.queue, err: (e as Error)?.message ?? String(e) }, "failing the attempt of a refused report failed"),
          );
        await m.ack(ackTimeoutMs);
        return;
      }
      const deliveries = m.meta.deliveryCount;
      if (deliveries >= maxDeliveries) {
        deadLetter(m, `report not recorded after ${deliveries} deliveries; last error: ${detail}`);
        await m.ack(ackTimeoutMs);
        return;
      }
      const delay = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.min(deliveries - 1, 20));
      logger.warn(
        { queue: opts.queue, seq: m.meta.streamSequence, deliveries, retryInMs: delay, err: detail },
        "report not recorded; retrying later",
      );
      await m.nak(delay);
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
