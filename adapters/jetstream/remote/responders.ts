/**
 * The orchestrator's request/reply responders for workers: heartbeats and presigns arrive on
 * `<p>.broker.<queue>.heartbeat|presign` (see names.ts), are fed raw to the Broker, and any
 * thrown error becomes a `TaskErrorReply` through the guarded reply path (never a crash, never a
 * silent drop, never a database detail). Every
 * orchestrator joins the same queue group, so each request is answered once.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "../../../src/ports/logger.js";
import { serveRequest } from "../../../src/contract/guarded-reply.js";
import type { Topology } from "../../../src/contract/topology.js";
import type { Broker } from "../../../src/remote/broker.js";
import type { Via } from "../../../src/remote/task-capability.js";
import { brokerFilter, brokerSubject, queueOfBrokerSubject, type BrokerOp } from "./names.js";
import { parseBrokerRespondersOptions } from "../options.js";

/** Options of {@link startBrokerResponders}. */
export interface BrokerRespondersOptions {
  topology: Topology;
  /** Serve only these queues (default: every queue, `<p>.broker.*.<op>`). */
  queues?: string[];
  /** Queue group shared by all orchestrators. Default `jetflow-broker`. */
  group?: string;
  logger?: Logger;
}

/** Running responders; `stop()` drains the subscriptions and waits for in-flight replies. */
export interface BrokerResponders {
  /** Subjects listened on. */
  readonly subjects: string[];
  stop(): Promise<void>;
}

/** Subscribes the heartbeat and presign responders of `broker`. Resolves once the server has the subscriptions. */
export async function startBrokerResponders(
  nc: NatsConnection,
  broker: Broker,
  options: BrokerRespondersOptions,
): Promise<BrokerResponders> {
  const opts = parseBrokerRespondersOptions(options);
  const logger = opts.logger;
  const group = opts.group;
  const inFlight = new Set<Promise<void>>();
  const subs: Subscription[] = [];
  const subjects: string[] = [];
  const handlers: Record<BrokerOp, (raw: unknown, via: Via) => Promise<unknown>> = {
    heartbeat: (raw, via) => broker.handleHeartbeatBody(raw, via),
    presign: (raw, via) => broker.presign(raw, via),
  };

  // Refusals (malformed body, lease not held, key outside the prefix) are answers, not failures;
  // infrastructure errors answer UNAVAILABLE and anything else INTERNAL, with no internal detail.
  // serveRequest never rejects, whatever the body, the handler or the reply subject holds.
  const answer = (op: BrokerOp, m: Msg): Promise<void> =>
    serveRequest(m, () => handlers[op](m.data, { queue: queueOfBrokerSubject(m.subject) }), {
      logger,
      context: { op },
      onError: (err) => logger.info({ subject: m.subject, err: (err as Error)?.message ?? String(err) }, `broker ${op} refused`),
    });

  for (const op of ["heartbeat", "presign"] as const) {
    const list = opts.queues ? opts.queues.map((q) => brokerSubject(opts.topology, q, op)) : [brokerFilter(opts.topology, op)];
    for (const subject of list) {
      subjects.push(subject);
      subs.push(
        nc.subscribe(subject, {
          queue: group,
          callback: (err, m) => {
            if (err) {
              logger.error({ subject, err: err.message }, "broker responder subscription failed");
              return;
            }
            const p = answer(op, m).finally(() => inFlight.delete(p));
            inFlight.add(p);
          },
        }),
      );
    }
  }
  await nc.flush(); // the server has the subscriptions once the flush round-trip returns

  let stopped: Promise<void> | null = null;
  return {
    subjects,
    stop() {
      stopped ??= (async () => {
        await Promise.all(subs.map((s) => (nc.isClosed() ? undefined : s.drain())));
        await Promise.all([...inFlight]);
      })();
      return stopped;
    },
  };
}
