/**
 * What `jetflow streams status` reports: every jetflow stream, durable consumer and KV bucket with
 * its replicas, current leader, the state of its followers and its lag. On a cluster this is how an
 * operator sees that an asset is R1 (it dies with its node) or that a replica fell behind.
 */
import type { ConsumerInfo, JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import { workerRegistryBucket } from "../../src/contract/fleet.js";

/** One follower (non-leader replica) of an asset. */
export interface ReplicaStatus {
  name: string;
  /** Caught up with the leader. */
  current: boolean;
  offline: boolean;
  /** Operations behind the leader (0 when current). */
  lag: number;
}

/** One stream, consumer or KV bucket. */
export interface AssetStatus {
  kind: "stream" | "consumer" | "kv";
  /** Stream name, `stream/consumer`, or the bucket name. */
  name: string;
  /** Configured replicas (a consumer with 0 follows its stream). */
  replicas: number;
  /** Server name of the leader; null while none is elected (the asset refuses writes). */
  leader: string | null;
  followers: ReplicaStatus[];
  /** Largest follower lag, in operations. */
  replicaLag: number;
  /** Streams and buckets: messages stored. */
  messages?: number;
  /** Consumers: messages matching its filter not yet delivered (its backlog). */
  pending?: number;
  /** Consumers: delivered and not yet acknowledged. */
  ackPending?: number;
  /** A leader is elected and every follower is online and current. */
  healthy: boolean;
}

/** Options of {@link topologyStatus}. */
export interface TopologyStatusOptions {
  /** Stream name prefix (`JETFLOW`): streams `<streamPrefix>_*` are reported. */
  streamPrefix: string;
  /** Subject prefix (`jetflow`): names the worker registry bucket. */
  prefix: string;
}

type ClusterInfo = StreamInfo["cluster"];

function replicaFields(cluster: ClusterInfo, singleServer: boolean): Pick<AssetStatus, "leader" | "followers" | "replicaLag" | "healthy"> {
  const followers: ReplicaStatus[] = (cluster?.replicas ?? []).map((r) => ({
    name: r.name,
    current: r.current,
    offline: r.offline ?? false,
    lag: r.lag ?? 0,
  }));
  // A server outside a cluster reports no leader: it is the only copy, and it answers.
  const leader = cluster?.leader || (singleServer ? "(single server)" : null);
  return {
    leader,
    followers,
    replicaLag: Math.max(0, ...followers.map((f) => f.lag)),
    healthy: leader !== null && followers.every((f) => f.current && !f.offline),
  };
}

/** Collects the status of every jetflow asset on the server (streams by name, then their durable consumers). */
export async function topologyStatus(jsm: JetStreamManager, opts: TopologyStatusOptions): Promise<AssetStatus[]> {
  const registry = `KV_${workerRegistryBucket(opts.prefix)}`;
  const streams: StreamInfo[] = [];
  for await (const si of jsm.streams.list()) {
    if (si.config.name.startsWith(`${opts.streamPrefix}_`) || si.config.name === registry) streams.push(si);
  }
  streams.sort((a, b) => a.config.name.localeCompare(b.config.name));
  const out: AssetStatus[] = [];
  for (const si of streams) {
    const singleServer = !si.cluster?.name;
    const kv = si.config.name === registry;
    out.push({
      kind: kv ? "kv" : "stream",
      name: kv ? si.config.name.slice(3) : si.config.name,
      replicas: si.config.num_replicas,
      ...replicaFields(si.cluster, singleServer),
      messages: si.state.messages,
    });
    if (kv) continue;
    const consumers: ConsumerInfo[] = [];
    for await (const ci of jsm.consumers.list(si.config.name)) {
      // Ephemeral consumers (event watchers, the console's live feed) are per-connection and short-lived.
      if (ci.config.durable_name) consumers.push(ci);
    }
    consumers.sort((a, b) => a.name.localeCompare(b.name));
    for (const ci of consumers) {
      out.push({
        kind: "consumer",
        name: `${si.config.name}/${ci.name}`,
        replicas: ci.config.num_replicas || si.config.num_replicas,
        ...replicaFields(ci.cluster, singleServer),
        pending: ci.num_pending,
        ackPending: ci.num_ack_pending,
      });
    }
  }
  return out;
}
