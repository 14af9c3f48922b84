// Activity threads are reused across attempts (no thread boot or module import per attempt), but
// never after an attempt that was aborted or crashed its thread, never past threadMaxAttempts,
// and a finished attempt's leftovers cannot reach a later attempt's report.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { StageContext } from "../../src/contract/stage-types.js";
import { loadStageModule, silentWorkerLogger, type ActivityWorker } from "../../worker-sdk/index.js";
import { threadWorker } from "./support/thread-worker.js";
import { ActivityThreadPool } from "../../worker-sdk/thread-pool.js";
import { makeFixture, spec, until, type Fixture } from "../remote/helpers/fixture.js";

const MODULE = new URL("./fixtures/reuse-activities.ts", import.meta.url).pathname;
const mod = await loadStageModule(MODULE);

const make = (f: Fixture, over: Record<string, unknown> = {}): ActivityWorker => threadWorker(f, mod, over);

type Seen = { thread: number; runs: number };

let runNo = 0;

/** Runs each stage as its own task (of a new run), one after the other, and returns each outcome. */
async function runInTurn(f: Fixture, stageIds: string[], input = { n: 1 }) {
  const outcomes = [];
  for (const [i, stageId] of stageIds.entries()) {
    const id = await f.broker.submit(spec({ workflowRunId: `run-${++runNo}`, stageId, input, maxAttempts: 1 }));
    await until(async () => (await f.broker.getOutcome(id))?.status !== "pending", 20_000, `task ${i} (${stageId}) to end`);
    outcomes.push((await f.broker.getOutcome(id))!);
  }
  return outcomes;
}

test("attempts reuse a warm thread: the module's state carries over, and a stage that throws keeps its thread", async () => {
  const f = await makeFixture();
  const w = make(f);
  w.start();
  const [a, failed, b] = await runInTurn(f, ["whoami", "fails", "whoami"]);
  await w.stop();
  assert.is(failed!.status, "failed");
  assert.match(failed!.error!, /failed on purpose/);
  const [x, y] = [a!.output as Seen, b!.output as Seen];
  assert.is(y.thread, x.thread, "the same thread ran both");
  assert.equal([x.runs, y.runs], [1, 2], "the module was imported once");
  await f.close();
});

test("threadMaxAttempts bounds a thread's attempts; 1 gives every attempt a fresh thread", async () => {
  const f = await makeFixture();
  const w = make(f, { threadMaxAttempts: 2 });
  w.start();
  const seen = (await runInTurn(f, ["whoami", "whoami", "whoami"])).map((o) => o.output as Seen);
  await w.stop();
  assert.is(seen[1]!.thread, seen[0]!.thread);
  assert.is.not(seen[2]!.thread, seen[0]!.thread, "replaced after its second attempt");
  assert.equal(
    seen.map((s) => s.runs),
    [1, 2, 1],
  );

  const fresh = make(f, { threadMaxAttempts: 1 });
  fresh.start();
  const each = (await runInTurn(f, ["whoami", "whoami"])).map((o) => o.output as Seen);
  await fresh.stop();
  assert.is.not(each[1]!.thread, each[0]!.thread, JSON.stringify(each));
  assert.equal(
    each.map((s) => s.runs),
    [1, 1],
  );
  await f.close();
});

test("a finished attempt's leftovers never reach the next attempt on its thread", async () => {
  const f = await makeFixture();
  const w = make(f);
  w.start();
  // The leaked timer posts every millisecond through the first attempt's context while the
  // second attempt naps 200 ms on the same thread.
  const [leaky, next] = await runInTurn(f, ["leaks-timer", "naps"], { n: 200 });
  await w.stop();
  assert.is((next!.output as Seen).thread, (leaky!.output as Seen).thread, "the same thread ran both");
  assert.equal(
    next!.logs.map((l) => l.message),
    ["napped"],
  );
  await f.close();
});

test("an artifact call a finished attempt's leftover makes is refused, not left waiting", async () => {
  const f = await makeFixture();
  const w = make(f);
  w.start();
  const [early, next] = await runInTurn(f, ["late-artifact", "tells-late"]);
  await w.stop();
  assert.is((next!.output as Seen).thread, (early!.output as Seen).thread, "the same thread ran both");
  assert.equal(next!.logs.length, 1);
  assert.match(next!.logs[0]!.message, /^late artifact: refused: attempt \d+ has ended; its artifact call was refused$/);
  await f.close();
});

test("a thread whose attempt was cancelled is not reused", async () => {
  const f = await makeFixture();
  const w = make(f);
  w.start();
  const [first] = await runInTurn(f, ["whoami"]);
  const id = await f.broker.submit(spec({ workflowRunId: "run-cancel", stageId: "waits-for-cancel", maxAttempts: 1 }));
  await until(async () => (await f.store.getTask(id))?.heartbeatDetails != null, 20_000, "the cancellable attempt to start");
  await f.broker.cancelRun("run-cancel");
  await until(() => w.getStats().cancelled === 1, 20_000, "the worker to report cancelled");
  const [after] = await runInTurn(f, ["whoami"]);
  await w.stop();
  const [x, y] = [first!.output as Seen, after!.output as Seen];
  assert.is.not(y.thread, x.thread, `a new thread: ${JSON.stringify([x, y])}`);
  assert.is(y.runs, 1, "with a fresh copy of the module");
  await f.close();
});

/** A pool on the fixture module (idle threads end after `idleMs`), an attempt context and a task of run `r<i>`. */
const pool = (idleMs?: number) =>
  new ActivityThreadPool(
    mod.file,
    { heapMb: 64, cancelGraceMs: 1_000, startTimeoutMs: 60_000, maxAttemptsPerThread: 10 },
    silentWorkerLogger,
    idleMs,
  );
const attemptCtx = () => ({ signal: new AbortController().signal }) as StageContext<unknown, unknown>;
const whoamiTask = (i: number) => ({
  stageId: "whoami",
  workflowRunId: `r${i}`,
  workflowId: "wf",
  attempt: 1,
  input: { n: 1 },
  config: {},
  workflowContext: null,
  heartbeatDetails: null,
});

test("the pool keeps a thread idle between attempts and close() ends it", async () => {
  const p = pool();
  const ctx = attemptCtx();
  const task = whoamiTask(0);
  const first = (await p.run(task, ctx)) as { output: Seen };
  assert.equal(p.size(), { busy: 0, idle: 1 });
  const second = (await p.run(task, ctx)) as { output: Seen };
  assert.is(second.output.thread, first.output.thread);
  await p.close();
  assert.equal(p.size(), { busy: 0, idle: 0 });
});

test("idle threads beyond the last one are ended; the last stays warm for the next attempt", async () => {
  const p = pool(100);
  const ctx = attemptCtx();
  const task = whoamiTask;
  const threads = ((await Promise.all([0, 1, 2].map((i) => p.run(task(i), ctx)))) as { output: Seen }[]).map((r) => r.output.thread);
  assert.is(new Set(threads).size, 3, "three attempts at once ran on three threads");
  await until(() => p.size().idle === 1, 20_000, "two of the three idle threads to end");
  const next = (await p.run(task(3), ctx)) as { output: Seen };
  assert.ok(threads.includes(next.output.thread), "the next attempt ran on the warm thread");
  await p.close();
});

test.run();
