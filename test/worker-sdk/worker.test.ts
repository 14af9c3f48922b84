import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { FakeClock } from "../../src/testing/fake-clock.js";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { WorkerConfigError } from "../../worker-sdk/errors.js";
import { gate, makeFixture, spec, stage, until } from "../remote/helpers/fixture.js";

const worker = (
  f: Awaited<ReturnType<typeof makeFixture>>,
  registry: Record<string, ReturnType<typeof stage>>,
  over: Record<string, unknown> = {},
) =>
  createActivityWorker({
    transport: f.transport.worker,
    queue: "q",
    stageCodeVersion: "v1",
    registry,
    workerId: "w1",
    pollWaitMs: 50,
    heartbeatIntervalMs: 20,
    ...over,
  });

const outcome = async (f: Awaited<ReturnType<typeof makeFixture>>, id: string) => (await f.broker.getOutcome(id))!;
const terminal = (f: Awaited<ReturnType<typeof makeFixture>>, id: string) =>
  until(async () => (await outcome(f, id)).status !== "pending", 5_000, `task ${id} to end`);

test("happy path: the real stage runs on the worker; output, logs and annotations come back", async () => {
  const f = await makeFixture();
  const heavy = stage("heavy", async (ctx) => {
    await ctx.log("INFO", "squaring", { n: ctx.input.n });
    ctx.annotate("quality", "high");
    return { output: { r: ctx.input.n * ctx.input.n } };
  });
  const w = worker(f, { heavy });
  const id = await f.broker.submit(spec({ input: { n: 7 } }));
  w.start();
  await terminal(f, id);
  await w.stop();
  const o = await outcome(f, id);
  assert.is(o.status, "completed");
  assert.equal(o.output, { r: 49 });
  assert.is(o.logs[0]!.message, "squaring");
  assert.equal(o.annotations, [{ attributes: { quality: "high" } }]);
  assert.is(w.getStats().completed, 1);
  assert.is(w.getStats().status, "stopped");
  assert.is(f.transport.size(), 0, "acked after the report");
});

test("invalid input is a non-retryable failure on the first attempt", async () => {
  const f = await makeFixture();
  let ran = 0;
  const w = worker(f, { heavy: stage("heavy", async () => (ran++, { output: { r: 1 } })) });
  const id = await f.broker.submit(spec({ input: { n: "seven" } }));
  w.start();
  await terminal(f, id);
  await w.stop();
  const o = await outcome(f, id);
  assert.is(o.status, "failed");
  assert.is(o.attempt, 1);
  assert.match(o.error!, /invalid task input: n:/);
  assert.is(ran, 0);
  assert.is(f.transport.reportResults.length, 1);
});

test("a retryable failure is redelivered as attempt 2, which sees attempt 1's heartbeat details", async () => {
  const f = await makeFixture();
  const seen: unknown[] = [];
  const heavy = stage("heavy", async (ctx) => {
    seen.push(ctx.heartbeatDetails);
    if (ctx.attempt === 1) {
      ctx.heartbeat({ page: 5 });
      throw new Error("flaky network");
    }
    return { output: { r: ctx.attempt } };
  });
  const w = worker(f, { heavy });
  const id = await f.broker.submit(spec());
  w.start();
  await terminal(f, id);
  await w.stop();
  assert.equal(seen, [undefined, { page: 5 }]);
  const o = await outcome(f, id);
  assert.is(o.status, "completed");
  assert.equal(o.output, { r: 2 });
  assert.is(w.getStats().released, 1);
});

test("the last attempt's failure is reported as failed", async () => {
  const f = await makeFixture();
  const w = worker(f, {
    heavy: stage("heavy", async () => {
      throw new Error("always");
    }),
  });
  const id = await f.broker.submit(spec({ maxAttempts: 2 }));
  w.start();
  await terminal(f, id);
  await w.stop();
  const o = await outcome(f, id);
  assert.is(o.status, "failed");
  assert.is(o.attempt, 2);
  assert.is(o.error, "always");
});

