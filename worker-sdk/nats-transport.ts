/**
 * A WorkerTransport over NATS JetStream that needs only what a scoped worker user may do
 * (see nats-server.conf and docs/security.md):
 *
 * | call      | wire                                                                              |
 * | --------- | --------------------------------------------------------------------------------- |
 * | next      | raw `$JS.API.CONSUMER.MSG.NEXT.<S>_TASKS.tasks-<queue>~~<version>[~~<labelKey>]` (noMux, bounded; round-robin over the consumers of the label sets the worker's labels satisfy, task-sources.ts); delivery count = attempt; start heartbeat on `<p>.broker.<queue>.heartbeat`; refused → `+TERM`, pull again; malformed → `+TERM` + logged, never handed out |
 * | nextBatch | one `{batch: max, no_wait}` pull of what is ready (ready-pull.ts), their starts in parallel; nothing ready → a `next` long poll |
 * | heartbeat | `+WPI` on the ack subject (AckWait restarts); a heartbeat request/reply only with new details or when the broker last extended the lease half a lease ago |
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
import { type WorkerLogger, silentWorkerLogger } from "./logger.js";
import { ReadyPullError, pullReady } from "./ready-pull.js";
import { TaskSources, type TaskSource } from "./task-sources.js";
import { taskConsumerName } from "../src/contract/label-routing.js";
import { abortableDelay } from "../src/contract/abortable-delay.js";
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
   * Bound on completing a multipart upload: the store assembles the object first, which for a
   * multi-GB artifact takes far longer than any other request (S3 documents minutes). Default 300000 ms.
   */
  completeTimeoutMs?: number;
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
  /** With several label-set consumers, the longest pull on one before trying the next. Default 250 ms. */
  labelPollSliceMs?: number;
  /**
   * With several label-set consumers, how long past a pull's expiry an unanswered pull of a consumer that never
   * answered waits before it is taken to be missing (skipped 5 s, doubling to 60 s). Default 2000 ms.
   */
  silentAfterMs?: number;
  logger?: WorkerLogger;
}

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
  const maxPullMs = opts.maxPullMs ?? 5_000;
  const labelDelay = opts.labelMismatchDelayMs ?? 1_000;
  const sliceMs = opts.labelPollSliceMs ?? 250;
  const silentAfterMs = opts.silentAfterMs ?? 2_000;
  /** The consumers this worker pulls from, built from its labels at the first pull. */
  let sources: { key: string; value: TaskSources } | undefined;
  const sourcesFor = (labels: Record<string, string>): TaskSources => {
    const key = JSON.stringify(Object.entries(labels).sort());
    if (sources?.key !== key) sources = { key, value: new TaskSources(topology, opts.queue, opts.codeVersion, labels, opts.labelSets) };
    return sources.value;
  };
  const logger = opts.logger ?? silentWorkerLogger;
  const js = jetstream(nc);
  /** Deliveries this transport holds, by lease token. */
  const held = new Map<string, Delivery>();
  /** Pulls abandoned by an abort: whatever they bring back is nak'ed, and close() waits for them. */
  const orphans = new Set<Promise<void>>();
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

  /**
   * One bounded raw pull from `src`; null when nothing arrived. With several sources, a pull left
   * unanswered marks its consumer missing (null) instead of failing.
   * @throws NatsTransportError on a refused pull.
   */
  async function pull(src: TaskSource, all: TaskSources, waitMs: number): Promise<Msg | null> {
    if (nc.isClosed()) throw new NatsTransportError("UNAVAILABLE", "connection closed");
    // A noMux request in flight when the connection closes never settles: race it with closed().
    const closed = nc.closed().then(() => "closed" as const);
    // Only a consumer never heard from gets the short bound: a pull that outlives its bound loses
    // whatever the server delivers later (until AckWait redelivers it as the next attempt).
    const wait = all.multiple && !all.known(src) ? waitMs + silentAfterMs : waitMs + timeout;
    const asked = nc
      .request(src.nextSubject, JSON.stringify({ batch: 1, expires: nanos(waitMs) }), { timeout: wait, noMux: true })
      .catch((err: unknown) => {
        if (!all.multiple || nc.isClosed()) throw err;
        // A denied pull (its credential lacks this label set) is skipped like a missing consumer, but said.
        if (/permissions violation/i.test(String(err)))
          logger.warn({ consumer: src.consumer, err: String(err) }, "this worker's credential may not pull a label set its labels satisfy");
        return "silent" as const;
      });
    const r = await Promise.race([asked, closed]);
    if (r === "closed") throw new NatsTransportError("UNAVAILABLE", "connection closed during the pull");
    if (r === "silent") {
      all.silent(src);
      logger.debug({ consumer: src.consumer }, "no answer from a label-set consumer (none created yet); skipping it for a while");
      return null;
    }
    all.answered(src);
    const m = r;
    const code = m.headers?.code ?? 0;
    if (code === 404 || code === 408) return null;
    if (code === 409 && /max.*(waiting|ack pending)/i.test(m.headers?.description ?? "")) return null;
    if (code !== 0)
      throw new NatsTransportError("UNAVAILABLE", `pull from ${src.consumer} answered ${code} ${m.headers?.description ?? ""}`.trim());
    return m;
  }

  /** Pull racing `signal`; a message that arrives after the abort is given back at once. */
  async function pullOrAbort(src: TaskSource, all: TaskSources, waitMs: number, signal: AbortSignal): Promise<Msg | null> {
    if (signal.aborted) return null;
    const p = pull(src, all, waitMs);
    let onAbort!: () => void;
    const aborted = new Promise<"aborted">((r) => {
      onAbort = () => r("aborted");
      signal.addEventListener("abort", onAbort, { once: true });
    });
    const won = await Promise.race([p, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
    if (won !== "aborted") return won;
    const orphan = p.then(
      (m) => (m?.reply ? nak(m.reply, 0) : undefined),
      (err: unknown) => logger.debug({ err: String(err) }, "abandoned pull ended with an error"),
    );
    const tracked = orphan
      .catch((err: unknown) => logger.warn({ err: String(err) }, "could not give back a task pulled after stop"))
      .finally(() => orphans.delete(tracked));
    orphans.add(tracked);
    return null;
  }

  async function request<T>(
    subject: string,
    body: Uint8Array,
    parse: (b: Uint8Array) => { ok: true; value: T } | { ok: false; error: ProtocolError },
    timeoutMs = timeout,
  ): Promise<T> {
    let m: Msg;
    try {
      m = await nc.request(subject, body, { timeout: timeoutMs, ...withHeaders(traceHeaders()) });
    } catch (err) {
      throw new NatsTransportError("UNAVAILABLE", `request to ${subject} failed: ${(err as Error).message}`);
    }
    const refused = parseTaskErrorReply(m.data);
    if (refused.ok) throw new NatsTransportError(refused.value.error.code, refused.value.error.message);
    const r = parse(m.data);
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
      reply = await request(heartbeatSubject, encodeTaskBody(StartRequest, "start request", start), parseHeartbeatReply);
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

  /**
   * What the consumers have ready, up to `max` messages, one no-wait pull per consumer in turn.
   * @throws NatsTransportError when a pull failed and nothing was pulled.
   */
  async function readyTasks(all: TaskSources, max: number): Promise<Msg[]> {
    const got: Msg[] = [];
    for (const src of all.round()) {
      if (got.length >= max) break;
      try {
        got.push(...(await pullReady(nc, src.nextSubject, max - got.length, all.multiple && !all.known(src) ? silentAfterMs : timeout)));
        all.answered(src);
      } catch (err) {
        if (all.multiple && err instanceof ReadyPullError && err.silent) {
          all.silent(src);
          continue;
        }
        if (got.length > 0) {
          logger.warn({ consumer: src.consumer, err: String(err) }, "a ready-pull failed; leasing what the others brought");
          break;
        }
        throw new NatsTransportError("UNAVAILABLE", `pull from ${src.consumer} failed: ${(err as Error).message}`);
      }
    }
    return got;
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
        const remaining = deadline - Date.now();
        if (remaining <= 0) return null;
        const src = all.pick();
        if (!src) {
          // Every label-set consumer is missing for now: wait for the first recheck, within the bound.
          await abortableDelay(Math.min(remaining, Math.max(1, all.msUntilReady())), signal);
          continue;
        }
        // Several consumers: short pulls in turn, so a task on any of them waits at most a slice per other consumer.
        const slice = Math.min(remaining, maxPullMs, all.multiple ? sliceMs : maxPullMs);
        const pulledAt = performance.now();
        const m = await pullOrAbort(src, all, Math.max(1, slice), signal);
        if (!m) continue;
        const leased = await lease(m, o, pulledAt);
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
      const pulledAt = performance.now();
      const ready = await readyTasks(sourcesFor(o.labels), max);
      if (signal.aborted) {
        await Promise.all(ready.map((m) => nak(m.reply!, 0)));
        return [];
      }
      if (ready.length === 0) {
        // Nothing waiting: long-poll for one, so an idle worker starts a new task the moment it is published.
        const one = await transport.next(queue, o);
        return one ? [one] : [];
      }
      const settled = await Promise.allSettled(ready.map((m) => lease(m, o, pulledAt)));
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
        nc.publish(d.reply, enc.encode("+WPI"));
        return { accepted: true, cancelled: false, leaseMs: d.leaseMs };
      }
      if (d) {
        // Only the delivery we still hold extends its AckWait.
        const at = performance.now();
        await send(d.reply, "+WPI");
        d.renewedAt = at;
      }
      const sentAt = performance.now();
      const reply = await heartbeatRequest({
        taskId: l.task.taskId,
        attempt: l.attempt,
        leaseToken: l.leaseToken,
        workerId: l.workerId,
        ...(details !== undefined ? { details } : {}),
      });
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
      return request(presignSubject, body, parsePresignReply, req.op === "complete" ? completeTimeout : timeout);
    },

    async close() {
      closeCtl.abort();
      notices.close();
      await Promise.all([...orphans]);
      held.clear();
    },
  };
  return transport;
}
