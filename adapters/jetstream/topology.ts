/**
 * Idempotent creation of jetflow's JetStream streams and durable consumers (`jetflow streams init`
 * and every orchestrator start). Safe to call repeatedly and from several processes at once: a
 * lost creation race is resolved by reading what the winner created and updating it if needed.
 * Uses only stream/consumer features nats-server 2.9 understands (no metadata, compression,
 * multi-filter consumers, per-message TTL).
 */
import type { JetStreamManager, StreamConfig, StreamInfo, ConsumerConfig, ConsumerInfo } from "@nats-io/jetstream";
import { AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { JetflowError } from "../../src/contract/errors.js";
import { createTopology, type Topology } from "../../src/contract/topology.js";

/** Options of {@link ensureTopology}. */
export interface EnsureTopologyOptions {
  topology?: Topology;
  /**
   * Stream and consumer replicas: 1 for a single server, 3 on a cluster. When set, every stream and
   * durable consumer is created or scaled to it. When unset, existing streams keep their replicas
   * (so a process without the setting never scales down what `streams init --replicas 3` made), new
   * streams get 1, and consumers follow their stream's replicas.
   */
  replicas?: number;
  /** Job lease = AckWait of the jobs consumer. Default 30 000 ms. */
  jobAckWaitMs?: number;
  /** MaxDeliver of the jobs consumer. Default 5. */
  jobMaxDeliver?: number;
  /** How long workflow events are kept. Default 7 days. */
  eventsMaxAgeMs?: number;
  /** JetStream de-duplication window (Nats-Msg-Id) of every stream. Default 2 minutes. */
  duplicateWindowMs?: number;
  /** File (default) or memory storage. */
  storage?: "file" | "memory";
}

/** What ensureTopology found and did. */
export interface TopologyReport {
  serverVersion: string;
  created: string[];
  updated: string[];
  unchanged: string[];
}

/** Server version this module needs at least (work-queue streams + pull consumers as used here). */
export const MIN_SERVER_VERSION = "2.9.0";

/** Stream and consumer configs ensureTopology applies, exposed so callers can inspect them. */
export function desiredTopology(opts: EnsureTopologyOptions = {}): {
  streams: Partial<StreamConfig>[];
  consumers: { stream: string; config: Partial<ConsumerConfig> }[];
} {
  const t = opts.topology ?? createTopology();
  const replicas = opts.replicas;
  // Unset = keep what exists: the key must then be absent (an `undefined` would override on update).
  const streamReplicas = replicas === undefined ? {} : { num_replicas: replicas };
  // 0 = the stream's replicas (server rule), so a consumer follows its stream when nothing is configured.
  const consumerReplicas = { num_replicas: replicas ?? 0 };
  const dupMs = opts.duplicateWindowMs ?? 120_000;
  const dup = nanos(dupMs);
  const eventsMaxAgeMs = opts.eventsMaxAgeMs ?? 7 * 24 * 3_600_000;
  const storage = opts.storage === "memory" ? StorageType.Memory : StorageType.File;
  const workQueue = (name: string, subject: string): Partial<StreamConfig> => ({
    name,
    subjects: [subject],
    retention: RetentionPolicy.Workqueue,
    storage,
    ...streamReplicas,
    duplicate_window: dup,
    discard: DiscardPolicy.Old,
  });
  const leaseNs = nanos(opts.jobAckWaitMs ?? 30_000);
  return {
    streams: [
      workQueue(t.streams.jobs, t.filters.jobs),
      workQueue(t.streams.jobsDelayed, t.filters.jobsDelayed),
      workQueue(t.streams.jobsDead, t.filters.jobsDead),
      workQueue(t.streams.tasks, t.filters.tasks),
      workQueue(t.streams.reports, t.filters.reports),
      {
        name: t.streams.events,
        subjects: [t.filters.events],
        retention: RetentionPolicy.Limits,
        storage,
        ...streamReplicas,
        // The server refuses a duplicate window longer than max age.
        duplicate_window: nanos(Math.min(dupMs, eventsMaxAgeMs)),
        discard: DiscardPolicy.Old,
        max_age: nanos(eventsMaxAgeMs),
      },
    ],
    consumers: [
      // One jobs consumer per priority band, drained highest first by the job transport (priority.ts).
      // Normal first: an older deployment's unfiltered `jobs` consumer must be replaced before the
      // others can exist (a work-queue stream refuses overlapping consumers).
      ...(["normal", "high", "low"] as const).map((band) => ({
        stream: t.streams.jobs,
        config: {
          durable_name: t.consumers.jobBands[band],
          filter_subject: t.jobBandFilters[band],
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: leaseNs,
          max_deliver: opts.jobMaxDeliver ?? 5,
          ...consumerReplicas,
          // Enough in-flight jobs for many orchestrators; each pulls one at a time.
          max_ack_pending: 10_000,
        },
      })),
      {
        // Holds jobs until due: its deliveries are timers, not attempts, so no MaxDeliver.
        stream: t.streams.jobsDelayed,
        config: {
          durable_name: t.consumers.jobsDelayed,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: leaseNs,
          max_deliver: -1,
          ...consumerReplicas,
          max_ack_pending: 10_000,
        },
      },
      {
        // Max-deliveries advisories of the jobs stream; read by releaseStale on any orchestrator.
        stream: t.streams.jobsDead,
        config: {
          durable_name: t.consumers.jobsDead,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: nanos(30_000),
          max_deliver: -1,
          ...consumerReplicas,
        },
      },
    ],
  };
}

/**
 * Creates or updates every stream and durable consumer of the topology.
 * @throws JetflowError UNAVAILABLE when the server is older than 2.9 or lacks JetStream;
 *   CONFLICT when an existing stream has a retention that cannot be changed.
 */
export async function ensureTopology(jsm: JetStreamManager, opts: EnsureTopologyOptions = {}): Promise<TopologyReport> {
  const serverVersion = await checkServer(jsm);
  const report: TopologyReport = { serverVersion, created: [], updated: [], unchanged: [] };
  const want = desiredTopology(opts);
  for (const cfg of want.streams) await ensureStream(jsm, cfg, report);
  for (const c of want.consumers) await ensureConsumer(jsm, c.stream, c.config, report, opts.replicas !== undefined);
  return report;
}

async function checkServer(jsm: JetStreamManager): Promise<string> {
  try {
    await jsm.getAccountInfo();
  } catch (err) {
    throw new JetflowError("UNAVAILABLE", `JetStream is not available on this account/server: ${(err as Error).message}`);
  }
  const nc = (jsm as unknown as { nc?: { info?: { version?: string } } }).nc;
  const version = nc?.info?.version ?? "unknown";
  if (version !== "unknown" && compareVersions(version, MIN_SERVER_VERSION) < 0) {
    throw new JetflowError("UNAVAILABLE", `nats-server ${version} is too old: jetflow needs ${MIN_SERVER_VERSION} or later`);
  }
  return version;
}

/** Semver-ish comparison of `a` and `b` ("2.9.10" vs "2.10.0"); pre-release suffixes are ignored. */
export function compareVersions(a: string, b: string): number {
  const pa = a
    .split(/[.-]/)
    .slice(0, 3)
    .map((x) => Number.parseInt(x, 10) || 0);
  const pb = b
    .split(/[.-]/)
    .slice(0, 3)
    .map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | null> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === 10059) return null; // stream not found
    throw err;
  }
}