test("cancelling the run aborts ctx.signal within a heartbeat interval; the outcome stays cancelled", async () => {
  const f = await makeFixture();
  const started = gate();
  let abortedAt = 0;
  const heavy = stage("heavy", async (ctx) => {
    started.open();
    await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
    abortedAt = Date.now();
    throw ctx.signal.reason;
  });
  const w = worker(f, { heavy }, { heartbeatIntervalMs: 50 });
  const id = await f.broker.submit(spec());
  w.start();
  await started.promise;
  const cancelledAt = Date.now();
  await f.broker.cancelRun("run-1");
  await until(() => w.getStats().cancelled === 1, 3_000, "worker to report cancelled");
  await w.stop();
  assert.ok(abortedAt - cancelledAt <= 50 * 2 + 50, `aborted ${abortedAt - cancelledAt} ms after the cancel`);
  assert.is((await outcome(f, id)).status, "cancelled");
  assert.is(f.transport.reportResults[0]!.reason, "run_cancelled");
});

test("lease expiry: attempt 2 takes over; attempt 1's late report is refused and the outcome is attempt 2's", async () => {
  const clock = new FakeClock();
  const f = await makeFixture({ clock, leaseMs: 1_000 });
  const release1 = gate();
  const release2 = gate();
  const entered = gate<number>();
  const entered2 = gate();
  const heavy = stage("heavy", async (ctx) => {
    if (ctx.attempt === 1) {
      entered.open(1);
      await release1.promise;
    } else {
      entered2.open();
      await release2.promise;
    }
    return { output: { r: ctx.attempt * 100 } };
  });
  const a = worker(f, { heavy }, { workerId: "a", heartbeatIntervalMs: 60_000 });
  const b = worker(f, { heavy }, { workerId: "b", heartbeatIntervalMs: 60_000 });
  const id = await f.broker.submit(spec());
  a.start();
  await entered.promise;
  clock.advance(1_500);
  f.transport.poke();
  b.start();
  await entered2.promise;
  release1.open(); // attempt 1 finishes while attempt 2 holds the lease
  await until(() => f.transport.reportResults.length === 1, 3_000, "late report");
  assert.is((await outcome(f, id)).status, "pending", "the stale report changed nothing");
  release2.open();
  await terminal(f, id);
  await Promise.all([a.stop(), b.stop()]);
  assert.equal(
    f.transport.reportResults.map((r) => r.accepted),
    [false, true],
  );
  assert.is(f.transport.reportResults[0]!.reason, "stale_attempt");
  const o = await outcome(f, id);
  assert.equal(o.output, { r: 200 });
  assert.is(o.workerId, "b");
});

test("maxConcurrentTasks = 2 is never exceeded with 10 queued tasks", async () => {
  const f = await makeFixture();
  let running = 0;
  let peak = 0;
  const heavy = stage("heavy", async (ctx) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5)); // a little work so tasks overlap
    running--;
    return { output: { r: ctx.input.n } };
  });
  const w = worker(f, { heavy }, { maxConcurrentTasks: 2 });
  const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => f.broker.submit(spec({ kernelAttempt: i + 1, input: { n: i } }))));
  w.start();
  await until(() => w.getStats().completed === 10, 5_000, "10 completions");
  await w.stop();
  assert.is(peak, 2);
  for (const [i, id] of ids.entries()) assert.equal((await outcome(f, id)).output, { r: i });
});

test("drain: stop() finishes the in-flight task and pulls nothing new", async () => {
  const f = await makeFixture();
  const go = gate();
  const entered = gate();
  const heavy = stage("heavy", async (ctx) => {
    entered.open();
    await go.promise;
    return { output: { r: ctx.input.n } };
  });
  const w = worker(f, { heavy });
  const first = await f.broker.submit(spec({ kernelAttempt: 1 }));
  w.start();
  await entered.promise;
  const second = await f.broker.submit(spec({ kernelAttempt: 2 }));
  let stopped = false;
  const stopping = w.stop().then(() => (stopped = true));
  await until(() => w.getStats().status === "draining");
  assert.is(stopped, false, "waits for the in-flight task");
  go.open();
  await stopping;
  assert.is((await outcome(f, first)).status, "completed");
  assert.is((await outcome(f, second)).status, "pending");
  assert.is((await f.store.getTask(second))!.attempt, 0, "never delivered");
  assert.is(w.getStats().completed, 1);
});

