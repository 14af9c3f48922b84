// Deploy safety on real NATS + Postgres: a task created for stageCodeVersion v1 that is picked up
// after the deploy to v2 fails with a message naming both versions, and no code of either
// version runs it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { createActivityWorker, type ActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import type { Topology } from "../../src/contract/topology.js";
import { taskConsumerName } from "../../adapters/jetstream/remote/index.js";
import { postgresTaskStore, startOrchestrator, until, startOrchestratorOnPostgres } from "./helpers.js";
import { startKernelOrchestrator, WORKFLOW_ID } from "./kernel.js";

const svc = await services(["nats", "postgres"]);
const t = svc ? test : test.skip;
const QUEUE = "default";
const cleanups: (() => Promise<void>)[] = [];
/** Bodies that ran, by worker version: none may run a task of another version. */
let ran: string[] = [];

test.after.each(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  ran = [];
});
test.after(async () => {
  await svc?.stop();
});

const activity = (version: string) => stage("heavy", async (ctx) => (ran.push(version), { output: { r: ctx.input.n } }));

async function startWorker(topology: Topology, version: string, workerId: string): Promise<ActivityWorker> {
  const nc = await connect({ servers: svc!.nats.url });
  const transport = createNatsWorkerTransport(nc, { topology, queue: QUEUE, codeVersion: version });
  const w = createActivityWorker({
    transport,
    queue: QUEUE,
    stageCodeVersion: version,
    workerId,
    pollWaitMs: 300,
    heartbeatIntervalMs: 200,
    registry: { heavy: activity(version) },
  });
  cleanups.push(async () => {
    await w.stop({ drain: false });
    await transport.close?.();
    await nc.close();
  });
  w.start();
  return w;
}

const BOTH = /"v1".*"v2"/;

t("a v1 task still suspended when a v2 orchestrator takes over fails the run naming both versions", async () => {
  const pg = await postgresTaskStore(svc!.postgres.url);
  cleanups.push(() => pg.close());
  const topology = freshTopology();
  const base = { url: svc!.nats.url, topology, queue: QUEUE, leaseMs: 2_000, taskStore: pg.store };

  // Before the deploy: the v1 orchestrator submits the task; no v1 worker picks it up in time.
  const orchV1 = await startOrchestrator({ ...base, codeVersion: "v1" });
  const kernV1 = await startKernelOrchestrator({
    sql: pg.sql,
    schema: pg.schema,
    broker: orchV1.broker,
    activity: activity("v1"),
    queue: QUEUE,
    stageCodeVersion: "v1",
    workerId: "orch-v1",
    pollIntervalMs: 100,
  });
  const { workflowRunId } = await kernV1.kernel.dispatch({
    type: "run.create",
    idempotencyKey: "deploy-1",
    workflowId: WORKFLOW_ID,
    input: { n: 1 },
  });
  await until(async () => (await pg.store.listTasks({ workflowRunId })).length === 1, 10_000, "the v1 task");
  const [created] = await pg.store.listTasks({ workflowRunId });
  assert.is(created?.codeVersion, "v1");
  await kernV1.stop();
  await orchV1.close();

  // The deploy: orchestrator, kernel and workers now run v2.
  const orchV2 = await startOrchestrator({ ...base, codeVersion: "v2" });
  cleanups.push(() => orchV2.close());
  await startWorker(topology, "v2", "w-v2");
  const kernV2 = await startKernelOrchestrator({
    sql: pg.sql,
    schema: pg.schema,
    broker: orchV2.broker,
    activity: activity("v2"),
    queue: QUEUE,
    stageCodeVersion: "v2",
    workerId: "orch-v2",
    pollIntervalMs: 100,
  });
  cleanups.push(() => kernV2.stop());
  const done = await kernV2.sink.waitFor(
    (e) => e.workflowRunId === workflowRunId && (e.type === "workflow:failed" || e.type === "workflow:completed"),
    15_000,
  );
  assert.is(done.type, "workflow:failed");
  const view = await kernV2.kernel.runs.get(workflowRunId);
  assert.is(view?.run.status, "FAILED");
  assert.match(String(view?.run.error), BOTH);
  assert.match(String(view?.run.error), /code version mismatch/);
  const task = await pg.store.getTask(created!.taskId);
  assert.is(task?.status, "FAILED");
  assert.match(String(task?.error), BOTH);

  // A v1 worker that was not upgraded yet finds the old task: the broker refuses it, nothing runs.
  await startWorker(topology, "v1", "w-v1-straggler");
  const jsm = await jetstreamManager(orchV2.nc);
  await until(
    async () => (await jsm.consumers.info(topology.streams.tasks, taskConsumerName(QUEUE, "v1"))).delivered.consumer_seq >= 1,
    10_000,
    "the straggler's pull",
  );
  await until(
    async () => (await jsm.streams.info(topology.streams.tasks)).state.messages === 0,
    10_000,
    "the refused task to be terminated",
  );
  assert.equal(ran, [], "neither version's body ran the task");
  assert.is((await pg.store.getTask(created!.taskId))?.error, task?.error, "the outcome did not change");
});

t("a v1 task delivered to a v2 worker after the deploy fails naming both versions; the v2 body never runs", async () => {
  const { orch, pg, topology } = await startOrchestratorOnPostgres(
    { nats: svc!.nats.url, postgres: svc!.postgres.url },
    {
      queue: QUEUE,
      codeVersion: "v2",
      leaseMs: 2_000,
    },
    cleanups,
  );
  const taskId = await orch.broker.submit(spec({ workflowRunId: "run-old", queue: QUEUE, codeVersion: "v1", input: { n: 3 } }));
  // The old task lands on the v2 queue (an operator re-drove v1 tasks after the deploy).
  const record = await pg.store.getTask(taskId);
  await jetstream(orch.nc).publish(topology.taskSubject(QUEUE, "v2"), JSON.stringify(orch.broker.toTaskMessage(record!)), {
    msgID: `${taskId}:redrive`,
  });
  const w = await startWorker(topology, "v2", "w-v2");

  const out = await orch.broker.waitForOutcome(taskId, { timeoutMs: 10_000 });
  assert.is(out?.status, "failed");
  assert.match(String(out?.error), BOTH);
  assert.match(String(out?.error), /w-v2/);
  const jsm = await jetstreamManager(orch.nc);
  await until(
    async () => (await jsm.consumers.info(topology.streams.tasks, taskConsumerName(QUEUE, "v2"))).num_ack_pending === 0,
    5_000,
    "the delivery to be settled",
  );
  assert.equal(ran, []);
  assert.is(w.getStats().completed + w.getStats().failed, 0, "the worker never started the task");
});

test.run();
