/**
 * Reads a deployed code bundle out of JetStream with nothing but direct gets
 * (`$JS.API.DIRECT.GET.<stream>`): the object store's meta entry, then each chunk, and the queue's
 * current-version pointer in the deploy KV bucket. A worker credential is granted exactly those two
 * read-only subjects (adapters/jetstream/auth/worker-permissions.ts), so it can fetch bundles but
 * never write one. Direct gets, not `$JS.API.STREAM.MSG.GET`: the stream answers them itself, so
 * they work across the WORKERS→JETFLOW service import, where nats-server 2.9 would look the JS API
 * request up in the (JetStream-less) WORKERS account. The layout read here is the NATS object
 * store's (ADR-20): meta at `$O.<bucket>.M.<base64url(name)>`, chunks at `$O.<bucket>.C.<nuid>`.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import {
  BUNDLE_RECORD_METADATA_KEY,
  bundleObjectName,
  codeBundleBucket,
  currentVersionKey,
  deployBucket,
  CurrentRecord,
} from "../src/contract/code-bundles.js";
import { BundleRejectedError } from "./errors.js";

const ObjectMeta = z.object({
  nuid: z.string().min(1),
  size: z.number().int().min(0),
  chunks: z.number().int().min(0),
  deleted: z.boolean().optional(),
  metadata: z.record(z.string(), z.string()).optional(),
});

/** A bundle as read from the store, not yet verified. */
export interface FetchedBundle {
  bytes: Uint8Array;
  /** The record the meta entry carries (to pass to verifyBundle). */
  record: unknown;
}

/** Options of the reads: the subject prefix and a bound on each request. */
export interface BundleReadOptions {
  prefix: string;
  timeoutMs?: number;
}

async function msgGet(
  nc: NatsConnection,
  stream: string,
  req: Record<string, unknown>,
  timeoutMs: number,
): Promise<{ subject: string; seq: number; data: Uint8Array } | null> {
  let reply;
  try {
    reply = await nc.request(`$JS.API.DIRECT.GET.${stream}`, JSON.stringify(req), { timeout: timeoutMs });
  } catch (err) {
    // A missing stream does not answer a direct get: the request times out (or finds no responders).
    throw new BundleRejectedError(`cannot read stream ${stream} (nothing deployed yet, or no access): ${(err as Error).message}`);
  }
  const code = reply.headers?.code ?? 0;
  if (code === 404) return null;
  if (code >= 300) throw new BundleRejectedError(`stream ${stream}: direct get answered ${code} ${reply.headers?.description ?? ""}`);
  const seq = Number(reply.headers?.get("Nats-Sequence"));
  const subject = reply.headers?.get("Nats-Subject") ?? "";
  if (!Number.isInteger(seq) || seq < 1 || !subject) throw new BundleRejectedError(`stream ${stream}: direct get reply without sequence`);
  return { subject, seq, data: reply.data };
}

/**
 * The version the queue's current pointer names, or null when nothing was deployed for it.
 * @throws BundleRejectedError when the store cannot be read.
 */
export async function readCurrentVersion(nc: NatsConnection, queue: string, o: BundleReadOptions): Promise<CurrentRecord | null> {
  const bucket = deployBucket(o.prefix);
  const m = await msgGet(nc, `KV_${bucket}`, { last_by_subj: `$KV.${bucket}.${currentVersionKey(queue)}` }, o.timeoutMs ?? 5_000);
  if (!m || m.data.byteLength === 0) return null;
  const parsed = CurrentRecord.safeParse(JSON.parse(new TextDecoder().decode(m.data)));
  if (!parsed.success) throw new BundleRejectedError(`the current-version record of queue ${queue} is malformed`);
  return parsed.data;
}

/**
 * Reads the bundle of (queue, version): its meta entry and every chunk, in order.
 * @throws BundleRejectedError when it does not exist, was deleted, or is incomplete.
 */
export async function fetchBundle(nc: NatsConnection, queue: string, version: string, o: BundleReadOptions): Promise<FetchedBundle> {
  const bucket = codeBundleBucket(o.prefix);
  const stream = `OBJ_${bucket}`;
  const timeout = o.timeoutMs ?? 5_000;
  const name = bundleObjectName(queue, version);
  const metaSubject = `$O.${bucket}.M.${Buffer.from(name).toString("base64").replace(/\+/g, "-").replace(/\//g, "_")}`;
  const metaMsg = await msgGet(nc, stream, { last_by_subj: metaSubject }, timeout);
  if (!metaMsg) throw new BundleRejectedError(`no bundle deployed for queue ${queue} version ${version}`);
  const meta = ObjectMeta.safeParse(JSON.parse(new TextDecoder().decode(metaMsg.data)));
  if (!meta.success) throw new BundleRejectedError(`bundle ${queue}/${version}: malformed object meta`);
  if (meta.data.deleted) throw new BundleRejectedError(`bundle ${queue}/${version} was deleted from the store`);
  const rawRecord = meta.data.metadata?.[BUNDLE_RECORD_METADATA_KEY];
  if (!rawRecord)
    throw new BundleRejectedError(`bundle ${queue}/${version}: object carries no signed record (not deployed by jetflow deploy)`);
  let record: unknown;
  try {
    record = JSON.parse(rawRecord);
  } catch {
    throw new BundleRejectedError(`bundle ${queue}/${version}: its record is not JSON`);
  }
  const parts: Uint8Array[] = [];
  const chunkSubject = `$O.${bucket}.C.${meta.data.nuid}`;
  let seq = 1;
  for (let i = 0; i < meta.data.chunks; i++) {
    const c = await msgGet(nc, stream, { seq, next_by_subj: chunkSubject }, timeout);
    if (!c) throw new BundleRejectedError(`bundle ${queue}/${version}: chunk ${i + 1} of ${meta.data.chunks} is missing`);
    parts.push(c.data);
    seq = c.seq + 1;
  }
  return { bytes: new Uint8Array(Buffer.concat(parts)), record };
}
