import { test } from "uvu";
import * as assert from "uvu/assert";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { defineRemoteStage } from "../../src/remote/remote-stage.js";
import { createRemoteExecutor } from "../../src/remote/remote-executor.js";
import { RemoteActivityError } from "../../src/remote/errors.js";
import type { StageContext } from "../../src/contract/stage-types.js";
import { gate, makeFixture, stage, until } from "./helpers/fixture.js";

const noop = async () => {};
function kernelCtx(over: Partial<StageContext<unknown, unknown>> = {}) {
  const logs: string[] = [];
  const annotations: unknown[] = [];
  let beats = 0;
  const ctx = {
    workflowRunId: "run-1",
    workflowId: "wf",
    stageId: "heavy",
    stageName: "heavy",
    attempt: 1,
    input: { n: 3 },
    config: {},
    workflowContext: {},
    require: () => undefined as never,
    optional: () => undefined as never,
    log: async (_l: string, m: string) => void logs.push(m),
    annotate: ((a: unknown) => void annotations.push(a)) as never,
    resumeState: undefined,
    signal: new AbortController().signal,
    heartbeat: () => void beats++,
    heartbeatDetails: undefined,
    artifacts: { put: noop, get: noop, list: noop } as never,
    ...over,
  } as StageContext<unknown, unknown>;
  return { ctx, logs, annotations, beats: () => beats };
}
const checkCtx = (logs: string[] = []) => ({
  workflowRunId: "run-1",
  workflowId: "wf",
  stageId: "heavy",
  config: {},
  log: async (_l: string, m: string) => void logs.push(m),
  annotate: (() => {}) as never,
  signal: new AbortController().signal,
});

const heavy = stage("heavy", async (ctx) => {
  await ctx.log("INFO", "on the worker");
  return { output: { r: ctx.input.n * 10 } };
});

test("defineRemoteStage suspends with the task id and resumes from the worker's outcome", async () => {
  const f = await makeFixture();
  const remote = defineRemoteStage(heavy, f.broker, { queue: "q", stageCodeVersion: "v1", pollIntervalMs: 10, maxWaitMs: 60_000 });
  assert.is(remote.id, "heavy");
  assert.is(remote.mode, "async-batch");
  assert.is(remote.schemas, heavy.schemas);
  assert.equal(remote.remote, { queue: "q", stageCodeVersion: "v1" });
  const { ctx } = kernelCtx();
  const out = (await remote.execute(ctx)) as { suspended: true; state: { taskId: string }; pollConfig: { pollInterval: number } };
  assert.is(out.suspended, true);
  assert.is(out.pollConfig.pollInterval, 10);
  assert.equal(await remote.checkCompletion!(out.state, checkCtx()), { ready: false, nextCheckIn: 10 });
  const w = createActivityWorker({
    transport: f.transport.worker,
    queue: "q",
    stageCodeVersion: "v1",
    registry: { heavy },
    workerId: "w",
    pollWaitMs: 50,
  });
  w.start();
  await until(async () => (await f.broker.getOutcome(out.state.taskId))!.status === "completed");
  await w.stop();
  const logs: string[] = [];
  assert.equal(await remote.checkCompletion!(out.state, checkCtx(logs)), { ready: true, output: { r: 30 } });
  assert.equal(logs, ["on the worker"]);
});

test("a remote stage's maxUploadBytes is stored with its task and carried in the task message", async () => {
  const f = await makeFixture({ maxUploadBytes: 5_000 });
  const limited = defineRemoteStage(heavy, f.broker, { queue: "q", stageCodeVersion: "v1", maxUploadBytes: 123 });
  assert.equal(limited.remote, { queue: "q", stageCodeVersion: "v1", maxUploadBytes: 123 });
  const out = (await limited.execute(kernelCtx().ctx)) as { state: { taskId: string } };
  const task = (await f.store.getTask(out.state.taskId))!;
  assert.is(task.maxUploadBytes, 123);
  assert.is(f.broker.toTaskMessage(task).maxUploadBytes, 123);
  // Without the option, the broker's default.
  const plain = defineRemoteStage(heavy, f.broker, { queue: "q", stageCodeVersion: "v1" });
  const out2 = (await plain.execute(kernelCtx({ workflowRunId: "run-2" }).ctx)) as { state: { taskId: string } };
  assert.is((await f.store.getTask(out2.state.taskId))!.maxUploadBytes, 5_000);
});

test("defineRemoteStage: failed and cancelled outcomes become stage errors", async () => {
  const f = await makeFixture();
  const remote = defineRemoteStage(heavy, f.broker, { queue: "q", stageCodeVersion: "v1" });
  const a = (await remote.execute(kernelCtx({ attempt: 1 }).ctx)) as { state: { taskId: string } };
  const b = (await remote.execute(kernelCtx({ attempt: 2 }).ctx)) as { state: { taskId: string } };
  await f.broker.failTask(a.state.taskId, "disk full");
  const r1 = await remote.checkCompletion!(a.state, checkCtx());
  assert.ok(!r1.ready && /remote activity failed.*disk full/.test(r1.error!));
  await f.broker.cancelRun("run-1");
  const r2 = await remote.checkCompletion!(b.state, checkCtx());
  assert.ok(!r2.ready && /remote activity cancelled/.test(r2.error!));
});

