/**
 * The exact NATS permissions of a worker of one (queue, code version): the same allow lists
 * as the worker template in the repository's nats-server.conf, as data, so `jetflow creds
 * issue` can sign them into a user JWT. Anything not listed is denied (an allow list denies
 * the rest), which is what keeps a stolen worker credential from touching other queues, the
 * submission API or the stream topology.
 */
import type { Topology } from "../../../src/contract/topology.js";
import { workerRegistryBucket } from "../../../src/contract/fleet.js";
import { encodeToken } from "../../../src/contract/tokens.js";
import { brokerSubject, taskConsumerName } from "../remote/names.js";

/** Publish/subscribe allow lists plus the inbox prefix the worker must connect with. */
export interface WorkerPermissions {
  publish: string[];
  subscribe: string[];
  /** May reply once to a request it received (a control request), and publish nothing else. */
  allowResponses: boolean;
  /** Pass as the connection's `inboxPrefix`: replies to this worker only arrive under it. */
  inboxPrefix: string;
}

/** `_INBOX_<name>`: a per-credential inbox, so one worker cannot read another's replies. */
export function workerInboxPrefix(name: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new RangeError(`worker credential name "${name}" may only hold letters, digits, _ and -`);
  return `_INBOX_${name}`;
}

/**
 * Permissions of a worker credential named `name` serving `queue` at `codeVersion`: pull its
 * own task consumer, ack its own deliveries, publish its queue's reports, call its queue's
 * broker (heartbeat, presign), and receive replies on its own inbox. The consumer name embeds
 * the version, so a credential is per (queue, version), like a deploy.
 */
export function workerPermissions(topology: Topology, o: { queue: string; codeVersion: string; name: string }): WorkerPermissions {
  const consumer = taskConsumerName(o.queue, o.codeVersion);
  const inboxPrefix = workerInboxPrefix(o.name);
  return {
    publish: [
      `$JS.API.CONSUMER.MSG.NEXT.${topology.streams.tasks}.${consumer}`,
      `$JS.ACK.${topology.streams.tasks}.${consumer}.>`,
      topology.reportSubject(o.queue),
      brokerSubject(topology, o.queue, "heartbeat").replace(/\.heartbeat$/, ".>"),
      // Its fleet registry entry (keys are <queue>.<workerId>): visible in `jetflow workers list`.
      `$KV.${workerRegistryBucket(topology.prefix)}.${encodeToken(o.queue, "queue")}.>`,
    ],
    // Control requests are received (drain/stop/status) and answered through allowResponses; never sent.
    subscribe: [`${inboxPrefix}.>`, `${topology.prefix}.ctl.*.*`],
    allowResponses: true,
    inboxPrefix,
  };
}
