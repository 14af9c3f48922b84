/**
 * One deploy: bundle the entry, import the bundle once to check it is a loadable activity module
 * of the right version, sign it, store it (docs/deploy.md). Used by `jetflow deploy` and by tests.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deployBundle, type DeployResult, type DeployStore } from "../../adapters/jetstream/deploy/bundle-store.js";
import { ValidationError } from "../../src/contract/errors.js";
import { signBundle, type operatorKeyFromSeed } from "../../worker-sdk/bundle-signature.js";
import { loadStageModule } from "../../worker-sdk/stage-module.js";
import { bundleActivityModule } from "./bundle.js";

/** Imports the built bundle on the deploying machine: a bundle no worker could load is refused here. */
async function checkLoadable(bytes: Uint8Array, version: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), "jetflow-deploy-"));
  try {
    const file = join(dir, "bundle.mjs");
    await writeFile(file, bytes);
    const mod = await loadStageModule(file);
    if (mod.version && mod.version !== version)
      throw new ValidationError("deploy entry", [
        { path: "version", message: `the module declares version "${mod.version}" but --code-version is "${version}"` },
      ]);
    return [...mod.stages.keys()];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What a deploy did, plus the stage ids the bundle exports and esbuild's warnings. */
export interface DeployEntryResult extends DeployResult {
  stages: string[];
  warnings: string[];
}

/**
 * Bundles `entry`, checks it, signs it with `key` as (queue, version) and stores it.
 * @throws ValidationError (entry does not build or load, version disagrees), JetflowError CONFLICT (other bytes under that version).
 */
export async function deployEntry(
  store: DeployStore,
  key: ReturnType<typeof operatorKeyFromSeed>,
  o: { entry: string; queue: string; version: string; minify?: boolean; activate?: boolean },
): Promise<DeployEntryResult> {
  const built = await bundleActivityModule(o.entry, { minify: o.minify ?? false });
  const stages = await checkLoadable(built.bytes, o.version);
  const record = signBundle(key, { queue: o.queue, version: o.version, bytes: built.bytes, entry: built.entry });
  const r = await deployBundle(store, record, built.bytes, { activate: o.activate ?? true });
  return { ...r, stages, warnings: built.warnings };
}
