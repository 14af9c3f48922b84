// test-file-timeout-ms: 180000
/**
 * The cluster half of the NATS harness: three real nats-server processes that form one JetStream
 * cluster with the repository's users, keep an R3 stream through the loss of its leader, and
 * take the killed node back on the same store.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { findNatsServerBinary, portRefuses, REPO_NATS_PASSWORDS } from "../../integration/harness/index.js";
import { useRepoNatsCluster, type NatsCluster } from "../../integration/harness/nats-cluster.js";

const haveBinary = findNatsServerBinary().bin !== undefined;
const t = haveBinary ? test : test.skip;
if (!haveBinary) process.stderr.write("SKIPPING test/harness/nats-cluster.test.ts: no nats-server binary\n");

let cluster: NatsCluster | null = null;
let nc: NatsConnection | undefined;

test.after(async () => {
  await nc?.close();
  await cluster?.stop();
});

t("three nodes form one JetStream cluster with the repo users; an R3 stream survives its leader's kill -9", async () => {
  cluster = await useRepoNatsCluster("test/harness/nats-cluster");
  assert.ok(cluster);
  assert.is(cluster.nodes.length, 3);
  assert.is(cluster.servers.split(",").length, 3);
  nc = await connect({
    servers: cluster.urls,
    user: "orchestrator",
    pass: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  const jsm = await jetstreamManager(nc);
  const created = await jsm.streams.add({ name: "JETFLOW_PROBE", subjects: ["jetflow.probe.>"], num_replicas: 3 });
  assert.is(created.config.num_replicas, 3);
  const js = jsm.jetstream();
  await js.publish("jetflow.probe.a", "one");

  const info = await jsm.streams.info("JETFLOW_PROBE");
  const leader = info.cluster?.leader;
  assert.ok(leader, "an R3 stream has a leader");
  assert.is(info.cluster?.replicas?.length, 2, "and two followers");
  const victim = cluster.node(leader!);
  await victim.kill();
  assert.ok(await portRefuses("127.0.0.1", Number(new URL(victim.url).port)), "the killed node is gone");
  assert.not.ok(victim.running);

  // The two survivors elect a new leader; the acknowledged message is still there.
  const deadline = Date.now() + 30_000;
  let after = await jsm.streams.info("JETFLOW_PROBE").catch(() => null);
  while (!(after?.cluster?.leader && after.cluster.leader !== leader) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    after = await jsm.streams.info("JETFLOW_PROBE").catch(() => null);
  }
  assert.ok(after?.cluster?.leader && after.cluster.leader !== leader, `a new leader replaced ${leader}`);
  assert.is(after!.state.messages, 1);
  await js.publish("jetflow.probe.b", "two");

  await victim.start();
  assert.ok(victim.running);
  // Bounded wait for the cluster to settle: a stream info answered while the restarted node
  // rejoins the group can report the state from before it caught up.
  const settled = Date.now() + 30_000;
  let back = await jsm.streams.info("JETFLOW_PROBE").catch(() => null);
  const replicaOf = (i: typeof back) => [i?.cluster?.leader, ...(i?.cluster?.replicas ?? []).map((r) => r.name)];
  while (!(back?.state.messages === 2 && replicaOf(back).includes(leader)) && Date.now() < settled) {
    await new Promise((r) => setTimeout(r, 100));
    back = await jsm.streams.info("JETFLOW_PROBE").catch(() => null);
  }
  assert.ok(replicaOf(back).includes(leader), "the restarted node is a replica again");
  assert.is(back?.state.messages, 2, "both acknowledged messages are in the stream");
});

test.run();
