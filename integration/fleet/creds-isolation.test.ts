// `jetflow creds` credentials against a hostile worker: workers are users of the WORKERS account, so a
// pull's reply subject cannot steer a delivery into a JETFLOW stream; each credential writes only its
// own registry entry (no rollup purge) and listens only on its own control subject; a delivery steered
// onto another worker's control subject does not stop that worker.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { assertDenied } from "../harness/index.js";
import { controlSubject, workerRegistryBucket } from "../../src/contract/fleet.js";
import { sendWorkerControl } from "../../adapters/jetstream/fleet/index.js";
import { taskConsumerName } from "../../adapters/jetstream/remote/index.js";
import { assertNothingLanded, ctlOf, fakeFleetWorker, registryKeys, replyTrick, tryRollup, trySubscribe } from "../remote/attacks.js";
import { startCredsEnv, type CredsEnv } from "./creds-env.js";

// Code version "drain": its task subject ends in `.drain`, like a control subject of op drain.
const env: CredsEnv | null = await startCredsEnv("integration/fleet/creds-isolation", [
  ["a", "v1"],
  ["b", "v1"],
  ["a", "drain"],
]);
const t = env ? test : test.skip;
let w1: NatsConnection; // queue a, worker w1: the attacker
let w2: NatsConnection; // queue a, worker w2
let w3: NatsConnection; // queue b, worker w3

test.before(async () => {
  if (!env) return;
  w1 = await env.connectWith(env.issue({ queue: "a", codeVersion: "v1", workerId: "w1" }).file);
  w2 = await env.connectWith(env.issue({ queue: "a", codeVersion: "v1", workerId: "w2" }).file);
  w3 = await env.connectWith(env.issue({ queue: "b", codeVersion: "v1", workerId: "w3" }).file);
});
test.after(async () => {
  await env?.close();
});

t("a pull whose reply subject names an event, job, report, task or registry subject lands NOTHING in any stream", async () => {
  const { orch, topology } = env!;
  const r = await replyTrick({ orch, worker: w1, topology, queue: "a", codeVersion: "v1" }, [
    topology.eventSubject("wf", "run-1", "workflow:completed"),
    topology.jobSubject(),
    topology.delayedJobSubject(),
    topology.reportSubject("a"),
    topology.taskSubject("b", "v1"),
    `$KV.${workerRegistryBucket(topology.prefix)}.b.w3`,
  ]);
  assertNothingLanded(r);
});

t("a worker writes its own registry entry only (not its queue mate's, not another queue's); rollups are refused", async () => {
  const { orch, topology } = env!;
  const bucket = workerRegistryBucket(topology.prefix);
  for (const [nc, key] of [
    [w1, "a.w1"],
    [w2, "a.w2"],
    [w3, "b.w3"],
  ] as const) {
    await (await new Kvm(nc).open(bucket)).put(key, "{}");
  }
  for (const key of ["a.w2", "b.w3", "a.w9"]) {
    await assertDenied(w1.request(`$KV.${bucket}.${key}`, "{}", { timeout: 2_000 }), `w1 writes ${key}`);
  }
  await assertDenied((await new Kvm(w1).open(bucket)).delete("a.w2"), "w1 deletes a.w2");
  await assertDenied((await new Kvm(w1).open(bucket)).purge("b.w3"), "w1 purges b.w3");
  for (const kind of ["all", "sub"] as const)
    assert.match(await tryRollup(w1, topology, "a", "w1", kind), /rollup/i, `Nats-Rollup: ${kind}`);
  assert.equal(await registryKeys(orch, topology), ["a.w1", "a.w2", "b.w3"]);
});

t("a worker cannot listen on, so cannot answer, another worker's control requests", async () => {
  const { orch, topology } = env!;
  for (const subject of [ctlOf(topology, "w2"), ctlOf(topology, "w3"), `${topology.prefix}.ctl.>`]) {
    assert.match(await trySubscribe(w1, subject), /permissions violation/i, subject);
  }
  await assertDenied(w1.request(controlSubject(topology.prefix, "w2", "stop"), "", { timeout: 2_000 }), "w1 sends a control request");
  const member = await fakeFleetWorker(w2, topology, { workerId: "w2", queue: "a", codeVersion: "v1" });
  try {
    const reply = await sendWorkerControl(orch, "w2", "status", { prefix: topology.prefix });
    assert.is(reply.worker.id, "w2", "w2 answers its own control request");
  } finally {
    await member.leave();
  }
});

t("a delivery steered onto another worker's control subject (subject ending in .drain) does not drain it", async () => {
  const { orch, topology } = env!;
  const attacker = await env!.connectWith(env!.issue({ queue: "a", codeVersion: "drain", workerId: "atk" }).file);
  const member = await fakeFleetWorker(w2, topology, { workerId: "w2", queue: "a", codeVersion: "v1" });
  try {
    const jsm = await jetstreamManager(orch);
    const before = await jsm.consumers.info(topology.streams.tasks, taskConsumerName("a", "drain"));
    const r = await replyTrick({ orch, worker: attacker, topology, queue: "a", codeVersion: "drain" }, [
      controlSubject(topology.prefix, "w2", "drain"),
    ]);
    assert.is(r.delivered, 1, "the task was delivered onto w2's control subject");
    const status = await sendWorkerControl(orch, "w2", "status", { prefix: topology.prefix }); // handled after the steered delivery
    assert.is(status.accepted, true);
    assert.equal(member.stops, [], "w2 was not drained");
    const after = await jsm.consumers.info(topology.streams.tasks, taskConsumerName("a", "drain"));
    assert.is(after.num_ack_pending, before.num_ack_pending + 2, "w2 did not answer (ack) the steered delivery");
  } finally {
    await member.leave();
  }
});

test.run();
