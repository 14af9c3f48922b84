// Thread isolation: each attempt's stage code runs in its own worker thread while heartbeats,
// artifact transfers and reports stay on the worker's event loop. A CPU-bound stage keeps its
// lease; a stage that crashes its thread or exhausts its heap fails only that attempt.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadStageModule, type ActivityWorker, type WorkerTransport } from "../../worker-sdk/index.js";
import { threadWorker } from "./support/thread-worker.js";
import { makeFixture, spec, until, type Fixture } from "../remote/helpers/fixture.js";

const MODULE = new URL("./fixtures/thread-activities.ts", import.meta.url).pathname;
const mod = await loadStageModule(MODULE);

const make = (f: Fixture, over: Record<string, unknown> = {}, transport?: WorkerTransport): ActivityWorker =>
  threadWorker(f, mod, over, transport);
const outcome = async (f: Fixture, id: string) => (await f.broker.getOutcome(id))!;
const terminal = (f: Fixture, id: string, ms = 20_000) =>
  until(async () => (await outcome(f, id)).status !== "pending", ms, `task ${id} to end`);

/** The transport, recording when the attempt's lease was taken, each heartbeat, and the report. */
function recording(t: WorkerTransport) {
  const times: number[] = [];
  const reports: Parameters<WorkerTransport["report"]>[1][] = [];
  const transport: WorkerTransport = {
    ...t,
    next: async (q, o) => {
      const lease = await t.next(q, o);
      if (lease) times.push(Date.now());
      return lease;
    },
    heartbeat: async (l, d) => (times.push(Date.now()), t.heartbeat(l, d)),
    report: async (l, r) => (times.push(Date.now()), reports.push(r), t.report(l, r)),
  };
  const maxGap = () => Math.max(...times.slice(1).map((x, i) => x - times[i]!));
  return { transport, maxGap, reports };
}

const LEASE_MS = 400;
const BUSY_MS = 1_000; // > 3 heartbeat intervals and > the lease

test("a CPU-bound activity keeps its lease in a thread: heartbeats continue, another worker never gets the task, the body runs once", async () => {
  const f = await makeFixture({ leaseMs: LEASE_MS });
  const rec = recording(f.transport.worker);
  const w = make(f, {}, rec.transport);
  // Pulls the same queue all along: an expired lease would hand it the task (a second run).
  const thief = make(f, { workerId: "thief", pollWaitMs: 20 });
  const id = await f.broker.submit(spec({ stageId: "busy", input: { n: BUSY_MS } }));
  w.start();
  await until(async () => (await f.store.getTask(id))?.status === "LEASED", 10_000, "w1 to lease the task");
  thief.start();
  await terminal(f, id);
  await Promise.all([w.stop(), thief.stop()]);
  const o = await outcome(f, id);
  assert.is(o.status, "completed");
  assert.equal(o.output, { r: BUSY_MS });
  assert.is(o.attempt, 1);
  assert.equal(
    o.logs.map((l) => l.message),
    ["body ran on attempt 1"],
    "the body ran exactly once",
  );
  const t = thief.getStats();
  assert.is(t.completed + t.failed + t.released + t.cancelled, 0, "the other worker never received the task");
  assert.ok(rec.maxGap() < LEASE_MS, `longest silence ${rec.maxGap()} ms stayed under the ${LEASE_MS} ms lease`);
  await f.close();
});

test("inline, the same activity starves its heartbeats for longer than the lease (why threads are the default)", async () => {
  const f = await makeFixture({ leaseMs: LEASE_MS });
  const rec = recording(f.transport.worker);
  const w = make(f, { isolation: "inline" }, rec.transport);
  const id = await f.broker.submit(spec({ stageId: "busy", input: { n: BUSY_MS } }));
  w.start();
  await terminal(f, id);
  await w.stop();
  // No beat can leave while the loop blocks this thread; a real broker expires the lease meanwhile.
  assert.ok(rec.maxGap() >= LEASE_MS, `longest silence ${rec.maxGap()} ms exceeds the ${LEASE_MS} ms lease`);
  await f.close();
});

test("an activity that throws outside its promise fails that attempt only (retryable), and the worker serves the next task", async () => {
  const f = await makeFixture();
  const w = make(f);
  const id = await f.broker.submit(spec({ stageId: "throws-async", maxAttempts: 2 }));
  w.start();
  await terminal(f, id);
  const o = await outcome(f, id);
  assert.is(o.status, "failed");
  assert.is(o.attempt, 2, "the crash was retried once, then reported");
  assert.match(o.error!, /^activity thread crashed: boom/);
  const next = await f.broker.submit(spec({ workflowRunId: "run-2", stageId: "double", input: { n: 21 } }));
  await terminal(f, next);
  assert.equal((await outcome(f, next)).output, { r: 42 });
  assert.is(w.getStats().status, "running");
  await w.stop();
});

