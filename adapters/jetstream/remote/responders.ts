/**
 * The orchestrator's request/reply responders for workers: heartbeats and presigns arrive on
 * `<p>.broker.<queue>.heartbeat|presign` (see names.ts), are fed raw to the Broker, and any
 * thrown error becomes a `TaskErrorReply` (never a crash, never a silent drop). Every
 * orchestrator joins the same queue group, so each request is answered once.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "../../../src/ports/logger.js";
import { toTaskErrorReply } from "../../../src/contract/tasks.js";
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
    heartbeat: (raw, via) => broker.handleHeartbeat(raw, via),
    presign: (raw, via) => broker.presign(raw, via),
  };

  const answer = async (op: BrokerOp, m: Msg): Promise<void> => {
    let reply: unknown;
    try {
      // The queue is the one of the subject: the only one a worker's permissions let it publish to.
      reply = await handlers[op](m.data, { queue: queueOfBrokerSubject(m.subject) });
    } catch (err) {
      // Refusals (malformed body, lease not held, key outside the prefix) are answers, not failures.
      logger.info({ subject: m.subject, err: (err as Error)?.message ?? String(err) }, `broker ${op} refused`);
      reply = toTaskErrorReply(err);
    }
    if (!m.reply) {
      logger.warn({ subject: m.subject }, `broker ${op} request without a reply subject; dropped`);
      return;
    }
    m.respond(JSON.stringify(reply));
  };

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
            const p = answer(op, m)
              .catch((e: unknown) => logger.error({ subject: m.subject, err: String(e) }, `broker ${op} reply could not be sent`))
              .finally(() => inFlight.delete(p));
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
