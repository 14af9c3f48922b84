// A worker started with --from-store refuses a bundle whose bytes were changed in the store, or
// one signed by a key it does not trust: it exits 1 naming the failed check, and never writes or
// loads the bundle.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { bundleObjectName, codeBundleBucket } from "../../src/contract/code-bundles.js";
import { deployInProcess, jetflow, signingKey } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const QUEUE = "tamperq";
const cleanups: (() => Promise<unknown>)[] = [];

test.after.each(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
test.after(async () => {
  await svc?.stop();
});

async function setup() {
  const url = svc!.nats.url;
  const topology = freshTopology();
  const key = await signingKey();
  cleanups.push(() => key.close());
  const nc: NatsConnection = await connect({ servers: url });
  cleanups.push(() => nc.close());
  await deployInProcess(nc, { prefix: topology.prefix, seedFile: key.seedFile }, "activities-v1.ts", QUEUE, "v1");
  const bundleDir = join(key.dir, "bundles");
  const worker = (trusted: string) =>
    jetflow([
      "worker",
      "--from-store",
      "--queue",
      QUEUE,
      "--code-version",
      "v1",
      "--trusted-keys",
      trusted,
      "--bundle-dir",
      bundleDir,
      "--servers",
      url,
      "--prefix",
      topology.prefix,
      "--stream-prefix",
      topology.streamPrefix,
      "--no-fleet",
    ]);
  return { nc, key, topology, bundleDir, worker };
}

t("a bundle whose bytes were changed in the store is refused: exit 1, sha256 mismatch named, nothing written", async () => {
  const { nc, key, topology, bundleDir, worker } = await setup();
  // An attacker with write access to the bucket swaps the bytes and copies the signed record.
  const os = await new Objm(nc).open(codeBundleBucket(topology.prefix));
  const name = bundleObjectName(QUEUE, "v1");
  const info = await os.info(name);
  const bytes = await os.getBlob(name);
  assert.ok(info && bytes);
  const text = new TextDecoder().decode(bytes!);
  assert.ok(text.includes("ranOn: version"), "the bundle holds the stage's code");
  const tampered = new TextEncoder().encode(text.replace("ranOn: version", 'ranOn: "evil!"'));
  assert.is(tampered.byteLength, bytes!.byteLength, "same size: only the hash can tell");
  await os.putBlob({ name, metadata: info!.metadata! }, tampered);

  const r = await worker(key.publicKey);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /error BUNDLE_REJECTED: bundle tamperq\/v1: sha256 [0-9a-f]{64} does not match the signed [0-9a-f]{64} \(tampered bundle\?\)/,
  );
  assert.not.match(r.stdout + r.stderr, /worker started/);
  assert.not.ok(existsSync(join(bundleDir, QUEUE)), "a refused bundle is never written");
});

t("a bundle signed by a key the worker does not trust is refused: exit 1, signer named", async () => {
  const { worker } = await setup();
  const other = await signingKey();
  cleanups.push(() => other.close());
  const r = await worker(other.publicKey);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /error BUNDLE_REJECTED: bundle tamperq\/v1: signed by O[A-Z0-9]+, which is not a trusted key/);
  assert.not.match(r.stdout + r.stderr, /worker started/);
});

test.run();
