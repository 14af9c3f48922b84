/**
 * The NATS trust boundary of workers, as data: what the JETFLOW account (streams, orchestrator)
 * shares with the WORKERS account (every worker credential), and what one worker user of that
 * account may do. The repository's nats-server.conf spells out the same lists for a static
 * config; `jetflow creds init|issue` signs them into account and user JWTs.
 *
 * Why two accounts: a JetStream pull (`$JS.API.CONSUMER.MSG.NEXT…`) may name ANY reply subject
 * and the server delivers there whatever the puller's publish permissions, so inside one account
 * a worker could steer a task delivery into a subject a stream captures (a forged event, a junk
 * job). Across a service import the reply subject is replaced by an internal `_R_.…` subject of
 * the exporting account, so every answer to a worker's request can only come back into the
 * WORKERS account, which holds no stream.
 */
import type { Topology } from "../../../src/contract/topology.js";
import { workerRegistryBucket, workerRegistryKey } from "../../../src/contract/fleet.js";
import { codeBundleBucket, deployBucket } from "../../../src/contract/code-bundles.js";
import { encodeToken } from "../../../src/contract/tokens.js";
import { brokerSubject, cancelNoticeSubject, taskConsumerName } from "../remote/names.js";
import { labelSubsets } from "../../../src/contract/label-routing.js";
import { PRIORITY_BANDS } from "../../../src/contract/priority.js";

/** One service the JETFLOW account exports to the WORKERS account (or the reverse, for control). */
export interface SharedService {
  subject: string;
  /**
   * `Stream`: several answers may come back (a pull's delivery, or its 404/408 status, after a wait);
   * `Singleton`: exactly one (the mapping is dropped after the first answer).
   */
  responseType: "Singleton" | "Stream";
  /** Why a worker needs it. */
  why: string;
}

/**
 * What the JETFLOW account exports as services and the WORKERS account imports: everything the
 * worker SDK puts on the wire (worker-sdk/nats-transport.ts, worker-sdk/nats-fleet.ts), and nothing
 * else. Per-queue and per-worker narrowing is the job of each worker user's permissions.
 */
export function workerImports(topology: Topology): SharedService[] {
  const p = topology.prefix;
  return [
    {
      subject: `$JS.API.CONSUMER.MSG.NEXT.${topology.streams.tasks}.*`,
      responseType: "Stream",
      why: "pull a task (raw MSG.NEXT; the delivery or a status answer comes back after up to `expires`)",
    },
    { subject: `$JS.ACK.${topology.streams.tasks}.>`, responseType: "Singleton", why: "ack / +WPI / -NAK / +TERM its deliveries" },
    { subject: `${p}.reports.*`, responseType: "Singleton", why: "publish a report (JetStream PubAck)" },
    { subject: `${p}.broker.*.*`, responseType: "Singleton", why: "broker start/heartbeat and presign requests" },
    { subject: `$KV.${workerRegistryBucket(p)}.>`, responseType: "Singleton", why: "its fleet registry entry (JetStream PubAck)" },
    ...bundleReads(topology).map((subject) => ({
      subject,
      responseType: "Singleton" as const,
      why: "read a deployed code bundle or a queue's current version (direct get: read only, docs/deploy.md)",
    })),
  ];
}

/**
 * The direct-get subjects of the code bundle object store and the deploy KV bucket: all a worker
 * needs to fetch a bundle (worker-sdk/bundle-fetch.ts). A get only reads; writing a bundle takes
 * `$O.<p>_bundles.>` and `$KV.<p>_deploys.>`, which no worker credential has.
 */
export function bundleReads(topology: Topology): string[] {
  return [`$JS.API.DIRECT.GET.OBJ_${codeBundleBucket(topology.prefix)}`, `$JS.API.DIRECT.GET.KV_${deployBucket(topology.prefix)}`];
}

/** One subject JETFLOW shares with WORKERS as a NATS stream export: messages flow to workers only, no replies. */
export interface SharedStream {
  subject: string;
  /** Why a worker needs it. */
  why: string;
}

/**
 * What the JETFLOW account exports as (core NATS) streams and the WORKERS account imports: the
 * cancel notices of every queue. Each worker user may subscribe to its own queue's subject only
 * ({@link workerPermissions}); nobody in WORKERS may publish there, and the import carries no
 * reply subject back, so it opens no path from workers into JETFLOW.
 */
export function workerStreamImports(topology: Topology): SharedStream[] {
  return [{ subject: `${topology.prefix}.cancel.*`, why: "cancel notices of a queue's tasks (abort the running attempt)" }];
}

/** What the WORKERS account exports and the JETFLOW account imports: control requests to workers. */
export function controlExport(topology: Topology): SharedService {
  return { subject: `${topology.prefix}.ctl.*.*`, responseType: "Singleton", why: "status/drain/stop requests, answered by the worker" };
}

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
 * Permissions of a worker credential named `name`, for worker `workerId` serving `queue` at
 * `codeVersion` with `labels`: pull and ack on its own task consumers (the unlabelled one and one
 * per label set its labels satisfy, src/contract/label-routing.ts, each in every priority band,
 * src/contract/priority.ts), publish its queue's reports,
 * call its queue's broker (heartbeat, presign), write its own registry entry, answer its own
 * control requests, hear its queue's cancel notices, read deployed code bundles (never write them),
 * and receive replies on its own inbox. The
 * consumer names embed the version and the label sets, so a credential is per (queue, version,
 * labels, worker), like a deploy: a worker without `gpu=true` cannot even pull a gpu task.
 * @throws ProtocolError when `labels` has more than 6 entries and `labelSets` is not given.
 */
export function workerPermissions(
  topology: Topology,
  o: {
    queue: string;
    codeVersion: string;
    name: string;
    workerId: string;
    labels?: Record<string, string>;
    labelSets?: Record<string, string>[];
  },
): WorkerPermissions {
  const sets = o.labelSets ? [{}, ...o.labelSets] : labelSubsets(o.labels ?? {});
  // Normal band first: the names a credential had before bands, in the same order.
  const bands = ["normal", ...PRIORITY_BANDS.filter((b) => b !== "normal")] as const;
  const consumers = [...new Set(bands.flatMap((band) => sets.map((s) => taskConsumerName(o.queue, o.codeVersion, s, band))))];
  const inboxPrefix = workerInboxPrefix(o.name);
  return {
    publish: [
      ...consumers.flatMap((consumer) => [
        `$JS.API.CONSUMER.MSG.NEXT.${topology.streams.tasks}.${consumer}`,
        `$JS.ACK.${topology.streams.tasks}.${consumer}.>`,
      ]),
      topology.reportSubject(o.queue),
      brokerSubject(topology, o.queue, "heartbeat").replace(/\.heartbeat$/, ".*"),
      // Exactly its own entry: it can neither overwrite nor delete another worker's.
      `$KV.${workerRegistryBucket(topology.prefix)}.${workerRegistryKey(o.queue, o.workerId)}`,
      // Read-only: bundles of every queue are readable (they are code, not secrets; docs/security.md).
      ...bundleReads(topology),
    ],
    // Control requests are received and answered through allowResponses; never sent.
    subscribe: [
      `${inboxPrefix}.>`,
      `${topology.prefix}.ctl.${encodeToken(o.workerId, "workerId")}.*`,
      cancelNoticeSubject(topology, o.queue),
    ],
    allowResponses: true,
    inboxPrefix,
  };
}
