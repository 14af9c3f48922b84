// nats-server in operator mode with `jetflow creds init`: a worker credential from `jetflow creds
// issue` reads and verifies a deployed bundle (the account JWTs export the direct gets), and is
// refused writing one.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { assertDenied } from "../harness/index.js";
import { startCredsEnv, type CredsEnv } from "../fleet/creds-env.js";
import { fetchBundle, readCurrentVersion } from "../../worker-sdk/bundle-fetch.js";
import { verifyBundle } from "../../worker-sdk/bundle-signature.js";
import { deployInProcess, signingKey } from "./helpers.js";

const env: CredsEnv | null = await startCredsEnv("integration/deploy/creds", [["a", "v1"]]);
const t = env ? test : test.skip;
const cleanups: (() => Promise<unknown>)[] = [];

test.after(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await env?.close();
});

t("an issued worker credential fetches and verifies its queue's bundle, and may not write one", async () => {
  const key = await signingKey();
  cleanups.push(() => key.close());
  await deployInProcess(env!.orch, { prefix: env!.topology.prefix, seedFile: key.seedFile }, "activities-v1.ts", "a", "v1");
  const { file } = env!.issue({ queue: "a", codeVersion: "v1", workerId: "wa" });
  const worker = await env!.connectWith(file);
  const prefix = env!.topology.prefix;

  assert.is((await readCurrentVersion(worker, "a", { prefix }))?.version, "v1");
  const fetched = await fetchBundle(worker, "a", "v1", { prefix });
  verifyBundle(fetched.bytes, fetched.record, { queue: "a", version: "v1", trusted: [key.publicKey] });

  const deny = (subject: string, what: string) => assertDenied(worker.request(subject, "{}", { timeout: 2_000, noMux: true }), what);
  await deny(`$O.${prefix}_bundles.C.forged`, "writing a bundle chunk");
  await deny(`$KV.${prefix}_deploys.current.a`, "moving the current version");
  await deny(`$JS.API.STREAM.PURGE.OBJ_${prefix}_bundles`, "purging the bundle store");
});

test.run();
