// Remote activities over a real nats-server: broker + JetStream dispatcher/responders/report
// consumer on one side, the worker SDK over the NATS worker transport on the other.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { createActivityWorker, type ActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { gate, spec, stage } from "../../test/remote/helpers/fixture.js";
import { taskConsumerName } from "../../adapters/jetstream/remote/index.js";
import { reportMsgId } from "../../src/contract/tasks.js";
import { startOrchestrator, until, type Orchestrator } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const QUEUE = "default";
const VERSION = "v1";
const cleanups: (() => Promise<void>)[] = [];
/** Gates a stage body may be parked on: opened before any worker stops, even when an assertion failed. */
const gatesToOpen: { open(): void }[] = [];

test.after.each(async () => {
  for (const g of gatesToOpen.splice(0)) g.open();
  // Last in, first out: workers stop before the connections and the orchestrator they use.
  while (cleanups.length > 0) await cleanups.pop()!();
});
test.after(async () => {
  await svc?.stop();
});

async function setup(leaseMs: number) {
  const topology = freshTopology();
  const orch: Orchestrator = await startOrchestrator({ url: svc!.nats.url, topology, queue: QUEUE, codeVersion: VERSION, leaseMs });
  cleanups.push(() => orch.close());
  const worker = async (workerId: string, registry: Parameters<typeof createActivityWorker>[0]["registry"], heartbeatIntervalMs = 200) => {
    const nc: NatsConnection = await connect({ servers: svc!.nats.url });
    const transport = createNatsWorkerTransport(nc, { topology, queue: QUEUE, codeVersion: VERSION });
    const w: ActivityWorker = createActivityWorker({
      transport,
      queue: QUEUE,
      stageCodeVersion: VERSION,
      registry,
      workerId,
      pollWaitMs: 500,
      heartbeatIntervalMs,
    });
    cleanups.push(async () => {
      await w.stop({ drain: false });
      await transport.close?.();
      if (!nc.isClosed()) await nc.close();
    });
    w.start();
    return { nc, w, transport };
  };
  return { topology, orch, worker };
}

t("a task round-trips: submit → worker runs the real stage → report → completed outcome", async () => {
  const { orch, worker } = await setup(2_000);
  const double = stage("heavy", async (ctx) => {
    await ctx.log("INFO", "ran on the NATS worker");
    return { output: { r: ctx.input.n * 2 } };
  });
  await worker("w1", { heavy: double });
  const taskId = await orch.broker.submit(spec({ queue: QUEUE, codeVersion: VERSION, input: { n: 21 } }));
  const out = await orch.broker.waitForOutcome(taskId, { timeoutMs: 30_000 });
  assert.is(out?.status, "completed");
  assert.equal(out?.output, { r: 42 });
  assert.is(out?.attempt, 1);
  assert.is(out?.workerId, "w1");
  assert.ok(out?.logs.some((l) => l.message === "ran on the NATS worker"));
  await until(() => orch.reports.length === 1, 30_000, "the report verdict");
  assert.equal(orch.reports[0], { accepted: true, taskId });
});

t("a killed worker's task is redelivered as attempt 2 after the lease; its late report is refused", async () => {
  const leaseMs = 3_000; // the successor's beats must hold attempt 2 through a loaded machine's stalls
  const { topology, orch, worker } = await setup(leaseMs);
  const entered = gate();
  const never = gate();
  const stuck = stage("heavy", async () => {
    entered.open();
    await never.promise; // the first worker dies while here
    return { output: { r: -1 } };
  });
  const a = await worker("w-dies", { heavy: stuck });
  gatesToOpen.push(never);
  const taskId = await orch.broker.submit(spec({ queue: QUEUE, codeVersion: VERSION, input: { n: 1 } }));
  await entered.promise;
  const first = await orch.store.getTask(taskId);
  assert.is(first?.attempt, 1);
  const oldToken = first!.leaseToken!;
  await a.nc.close(); // the worker's machine drops off the network mid-activity

  const done = stage("heavy", async (ctx) => ({ output: { r: ctx.input.n + 100 } }));
  await worker("w-survives", { heavy: done });
  const out = await orch.broker.waitForOutcome(taskId, { timeoutMs: leaseMs * 10 });
  assert.is(out?.status, "completed");
  assert.is(out?.attempt, 2);
  assert.is(out?.workerId, "w-survives");
  assert.equal(out?.output, { r: 101 });

  // The dead worker's report arrives late (e.g. replayed from its disk): fenced off.
  const late = {
    v: 1,
    taskId,
    attempt: 1,
    leaseToken: oldToken,
    workerId: "w-dies",
    codeVersion: VERSION,
    outcome: "completed",
    output: { r: -1 },
    logs: [],
    reportedAt: new Date().toISOString(),
  };
  const js = (await import("@nats-io/jetstream")).jetstream(orch.nc);
  await js.publish(topology.reportSubject(QUEUE), JSON.stringify(late), { msgID: `${taskId}:late` });
  await until(() => orch.reports.some((r) => !r.accepted), 30_000, "the late report's verdict");
  const refused = orch.reports.find((r) => !r.accepted)!;
  assert.is(refused.taskId, taskId);
  assert.ok(refused.reason === "stale_attempt" || refused.reason === "already_terminal", `reason ${refused.reason}`);
  const after = await orch.broker.getOutcome(taskId);
  assert.equal(after?.output, { r: 101 });
  assert.is(after?.workerId, "w-survives");
});