async function ensureStream(jsm: JetStreamManager, want: Partial<StreamConfig>, report: TopologyReport): Promise<void> {
  const name = want.name!;
  let info = await streamInfo(jsm, name);
  if (!info) {
    try {
      await jsm.streams.add(want as StreamConfig);
      report.created.push(`stream ${name}`);
      return;
    } catch (err) {
      // Another process may have created it between our info and add: re-read and reconcile.
      info = await streamInfo(jsm, name);
      if (!info) throw err;
    }
  }
  if (info.config.retention !== want.retention) {
    throw new JetflowError(
      "CONFLICT",
      `stream ${name} exists with retention "${info.config.retention}" but jetflow needs "${want.retention}"; it cannot be changed in place (delete the stream or use another streamPrefix)`,
    );
  }
  const drift = differs(info.config as unknown as Record<string, unknown>, want as Record<string, unknown>, [
    "subjects",
    "num_replicas",
    "duplicate_window",
    "max_age",
    "discard",
  ]);
  if (drift.length === 0) {
    report.unchanged.push(`stream ${name}`);
    return;
  }
  await jsm.streams.update(name, { ...info.config, ...want } as StreamConfig);
  report.updated.push(`stream ${name} (${drift.join(", ")})`);
}

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  want: Partial<ConsumerConfig>,
  report: TopologyReport,
  scale: boolean,
): Promise<void> {
  const name = want.durable_name!;
  const label = `consumer ${stream}/${name}`;
  let info: ConsumerInfo | null = await consumerInfo(jsm, stream, name);
  if (info && want.filter_subject !== undefined && (info.config.filter_subject ?? "") !== want.filter_subject) {
    // 2.9 cannot change a filter in place. Only the jobs consumer of a deployment from before
    // priority bands (no filter) gets here; its unacked jobs are redelivered by the replacement.
    await jsm.consumers.delete(stream, name).catch((err: unknown) => {
      if (!(err instanceof JetStreamApiError && err.code === 10014)) throw err; // another process deleted it first
    });
    report.updated.push(`${label} (filter_subject "${info.config.filter_subject ?? ""}" -> "${want.filter_subject}", recreated)`);
    info = null;
  }
  if (!info) {
    try {
      await jsm.consumers.add(stream, want);
      report.created.push(label);
      return;
    } catch (err) {
      info = await consumerInfo(jsm, stream, name);
      if (!info) throw err;
    }
  }
  // Replicas are reconciled only when configured: otherwise the consumer keeps what it has.
  const drift = differs(info.config as unknown as Record<string, unknown>, want as Record<string, unknown>, [
    "ack_wait",
    "max_deliver",
    "max_ack_pending",
    ...(scale ? ["num_replicas"] : []),
  ]);
  if (drift.length === 0) {
    report.unchanged.push(label);
    return;
  }
  await jsm.consumers.update(stream, name, {
    ack_wait: want.ack_wait,
    max_deliver: want.max_deliver,
    max_ack_pending: want.max_ack_pending,
    ...(scale ? { num_replicas: want.num_replicas } : {}),
  });
  report.updated.push(`${label} (${drift.join(", ")})`);
}

async function consumerInfo(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | null> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === 10014) return null; // consumer not found
    throw err;
  }
}

/** Keys among `keys` whose values differ between the server's config and ours. */
function differs(have: Record<string, unknown>, want: Record<string, unknown>, keys: string[]): string[] {
  return keys.filter((k) => want[k] !== undefined && JSON.stringify(have[k]) !== JSON.stringify(want[k]));
}
