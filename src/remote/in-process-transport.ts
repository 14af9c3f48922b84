/**
 * An in-process task transport for tests and single-process development. It emulates the
 * JetStream work-queue semantics the fencing logic depends on: one message per taskId
 * (deduplicated), delivery count = attempt, a lease per delivery (AckWait) that expires and
 * redelivers with attempt + 1, nak with delay, report-before-ack, and malformed messages
 * dead-lettered instead of reaching a worker. Every body crosses as JSON, like on the wire.
 * Priority bands as on JetStream: a worker gets the oldest task of the highest band first, with
 * the same per-worker starvation guard (src/contract/priority.ts).
 */
import { randomUUID } from "node:crypto";
import type { Clock } from "../ports/clock.js";
import { ProtocolError } from "../contract/protocol-error.js";
import {
  type CancelNotice,
  type HeartbeatReply,
  type PresignReply,
  type ReportMessage,
  type TaskMessage,
  labelsSatisfy,
  parseTaskMessage,
} from "../contract/tasks.js";
import type { Broker, ReportResult } from "./broker.js";
import { BandPicker, priorityBand, type PriorityBand } from "../contract/priority.js";
import type { TaskDispatcher } from "./types.js";
import type { LeasedTask, NextOptions, PresignCall, WorkerTransport } from "../contract/worker-transport.js";

interface Entry {
  seq: number;
  queue: string;
  codeVersion: string;
  body: string;
  taskId: string | null;
  /** Its Nats-Msg-Id equivalent. */
  dedupeId: string | null;
  deliveries: number;
  leasedToken: string | null;
  leaseUntil: number;
  availableAt: number;
}

/** A task dispatcher and a worker transport wired to each other in one process. */
export interface InProcessTransport {
  dispatcher: TaskDispatcher;
  worker: WorkerTransport;
  /** Bodies that never reached a worker or the broker, with why (the dead-letter stream). */
  readonly deadLetters: { body: unknown; error: Error }[];
  /** Verdicts of reports delivered to the broker, in order (on JetStream only the orchestrator sees them). */
  readonly reportResults: ReportResult[];
  /** Cancel notices the broker sent. */
  readonly cancelNotices: CancelNotice[];
  /** Publishes an arbitrary body on a task subject (tests: malformed messages); a string is sent as raw text. */
  publishRaw(queue: string, codeVersion: string, body: unknown): void;
  /** Re-checks lease expiry and delays against the clock and wakes waiting pulls (call after moving a FakeClock). */
  poke(): void;
  /** Messages not yet acknowledged. */
  size(): number;
}

/**
 * Wires an in-process transport to `broker` (attaching its dispatcher). Leases last
 * `broker.leaseMs` on `clock` (default: the system clock).
 */
