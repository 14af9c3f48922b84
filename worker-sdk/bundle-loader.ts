/**
 * Fetch → verify → write: turns a deployed bundle into a local file a worker can import
 * (docs/deploy.md). Nothing is written, let alone imported, unless every check of
 * {@link verifyBundle} passed. Used by `jetflow worker --from-store` and the worker service.
 */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { encodeToken } from "../src/contract/tokens.js";
import { fetchBundle, readCurrentVersion } from "./bundle-fetch.js";
import { verifyBundle } from "./bundle-signature.js";
import { BundleRejectedError } from "./errors.js";

/** Which bundle, whom to trust and where to put it. */
export interface LoadBundleOptions {
  queue: string;
  /** null: the queue's current version. */
  version: string | null;
  prefix: string;
  trustedKeys: readonly string[];
  /** Verified bundles land in `<bundleDir>/<queue>/<version>-<sha256 prefix>.mjs`. */
  bundleDir: string;
}

/** A verified bundle on disk. */
export interface LoadedBundle {
  file: string;
  version: string;
  sha256: string;
  /** Time spent resolving, fetching, verifying and writing. */
  loadMs: number;
}

/**
 * Resolves the version, fetches and verifies the bundle and writes it atomically.
 * @throws BundleRejectedError naming what failed (nothing deployed, unreadable, untrusted, tampered).
 */
export async function loadVerifiedBundle(nc: NatsConnection, o: LoadBundleOptions): Promise<LoadedBundle> {
  const started = Date.now();
  let version = o.version;
  if (version === null) {
    const current = await readCurrentVersion(nc, o.queue, { prefix: o.prefix });
    if (!current)
      throw new BundleRejectedError(`no current version deployed for queue ${o.queue}: run \`jetflow deploy\` or pass --code-version`);
    version = current.version;
  }
  const fetched = await fetchBundle(nc, o.queue, version, { prefix: o.prefix });
  const record = verifyBundle(fetched.bytes, fetched.record, { queue: o.queue, version, trusted: o.trustedKeys });
  const dir = join(o.bundleDir, encodeToken(o.queue, "queue"));
  await mkdir(dir, { recursive: true });
  // Named by hash: a file with this name only ever holds these verified bytes.
  const file = join(dir, `${encodeToken(version, "codeVersion")}-${record.sha256.slice(0, 16)}.mjs`);
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, fetched.bytes, { mode: 0o644 });
  await rename(tmp, file);
  return { file, version, sha256: record.sha256, loadMs: Date.now() - started };
}
