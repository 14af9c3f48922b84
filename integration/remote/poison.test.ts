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
import { TaskMessage, parseHeartbeatReply, parseTaskErrorReply } from "../../src/contract/tasks.js";
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
  const w = createActivityWorker({
    transport,
    queue: "default",
    stageCodeVersion: "v1",
    workerId: "w",
    pollWaitMs: 300,
    registry: { heavy: stage("heavy", async (ctx) => (ran.push(ctx.input.n), { output: { r: ctx.input.n } })) },
  });
  await jetstream(orch.nc).publish(topology.taskSubject("default", "v1"), "{ not a task");
  w.start();
  try {
    const taskId = await orch.broker.submit(spec({ workflowRunId: "run-poison", queue: "default", codeVersion: "v1", input: { n: 4 } }));
    assert.is((await orch.broker.waitForOutcome(taskId, { timeoutMs: 10_000 }))?.status, "completed");
    assert.equal(ran, [4]);
    // The good task's +ACK follows its report's PubAck, so it can trail the outcome: wait (bounded).
    const jsm = await jetstreamManager(orch.nc);
    const info = () => jsm.consumers.info(topology.streams.tasks, taskConsumerName("default", "v1"));
    await until(
      async () => {
        const i = await info();
        return i.num_pending === 0 && i.num_ack_pending === 0;
      },
      15_000,
      "the task consumer to hold no pending or unacked message (the malformed one must not wait for redelivery)",
    );
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
  const unknown = {
    v: 1,
    taskId: "nope",
    attempt: 1,
    leaseToken: "t",
    workerId: "w",
    codeVersion: "v1",
    outcome: "failed",
    error: "x",
    logs: [],
    reportedAt: new Date().toISOString(),
  };
  await js.publish(topology.reportSubject("default"), JSON.stringify(unknown));
  await until(() => orch.reports.some((r) => r.taskId === "nope"), 5_000, "the next report's verdict");
  assert.equal(
    orch.reports.find((r) => r.taskId === "nope"),
    { accepted: false, reason: "unknown_task", taskId: "nope" },
  );
});