t("a report published first under a guessable id cannot suppress the lease holder's report (dedupe is per lease token)", async () => {
  const { topology, orch, worker } = await setup(5_000);
  const entered = gate();
  const go = gate();
  gatesToOpen.push(go);
  await worker("w-genuine", {
    heavy: stage("heavy", async (ctx) => (entered.open(), await go.promise, { output: { r: ctx.input.n * 3 } })),
  });
  const taskId = await orch.broker.submit(spec({ queue: QUEUE, codeVersion: VERSION, input: { n: 5 } }));
  await entered.promise;
  // Another worker of any queue knows the task id and attempt (they are predictable), not the lease token.
  const forged = {
    v: 1,
    taskId,
    attempt: 1,
    leaseToken: "guessed",
    workerId: "w-attacker",
    codeVersion: VERSION,
    outcome: "failed",
    error: "forged",
    logs: [],
    reportedAt: new Date().toISOString(),
  };
  const js = (await import("@nats-io/jetstream")).jetstream(orch.nc);
  for (const msgID of [`${taskId}:1`, reportMsgId(taskId, 1, "guessed"), reportMsgId(taskId, 1, "")]) {
    const ack = await js.publish(topology.reportSubject(QUEUE), JSON.stringify(forged), { msgID });
    assert.not.ok(ack.duplicate, msgID);
  }
  go.open();
  const out = await orch.broker.waitForOutcome(taskId, { timeoutMs: 30_000 });
  assert.is(out?.status, "completed", "the genuine report was applied, not dropped as a duplicate");
  assert.equal(out?.output, { r: 15 });
  assert.is(out?.workerId, "w-genuine");
  // A refusal's verdict trails its audit insert and ack, so it may come after the genuine outcome.
  await until(() => orch.reports.some((r) => r.taskId === taskId && !r.accepted), 30_000, "the forged reports' verdicts");
  assert.ok(
    orch.reports
      .filter((r) => r.taskId === taskId && !r.accepted)
      .every((r) => r.reason === "stale_attempt" || r.reason === "already_terminal"),
    "the forged reports were refused (wrong lease token)",
  );
});

t("a heartbeating activity running 3x AckWait keeps its delivery (no redelivery)", async () => {
  const leaseMs = 3_000; // heartbeats every 200 ms: fifteen chances per lease even when a loaded CI machine stalls the event loop
  const { topology, orch, worker } = await setup(leaseMs);
  const slow = stage("heavy", async (ctx) => {
    // The workload itself lasts three leases; the worker's heartbeats (every 200 ms) keep it.
    await new Promise((r) => setTimeout(r, leaseMs * 3));
    return { output: { r: ctx.input.n } };
  });
  await worker("w-slow", { heavy: slow });
  const taskId = await orch.broker.submit(spec({ queue: QUEUE, codeVersion: VERSION, input: { n: 7 } }));
  const out = await orch.broker.waitForOutcome(taskId, { timeoutMs: leaseMs * 10 });
  assert.is(out?.status, "completed");
  assert.is(out?.attempt, 1);
  const jsm = await jetstreamManager(orch.nc);
  const consumerInfo = () => jsm.consumers.info(topology.streams.tasks, taskConsumerName(QUEUE, VERSION));
  // The report is durable before the worker acks, so the outcome can be known a moment before the ack lands.
  await until(async () => (await consumerInfo()).num_ack_pending === 0, 30_000, "the worker's ack");
  assert.is((await consumerInfo()).num_redelivered, 0);
  assert.is(orch.store.rejectedReports.length, 0);
});

t("a worker whose lease expired reports late without acking the message its successor now holds", async () => {
  // Long enough that the successor's 200 ms beats keep attempt 2 alive through a loaded machine's stalls.
  const leaseMs = 3_000;
  const { topology, orch, worker } = await setup(leaseMs);
  const aEntered = gate();
  const aGo = gate();
  const bEntered = gate();
  const bGo = gate();
  gatesToOpen.push(aGo, bGo);
  // Worker A never heartbeats within the lease (a long GC pause, a frozen VM): its delivery expires.
  const a = await worker(
    "w-paused",
    { heavy: stage("heavy", async () => (aEntered.open(), await aGo.promise, { output: { r: 1 } })) },
    60_000,
  );
  const taskId = await orch.broker.submit(spec({ queue: QUEUE, codeVersion: VERSION, input: { n: 1 } }));
  await aEntered.promise;
  await worker("w-next", { heavy: stage("heavy", async () => (bEntered.open(), await bGo.promise, { output: { r: 2 } })) });
  await bEntered.promise;
  assert.is((await orch.store.getTask(taskId))?.attempt, 2);
  aGo.open(); // A wakes up and reports attempt 1
  await until(() => a.w.getStats().completed + a.w.getStats().failed === 1, 30_000, "worker A to finish its task");
  await until(() => orch.reports.some((r) => !r.accepted), 30_000, "the stale report's verdict");
  const jsm = await jetstreamManager(orch.nc);
  const info = await jsm.consumers.info(topology.streams.tasks, taskConsumerName(QUEUE, VERSION));
  assert.is(info.num_ack_pending, 1, "attempt 2 still holds the message");
  assert.is((await jsm.streams.info(topology.streams.tasks)).state.messages, 1, "A did not ack it away");
  bGo.open();
  const out = await orch.broker.waitForOutcome(taskId, { timeoutMs: 30_000 });
  assert.is(out?.attempt, 2);
  assert.equal(out?.output, { r: 2 });
  await until(async () => (await jsm.streams.info(topology.streams.tasks)).state.messages === 0, 30_000, "B's ack");
});

test.run();
