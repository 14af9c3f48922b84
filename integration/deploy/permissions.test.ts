// The repository's nats-server.conf (as the security docs ship it): the orchestrator user may
// deploy bundles; a worker user may read them (message gets only) and verify them, but can neither
// write, delete nor purge a bundle, nor move a queue's current version.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { assertDenied, REPO_NATS_PASSWORDS, useRepoNats, type NatsService } from "../harness/index.js";
import { fetchBundle, readCurrentVersion } from "../../worker-sdk/bundle-fetch.js";
import { verifyBundle } from "../../worker-sdk/bundle-signature.js";
import { deployInProcess, signingKey } from "./helpers.js";

const nats: NatsService | null = await useRepoNats("integration/deploy/permissions");
const t = nats ? test : test.skip;
const cleanups: (() => Promise<unknown>)[] = [];
let orch: NatsConnection;
let worker: NatsConnection;
let publicKey = "";

test.before(async () => {
  if (!nats) return;
  orch = await connect({ servers: nats.url, user: "orchestrator", pass: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD });
  worker = await connect({
    servers: nats.url,
    user: "worker-default",
    pass: REPO_NATS_PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD,
    inboxPrefix: "_INBOX_worker-default",
  });
  const key = await signingKey();
  cleanups.push(() => key.close());
  publicKey = key.publicKey;
  await deployInProcess(orch, { prefix: "jetflow", seedFile: key.seedFile }, "activities-v1.ts", "default", "v1");
});
test.after(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await worker?.close();
  await orch?.close();
  await nats?.stop();
});

t("the worker user is ALLOWED to read the current version and fetch and verify the bundle", async () => {
  const current = await readCurrentVersion(worker, "default", { prefix: "jetflow" });
  assert.is(current?.version, "v1");
  const fetched = await fetchBundle(worker, "default", "v1", { prefix: "jetflow" });
  const record = verifyBundle(fetched.bytes, fetched.record, { queue: "default", version: "v1", trusted: [publicKey] });
  assert.is(record.size, fetched.bytes.byteLength);
});

t("the worker user is DENIED writing, deleting or purging bundles and moving the current version", async () => {
  const deny = (subject: string, what: string) =>
    assertDenied(worker.request(subject, JSON.stringify({}), { timeout: 2_000, noMux: true }), what);
  await deny("$O.jetflow_bundles.C.forged", "writing a bundle chunk");
  await deny("$O.jetflow_bundles.M.ZGVmYXVsdC92MQ==", "rewriting a bundle's meta");
  await deny("$KV.jetflow_deploys.current.default", "moving the current version");
  await deny("$KV.jetflow_deploys.version.default.v1", "rewriting a version record");
  await deny("$JS.API.STREAM.MSG.DELETE.OBJ_jetflow_bundles", "deleting a bundle message");
  await deny("$JS.API.STREAM.PURGE.OBJ_jetflow_bundles", "purging the bundle store");
  await deny("$JS.API.STREAM.INFO.OBJ_jetflow_bundles", "any other JetStream API call");
  assert.ok(!worker.isClosed(), "a refusal does not cost the connection");
});

test.run();