test("an unhandled rejection in the activity fails that attempt only", async () => {
  const f = await makeFixture();
  const w = make(f);
  const id = await f.broker.submit(spec({ stageId: "rejects-unhandled", maxAttempts: 1 }));
  w.start();
  await terminal(f, id);
  assert.match((await outcome(f, id)).error!, /^activity thread crashed: nobody listens/);
  const next = await f.broker.submit(spec({ workflowRunId: "run-2", stageId: "double", input: { n: 1 } }));
  await terminal(f, next);
  assert.is((await outcome(f, next)).status, "completed");
  await w.stop();
});

test("an activity that exhausts its heap fails that attempt only, naming the limit", async () => {
  const f = await makeFixture();
  const w = make(f, { threadHeapMb: 32 });
  const id = await f.broker.submit(spec({ stageId: "hog", maxAttempts: 1 }));
  w.start();
  await terminal(f, id, 60_000);
  const o = await outcome(f, id);
  assert.is(o.status, "failed");
  assert.is(o.error, "activity exhausted its heap (limit 32 MiB)");
  const next = await f.broker.submit(spec({ workflowRunId: "run-2", stageId: "double", input: { n: 4 } }));
  await terminal(f, next);
  assert.equal((await outcome(f, next)).output, { r: 8 });
  await w.stop();
});

test("cancelling the run aborts ctx.signal inside the thread", async () => {
  const f = await makeFixture();
  const rec = recording(f.transport.worker);
  const w = make(f, {}, rec.transport);
  const id = await f.broker.submit(spec({ stageId: "waits-for-cancel" }));
  w.start();
  await until(async () => (await f.store.getTask(id))?.heartbeatDetails != null, 10_000, "the thread's first heartbeat");
  await f.broker.cancelRun("run-1");
  await until(() => w.getStats().cancelled === 1, 5_000, "the worker to report cancelled");
  await w.stop();
  const o = await outcome(f, id);
  assert.is(o.status, "cancelled");
  // The broker keeps no logs of a cancelled task, so read them from the report the worker sent.
  const report = rec.reports[0]!;
  assert.is(report.outcome, "cancelled");
  assert.ok(
    report.logs.some((l) => /^aborted in thread: activity task .* was cancelled/.test(l.message)),
    JSON.stringify(report.logs),
  );
});

test("an activity that ignores its signal is terminated after the grace period; the attempt ends cancelled", async () => {
  const f = await makeFixture();
  const w = make(f, { cancelGraceMs: 200 });
  const id = await f.broker.submit(spec({ stageId: "ignores-cancel" }));
  w.start();
  await until(async () => (await f.store.getTask(id))?.heartbeatDetails != null, 10_000, "the thread's first heartbeat");
  await f.broker.cancelRun("run-1");
  await until(() => w.getStats().cancelled === 1, 5_000, "the worker to give up on the thread");
  await w.stop();
  assert.is((await outcome(f, id)).status, "cancelled");
});

test("stop without drain releases a thread that ignores its signal after the grace period", async () => {
  const f = await makeFixture();
  const w = make(f, { cancelGraceMs: 200 });
  const id = await f.broker.submit(spec({ stageId: "ignores-cancel" }));
  w.start();
  await until(async () => (await f.store.getTask(id))?.heartbeatDetails != null, 10_000, "the thread's first heartbeat");
  await w.stop({ drain: false });
  assert.is(w.getStats().released, 1);
  assert.is((await outcome(f, id)).status, "pending", "back in the queue for another worker");
});

test("artifacts put/get/list work from the thread, single and multipart", async () => {
  const f = await makeFixture({ http: true });
  try {
    const w = make(f, { partSize: 1_000 });
    const id = await f.broker.submit(spec({ stageId: "artifacts", input: { n: 2_500 }, maxAttempts: 1 }));
    w.start();
    await terminal(f, id);
    await w.stop();
    const o = await outcome(f, id);
    assert.is(o.status, "completed", o.error ?? "");
    assert.equal(JSON.parse(o.logs[0]!.message), {
      put: { key: "runs/run-1/artifacts/1/blob.bin", size: 2_500 },
      same: true,
      missing: null,
      listed: ["runs/run-1/artifacts/1/blob.bin"],
      callerBytes: 2_500,
    });
    assert.equal(
      f.objects.signed.filter((s) => s.op === "multipart").map((s) => s.key),
      ["runs/run-1/artifacts/1/blob.bin"],
    );
  } finally {
    await f.close();
  }
});

test("options: a misspelt option is refused by name; thread isolation needs the module path", async () => {
  const f = await makeFixture();
  assert.throws(() => make(f, { pollWaitMS: 10 }), /pollWaitMS/);
  assert.throws(() => make(f, { modulePath: undefined, isolation: "thread" }), /isolation: "thread" needs modulePath/);
  assert.throws(() => make(f, { isolation: "process" }), /isolation/);
});

test.run();