export function createInProcessTransport(broker: Broker, opts: { clock?: Clock } = {}): InProcessTransport {
  const clock = opts.clock ?? { now: () => new Date() };
  const entries: Entry[] = [];
  const wakers = new Set<() => void>();
  const deadLetters: { body: unknown; error: Error }[] = [];
  const reportResults: ReportResult[] = [];
  const cancelNotices: CancelNotice[] = [];
  let seq = 0;

  const wake = () => {
    for (const w of [...wakers]) w();
  };
  const now = () => clock.now().getTime();
  const remove = (e: Entry) => {
    const i = entries.indexOf(e);
    if (i >= 0) entries.splice(i, 1);
  };
  const expireLeases = () => {
    const t = now();
    for (const e of entries) if (e.leasedToken !== null && e.leaseUntil <= t) e.leasedToken = null;
  };
  // A re-dispatched task may have two messages: the one this lease holds first.
  const find = (lease: LeasedTask) =>
    entries.find((e) => e.taskId === lease.task.taskId && e.leasedToken === lease.leaseToken) ??
    entries.find((e) => e.taskId === lease.task.taskId);

  function enqueue(queue: string, codeVersion: string, body: unknown, taskId: string | null, dedupeId = taskId): void {
    // Nats-Msg-Id deduplication: one live message per id (the taskId, or a re-dispatch's own id).
    if (dedupeId !== null && entries.some((e) => e.dedupeId === dedupeId)) return;
    entries.push({
      dedupeId,
      seq: ++seq,
      queue,
      codeVersion,
      body: typeof body === "string" ? body : JSON.stringify(body),
      taskId,
      deliveries: 0,
      leasedToken: null,
      leaseUntil: 0,
      availableAt: 0,
    });
    wake();
  }

  const dispatcher: TaskDispatcher = {
    async publish(task: TaskMessage, o) {
      enqueue(task.queue, task.codeVersion, task, task.taskId, o?.dedupeId ?? task.taskId);
    },
    async notifyCancelled(notice) {
      cancelNotices.push(notice);
    },
  };
  broker.attachDispatcher(dispatcher);

  /** One starvation guard per worker, as each JetStream worker keeps its own. */
  const pickers = new Map<string, BandPicker>();

  /** Leases the oldest deliverable message of the highest band (guard permitting) for this worker, or returns null. */
  function pick(queue: string, o: NextOptions): { entry: Entry; task: TaskMessage } | null {
    const first = new Map<PriorityBand, { entry: Entry; task: TaskMessage }>();
    scan(queue, o, first);
    let picker = pickers.get(o.workerId);
    if (!picker) pickers.set(o.workerId, (picker = new BandPicker()));
    for (const band of picker.order()) {
      const got = first.get(band);
      if (got) {
        picker.served(band);
        return got;
      }
      picker.empty(band);
    }
    return null;
  }

  /** The oldest deliverable message of each band, into `first`. */
  function scan(queue: string, o: NextOptions, first: Map<PriorityBand, { entry: Entry; task: TaskMessage }>): void {
    const t = now();
    for (const e of [...entries]) {
      if (e.queue !== queue || e.codeVersion !== o.codeVersion || e.leasedToken !== null || e.availableAt > t) continue;
      const parsed = parseTaskMessage(e.body);
      if (!parsed.ok) {
        deadLetters.push({ body: e.body, error: parsed.error });
        remove(e);
        continue;
      }
      if (!labelsSatisfy(parsed.value.requiredLabels, o.labels)) continue;
      const band = priorityBand(parsed.value.priority);
      if (!first.has(band)) first.set(band, { entry: e, task: parsed.value });
    }
  }

  function waitForWake(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wakers.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakers.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  const worker: WorkerTransport = {
    async next(queue, o) {
      const bound = Date.now() + o.waitMs;
      for (;;) {
        if (o.signal?.aborted) return null;
        expireLeases();
        const got = pick(queue, o);
        if (got) {
          const { entry, task } = got;
          entry.deliveries++;
          const attempt = (task.attemptBase ?? 0) + entry.deliveries;
          // Held under a delivery marker until the broker issues the attempt's lease token.
          entry.leasedToken = randomUUID();
          entry.leaseUntil = now() + broker.leaseMs;
          let reply: HeartbeatReply;
          try {
            const start = {
              start: true,
              taskId: task.taskId,
              attempt,
              workerId: o.workerId,
              codeVersion: o.codeVersion,
              capability: task.capability,
            };
            reply = await broker.handleHeartbeat(JSON.parse(JSON.stringify(start)), { queue });
          } catch (err) {
            entry.leasedToken = null; // nak: the broker could not be reached; redeliver
            throw err;
          }
          if (!reply.accepted && reply.retryAfterMs !== undefined) {
            entry.leasedToken = null; // nak with a delay: another attempt's lease is still live
            entry.availableAt = now() + reply.retryAfterMs;
            continue;
          }
          if (!reply.accepted || !reply.leaseToken) {
            remove(entry); // term: the broker refused this delivery for good
            continue;
          }
          entry.leasedToken = reply.leaseToken;
          return {
            task,
            attempt,
            leaseToken: reply.leaseToken,
            workerId: o.workerId,
            heartbeatDetails: reply.heartbeatDetails,
            ...(reply.attemptsLeft !== undefined ? { attemptsLeft: reply.attemptsLeft } : {}),
          };
        }
        const remaining = bound - Date.now();
        if (remaining <= 0) return null;
        await waitForWake(remaining, o.signal);
      }
    },

    async heartbeat(lease, details) {
      const reply = await broker.handleHeartbeat(
        JSON.parse(
          JSON.stringify({
            taskId: lease.task.taskId,
            attempt: lease.attempt,
            leaseToken: lease.leaseToken,
            workerId: lease.workerId,
            details,
          }),
        ),
      );
      const e = find(lease);
      // working(): only the delivery that still holds the message extends its AckWait.
      if (reply.accepted && e && e.leasedToken === lease.leaseToken) e.leaseUntil = now() + broker.leaseMs;
      return reply;
    },

    async report(lease, report: ReportMessage) {
      const body = JSON.parse(JSON.stringify(report)) as unknown;
      try {
        reportResults.push(await broker.report(body, null, { queue: lease.task.queue }));
      } catch (err) {
        // On JetStream a malformed report is PubAck'ed and dead-lettered by the orchestrator's consumer.
        if (!(err instanceof ProtocolError)) throw err;
        deadLetters.push({ body, error: err });
      }
      const e = find(lease);
      if (e) remove(e); // ack only after the report is durable
    },

    async release(lease, { delayMs }) {
      const e = find(lease);
      if (!e || e.leasedToken !== lease.leaseToken) return; // a stale delivery cannot nak its successor
      await broker.handleHeartbeat(
        JSON.parse(
          JSON.stringify({
            taskId: lease.task.taskId,
            attempt: lease.attempt,
            leaseToken: lease.leaseToken,
            workerId: lease.workerId,
            release: true,
          }),
        ),
      );
      e.leasedToken = null;
      e.availableAt = now() + Math.max(0, delayMs);
      wake();
    },

    async presign(lease, req: PresignCall): Promise<PresignReply> {
      return broker.presign(
        JSON.parse(JSON.stringify({ ...req, taskId: lease.task.taskId, attempt: lease.attempt, leaseToken: lease.leaseToken })),
        { queue: lease.task.queue },
      );
    },
  };

  return {
    dispatcher,
    worker,
    deadLetters,
    reportResults,
    cancelNotices,
    publishRaw(queue, codeVersion, body) {
      enqueue(queue, codeVersion, body, null);
    },
    poke() {
      expireLeases();
      wake();
    },
    size: () => entries.length,
  };
}
