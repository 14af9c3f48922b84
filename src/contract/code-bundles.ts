/**
 * Code bundles deployed through jetflow (docs/deploy.md): where a signed activity bundle and the
 * "current version" pointer of a queue live in JetStream, and the records describing them.
 *
 * | name                                         | what                                                      |
 * | -------------------------------------------- | --------------------------------------------------------- |
 * | object store `<p>_bundles` (dots → `_`)      | object `<queue>/<version>`: the bundle bytes; its meta `metadata` holds a {@link BundleRecord} |
 * | KV `<p>_deploys`, key `version.<q>.<v>`      | the {@link BundleRecord} of one (queue, version), created once: a version is immutable |
 * | KV `<p>_deploys`, key `current.<q>`          | a {@link CurrentRecord}: which version workers following "current" load |
 *
 * Queue and version are encoded as subject tokens in keys (src/contract/tokens.ts).
 */
import { z } from "zod";
import { encodeToken } from "./tokens.js";

/** Key of the object meta `metadata` entry holding the bundle's {@link BundleRecord} (JSON). */
export const BUNDLE_RECORD_METADATA_KEY = "jetflow-bundle";

/** Object store bucket of the code bundles. */
export function codeBundleBucket(prefix: string): string {
  return `${prefix.replaceAll(".", "_")}_bundles`;
}

/** KV bucket of the deploy records (immutable versions, current pointers). */
export function deployBucket(prefix: string): string {
  return `${prefix.replaceAll(".", "_")}_deploys`;
}

/** Object name of one bundle. */
export function bundleObjectName(queue: string, version: string): string {
  return `${encodeToken(queue, "queue")}/${encodeToken(version, "codeVersion")}`;
}

/** KV key of the immutable record of (queue, version). */
export function bundleVersionKey(queue: string, version: string): string {
  return `version.${encodeToken(queue, "queue")}.${encodeToken(version, "codeVersion")}`;
}

/** KV key of a queue's current-version pointer. */
export function currentVersionKey(queue: string): string {
  return `current.${encodeToken(queue, "queue")}`;
}

/** What one deployed bundle is: its identity, its bytes' hash and size, and who signed it. */
export const BundleRecord = z.object({
  queue: z.string().min(1),
  version: z.string().min(1),
  /** Lower-case hex sha256 of the bundle bytes. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "64 lower-case hex digits"),
  size: z.number().int().min(1),
  /** Public nkey (Ed25519) of the operator whose seed signed the bundle. */
  signer: z.string().min(1),
  /** base64url Ed25519 signature of {@link bundleSigningPayload}. */
  signature: z.string().min(1),
  /** When it was signed (ISO 8601); part of the signed payload. */
  signedAt: z.string().min(1),
  /** The entry file it was bundled from (informational, not signed). */
  entry: z.string().optional(),
});
export type BundleRecord = z.output<typeof BundleRecord>;

/** A queue's current version, as set by a deploy or a rollback. */
export const CurrentRecord = z.object({
  queue: z.string().min(1),
  version: z.string().min(1),
  /** The version that was current before (absent for the first deploy). */
  previous: z.string().optional(),
  updatedAt: z.string().min(1),
  reason: z.enum(["deploy", "rollback"]),
});
export type CurrentRecord = z.output<typeof CurrentRecord>;

/**
 * The exact bytes a bundle signature covers: queue, version, hash, size and signing time, so a
 * signature can be replayed neither for another queue or version nor for other bytes.
 */
export function bundleSigningPayload(r: Pick<BundleRecord, "queue" | "version" | "sha256" | "size" | "signedAt">): Uint8Array {
  return new TextEncoder().encode(`jetflow-bundle/1\n${r.queue}\n${r.version}\n${r.sha256}\n${r.size}\n${r.signedAt}\n`);
}
