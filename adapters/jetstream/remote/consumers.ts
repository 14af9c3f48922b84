/**
 * Idempotent creation of the remote-activity consumers: one durable pull consumer per
 * (queue, codeVersion, required label set) on `<S>_TASKS` (AckWait = lease, MaxDeliver bounds attempts) and one per
 * queue on `<S>_REPORTS`. The streams themselves come from `ensureTopology`.
 * Filters never overlap (a work-queue stream refuses overlapping filtered consumers).
 */
import { DEFAULT_TASK_LEASE_MS } from "../../../src/contract/defaults.js";
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { JetflowError, ValidationError } from "../../../src/contract/errors.js";
import type { Topology } from "../../../src/contract/topology.js";
import { reportConsumerName, taskConsumerName } from "./names.js";
import { PRIORITY_BANDS, type PriorityBand } from "../../../src/contract/priority.js";

/** Options of {@link ensureTaskConsumer}. */
export interface EnsureTaskConsumerOptions {
  topology: Topology;
  queue: string;
  codeVersion: string;
  /**
   * The label set whose tasks this consumer delivers (its own subject, src/contract/label-routing.ts).
   * Default none: the unlabelled consumer.
   */
  requiredLabels?: Readonly<Record<string, string>>;
  /** The priority band whose tasks it delivers (src/contract/priority.ts). Default normal. */
  band?: PriorityBand;
  /** AckWait: how long a delivery is held without `working()` before it is redelivered. Must equal the broker's leaseMs. */
  leaseMs: number;
  /** Deliveries before the server stops redelivering; keep it >= the tasks' maxAttempts so the broker fails them clearly. */
  maxDeliver: number;
  /**
   * Consumer replicas (3 on an R3 cluster). Unset: the consumer follows its stream's replicas
   * (server rule for 0), and an existing consumer keeps what it has.
   */
  replicas?: number;
  /** Tasks in flight at once on this consumer (all workers). Default 1000. */
  maxAckPending?: number;
}

/** What an ensure call did, and the consumer's name. */
export interface EnsuredConsumer {
  stream: string;
  name: string;
  action: "created" | "updated" | "unchanged";
}

/**
 * Creates or updates the durable task consumer of (queue, codeVersion).
 * @throws ValidationError on bad options; JetflowError CONFLICT when a consumer of that name filters another subject.
 */
export async function ensureTaskConsumer(jsm: JetStreamManager, opts: EnsureTaskConsumerOptions): Promise<EnsuredConsumer> {
  if (!(opts.leaseMs > 0) || !Number.isInteger(opts.maxDeliver) || opts.maxDeliver < 1) {
    throw new ValidationError("ensureTaskConsumer options", [
      ...(opts.leaseMs > 0 ? [] : [{ path: "leaseMs", message: "must be > 0" }]),
      ...(Number.isInteger(opts.maxDeliver) && opts.maxDeliver >= 1 ? [] : [{ path: "maxDeliver", message: "must be an integer >= 1" }]),
    ]);
  }
  return ensureDurable(
    jsm,
    opts.topology.streams.tasks,
    {
      durable_name: taskConsumerName(opts.queue, opts.codeVersion, opts.requiredLabels, opts.band),
      filter_subject: opts.topology.taskSubject(opts.queue, opts.codeVersion, opts.requiredLabels, opts.band),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(opts.leaseMs),
      max_deliver: opts.maxDeliver,
      max_ack_pending: opts.maxAckPending ?? 1_000,
      num_replicas: opts.replicas ?? 0,
    },
    opts.replicas !== undefined,
  );
}

/**
 * Creates or updates the task consumers of every priority band of (queue, codeVersion, label set):
 * a worker asks all of them, highest band first, so they are created together.
 */
export async function ensureTaskConsumers(
  jsm: JetStreamManager,
  opts: Omit<EnsureTaskConsumerOptions, "band">,
): Promise<EnsuredConsumer[]> {
  const out: EnsuredConsumer[] = [];
  for (const band of PRIORITY_BANDS) out.push(await ensureTaskConsumer(jsm, { ...opts, band }));
  return out;
}

/** Options of {@link ensureReportConsumer}. */
export interface EnsureReportConsumerOptions {
  topology: Topology;
  queue: string;
  /** How long one orchestrator may hold a report before another gets it. Default 30 000 ms. */
  ackWaitMs?: number;
  /** As {@link EnsureTaskConsumerOptions.replicas}. */
  replicas?: number;
}

/** Creates or updates the durable report consumer of `queue` (no MaxDeliver: a report is never dropped). */
export async function ensureReportConsumer(jsm: JetStreamManager, opts: EnsureReportConsumerOptions): Promise<EnsuredConsumer> {
  return ensureDurable(
    jsm,
    opts.topology.streams.reports,
    {
      durable_name: reportConsumerName(opts.queue),
      filter_subject: opts.topology.reportSubject(opts.queue),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(opts.ackWaitMs ?? DEFAULT_TASK_LEASE_MS),
      max_deliver: -1,
      max_ack_pending: 1_000,
      num_replicas: opts.replicas ?? 0,
    },
    opts.replicas !== undefined,
  );
}

async function info(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | null> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === 10014) return null; // consumer not found
    throw err;
  }
}

async function ensureDurable(
  jsm: JetStreamManager,
  stream: string,
  want: Partial<ConsumerConfig> & { durable_name: string; filter_subject: string },
  /** Reconcile `num_replicas` too (only when the caller configured replicas). */
  scale: boolean,
): Promise<EnsuredConsumer> {
  const name = want.durable_name;
  let have = await info(jsm, stream, name);
  if (!have) {
    try {
      await jsm.consumers.add(stream, want);
      return { stream, name, action: "created" };
    } catch (err) {
      // Lost a creation race with another process: reconcile with what it created.
      have = await info(jsm, stream, name);
      if (!have) throw err;
    }
  }
  if (have.config.filter_subject !== want.filter_subject) {
    throw new JetflowError(
      "CONFLICT",
      `consumer ${stream}/${name} filters "${have.config.filter_subject ?? ""}", expected "${want.filter_subject}"`,
    );
  }
  const keys = ["ack_wait", "max_deliver", "max_ack_pending", ...(scale ? (["num_replicas"] as const) : [])] as const;
  const drift = keys.filter((k) => have!.config[k] !== want[k]);
  if (drift.length === 0) return { stream, name, action: "unchanged" };
  await jsm.consumers.update(stream, name, {
    ack_wait: want.ack_wait,
    max_deliver: want.max_deliver,
    max_ack_pending: want.max_ack_pending,
    // nats-server 2.9 scales a durable consumer in place (an R1 consumer would die with its node).
    ...(scale ? { num_replicas: want.num_replicas } : {}),
  });
  return { stream, name, action: "updated" };
}