t("a malformed heartbeat request gets a typed error reply naming the field", async () => {
  const m = await wnc.request(brokerSubject(topology, "default", "heartbeat"), JSON.stringify({ taskId: "t", attempt: 0 }), {
    timeout: 2_000,
  });
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

/** Requests `body` on the broker's `op` subject and returns the typed error reply (fails on any other answer). */
async function refusal(
  op: "heartbeat" | "presign",
  body: string,
): Promise<{ code: string; message: string; issues?: { path: string; message: string }[] }> {
  const m = await wnc.request(brokerSubject(topology, "default", op), body, { timeout: 2_000 });
  const r = parseTaskErrorReply(m.data);
  assert.ok(r.ok, `expected an error reply to ${body}, got ${new TextDecoder().decode(m.data)}`);
  return r.ok ? r.value.error : { code: "", message: "" };
}

/** A well-formed task message for a task the broker never created. */
function forgedTask(taskId: string): TaskMessage {
  return TaskMessage.parse({
    v: 1,
    taskId,
    workflowRunId: "run-forged",
    workflowId: "wf",
    stageId: "heavy",
    queue: "default",
    codeVersion: "v1",
    requiredLabels: {},
    maxAttempts: 3,
    input: { n: 666 },
    config: {},
    deadline: null,
    artifactPrefix: "runs/run-forged/heavy/",
    createdAt: new Date().toISOString(),
  });
}

t("a task with the wrong schema and one with a forged task id are terminated with a logged reason; neither runs", async () => {
  const ran: number[] = [];
  const logged: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const log = (level: string) => (obj: Record<string, unknown>, msg?: string) => void logged.push({ level, msg: msg ?? "", obj });
  const transport = createNatsWorkerTransport(wnc, {
    topology,
    queue: "default",
    codeVersion: "v1",
    logger: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
  });
  const w = createActivityWorker({
    transport,
    queue: "default",
    stageCodeVersion: "v1",
    workerId: "w",
    pollWaitMs: 300,
    registry: { heavy: stage("heavy", async (ctx) => (ran.push(ctx.input.n), { output: { r: ctx.input.n } })) },
  });
  const js = jetstream(orch.nc);
  await js.publish(topology.taskSubject("default", "v1"), JSON.stringify({ v: 1, taskId: "wrong-shape", queue: 7 }));
  await js.publish(topology.taskSubject("default", "v1"), JSON.stringify(forgedTask("run-forged.heavy.1")));
  w.start();
  try {
    const taskId = await orch.broker.submit(
      spec({ workflowRunId: "run-after-forgery", queue: "default", codeVersion: "v1", input: { n: 5 } }),
    );
    assert.is((await orch.broker.waitForOutcome(taskId, { timeoutMs: 10_000 }))?.status, "completed");
    assert.equal(ran, [5], "only the real task ran");
    const malformed = logged.find((l) => l.msg.startsWith("malformed task"));
    assert.ok(malformed, JSON.stringify(logged));
    assert.is(malformed!.level, "error");
    assert.match(String(malformed!.obj.reason), /queue/);
    const forged = logged.find((l) => l.msg.startsWith("broker refused the delivery"));
    assert.ok(forged, JSON.stringify(logged));
    assert.equal([forged!.obj.taskId, forged!.obj.reason], ["run-forged.heavy.1", "unknown_task"]);
    assert.is(await orch.store.getTask("run-forged.heavy.1"), null, "a forged task never enters the store");
    const info = await (await jetstreamManager(orch.nc)).consumers.info(topology.streams.tasks, taskConsumerName("default", "v1"));
    assert.is(info.num_pending + info.num_ack_pending, 0, "both poison messages were terminated, not left for redelivery");
  } finally {
    await w.stop();
    await transport.close?.();
  }
});

t("a report that is not JSON is dead-lettered with its reason", async () => {
  const before = orch.deadLetters.length;
  await jetstream(orch.nc).publish(topology.reportSubject("default"), "{ not a report");
  await until(() => orch.deadLetters.length === before + 1, 5_000, "the dead letter");
  const dl = orch.deadLetters[before]!;
  assert.is(dl.body, "{ not a report");
  assert.match(dl.reason, /JSON/i);
  assert.ok(dl.streamSequence > 0);
});

t("presign and heartbeat requests that are not JSON, have the wrong schema or forge a task id get typed refusals", async () => {
  for (const op of ["presign", "heartbeat"] as const) {
    const bad = await refusal(op, "{ not json");
    assert.is(bad.code, "VALIDATION", `${op}: ${bad.message}`);
    assert.match(bad.message, /JSON/i);
  }
  const shape = await refusal("presign", JSON.stringify({ taskId: "t", attempt: 1, leaseToken: "x", op: "steal", key: "k" }));
  assert.is(shape.code, "VALIDATION");
  assert.ok(
    shape.issues?.some((i) => i.path === "op"),
    JSON.stringify(shape),
  );
  const forgedPresign = await refusal(
    "presign",
    JSON.stringify({ taskId: "no-such-task", attempt: 1, leaseToken: "x", op: "put", key: "a.bin", size: 1 }),
  );
  assert.is(forgedPresign.code, "INVALID_STATE");
  assert.match(forgedPresign.message, /no-such-task.*does not exist/);
  // A forged start is refused in the reply body (not an error): the worker would terminate the delivery.
  const m = await wnc.request(
    brokerSubject(topology, "default", "heartbeat"),
    JSON.stringify({ taskId: "no-such-task", attempt: 1, leaseToken: "x", workerId: "w", codeVersion: "v1", start: true }),
    { timeout: 2_000 },
  );
  const hb = parseHeartbeatReply(m.data);
  assert.ok(hb.ok);
  if (hb.ok) assert.equal(hb.value, { accepted: false, cancelled: false, reason: "unknown_task" });
});

t("after all of the above the same orchestrator still completes a task end to end", async () => {
  const transport = createNatsWorkerTransport(wnc, { topology, queue: "default", codeVersion: "v1" });
  const w = createActivityWorker({
    transport,
    queue: "default",
    stageCodeVersion: "v1",
    workerId: "w-last",
    pollWaitMs: 300,
    registry: { heavy: stage("heavy", async (ctx) => ({ output: { r: ctx.input.n + 1 } })) },
  });
  w.start();
  try {
    const taskId = await orch.broker.submit(spec({ workflowRunId: "run-survivor", queue: "default", codeVersion: "v1", input: { n: 41 } }));
    const out = await orch.broker.waitForOutcome(taskId, { timeoutMs: 10_000 });
    assert.is(out?.status, "completed");
    assert.equal(out?.output, { r: 42 });
    await until(() => orch.reports.some((r) => r.taskId === taskId && r.accepted), 5_000, "the report verdict");
  } finally {
    await w.stop();
    await transport.close?.();
  }
});

test.run();
