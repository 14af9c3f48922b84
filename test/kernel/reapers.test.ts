import { test } from "uvu";
import * as assert from "uvu/assert";
import { makeEnv, stage, workflow } from "./support/harness.js";

test("lease.reapStale fails the stage and run of a job the transport dead-lettered", async () => {
  const env = makeEnv([workflow("wf", [stage({ id: "s", execute: async () => ({ output: 1 }) })])]);
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  const job = env.queue.jobs.shift()!;
  env.queue.deadLetters.push({ job, reason: "max deliveries (5) reached" });
  const r = await env.kernel.dispatch({ type: "lease.reapStale", staleThresholdMs: 60_000 });
  assert.equal(r, { released: 0, deadLettered: 1 });
  const run = (await env.kernel.runs.get(id))!.run;
  assert.is(run.status, "FAILED");
  assert.match(run.error!, /stage "s" failed: job .*:s:1 was dead-lettered .* after attempt 1 of 3: max deliveries \(5\) reached/);
});

test("a dead letter for an attempt the stage already moved past is ignored", async () => {
  let calls = 0;
  const env = makeEnv([
    workflow("wf", [
      stage({
        id: "s",
        execute: async () => {
          if (++calls === 1) throw new Error("x");
          return { output: 1 };
        },
      }),
    ]),
  ]);
  const id = await env.create("wf", {});
  await env.drain(); // attempt 1 failed, retry for attempt 2 queued
  const r = await env.kernel.dispatch({ type: "job.deadLetter", workflowRunId: id, stageId: "s", attempt: 1, reason: "late" });
  assert.is(r.failed, false);
  assert.is((await env.kernel.runs.get(id))!.run.status, "RUNNING");
});

test("run.reapStuck transitions a run whose group completed but whose transition was lost", async () => {
  const a = stage({ id: "a", execute: async () => ({ output: 1 }) });
  const b = stage({ id: "b", execute: async () => ({ output: 2 }) });
  const env = makeEnv([workflow("wf", [a, b])]);
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  await env.step(); // completed, but the host crashed before run.transition
  assert.is((await env.kernel.dispatch({ type: "run.reapStuck", stuckThresholdMs: 60_000 })).inspected, 0, "not stale yet");
  env.clock.advance(60_001);
  const r = await env.kernel.dispatch({ type: "run.reapStuck", stuckThresholdMs: 60_000 });
  assert.equal(r.runIds, [id]);
  assert.equal(
    env.queue.jobs.map((j) => j.stageId),
    ["b"],
  );
});

test("run.reapStuck re-enqueues a lost job; a redelivered RUNNING attempt is taken over with a new attempt", async () => {
  let calls = 0;
  const env = makeEnv([workflow("wf", [stage({ id: "s", execute: async () => ({ output: ++calls }) })])]);
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  env.queue.jobs.length = 0;
  env.queue.seen.clear(); // the transport lost the job
  env.clock.advance(600_000);
  const r = await env.kernel.dispatch({ type: "run.reapStuck" });
  assert.equal({ inspected: r.inspected, requeued: r.requeued }, { inspected: 1, requeued: 1 });
  await env.drain();
  assert.is((await env.kernel.runs.get(id))!.run.status, "COMPLETED");
  assert.is(calls, 1);
});

test("run.reapStuck fails a run whose workflow is no longer registered", async () => {
  const wf = workflow("wf", [stage({ id: "s", execute: async () => ({ output: 1 }) })]);
  const reg = new Map([["wf", wf]]);
  const env = makeEnv([], { registry: { getWorkflow: (id) => reg.get(id) } });
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  reg.clear();
  env.clock.advance(600_000);
  const r = await env.kernel.dispatch({ type: "run.reapStuck" });
  assert.is(r.failed, 1);
  assert.match((await env.kernel.runs.get(id))!.run.error!, /not registered/);
});

test("run.reapStuck leaves runs waiting on SUSPENDED stages alone", async () => {
  const s = stage({
    id: "s",
    execute: async () => ({ suspended: true, state: {}, pollConfig: { pollInterval: 1_000_000, maxWaitTime: 10_000_000 } }),
    checkCompletion: async () => ({ ready: false }),
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  env.clock.advance(600_000);
  const r = await env.kernel.dispatch({ type: "run.reapStuck" });
  assert.equal({ requeued: r.requeued, failed: r.failed }, { requeued: 0, failed: 0 });
  assert.is(env.queue.jobs.length, 0);
  assert.is((await env.kernel.runs.get(id))!.stages[0]?.status, "SUSPENDED");
});

test("a long, healthy in-process stage keeps its run alive, so run.reapStuck does not requeue it", async () => {
  let release!: () => void;
  const hang = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  let calls = 0;
  const s = stage({
    id: "s",
    execute: async () => {
      calls++;
      started();
      await hang;
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])], { options: { cancelCheckIntervalMs: 2, stuckThresholdMs: 60_000 } });
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  const exec = env.step();
  await running;
  env.clock.advance(50_000);
  // Wait (bounded) until the watcher recorded liveness at the new clock time.
  for (let i = 0; i < 2000; i++) {
    const run = (await env.kernel.runs.get(id))!.run;
    if (run.lastActivityAt.getTime() === env.clock.now().getTime()) break;
    await new Promise((r) => setTimeout(r, 1));
  }
  env.clock.advance(20_000);
  const r = await env.kernel.dispatch({ type: "run.reapStuck" });
  assert.is(r.inspected, 0);
  release();
  await exec;
  assert.is(calls, 1);
});

test("run.reapStuck starts a claimed run whose first group never started after seconds, not the stuck threshold", async () => {
  const env = makeEnv([workflow("wf", [stage({ id: "s", execute: async () => ({ output: 1 }) })])]);
  const id = await env.create("wf", {});
  // The claim committed, then starting group 0 failed (a lost connection): RUNNING, no stage, no job.
  await env.persistence.claimPendingRuns(10, "w", env.clock.now());
  assert.is((await env.kernel.runs.get(id))!.run.currentGroupIndex, -1);
  assert.equal((await env.kernel.dispatch({ type: "run.reapStuck" })).runIds, [], "not before the unstarted threshold");
  env.clock.advance(10_001);
  const r = await env.kernel.dispatch({ type: "run.reapStuck" });
  assert.equal(r.runIds, [id], "started after 10 s although the stuck threshold is 5 min");
  assert.equal(
    env.queue.jobs.map((j) => j.stageId),
    ["s"],
  );
});

test.run();
