/**
 * A WorkerTransport over NATS JetStream that needs only what a scoped worker user may do
 * (see nats-server.conf and docs/security.md):
 *
 * | call      | wire                                                                              |
 * | --------- | --------------------------------------------------------------------------------- |
 * | next      | raw `$JS.API.CONSUMER.MSG.NEXT.<S>_TASKS.tasks-<queue>~~<version>[~~<labelKey>][~~high|~~low]`: a no_wait pull per consumer, highest priority band first (starvation guard), label sets round-robin within a band; nothing ready → one long poll on every consumer at once (band-puller.ts); delivery count = attempt; start heartbeat on `<p>.broker.<queue>.heartbeat`; refused → `+TERM`, pull again; malformed → `+TERM` + logged, never handed out |
 * | nextBatch | `{batch, no_wait}` pulls of what is ready, highest band first (ready-pull.ts), their starts in parallel; nothing ready → a `next` long poll |
 * | heartbeat | `+WPI` on the ack subject (AckWait restarts); a heartbeat request/reply only with new details or when the broker last extended the lease half a lease ago; the refreshes due at one tick of the heartbeat clock share one request (`{"beats": [...]}`, lease-refresh-batch.ts) |
 * | cancel    | core subscription to `<p>.cancel.<queue>`: a notice naming a held task aborts it |
 * | report    | if the delivery was renewed more than half a lease ago: `+WPI` + heartbeat (still ours?); publish on `<p>.reports.<queue>` (Nats-Msg-Id = reportMsgId), await PubAck, THEN `+ACK` |
 * | release   | `-NAK {"delay"}`                                                                  |
 * | presign   | request/reply on `<p>.broker.<queue>.presign`                                     |
 *
 * No `$JS.API` call other than MSG.NEXT: no stream/consumer info, so no extra permission.
 * Names mirror adapters/jetstream/remote/names.ts (the SDK may not import adapters).
 */
