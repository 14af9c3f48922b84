// Durable reports: a worker's outcome published while no orchestrator takes reports stays in the
// REPORTS stream; a new orchestrator (new broker, same Postgres store) applies it later, and the
// activity body is never run again.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { jetstreamManager } from "@nats-io/jetstream";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { taskConsumerName } from "../../adapters/jetstream/remote/index.js";
import { postgresTaskStore, startOrchestrator, until, natsSdkWorker } from "./helpers.js";

const svc = await services(["nats", "postgres"]);
const t = svc ? test : test.skip;
const QUEUE = "default";
const VERSION = "v1";
const cleanups: (() => Promise<void>)[] = [];

test.after(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await svc?.stop();
});

t("a report stored while the orchestrator is down is applied by a new one; the body ran once", async () => {
  const pg = await postgresTaskStore(svc!.postgres.url);
  cleanups.push(() => pg.close());
  const topology = freshTopology();
  const base = { url: svc!.nats.url, topology, queue: QUEUE, codeVersion: VERSION, leaseMs: 2_000, taskStore: pg.store };
  // The first orchestrator answers heartbeats but its report intake is down.
  const first = await startOrchestrator({ ...base, reportConsumer: false });
  let firstClosed = false;
  cleanups.push(async () => {
    if (!firstClosed) await first.close();
  });

  let runs = 0;
  const w = await natsSdkWorker(
    svc!.nats.url,
    {
      topology,
      queue: QUEUE,
      codeVersion: VERSION,
      drainOnStop: true,
      heartbeatIntervalMs: 200,
      registry: { heavy: stage("heavy", async (ctx) => (runs++, { output: { r: ctx.input.n * 2 } })) },
    },
    cleanups,
  );
  w.start();

  const taskId = await first.broker.submit(spec({ workflowRunId: "run-restart", queue: QUEUE, codeVersion: VERSION, input: { n: 21 } }));
  await until(() => w.getStats().completed === 1, 10_000, "the worker to report");
  const jsm = await jetstreamManager(first.nc);
  assert.is((await jsm.streams.info(topology.streams.reports)).state.messages, 1, "the report is durable in the stream");
  assert.is((await jsm.streams.info(topology.streams.tasks)).state.messages, 0, "the task was acked after the PubAck");
  const before = await pg.store.getTask(taskId);
  assert.is(before?.status, "LEASED", "nobody applied the report yet");
  assert.is((await first.broker.getOutcome(taskId))?.status, "pending");

  await first.close(); // the orchestrator goes away entirely
  firstClosed = true;

  const second = await startOrchestrator(base);
  cleanups.push(() => second.close());
  const out = await second.broker.waitForOutcome(taskId, { timeoutMs: 10_000 });
  assert.is(out?.status, "completed");
  assert.equal(out?.output, { r: 42 });
  assert.is(out?.attempt, 1);
  assert.is(out?.workerId, "w1");
  await until(() => second.reports.length === 1, 5_000, "the report verdict");
  assert.equal(second.reports, [{ accepted: true, taskId }]);
  const jsm2 = await jetstreamManager(second.nc);
  await until(async () => (await jsm2.streams.info(topology.streams.reports)).state.messages === 0, 5_000, "the report to be acked away");
  const info = await jsm2.consumers.info(topology.streams.tasks, taskConsumerName(QUEUE, VERSION));
  assert.is(info.num_pending + info.num_ack_pending + info.num_redelivered, 0, "no redelivery of the task is pending or happened");
  assert.is(runs, 1, "the activity body ran exactly once");
  assert.is(w.getStats().completed, 1);
});

test.run();
