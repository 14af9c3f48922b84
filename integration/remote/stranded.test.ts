// A task whose JetStream message can no longer reach a worker is published again and runs: its
// deliveries ran out on refusals (starts the broker never answered, during an outage), or its
// message was acked while the report that would have ended it was lost. Before re-dispatch such
// a task waited for its deadline (seen in the chaos test: a stage timed out after maxWaitTime).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { taskConsumerName } from "../../adapters/jetstream/remote/index.js";
import { parseTaskMessage } from "../../src/contract/tasks.js";
import type { PriorityBand } from "../../src/contract/priority.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { startOrchestrator, until, type Orchestrator } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const topology = freshTopology();
const LEASE_MS = 1_000;
let orch: Orchestrator;
let wnc: NatsConnection;

test.before(async () => {
  if (!svc) return;
  // MaxDeliver 2: two refused deliveries exhaust a message.
  orch = await startOrchestrator({ url: svc.nats.url, topology, queue: "default", codeVersion: "v1", leaseMs: LEASE_MS, maxDeliver: 2 });
  wnc = await connect({ servers: svc.nats.url });
});
test.after(async () => {
  await wnc?.close();
  await orch?.close();
  await svc?.stop();
});

/** The next delivery of the task consumer of `band`, pulled as a worker would (bounded wait). */
async function pullOne(band: PriorityBand = "normal") {
  const consumer = await jetstream(wnc).consumers.get(topology.streams.tasks, taskConsumerName("default", "v1", undefined, band));
  const m = await consumer.next({ expires: 10_000 });
  if (!m) throw new Error("no task delivered within 10 s");
  return m;
}

/** A worker that records each execution's attempt. */
function startWorker(ran: number[]) {
  const transport = createNatsWorkerTransport(wnc, { topology, queue: "default", codeVersion: "v1" });
  const w = createActivityWorker({
    transport,
    queue: "default",
    stageCodeVersion: "v1",
    workerId: "w-live",
    pollWaitMs: 300,
    registry: { heavy: stage("heavy", async (ctx) => (ran.push(ctx.attempt), { output: { r: ctx.input.n * 10 } })) },
  });
  w.start();
  return {
    async stop() {
      await w.stop();
      await transport.close?.();
    },
  };
}

t("a task whose deliveries all went to refused starts is re-dispatched and runs as attempt 1", async () => {
  const taskId = await orch.broker.submit(spec({ workflowRunId: "run-exhausted", queue: "default", codeVersion: "v1", input: { n: 1 } }));
  // Two deliveries given back unstarted (a worker whose start requests got no answer naks them).
  for (let i = 0; i < 2; i++) (await pullOne()).nak();
  // MaxDeliver reached: the server never delivers it again (a redelivery would come after AckWait, 1 s).
  const consumer = await jetstream(wnc).consumers.get(topology.streams.tasks, taskConsumerName("default", "v1"));
  assert.is(await consumer.next({ expires: LEASE_MS * 3 }), null, "no third delivery");
  const task = await orch.broker.getOutcome(taskId);
  assert.is(task?.status, "pending", "nothing ran: the task is still pending, and no delivery will come");

  const ran: number[] = [];
  const w = startWorker(ran);
  try {
    assert.is(await orch.broker.redispatchStranded({ olderThanMs: 0 }), 1);
    const outcome = await orch.broker.waitForOutcome(taskId, { timeoutMs: 15_000 });
    assert.is(outcome?.status, "completed");
    assert.equal(outcome?.output, { r: 10 });
    assert.equal(ran, [1], "one execution, numbered 1: refusals spent no attempt");
    assert.is(await orch.broker.redispatchStranded({ olderThanMs: 0 }), 0, "a finished task is never re-dispatched");
  } finally {
    await w.stop();
  }
});

t("a leased task whose message is gone without a report is re-dispatched once its lease ended, as the next attempt", async () => {
  const taskId = await orch.broker.submit(spec({ workflowRunId: "run-lost", queue: "default", codeVersion: "v1", input: { n: 2 } }));
  // Attempt 1 starts, then its message is acked and its report never arrives (a server crash lost it).
  const m = await pullOne();
  const parsed = parseTaskMessage(m.data);
  assert.ok(parsed.ok);
  const started = await orch.broker.handleHeartbeat(
    { start: true, taskId, attempt: 1, workerId: "w-lost", codeVersion: "v1", capability: parsed.ok ? parsed.value.capability : "" },
    { queue: "default" },
  );
  assert.ok(started.accepted, JSON.stringify(started));
  await m.ackAck();
  assert.is(await orch.broker.redispatchStranded({ olderThanMs: 0 }), 0, "not while its lease is live");

  const ran: number[] = [];
  const w = startWorker(ran);
  try {
    await until(
      async () => (await orch.broker.redispatchStranded({ olderThanMs: 0 })) === 1,
      LEASE_MS * 20,
      "the re-dispatch once the lease ended",
    );
    const outcome = await orch.broker.waitForOutcome(taskId, { timeoutMs: 15_000 });
    assert.is(outcome?.status, "completed");
    assert.is(outcome?.attempt, 2);
    assert.equal(ran, [2], "the re-dispatched message opened attempt 2, after the lost one");
  } finally {
    await w.stop();
  }
});

t("a high-priority task whose deliveries ran out is re-dispatched in the high band, not the normal one", async () => {
  const taskId = await orch.broker.submit(
    spec({ workflowRunId: "run-high", queue: "default", codeVersion: "v1", input: { n: 3 }, priority: 5 }),
  );
  for (let i = 0; i < 2; i++) (await pullOne("high")).nak();
  assert.is(await orch.broker.redispatchStranded({ olderThanMs: 0 }), 1);
  // The high band's consumer delivers the new message: it went out on the high band's subject.
  const m = await pullOne("high");
  const parsed = parseTaskMessage(m.data);
  assert.ok(parsed.ok);
  assert.equal(parsed.ok ? [parsed.value.taskId, parsed.value.priority] : [], [taskId, 5]);
  const started = await orch.broker.handleHeartbeat(
    { start: true, taskId, attempt: 1, workerId: "w-high", codeVersion: "v1", capability: parsed.ok ? parsed.value.capability : "" },
    { queue: "default" },
  );
  assert.ok(started.accepted, JSON.stringify(started));
  await m.ackAck();
});

test.run();