import { jetstream } from "@nats-io/jetstream";
import { headers as natsHeaders, nanos, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { ProtocolError } from "../src/contract/protocol-error.js";
import {
  HeartbeatRequest,
  PresignRequest,
  ReportMessage,
  StartRequest,
  encodeTaskBody,
  labelsSatisfy,
  parseHeartbeatReply,
  parsePresignReply,
  parseTaskErrorReply,
  parseTaskMessage,
  reportMsgId,
} from "../src/contract/tasks.js";
import { encodeToken } from "../src/contract/tokens.js";
import { createTopology, type Topology } from "../src/contract/topology.js";
import type { HeartbeatReply, PresignReply } from "../src/contract/tasks.js";
import { carrierFromHeaders, injectTraceHeaders } from "../src/contract/trace-headers.js";
import { parseJsonBody } from "../src/contract/job-message.js";
import { parseHeartbeatBatchReply } from "../src/contract/heartbeat-batch.js";
import { LeaseRefreshBatcher } from "./lease-refresh-batch.js";
import { type WorkerLogger, silentWorkerLogger } from "./logger.js";
import { TaskSources } from "./task-sources.js";
import { BandPuller, type Pulled } from "./band-puller.js";
import { taskConsumerName } from "../src/contract/label-routing.js";
import { CancelNotices } from "./cancel-notices.js";
import type { LeasedTask, NextOptions, WorkerTransport } from "./transport.js";

export interface NatsWorkerTransportOptions {
  topology?: Topology;
  queue: string;
  codeVersion: string;
  /** Informational: the lease is the consumer's AckWait, set by the orchestrator. */
  leaseMs?: number;
  /** Bound on each broker request, PubAck and ack confirmation. Default 5000 ms. */
  requestTimeoutMs?: number;
  /**
   * Bound on completing a multipart upload, before the allowance per part: the store assembles the
   * object first, which for a multi-GB artifact takes far longer than any other request (S3
   * documents minutes). Default 300000 ms.
   */
  completeTimeoutMs?: number;
  /**
   * Added to `completeTimeoutMs` per part of the upload (the assembly grows with the object), up
   * to {@link COMPLETE_TIMEOUT_MAX_MS} in all. Default 1000 ms.
   */
  completeTimeoutPerPartMs?: number;
  /** Longest single pull (a long `waitMs` is split into pulls of this length). Default 5000 ms. */
  maxPullMs?: number;
  /**
   * Redelivery delay for a task whose requiredLabels this worker lacks (costs one delivery). Label
   * sets have their own subjects, so this only happens to a labelled task published on the
   * unlabelled subject (by an orchestrator older than label subjects). Default 1000 ms.
   */
  labelMismatchDelayMs?: number;
  /**
   * The required label sets this worker pulls (besides unlabelled tasks); each must be satisfied by
   * its labels. Default: every subset of its labels (at most 64, i.e. 6 labels).
   */
  labelSets?: Record<string, string>[];
  /** Unused: an idle worker now long-polls all its consumers at once (band-puller.ts). Kept so old configs still type-check. */
  labelPollSliceMs?: number;
  /**
   * Starvation guard: after this many deliveries in a row from higher priority bands, a lower band
   * with work is served once (docs/flow-control.md). Default 10.
   */
  starvationLimit?: number;
  /**
   * With several label-set consumers, how long past a pull's expiry an unanswered pull of a consumer that never
   * answered waits before it is taken to be missing (skipped 5 s, doubling to 60 s). Default 2000 ms.
   */
  silentAfterMs?: number;
  logger?: WorkerLogger;
}

/** Longest wait for a multipart completion, however many parts: beyond it the store is taken to be stuck. */
export const COMPLETE_TIMEOUT_MAX_MS = 3_600_000;

/** Bound on completing an upload of `parts` parts: the base, plus an allowance per part, capped. */
export function completeTimeoutFor(baseMs: number, perPartMs: number, parts: number): number {
  return Math.max(baseMs, Math.min(COMPLETE_TIMEOUT_MAX_MS, baseMs + perPartMs * parts));
}

/** Longest long poll while some consumer of the worker has never answered. */
const UNSETTLED_POLL_MS = 1_000;
/** Delay of the redelivery of a task whose start request got no answer. */
const UNANSWERED_START_DELAY_MS = 1_000;
/** A broker refusal or an unreachable broker, with the broker's code when it answered. */
export class NatsTransportError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "NatsTransportError";
  }
}

interface Delivery {
  reply: string;
  taskId: string;
  attempt: number;
  /** performance.now() just before the broker last extended the lease (start or beat): its deadline is at least `leaseMs` later. */
  brokerAt: number;
  /** performance.now() when its AckWait last restarted, or earlier: the pull was sent, or a +WPI. */
  renewedAt: number;
  /** AckWait as the broker stated it (or the `leaseMs` option); unknown: always re-check before the report. */
  leaseMs: number | undefined;
}

const enc = new TextEncoder();
const WPI = enc.encode("+WPI");