test("after a deploy, a task created under the old version fails naming both versions", async () => {
  const f = await makeFixture();
  const v1 = defineRemoteStage(heavy, f.broker, { queue: "q", stageCodeVersion: "v1" });
  const v2 = defineRemoteStage(heavy, f.broker, { queue: "q", stageCodeVersion: "v2" });
  const s = (await v1.execute(kernelCtx().ctx)) as { state: { taskId: string } };
  const r = await v2.checkCompletion!(s.state, checkCtx());
  assert.ok(!r.ready);
  assert.match(r.error!, /"v1".*"v2"/);
  assert.is((await f.broker.getOutcome(s.state.taskId))!.status, "failed", "the old task is failed, never resumed");
});

test("createRemoteExecutor blocks until the worker reports, heartbeating the kernel job", async () => {
  const f = await makeFixture();
  const exec = createRemoteExecutor(f.broker, { queue: "q", stageCodeVersion: "v1", pollIntervalMs: 10 });
  const k = kernelCtx();
  const go = gate();
  const slow = stage("heavy", async (ctx) => {
    await go.promise;
    await ctx.log("INFO", "remote log");
    return { output: { r: 5 } };
  });
  const w = createActivityWorker({
    transport: f.transport.worker,
    queue: "q",
    stageCodeVersion: "v1",
    registry: { heavy: slow },
    workerId: "w",
    pollWaitMs: 50,
  });
  w.start();
  const running = exec.execute({
    workflowRunId: "run-1",
    workflowId: "wf",
    stageId: "heavy",
    attempt: 1,
    stage: slow,
    context: k.ctx,
    input: { n: 1 },
    config: {},
    signal: new AbortController().signal,
  });
  await until(() => k.beats() >= 3, 3_000, "kernel heartbeats while waiting");
  go.open();
  assert.equal(await running, { output: { r: 5 } });
  assert.equal(k.logs, ["remote log"]);
  await w.stop();
});

test("createRemoteExecutor: aborting the request fails the task and interrupts the worker", async () => {
  const f = await makeFixture();
  const exec = createRemoteExecutor(f.broker, { queue: "q", stageCodeVersion: "v1", pollIntervalMs: 10 });
  const entered = gate();
  let workerAborted = false;
  const blocking = stage("heavy", async (ctx) => {
    entered.open();
    await new Promise((_, reject) =>
      ctx.signal.addEventListener("abort", () => ((workerAborted = true), reject(ctx.signal.reason)), { once: true }),
    );
    return { output: { r: 0 } };
  });
  const w = createActivityWorker({
    transport: f.transport.worker,
    queue: "q",
    stageCodeVersion: "v1",
    registry: { heavy: blocking },
    workerId: "w",
    pollWaitMs: 50,
    heartbeatIntervalMs: 20,
  });
  w.start();
  const ac = new AbortController();
  const running = exec.execute({
    workflowRunId: "run-1",
    workflowId: "wf",
    stageId: "heavy",
    attempt: 1,
    stage: blocking,
    context: kernelCtx().ctx,
    input: { n: 1 },
    config: {},
    signal: ac.signal,
  });
  await entered.promise;
  ac.abort(new Error("kernel gave up"));
  await running.then(
    () => assert.unreachable(),
    (err: unknown) => {
      assert.instance(err, RemoteActivityError);
      assert.match((err as Error).message, /abandoned: kernel gave up/);
    },
  );
  await until(() => workerAborted, 3_000, "worker signal to abort");
  await w.stop();
  assert.match((await f.broker.getOutcome("run-1.heavy.1"))!.error!, /abandoned/);
});

test("defineRemoteStage and createRemoteExecutor validate their options", () => {
  assert.throws(() => defineRemoteStage(heavy, {} as never, { queue: "", stageCodeVersion: "v1" }), /queue/);
  for (const maxUploadBytes of [0, -1, 1.5]) {
    assert.throws(
      () => defineRemoteStage(heavy, { submit: noop } as never, { queue: "q", stageCodeVersion: "v1", maxUploadBytes }),
      /maxUploadBytes/,
    );
    assert.throws(
      () => createRemoteExecutor({ waitForOutcome: noop } as never, { queue: "q", stageCodeVersion: "v1", maxUploadBytes }),
      /maxUploadBytes/,
    );
  }
  assert.throws(() => createRemoteExecutor({} as never, { queue: "q", stageCodeVersion: "" }), /stageCodeVersion/);
});

test.run();
