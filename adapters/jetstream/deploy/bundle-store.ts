/**
 * The operator side of code bundles in JetStream (docs/deploy.md): stores a signed bundle in the
 * object store under (queue, version), keeps each version's record immutable, and moves a queue's
 * "current" pointer on deploy and rollback. Workers read the same data with message gets only
 * (worker-sdk/bundle-fetch.ts) with direct gets, which both streams therefore allow.
 *
 * Immutability is decided by the KV `create` of `version.<q>.<v>` (atomic: fails when the key
 * exists), not by a read-then-write, so two concurrent deploys of different bytes cannot both win.
 */
import { StorageType, jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { JetflowError } from "../../../src/contract/errors.js";
import {
  BUNDLE_RECORD_METADATA_KEY,
  BundleRecord,
  CurrentRecord,
  bundleObjectName,
  bundleVersionKey,
  codeBundleBucket,
  currentVersionKey,
  deployBucket,
} from "../../../src/contract/code-bundles.js";

/** The two buckets of one deployment's bundles. */
export interface DeployStore {
  objects: ObjectStore;
  kv: KV;
}

/** What a deploy did: stored a new version, or found the very same bytes already there. */
export interface DeployResult {
  status: "created" | "unchanged";
  record: BundleRecord;
  current: CurrentRecord | null;
}

/** One deployed version as `jetflow deploy list` shows it. */
export interface ListedBundle extends BundleRecord {
  current: boolean;
}

/**
 * Opens (creating when missing) the bundle object store and the deploy KV bucket of `prefix`.
 * Needs a credential allowed `$JS.API.>`, `$O.<p>_bundles.>` and `$KV.<p>_deploys.>` (the
 * orchestrator user of nats-server.conf).
 */
export async function openDeployStore(
  nc: NatsConnection,
  o: { prefix: string; storage?: "file" | "memory"; replicas?: number },
): Promise<DeployStore> {
  const storage = o.storage === "memory" ? StorageType.Memory : StorageType.File;
  const replicas = o.replicas ?? 1;
  const objects = await new Objm(nc).create(codeBundleBucket(o.prefix), { storage, replicas });
  const kv = await new Kvm(nc).create(deployBucket(o.prefix), { history: 10, storage, replicas, allow_direct: true });
  // Workers read with direct gets (worker-sdk/bundle-fetch.ts); the object store client does not enable them.
  const jsm = await jetstreamManager(nc);
  for (const stream of [`OBJ_${codeBundleBucket(o.prefix)}`, `KV_${deployBucket(o.prefix)}`]) {
    const info = await jsm.streams.info(stream);
    if (!info.config.allow_direct) await jsm.streams.update(stream, { ...info.config, allow_direct: true });
  }
  return { objects, kv };
}

async function readJson<T>(kv: KV, key: string, schema: { parse(v: unknown): T }): Promise<T | null> {
  const e = await kv.get(key);
  if (!e || e.operation !== "PUT" || e.value.byteLength === 0) return null;
  return schema.parse(e.json());
}

/** The current version of `queue`, or null before its first deploy. */
export function currentVersion(store: DeployStore, queue: string): Promise<CurrentRecord | null> {
  return readJson(store.kv, currentVersionKey(queue), CurrentRecord);
}

/** The record of (queue, version), or null when it was never deployed. */
export function bundleRecord(store: DeployStore, queue: string, version: string): Promise<BundleRecord | null> {
  return readJson(store.kv, bundleVersionKey(queue, version), BundleRecord);
}

async function setCurrent(store: DeployStore, queue: string, version: string, reason: CurrentRecord["reason"]): Promise<CurrentRecord> {
  const before = await currentVersion(store, queue);
  const next = CurrentRecord.parse({
    queue,
    version,
    ...(before && before.version !== version ? { previous: before.version } : before?.previous ? { previous: before.previous } : {}),
    updatedAt: new Date().toISOString(),
    reason,
  });
  await store.kv.put(currentVersionKey(queue), JSON.stringify(next));
  return next;
}

/**
 * Stores `bytes` signed as `record`. A (queue, version) already holding other bytes is refused
 * with a CONFLICT error; the same bytes again are an idempotent success (`unchanged`, the first
 * record is kept). With `activate` (default), the version becomes the queue's current one.
 */
export async function deployBundle(
  store: DeployStore,
  record: BundleRecord,
  bytes: Uint8Array,
  o: { activate?: boolean } = {},
): Promise<DeployResult> {
  const key = bundleVersionKey(record.queue, record.version);
  let status: DeployResult["status"] = "created";
  let kept = record;
  try {
    await store.kv.create(key, JSON.stringify(record));
  } catch (err) {
    const existing = await bundleRecord(store, record.queue, record.version);
    // create() failed for another reason (permissions, timeout): say so rather than guess.
    if (!existing) throw err;
    if (existing.sha256 !== record.sha256)
      throw new JetflowError(
        "CONFLICT",
        `version ${record.version} of queue ${record.queue} is already deployed with other bytes ` +
          `(sha256 ${existing.sha256}, deployed ${existing.signedAt}); a version is immutable: deploy under a new --code-version`,
        { existing, attempted: record },
      );
    status = "unchanged";
    kept = existing;
  }
  const name = bundleObjectName(record.queue, record.version);
  // Also on `unchanged`: finishes a deploy that crashed between the record and the bytes.
  const info = await store.objects.info(name);
  if (status === "created" || !info || info.deleted || info.size !== kept.size) {
    await store.objects.putBlob({ name, metadata: { [BUNDLE_RECORD_METADATA_KEY]: JSON.stringify(kept) } }, bytes);
  }
  const current =
    o.activate === false ? await currentVersion(store, record.queue) : await setCurrent(store, record.queue, record.version, "deploy");
  return { status, record: kept, current };
}

/**
 * Makes `version` the current one of `queue` again.
 * @throws JetflowError INVALID_STATE when that version was never deployed.
 */
export async function rollbackTo(store: DeployStore, queue: string, version: string): Promise<CurrentRecord> {
  if (!(await bundleRecord(store, queue, version)))
    throw new JetflowError("INVALID_STATE", `version ${version} of queue ${queue} was never deployed; nothing to roll back to`);
  return setCurrent(store, queue, version, "rollback");
}

/** Every deployed version (of `queue` when given), oldest first per queue, marking the current ones. */
export async function listBundles(store: DeployStore, queue?: string): Promise<ListedBundle[]> {
  const keys: string[] = [];
  const filter = queue ? `${bundleVersionKey(queue, "x").replace(/\.[^.]+$/, "")}.>` : "version.>";
  for await (const k of await store.kv.keys(filter)) keys.push(k);
  const records: BundleRecord[] = [];
  for (const k of keys) {
    const r = await readJson(store.kv, k, BundleRecord);
    if (r) records.push(r);
  }
  const currents = new Map<string, string>();
  for (const q of new Set(records.map((r) => r.queue))) {
    const c = await currentVersion(store, q);
    if (c) currents.set(q, c.version);
  }
  return records
    .sort((a, b) => a.queue.localeCompare(b.queue) || a.signedAt.localeCompare(b.signedAt))
    .map((r) => ({ ...r, current: currents.get(r.queue) === r.version }));
}