/** Builds the transport for one (queue, codeVersion). `close()` does not close `nc` (it is the caller's). */
export function createNatsWorkerTransport(
  nc: NatsConnection,
  opts: NatsWorkerTransportOptions,
): WorkerTransport & { readonly consumer: string } {
  const topology = opts.topology ?? createTopology();
  const q = encodeToken(opts.queue, "queue");
  const consumer = taskConsumerName(opts.queue, opts.codeVersion);
  const heartbeatSubject = `${topology.prefix}.broker.${q}.heartbeat`;
  const presignSubject = `${topology.prefix}.broker.${q}.presign`;
  const timeout = opts.requestTimeoutMs ?? 5_000;
  const completeTimeout = Math.max(timeout, opts.completeTimeoutMs ?? 300_000);
  const completePerPart = opts.completeTimeoutPerPartMs ?? 1_000;
  const maxPullMs = opts.maxPullMs ?? 5_000;
  const labelDelay = opts.labelMismatchDelayMs ?? 1_000;
  const silentAfterMs = opts.silentAfterMs ?? 2_000;
  /** The consumers this worker pulls from, built from its labels at the first pull. */
  let sources: { key: string; value: TaskSources } | undefined;
  const sourcesFor = (labels: Record<string, string>): TaskSources => {
    const key = JSON.stringify(Object.entries(labels).sort());
    if (sources?.key !== key)
      sources = {
        key,
        value: new TaskSources(topology, opts.queue, opts.codeVersion, labels, opts.labelSets, opts.starvationLimit),
      };
    return sources.value;
  };
  const logger = opts.logger ?? silentWorkerLogger;
  const js = jetstream(nc);
  /** Deliveries this transport holds, by lease token. */
  const held = new Map<string, Delivery>();
  const closeCtl = new AbortController();
  const notices = new CancelNotices(
    nc,
    `${topology.prefix}.cancel.${q}`,
    (taskId) => [...held.values()].some((d) => d.taskId === taskId),
    logger,
  );

  /** Forgets a delivery this transport no longer holds, with its cancel state. */
  function drop(leaseToken: string): void {
    const d = held.get(leaseToken);
    held.delete(leaseToken);
    if (d && ![...held.values()].some((o) => o.taskId === d.taskId)) notices.forget(d.taskId);
  }

  const send = async (reply: string, body: string): Promise<void> => {
    nc.publish(reply, enc.encode(body));
    await nc.flush();
  };
  const nak = (reply: string, delayMs: number) => send(reply, delayMs > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : "-NAK");
  const term = (reply: string) => send(reply, "+TERM");
  const puller = new BandPuller(nc, {
    timeoutMs: timeout,
    silentAfterMs,
    // Well inside AckWait, so a stashed delivery is started before the server could redeliver it.
    stashMaxAgeMs: Math.min(5_000, (opts.leaseMs ?? 30_000) / 4),
    logger,
    nak: (reply) => nak(reply, 0),
  });

  /** Ready deliveries, highest band first. @throws NatsTransportError when a pull failed and nothing was pulled. */
  async function readyOrThrow(all: TaskSources, max: number): Promise<Pulled[]> {
    try {
      return await puller.ready(all, max);
    } catch (err) {
      throw new NatsTransportError("UNAVAILABLE", (err as Error).message);
    }
  }

  async function request<T>(
    subject: string,
    body: Uint8Array,
    parse: (json: unknown) => { ok: true; value: T } | { ok: false; error: ProtocolError },
    timeoutMs = timeout,
  ): Promise<T> {
    let m: Msg;
    try {
      m = await nc.request(subject, body, { timeout: timeoutMs, ...withHeaders(traceHeaders()) });
    } catch (err) {
      throw new NatsTransportError("UNAVAILABLE", `request to ${subject} failed: ${(err as Error).message}`);
    }
    const json = parseJsonBody(m.data, `reply on ${subject}`);
    if (!json.ok) throw new NatsTransportError("VALIDATION", `unreadable reply on ${subject}: ${json.error.message}`);
    // Only a body with an `error` member can be a refusal: trying the error schema on every
    // answer built a ProtocolError (issues, message, stack) per normal reply.
    if (typeof json.value === "object" && json.value !== null && "error" in json.value) {
      const refused = parseTaskErrorReply(json.value);
      if (refused.ok) throw new NatsTransportError(refused.value.error.code, refused.value.error.message);
    }
    const r = parse(json.value);
    if (!r.ok) throw new NatsTransportError("VALIDATION", `unreadable reply on ${subject}: ${r.error.message}`);
    return r.value;
  }

  /** W3C trace context of the active span (the worker's `activity.execute`) for an outgoing message. */
  function traceHeaders(): MsgHdrs | undefined {
    const h = natsHeaders();
    injectTraceHeaders(h);
    return h.keys().length > 0 ? h : undefined; // no SDK: send a plain message, as before
  }

  const withHeaders = (headers: MsgHdrs | undefined) => (headers ? { headers } : {});

  const heartbeatRequest = (hb: HeartbeatRequest): Promise<HeartbeatReply> =>
    request(heartbeatSubject, encodeTaskBody(HeartbeatRequest, "heartbeat request", hb), parseHeartbeatReply);
  const refreshes = new LeaseRefreshBatcher(
    {
      batch: async (body) => (await request(heartbeatSubject, body, parseHeartbeatBatchReply)).replies,
      single: heartbeatRequest,
      refusedAsMalformed: (err) => err instanceof NatsTransportError && err.code === "VALIDATION",
    },
    logger,
  );

  /** Attempt number (delivery count) from an ack subject `$JS.ACK.<stream>.<consumer>.<delivered>...`. */
  function deliveryCount(reply: string): number | null {
    const t = reply.split(".");
    const base = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1;
    if (t[0] !== "$JS" || t[1] !== "ACK" || base < 0) return null;
    const n = Number(t[base + 2]);
    return Number.isInteger(n) && n >= 1 ? n : null;
  }

  /** Turns one pulled message into a lease, or disposes of it and returns null. `pulledAt`: when the pull was sent. */
  async function lease(m: Msg, o: NextOptions, pulledAt: number): Promise<LeasedTask | null> {
    const delivered = m.reply ? deliveryCount(m.reply) : null;
    if (!m.reply || delivered === null) {
      logger.error({ subject: m.subject, reply: m.reply ?? "" }, "pulled a message without a JetStream ack subject; ignored");
      return null;
    }
    const parsed = parseTaskMessage(m.data);
    if (!parsed.ok) {
      await term(m.reply);
      logger.error({ subject: m.subject, delivered, reason: parsed.error.message }, "malformed task dead-lettered (terminated)");
      return null;
    }
    const task = parsed.value;
    // A re-dispatched task's message counts its deliveries from 1 again, after the attempts before it.
    const attempt = (task.attemptBase ?? 0) + delivered;
    if (!labelsSatisfy(task.requiredLabels, o.labels)) {
      await nak(m.reply, labelDelay);
      logger.debug({ taskId: task.taskId, required: task.requiredLabels }, "task needs labels this worker lacks; given back");
      return null;
    }
    let reply: HeartbeatReply;
    const startSentAt = performance.now();
    try {
      const start: StartRequest = {
        start: true,
        taskId: task.taskId,
        attempt,
        workerId: o.workerId,
        codeVersion: o.codeVersion,
        ...(task.capability ? { capability: task.capability } : {}),
      };
      logger.debug({ taskId: task.taskId, attempt }, "start request sent");
      reply = await request(heartbeatSubject, encodeTaskBody(StartRequest, "start request", start), parseHeartbeatReply);
      logger.debug(
        { taskId: task.taskId, attempt, accepted: reply.accepted, ms: Math.round(performance.now() - startSentAt) },
        "start answered",
      );
      if (reply.accepted && !reply.leaseToken)
        throw new NatsTransportError(
          "VALIDATION",
          `the broker accepted task ${task.taskId} attempt ${attempt} without issuing a lease token`,
        );
    } catch (err) {
      // The broker did not answer (an outage, a restart): give the task back after a pause rather
      // than wait for AckWait, and not at once, which would spin through deliveries mid-outage.
      await nak(m.reply, UNANSWERED_START_DELAY_MS);
      throw err;
    }
    if (!reply.accepted && reply.retryAfterMs !== undefined) {
      // Another attempt still holds a live lease (a redelivery raced its holder's beats): try again once it has ended.
      await nak(m.reply, reply.retryAfterMs);
      logger.info(
        { taskId: task.taskId, attempt, reason: reply.reason ?? "", retryAfterMs: reply.retryAfterMs },
        "broker deferred the delivery; given back",
      );
      return null;
    }
    if (!reply.accepted) {
      await term(m.reply);
      logger.info({ taskId: task.taskId, attempt, reason: reply.reason ?? "" }, "broker refused the delivery; terminated");
      return null;
    }
    const leaseToken = reply.leaseToken!;
    held.set(leaseToken, {
      reply: m.reply,
      taskId: task.taskId,
      attempt,
      brokerAt: startSentAt,
      renewedAt: pulledAt,
      leaseMs: reply.leaseMs ?? opts.leaseMs,
    });
    // The message's trace headers (the broker's dispatch span) win over the body's persisted carrier.
    const traceContext = carrierFromHeaders(m.headers) ?? task.traceContext;
    return {
      task,
      attempt,
      leaseToken,
      workerId: o.workerId,
      heartbeatDetails: reply.heartbeatDetails,
      ...(reply.attemptsLeft !== undefined ? { attemptsLeft: reply.attemptsLeft } : {}),
      ...(traceContext ? { traceContext } : {}),
    };
  }

  /**
   * Whether the delivery certainly has not been redelivered: its AckWait restarted less than half
   * a lease ago, so the server cannot have handed the message to a later attempt yet.
   */
  function fresh(d: Delivery | undefined): boolean {
    return d !== undefined && d.leaseMs !== undefined && performance.now() - d.renewedAt < d.leaseMs / 2;
  }

  /** Drops `l` from the held deliveries unless the broker confirms it still holds the lease (or the task was cancelled). */
  async function verifyLease(l: LeasedTask): Promise<void> {
    const d = held.get(l.leaseToken);
    try {
      if (d) {
        const at = performance.now();
        await send(d.reply, "+WPI");
        d.renewedAt = at;
      }
      const reply = await heartbeatRequest({ taskId: l.task.taskId, attempt: l.attempt, leaseToken: l.leaseToken, workerId: l.workerId });
      if (reply.accepted || reply.cancelled) return;
      logger.info(
        { taskId: l.task.taskId, attempt: l.attempt, reason: reply.reason ?? "" },
        "lease lost before the report; the delivery is left to its new holder",
      );
    } catch (err) {
      // Unverified: leave the message to AckWait; a redelivery is refused at start once the report is recorded.
      logger.warn(
        { taskId: l.task.taskId, attempt: l.attempt, err: String(err) },
        "could not confirm the lease before the report; not acking",
      );
    }
    drop(l.leaseToken);
  }

  const transport: WorkerTransport & { readonly consumer: string } = {
    consumer,
    async next(queue, o) {
      if (queue !== opts.queue || o.codeVersion !== opts.codeVersion) {
        throw new NatsTransportError(
          "CONFIG",
          `this transport serves queue "${opts.queue}" version "${opts.codeVersion}", not "${queue}" version "${o.codeVersion}"`,
        );
      }
      const signal = o.signal ? AbortSignal.any([o.signal, closeCtl.signal]) : closeCtl.signal;
      const all = sourcesFor(o.labels);
      const deadline = Date.now() + Math.max(0, o.waitMs);
      while (!signal.aborted) {
        // Highest band first: what is ready now, else one long poll on every consumer at once.
        const [ready] = await readyOrThrow(all, 1);
        const remaining = deadline - Date.now();
        // While a consumer has never answered (a label set nobody required yet), re-poll every second
        // so its first task is seen soon after the orchestrator creates the consumer.
        const pollMs = Math.min(remaining, maxPullMs, all.unsettled ? UNSETTLED_POLL_MS : maxPullMs);
        const got = ready ?? (remaining > 0 ? await puller.longPoll(all, pollMs, signal) : null);
        if (!got) {
          if (Date.now() >= deadline) return null;
          continue;
        }
        if (signal.aborted) {
          await nak(got.msg.reply!, 0);
          return null;
        }
        const leased = await lease(got.msg, o, got.pulledAt);
        if (leased) return leased;
      }
      return null;
    },

    async nextBatch(queue, o, max) {
      if (max <= 1) {
        const one = await transport.next(queue, o);
        return one ? [one] : [];
      }
      const signal = o.signal ? AbortSignal.any([o.signal, closeCtl.signal]) : closeCtl.signal;
      if (signal.aborted) return [];
      const ready = await readyOrThrow(sourcesFor(o.labels), max);
      if (signal.aborted) {
        await Promise.all(ready.map((p) => nak(p.msg.reply!, 0)));
        return [];
      }
      if (ready.length === 0) {
        // Nothing waiting: long-poll for one, so an idle worker starts a new task the moment it is published.
        const one = await transport.next(queue, o);
        return one ? [one] : [];
      }
      const settled = await Promise.allSettled(ready.map((p) => lease(p.msg, o, p.pulledAt)));
      const leases = settled.flatMap((r) => (r.status === "fulfilled" && r.value ? [r.value] : []));
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
      // Those that failed were given back (nak) by lease(); an error surfaces only when nothing started.
      if (failed && leases.length === 0) throw failed.reason;
      if (failed) logger.warn({ err: String(failed.reason) }, "some pulled tasks could not be started; given back");
      return leases;
    },

    async heartbeat(l, details) {
      const d = held.get(l.leaseToken);
      if (notices.has(l.task.taskId)) return { accepted: false, cancelled: true, reason: "task cancelled" };
      // A plain liveness beat is the +WPI alone while the broker's lease deadline is less than half
      // a lease old: no request, no Postgres write (cancels arrive as notices meanwhile), and no
      // flush round trip either. Unconfirmed, it does not count as a renewal for the report's
      // freshness check (which then asks the broker once).
      const plain = details === undefined && d?.leaseMs !== undefined && performance.now() - d.brokerAt < d.leaseMs / 2;
      if (plain) {
        nc.publish(d.reply, WPI);
        return { accepted: true, cancelled: false, leaseMs: d.leaseMs };
      }
      // Only the delivery we still hold extends its AckWait. No flush of its own: the refresh
      // request follows on the same connection, so its reply proves the server had the +WPI.
      const sentAt = performance.now();
      if (d) nc.publish(d.reply, WPI);
      const reply = await refreshes.refresh({
        taskId: l.task.taskId,
        attempt: l.attempt,
        leaseToken: l.leaseToken,
        workerId: l.workerId,
        ...(details !== undefined ? { details } : {}),
      });
      if (d) d.renewedAt = sentAt;
      if (reply.accepted && d) d.brokerAt = sentAt;
      // Lease lost (not cancelled): a later delivery may hold the same stream message, and the server
      // applies acks by sequence, so this attempt must never ack or nak it again.
      if (!reply.accepted && !reply.cancelled) drop(l.leaseToken);
      return reply;
    },

    watchCancel(l, onCancel) {
      return notices.watch(l.task.taskId, onCancel);
    },

    async report(l, report) {
      const body = encodeTaskBody(ReportMessage, "report message", report);
      // Still ours? The server applies an ack by stream sequence, so a delivery whose lease expired
      // must not ack the message a later attempt now holds. The check also renews the lease for the
      // ack. Skipped while the delivery is fresh: no redelivery can exist before its AckWait ends.
      if (!fresh(held.get(l.leaseToken))) await verifyLease(l);
      // Durable first: the PubAck proves JetStream stored the report; a retry of the same attempt is deduplicated.
      await js.publish(topology.reportSubject(opts.queue), body, {
        msgID: reportMsgId(l.task.taskId, l.attempt, l.leaseToken),
        timeout,
        ...withHeaders(traceHeaders()),
      });
      const d = held.get(l.leaseToken);
      drop(l.leaseToken);
      if (d) await nc.request(d.reply, enc.encode("+ACK"), { timeout }); // sent as a request: the server confirms the ack
    },

    async release(l, { delayMs }) {
      const d = held.get(l.leaseToken);
      drop(l.leaseToken);
      if (!d) return;
      // Give the lease up first, so the redelivery is not refused as racing a live lease.
      try {
        await heartbeatRequest({
          taskId: l.task.taskId,
          attempt: l.attempt,
          leaseToken: l.leaseToken,
          workerId: l.workerId,
          release: true,
        });
      } catch (err) {
        logger.warn(
          { taskId: l.task.taskId, attempt: l.attempt, err: String(err) },
          "could not release the lease; the redelivery waits for it to expire",
        );
      }
      await nak(d.reply, Math.max(0, delayMs));
    },

    async presign(l, req): Promise<PresignReply> {
      const body = encodeTaskBody(PresignRequest, "presign request", {
        ...req,
        taskId: l.task.taskId,
        attempt: l.attempt,
        leaseToken: l.leaseToken,
      });
      const bound = req.op === "complete" ? completeTimeoutFor(completeTimeout, completePerPart, req.parts?.length ?? 0) : timeout;
      return request(presignSubject, body, parsePresignReply, bound);
    },

    async close() {
      closeCtl.abort();
      notices.close();
      await puller.close();
      held.clear();
    },
  };
  return transport;
}
