/**
 * Runs a worker on a bundle from the store: fetch and verify it (bundle-loader.ts) over a short
 * connection of its own, then load it with the ordinary worker (run-worker.ts). A bundle that
 * fails any check is never written or imported: the worker exits 1 naming the check.
 */
import { loadVerifiedBundle } from "../bundle-loader.js";
import { connectNats } from "../connect.js";
import { createJsonLogger } from "./logger.js";
import type { FromStoreOptions } from "./from-store.js";
import { runWorker } from "./run-worker.js";

/** `jetflow worker --from-store`: resolves with the worker's exit code (1 when the bundle is refused). */
export async function runWorkerFromStore(o: FromStoreOptions): Promise<number> {
  const w = o.worker;
  const logger = createJsonLogger(w.logLevel, { service: "jetflow-worker", workerId: w.workerId, queue: w.queue });
  const nc = await connectNats({
    servers: w.servers,
    name: `${w.workerId}-bundle-fetch`,
    creds: w.creds,
    user: w.user,
    password: w.password,
    inboxPrefix: w.inboxPrefix ?? (w.user ? `_INBOX_${w.user}` : undefined),
  });
  let bundle;
  try {
    bundle = await loadVerifiedBundle(nc, {
      queue: w.queue,
      version: o.version,
      prefix: w.prefix,
      trustedKeys: o.trustedKeys,
      bundleDir: o.bundleDir,
    });
  } finally {
    await nc.close();
  }
  logger.info(
    { codeVersion: bundle.version, sha256: bundle.sha256, file: bundle.file, loadMs: bundle.loadMs },
    "bundle fetched and verified",
  );
  return runWorker({ ...w, module: bundle.file, codeVersion: bundle.version }, { bundleLoadMs: bundle.loadMs });
}
