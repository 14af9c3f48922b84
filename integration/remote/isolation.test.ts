// The shipped nats-server.conf against a hostile worker holding the `worker-default` credential:
// account isolation (a pull's reply subject cannot steer a delivery into an orchestrator stream),
// registry scoping (own entry only, no rollup purge) and control scoping (own control subject only;
// a delivery steered onto it is ignored). integration/fleet/creds.test.ts repeats these for JWT creds.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { assertDenied, REPO_NATS_PASSWORDS, useRepoNats, type NatsService } from "../harness/index.js";
import { createTopology } from "../../src/contract/topology.js";
import { controlSubject, workerRegistryBucket } from "../../src/contract/fleet.js";
import { ensureTopology } from "../../adapters/jetstream/topology.js";
import { ensureTaskConsumer } from "../../adapters/jetstream/remote/index.js";
import { ensureWorkerRegistry, sendWorkerControl } from "../../adapters/jetstream/fleet/index.js";
import { assertNothingLanded, ctlOf, fakeFleetWorker, registryKeys, replyTrick, tryRollup, trySubscribe } from "./attacks.js";

const PASSWORDS = REPO_NATS_PASSWORDS;
const nats: NatsService | null = await useRepoNats("integration/remote/isolation");
const t = nats ? test : test.skip;
const topology = createTopology(); // the conf names the default jetflow/JETFLOW subjects
const QUEUE = "default";
const ME = "worker-default"; // the worker id the template user is scoped to
let orch: NatsConnection;
let worker: NatsConnection;

test.before(async () => {
  if (!nats) return;
  orch = await connect({ servers: nats.url, user: "orchestrator", pass: PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD });
  const jsm = await jetstreamManager(orch);
  await ensureTopology(jsm, { topology, storage: "memory" });
  await ensureWorkerRegistry(orch, { prefix: topology.prefix, storage: "memory" });
  await ensureTaskConsumer(jsm, { topology, queue: QUEUE, codeVersion: "v1", leaseMs: 60_000, maxDeliver: 3 });
  worker = await connect({
    servers: nats.url,
    user: "worker-default",
    pass: PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD,
    inboxPrefix: "_INBOX_worker-default",
  });
});
test.after(async () => {
  await worker?.close();
  await orch?.close();
  await nats?.stop();
});

t("a pull whose reply subject names an event, job, report, task or registry subject lands NOTHING in any stream", async () => {
  const r = await replyTrick({ orch, worker, topology, queue: QUEUE, codeVersion: "v1" }, [
    topology.eventSubject("wf", "run-1", "workflow:completed"),
    topology.jobSubject(),
    topology.delayedJobSubject(),
    topology.reportSubject(QUEUE),
    topology.taskSubject("other", "v1"),
    `$KV.${workerRegistryBucket(topology.prefix)}.${QUEUE}.${ME}`,
  ]);
  assertNothingLanded(r);
  for (const s of [topology.streams.events, topology.streams.jobs, topology.streams.reports]) assert.ok(s in r.after, `${s} observed`);
});

t("the worker writes its own registry entry only; Nats-Rollup is refused and other entries survive", async () => {
  const kv = await new Kvm(orch).open(workerRegistryBucket(topology.prefix));
  await kv.put(`${QUEUE}.someone-else`, "{}");
  await kv.put("other.w9", "{}");
  const own = await new Kvm(worker).open(workerRegistryBucket(topology.prefix));
  await own.put(`${QUEUE}.${ME}`, "{}"); // allowed
  for (const key of [`${QUEUE}.someone-else`, "other.w9"]) {
    await assertDenied(worker.request(`$KV.${workerRegistryBucket(topology.prefix)}.${key}`, "{}", { timeout: 2_000 }), `overwrite ${key}`);
  }
  await assertDenied(own.delete(`${QUEUE}.someone-else`), "delete another worker's entry");
  for (const kind of ["all", "sub"] as const) {
    assert.match(await tryRollup(worker, topology, QUEUE, ME, kind), /rollup/i, `Nats-Rollup: ${kind} is refused`);
  }
  assert.equal(await registryKeys(orch, topology), [`${QUEUE}.someone-else`, `${QUEUE}.${ME}`, "other.w9"]);
});

t("the worker may not listen on another worker's control subject", async () => {
  assert.match(await trySubscribe(worker, ctlOf(topology, "someone-else")), /permissions violation/i);
  assert.match(await trySubscribe(worker, `${topology.prefix}.ctl.*.*`), /permissions violation/i);
  assert.ok(!worker.isClosed());
});

t("a delivery steered onto a worker's control subject does not stop it; a real request still works", async () => {
  const member = await fakeFleetWorker(worker, topology, { workerId: ME, queue: QUEUE, codeVersion: "v1" });
  try {
    const consumerBefore = await (await jetstreamManager(orch)).consumers.info(topology.streams.tasks, `tasks-${QUEUE}~~v1`);
    const r = await replyTrick({ orch, worker, topology, queue: QUEUE, codeVersion: "v1" }, [controlSubject(topology.prefix, ME, "stop")]);
    assert.is(r.delivered, 1, "the task was delivered onto the control subject (the worker listens there)");
    // Requests on one subscription are handled in order: once this status is answered, the steered delivery was seen.
    const reply = await sendWorkerControl(orch, ME, "status", { prefix: topology.prefix });
    assert.is(reply.accepted, true);
    assert.equal(member.stops, [], "nothing stopped the worker");
    const after = await (await jetstreamManager(orch)).consumers.info(topology.streams.tasks, `tasks-${QUEUE}~~v1`);
    // +2: the steered delivery and replyTrick's own plain pull, neither acked.
    assert.is(after.num_ack_pending, consumerBefore.num_ack_pending + 2, "the steered delivery was not answered (an answer would ack it)");
    await sendWorkerControl(orch, ME, "drain", { prefix: topology.prefix });
    assert.equal(member.stops, ["drain"], "a well-formed request is obeyed");
  } finally {
    await member.leave();
  }
});

test.run();
