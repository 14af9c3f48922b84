/**
 * Runs a worker on a bundle from the store: resolve the version (given, or the queue's current
 * one), fetch the bundle with read-only message gets, verify its signer, signature, size and hash,
 * write it to the bundle directory and only then load it with the ordinary worker (run-worker.ts).
 * A bundle that fails any check is never written or imported: the worker exits 1 naming the check.
 */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { encodeToken } from "../../src/contract/tokens.js";
import { fetchBundle, readCurrentVersion } from "../bundle-fetch.js";
import { verifyBundle } from "../bundle-signature.js";
import { connectNats } from "../connect.js";
import { BundleRejectedError } from "../errors.js";
import { createJsonLogger } from "./logger.js";
import type { FromStoreOptions } from "./from-store.js";
import { runWorker } from "./run-worker.js";

/** Fetches, verifies and writes the bundle; resolves with the file to load and its version. */
export async function fetchVerifiedBundle(o: FromStoreOptions): Promise<{ file: string; version: string; sha256: string }> {
  const w = o.worker;
  const nc = await connectNats({
    servers: w.servers,
    name: `${w.workerId}-bundle-fetch`,
    creds: w.creds,
    user: w.user,
    password: w.password,
    inboxPrefix: w.inboxPrefix ?? (w.user ? `_INBOX_${w.user}` : undefined),
  });
  try {
    let version = o.version;
    if (version === null) {
      const current = await readCurrentVersion(nc, w.queue, { prefix: w.prefix });
      if (!current)
        throw new BundleRejectedError(`no current version deployed for queue ${w.queue}: run \`jetflow deploy\` or pass --code-version`);
      version = current.version;
    }
    const fetched = await fetchBundle(nc, w.queue, version, { prefix: w.prefix });
    const record = verifyBundle(fetched.bytes, fetched.record, { queue: w.queue, version, trusted: o.trustedKeys });
    const dir = join(o.bundleDir, encodeToken(w.queue, "queue"));
    await mkdir(dir, { recursive: true });
    // Named by hash: a file with this name only ever holds these verified bytes.
    const file = join(dir, `${encodeToken(version, "codeVersion")}-${record.sha256.slice(0, 16)}.mjs`);
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, fetched.bytes, { mode: 0o644 });
    await rename(tmp, file);
    return { file, version, sha256: record.sha256 };
  } finally {
    await nc.close();
  }
}

/** `jetflow worker --from-store`: resolves with the worker's exit code (1 when the bundle is refused). */
export async function runWorkerFromStore(o: FromStoreOptions): Promise<number> {
  const logger = createJsonLogger(o.worker.logLevel, { service: "jetflow-worker", workerId: o.worker.workerId, queue: o.worker.queue });
  const started = Date.now();
  const bundle = await fetchVerifiedBundle(o);
  logger.info(
    { codeVersion: bundle.version, sha256: bundle.sha256, file: bundle.file, loadMs: Date.now() - started },
    "bundle fetched and verified",
  );
  return runWorker({ ...o.worker, module: bundle.file, codeVersion: bundle.version });
}