test("stop({ drain: false }) aborts the activity and releases the task for another worker", async () => {
  const f = await makeFixture();
  const entered = gate();
  const heavy = stage("heavy", async (ctx) => {
    if (ctx.attempt === 1) {
      entered.open();
      ctx.heartbeat({ step: 3 });
      await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true }));
    }
    return { output: { r: (ctx.heartbeatDetails as { step: number }).step } };
  });
  const a = worker(f, { heavy }, { workerId: "a" });
  const id = await f.broker.submit(spec());
  a.start();
  await entered.promise;
  await a.stop({ drain: false });
  assert.is(a.getStats().released, 1);
  assert.is((await outcome(f, id)).status, "pending");
  const b = worker(f, { heavy }, { workerId: "b" });
  b.start();
  await terminal(f, id);
  await b.stop();
  const o = await outcome(f, id);
  assert.equal(o.output, { r: 3 });
  assert.is(o.attempt, 2);
});

test("a malformed task message is dead-lettered; other tasks are unaffected", async () => {
  const f = await makeFixture();
  f.transport.publishRaw("q", "v1", "{garbage");
  f.transport.publishRaw("q", "v1", { v: 1, taskId: "x" });
  const w = worker(f, { heavy: stage("heavy", async (ctx) => ({ output: { r: ctx.input.n } })) });
  const id = await f.broker.submit(spec());
  w.start();
  await terminal(f, id);
  await w.stop();
  assert.is((await outcome(f, id)).status, "completed");
  assert.is(f.transport.deadLetters.length, 2);
  assert.match(f.transport.deadLetters[0]!.error.message, /not JSON/);
  assert.match(f.transport.deadLetters[1]!.error.message, /workflowRunId/);
});

test("ctx.require is unavailable without workflowContext and works when the task ships it", async () => {
  const f = await makeFixture();
  const heavy = stage("heavy", async (ctx) => ({ output: { r: (ctx.require("prev") as { r: number }).r + 1 } }));
  const w = worker(f, { heavy });
  const without = await f.broker.submit(spec({ kernelAttempt: 1, maxAttempts: 1 }));
  const withCtx = await f.broker.submit(spec({ kernelAttempt: 2, workflowContext: { prev: { r: 41 } } }));
  w.start();
  await terminal(f, without);
  await terminal(f, withCtx);
  await w.stop();
  assert.match((await outcome(f, without)).error!, /not available on remote workers/);
  assert.equal((await outcome(f, withCtx)).output, { r: 42 });
});

test("worker options are validated", () => {
  const f = { transport: { worker: { next() {} } } } as never;
  assert.throws(
    () => worker(f, { heavy: stage("heavy", async () => ({ output: { r: 1 } })) }, { maxConcurrentTasks: 0 }),
    (e: unknown) => e instanceof WorkerConfigError,
  );
  assert.throws(() => worker(f, {}), /registry holds no stage/);
  assert.throws(() => worker(f, { other: stage("heavy", async () => ({ output: { r: 1 } })) }), /not a stage with that id/);
});

test("a stage whose output fails its schema is reported failed, not completed", async () => {
  const f = await makeFixture();
  const w = worker(f, { heavy: stage("heavy", async () => ({ output: { r: "nope" } }), { output: z.object({ r: z.number() }) }) });
  const id = await f.broker.submit(spec());
  w.start();
  await terminal(f, id);
  await w.stop();
  assert.match((await outcome(f, id)).error!, /invalid stage output: r:/);
});

test.run();
