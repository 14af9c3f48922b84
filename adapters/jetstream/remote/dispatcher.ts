/**
 * The broker's TaskDispatcher on JetStream: a task is published on
 * `<p>.tasks.<queue>.<codeVersion>[.<labelKey>][.high|.low]` (its required label set and its
 * priority band have their own subject, see src/contract/label-routing.ts and priority.ts) with `Nats-Msg-Id = taskId` and is durable once the PubAck
 * arrives (a re-publish inside the duplicate window is dropped by the server). Cancel notices are
 * a best-effort core publish on the task's queue subject (workers abort on it); broker heartbeat
 * replies carry `cancelled: true` as the fallback.
 *
 * While a cluster elects a new stream leader (seconds after a node loss) a publish fails with
 * "no responders" (503) or times out. The publish is retried (bounded) rather than failing the
 * stage attempt: each failure there cost an attempt, so an election burnt all of a stage's
 * attempts within a second and failed its run. Retrying is safe: the server drops a duplicate
 * `Nats-Msg-Id` inside the duplicate window.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import pRetry from "p-retry";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { contextFromCarrier, injectTraceHeaders } from "../../../src/contract/trace-headers.js";
import { CancelNotice, TaskMessage, encodeTaskBody } from "../../../src/contract/tasks.js";
import type { Topology } from "../../../src/contract/topology.js";
import { labelKey } from "../../../src/contract/label-routing.js";
import { priorityBand } from "../../../src/contract/priority.js";
import type { TaskDispatcher } from "../../../src/remote/types.js";
import { cancelNoticeSubject, taskConsumerName } from "./names.js";
import { ensureTaskConsumers, type EnsureTaskConsumerOptions } from "./consumers.js";
import { parseTaskDispatcherOptions } from "../options.js";

/** How the consumers of a (queue, codeVersion)'s label sets are configured (as its unlabelled one). */
export type LabelledConsumerSettings = Pick<EnsureTaskConsumerOptions, "leaseMs" | "maxDeliver" | "maxAckPending" | "replicas">;

/** Options of {@link createJetStreamTaskDispatcher}. */
export interface JetStreamTaskDispatcherOptions {
  topology: Topology;
  /** Bound on each PubAck. Default 5000 ms. */
  ackTimeoutMs?: number;
  /**
   * Settings of the consumers a labelled task's label set needs (one per priority band); the
   * dispatcher creates them (once per process) before publishing the first task of that set. Undefined (or no callback): the
   * consumer must be created elsewhere (`ensureTaskConsumer` with `requiredLabels`); until then the
   * task waits in the stream.
   */
  labelledConsumers?: (queue: string, codeVersion: string) => LabelledConsumerSettings | undefined;
  /** How long a publish is retried while JetStream does not answer (a leader election). Default 20 000 ms. */
  unavailableRetryMs?: number;
}

/** A publish that may succeed when repeated: no stream leader yet (503 / "jetstream is not enabled"), or no PubAck in time. */
function transientPublishError(err: Error): boolean {
  return /no responders|503|jetstream is not enabled|timeout|disconnect/i.test(err.message);
}

/** Creates a TaskDispatcher publishing to the TASKS stream (attach it with `broker.attachDispatcher`). */
export function createJetStreamTaskDispatcher(nc: NatsConnection, options: JetStreamTaskDispatcherOptions): TaskDispatcher {
  const opts = parseTaskDispatcherOptions(options);
  const js = jetstream(nc);
  const timeout = opts.ackTimeoutMs;
  /** Consumers ensured (or being ensured) by this dispatcher, by name. */
  const ensured = new Map<string, Promise<unknown>>();

  function ensureLabelled(task: TaskMessage): Promise<unknown> | undefined {
    if (labelKey(task.requiredLabels) === null || !opts.labelledConsumers) return undefined;
    const settings = opts.labelledConsumers(task.queue, task.codeVersion);
    if (!settings) return undefined;
    const name = taskConsumerName(task.queue, task.codeVersion, task.requiredLabels);
    let p = ensured.get(name);
    if (!p) {
      p = jetstreamManager(nc).then((jsm) =>
        ensureTaskConsumers(jsm, {
          topology: opts.topology,
          queue: task.queue,
          codeVersion: task.codeVersion,
          requiredLabels: task.requiredLabels,
          ...settings,
        }),
      );
      // Forget a failed creation so the next task of the set retries it; this publish awaits p and fails.
      p.catch(() => ensured.delete(name));
      ensured.set(name, p);
    }
    return p;
  }

  return {
    async publish(task, o) {
      // Validate before sending: a body workers cannot parse would only be dead-lettered on their side.
      const body = encodeTaskBody(TaskMessage, `task ${task.taskId}`, task);
      await ensureLabelled(task);
      // Trace headers from the task's persisted carrier (its dispatch span), also on a re-publish.
      const headers = natsHeaders();
      injectTraceHeaders(headers, contextFromCarrier(task.traceContext));
      const subject = opts.topology.taskSubject(task.queue, task.codeVersion, task.requiredLabels, priorityBand(task.priority));
      await pRetry(
        () =>
          js.publish(subject, body, {
            msgID: o?.dedupeId ?? task.taskId,
            timeout,
            ...(headers.keys().length > 0 ? { headers } : {}),
          }),
        {
          retries: 1_000, // bounded by maxRetryTime
          minTimeout: 250,
          maxTimeout: 2_000,
          maxRetryTime: opts.unavailableRetryMs,
          shouldRetry: ({ error }) => transientPublishError(error),
        },
      );
    },
    async notifyCancelled(notice) {
      nc.publish(cancelNoticeSubject(opts.topology, notice.queue), encodeTaskBody(CancelNotice, "cancel notice", notice));
    },
  };
}
