/**
 * Orchestrator/operator side of the worker registry: creates the KV bucket (its max_age is the
 * entry TTL, so dead workers disappear) and lists the workers with a health verdict.
 *
 * Reading walks the bucket's stream with message gets (`next_by_subj`, 2.9+), so an operator needs
 * only `$JS.API.STREAM.MSG.GET.KV_<bucket>` (no consumer, no flow control); the bucket keeps one
 * message per key (history 1), so the walk costs one request per worker. (Direct gets are not
 * used: on a missing stream they time out instead of answering "stream not found".)
 */
import { StorageType, jetstreamManager, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { JetflowError, ValidationError } from "../../../src/contract/errors.js";
import {
  DEFAULT_REGISTRY_TTL_MS,
  DEFAULT_UNHEALTHY_AFTER_MS,
  parseWorkerRecord,
  workerRegistryBucket,
  workerRegistryKey,
  type WorkerRecord,
} from "../../../src/contract/fleet.js";

export interface EnsureWorkerRegistryOptions {
  /** Subject prefix of the deployment (the bucket is `<prefix>_workers`). Default `jetflow`. */
  prefix?: string;
  /** Entry TTL (bucket max_age). Keep it above the workers' heartbeat interval. Default 90 s. */
  ttlMs?: number;
  storage?: "file" | "memory";
  /** Bucket replicas (3 on a cluster). Unset: an existing bucket keeps its replicas, a new one gets 1. */
  replicas?: number;
}

/**
 * Creates the registry bucket when missing (an existing bucket keeps its TTL and storage) and makes
 * sure its stream refuses `Nats-Rollup` headers. Returns its name.
 *
 * Rollups are refused because a KV stream accepts `Nats-Rollup: all` from anyone allowed to publish
 * a single key, which purges the whole bucket: one worker could erase the fleet. jetflow never purges
 * the registry (entries expire with max_age), so nothing legitimate needs them.
 */
export async function ensureWorkerRegistry(nc: NatsConnection, opts: EnsureWorkerRegistryOptions = {}): Promise<string> {
  const ttlMs = opts.ttlMs ?? DEFAULT_REGISTRY_TTL_MS;
  if (!Number.isInteger(ttlMs) || ttlMs < 100)
    throw new ValidationError("ensureWorkerRegistry options", [{ path: "ttlMs", message: "must be an integer >= 100" }]);
  const bucket = workerRegistryBucket(opts.prefix ?? "jetflow");
  await new Kvm(nc).create(bucket, {
    history: 1,
    ttl: ttlMs,
    storage: opts.storage === "memory" ? StorageType.Memory : StorageType.File,
    replicas: opts.replicas ?? 1,
  });
  // The KV client always creates buckets with rollups allowed; switch them off (an editable setting on 2.9).
  // It also leaves an existing bucket's replicas as they were: scale them here when configured.
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(`KV_${bucket}`);
  const scale = opts.replicas !== undefined && info.config.num_replicas !== opts.replicas;
  if (info.config.allow_rollup_hdrs || scale)
    await jsm.streams.update(info.config.name, {
      ...info.config,
      allow_rollup_hdrs: false,
      ...(scale ? { num_replicas: opts.replicas } : {}),
    });
  return bucket;
}

/** A registry entry as an operator sees it. */
export interface WorkerListing extends WorkerRecord {
  /** False when no heartbeat came for `unhealthyAfterMs` (a stopped worker counts as healthy). */
  healthy: boolean;
  /** Milliseconds since the last heartbeat, at listing time. */
  lastSeenMs: number;
}

export interface ListWorkersOptions {
  prefix?: string;
  /** Default 60 s. */
  unhealthyAfterMs?: number;
  /** Only workers of this queue. */
  queue?: string;
  now?: () => Date;
  /** Bound on each read. Default 5000 ms. */
  timeoutMs?: number;
}

/**
 * Every registered worker, sorted by queue then id. Malformed entries are skipped and logged through
 * `onInvalid` (never silently). An absent bucket lists no worker.
 */
export async function listWorkers(
  nc: NatsConnection,
  opts: ListWorkersOptions & { onInvalid?: (key: string, reason: string) => void } = {},
): Promise<WorkerListing[]> {
  const bucket = workerRegistryBucket(opts.prefix ?? "jetflow");
  const stream = `KV_${bucket}`;
  const unhealthyAfter = opts.unhealthyAfterMs ?? DEFAULT_UNHEALTHY_AFTER_MS;
  const now = (opts.now ?? (() => new Date()))().getTime();
  const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: opts.timeoutMs ?? 5_000 });
  // The keys first (stream info with a subjects filter, paged by the client), then each key's
  // latest entry: a bounded number of reads however fast workers rewrite their entries. A walk
  // through the stream by sequence had to chase every rewrite made during the walk, and never
  // ended while workers wrote faster than it read.
  const keys = await registryKeys(jsm, stream);
  const byKey = new Map<string, WorkerListing>();
  for (let i = 0; i < keys.length; i += READ_CONCURRENCY) {
    const batch = await Promise.all(keys.slice(i, i + READ_CONCURRENCY).map((k) => latestEntry(jsm, stream, k)));
    for (const m of batch) {
      if (!m) continue; // deleted since the keys were listed
      const op = m.header?.get("KV-Operation");
      if (op === "DEL" || op === "PURGE") continue;
      const r = parseWorkerRecord(m.data);
      if (!r.ok) {
        opts.onInvalid?.(m.subject, r.error.message);
        continue;
      }
      // A worker credential may write only its own key, but anything into it: the key, not the body,
      // says who wrote it, so an entry claiming another worker or queue is not listed.
      const ownKey = `$KV.${bucket}.${workerRegistryKey(r.value.queue, r.value.id)}`;
      if (m.subject !== ownKey) {
        opts.onInvalid?.(m.subject, `entry claims worker "${r.value.id}" of queue "${r.value.queue}", whose key is ${ownKey}`);
        continue;
      }
      if (opts.queue && r.value.queue !== opts.queue) continue;
      const lastSeenMs = Math.max(0, now - Date.parse(r.value.lastHeartbeat));
      const ended = r.value.status === "stopped" || r.value.status === "failed";
      byKey.set(m.subject, { ...r.value, healthy: ended || lastSeenMs <= unhealthyAfter, lastSeenMs });
    }
  }
  return [...byKey.values()].sort((a, b) => a.queue.localeCompare(b.queue) || a.id.localeCompare(b.id));
}

/** Entries read at once while listing. */
const READ_CONCURRENCY = 32;

/** What a failed registry read says; an absent bucket (nobody registered) is not a failure. */
function registryReadError(stream: string, err: unknown): JetflowError | null {
  const msg = (err as Error).message ?? String(err);
  if (/stream not found/i.test(msg)) return null;
  return new JetflowError("UNAVAILABLE", `reading the worker registry ${stream} failed: ${msg}`);
}

/** Every key of the registry stream (deleted ones included: their marker is the latest entry). */
async function registryKeys(jsm: JetStreamManager, stream: string): Promise<string[]> {
  try {
    const info = await jsm.streams.info(stream, { subjects_filter: ">" });
    return Object.keys(info.state.subjects ?? {}).sort();
  } catch (err) {
    const e = registryReadError(stream, err);
    if (e) throw e;
    return [];
  }
}

/** The key's latest entry; null when it is gone (the client answers "no message found" with null). */
async function latestEntry(jsm: JetStreamManager, stream: string, subject: string): Promise<StoredMsg | null> {
  try {
    return await jsm.streams.getMessage(stream, { last_by_subj: subject });
  } catch (err) {
    const e = registryReadError(stream, err);
    if (e) throw e;
    return null;
  }
}
