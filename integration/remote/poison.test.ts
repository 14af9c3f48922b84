// Bad input on every remote-activity channel gets a typed answer or a dead letter, never a crash
// or a lost task; consumers are idempotent and distinct per (queue, version).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { brokerSubject, ensureTaskConsumer, taskConsumerName } from "../../adapters/jetstream/remote/index.js";
import { parseTaskErrorReply } from "../../src/protocol/tasks.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { startOrchestrator, until, type Orchestrator } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const topology = freshTopology();
let orch: Orchestrator;
let wnc: NatsConnection;

test.before(async () => {
  if (!svc) return;
  orch = await startOrchestrator({ url: svc.nats.url, topology, queue: "default", codeVersion: "v1", leaseMs: 2_000 });
  wnc = await connect({ servers: svc.nats.url });
});
test.after(async () => {
  await wnc?.close();
  await orch?.close();
  await svc?.stop();
});

t("a malformed task is terminated by the worker transport and never reaches the stage; the next task runs", async () => {
  const ran: number[] = [];
  const transport = createNatsWorkerTransport(wnc, { topology, queue: "default", codeVersion: "v1" });
  const w = createActivityWorker({ transport, queue: "default", stageCodeVersion: "v1", workerId: "w", pollWaitMs: 300, registry: { heavy: stage("heavy", async (ctx) => (ran.push(ctx.input.n), { output: { r: ctx.input.n } })) } });
  await jetstream(orch.nc).publish(topology.taskSubject("default", "v1"), "{ not a task");
  w.start();
  try {
    const taskId = await orch.broker.submit(spec({ workflowRunId: "run-poison", queue: "default", codeVersion: "v1", input: { n: 4 } }));
    assert.is((await orch.broker.waitForOutcome(taskId, { timeoutMs: 10_000 }))?.status, "completed");
    assert.equal(ran, [4]);
    const info = await (await jetstreamManager(orch.nc)).consumers.info(topology.streams.tasks, taskConsumerName("default", "v1"));
    assert.is(info.num_pending, 0);
    assert.is(info.num_ack_pending, 0, "the malformed message is not left waiting for redelivery");
  } finally {
    await w.stop();
    await transport.close?.();
  }
});

t("a malformed report is dead-lettered with its reason and the report consumer keeps going", async () => {
  const js = jetstream(orch.nc);
  await js.publish(topology.reportSubject("default"), JSON.stringify({ v: 1, taskId: "x" }));
  await until(() => orch.deadLetters.length === 1, 5_000, "the dead letter");
  assert.match(orch.deadLetters[0]!.reason, /report message/);
  assert.match(orch.deadLetters[0]!.body, /"taskId":"x"/);
  const unknown = { v: 1, taskId: "nope", attempt: 1, leaseToken: "t", workerId: "w", codeVersion: "v1", outcome: "failed", error: "x", logs: [], reportedAt: new Date().toISOString() };
  await js.publish(topology.reportSubject("default"), JSON.stringify(unknown));
  await until(() => orch.reports.some((r) => r.taskId === "nope"), 5_000, "the next report's verdict");
  assert.equal(orch.reports.find((r) => r.taskId === "nope"), { accepted: false, reason: "unknown_task", taskId: "nope" });
});

t("a malformed heartbeat request gets a typed error reply naming the field", async () => {
  const m = await wnc.request(brokerSubject(topology, "default", "heartbeat"), JSON.stringify({ taskId: "t", attempt: 0 }), { timeout: 2_000 });
  const r = parseTaskErrorReply(m.data);
  assert.ok(r.ok, new TextDecoder().decode(m.data));
  if (r.ok) {
    assert.is(r.value.error.code, "VALIDATION");
    assert.ok(r.value.error.issues?.some((i) => i.path === "attempt"));
  }
});

t("ensureTaskConsumer is idempotent, follows a new lease, and never merges two (queue, version) pairs", async () => {
  const jsm = await jetstreamManager(orch.nc);
  const base = { topology, queue: "a-b", codeVersion: "c", leaseMs: 1_000, maxDeliver: 3 };
  assert.is((await ensureTaskConsumer(jsm, base)).action, "created");
  assert.is((await ensureTaskConsumer(jsm, base)).action, "unchanged");
  assert.is((await ensureTaskConsumer(jsm, { ...base, leaseMs: 1_500 })).action, "updated");
  const other = await ensureTaskConsumer(jsm, { ...base, queue: "a", codeVersion: "b-c" });
  assert.is(other.action, "created");
  assert.is.not(other.name, taskConsumerName("a-b", "c"));
  const dotted = await ensureTaskConsumer(jsm, { ...base, queue: "team.gpu", codeVersion: "2.1.0" });
  assert.is(dotted.name, "tasks-team~2Egpu~~2~2E1~2E0");
  // The worker SDK derives the same name on its own (it may not import the adapter).
  assert.is(createNatsWorkerTransport(wnc, { topology, queue: "team.gpu", codeVersion: "2.1.0" }).consumer, dotted.name);
});

test.run();
