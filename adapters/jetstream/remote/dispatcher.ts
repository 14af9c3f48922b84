/**
 * The broker's TaskDispatcher on JetStream: a task is published on
 * `<p>.tasks.<queue>.<codeVersion>` with `Nats-Msg-Id = taskId` and is durable once the PubAck
 * arrives (a re-publish inside the duplicate window is dropped by the server). Cancel notices are
 * a best-effort core publish on the task's queue subject (workers abort on it); broker heartbeat
 * replies carry `cancelled: true` as the fallback.
 */
import { jetstream } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { contextFromCarrier, injectTraceHeaders } from "../../../src/contract/trace-headers.js";
import { CancelNotice, TaskMessage, encodeTaskBody } from "../../../src/contract/tasks.js";
import type { Topology } from "../../../src/contract/topology.js";
import type { TaskDispatcher } from "../../../src/remote/types.js";
import { cancelNoticeSubject } from "./names.js";
import { parseTaskDispatcherOptions } from "../options.js";

/** Options of {@link createJetStreamTaskDispatcher}. */
export interface JetStreamTaskDispatcherOptions {
  topology: Topology;
  /** Bound on each PubAck. Default 5000 ms. */
  ackTimeoutMs?: number;
}

/** Creates a TaskDispatcher publishing to the TASKS stream (attach it with `broker.attachDispatcher`). */
export function createJetStreamTaskDispatcher(nc: NatsConnection, options: JetStreamTaskDispatcherOptions): TaskDispatcher {
  const opts = parseTaskDispatcherOptions(options);
  const js = jetstream(nc);
  const timeout = opts.ackTimeoutMs;
  return {
    async publish(task, o) {
      // Validate before sending: a body workers cannot parse would only be dead-lettered on their side.
      const body = encodeTaskBody(TaskMessage, `task ${task.taskId}`, task);
      // Trace headers from the task's persisted carrier (its dispatch span), also on a re-publish.
      const headers = natsHeaders();
      injectTraceHeaders(headers, contextFromCarrier(task.traceContext));
      await js.publish(opts.topology.taskSubject(task.queue, task.codeVersion), body, {
        msgID: o?.dedupeId ?? task.taskId,
        timeout,
        ...(headers.keys().length > 0 ? { headers } : {}),
      });
    },
    async notifyCancelled(notice) {
      nc.publish(cancelNoticeSubject(opts.topology, notice.queue), encodeTaskBody(CancelNotice, "cancel notice", notice));
    },
  };
}
