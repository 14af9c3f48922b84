import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { makeEnv, stage, workflow } from "./support/harness.js";

function batchWorkflow(check: () => Promise<any>, opts: { maxWaitTime?: number } = {}) {
  const submit = stage({
    id: "batch",
    output: z.object({ results: z.array(z.number()) }),
    execute: async () => ({
      suspended: true,
      state: { batchId: "b-1" },
      pollConfig: { pollInterval: 1000, maxWaitTime: opts.maxWaitTime ?? 10_000 },
    }),
    checkCompletion: async (state: { batchId: string }, ctx) => {
      await ctx.log("INFO", `checking ${state.batchId}`);
      return check();
    },
  });
  const after = stage({ id: "after", execute: async (ctx) => ({ output: { n: ctx.input.results.length } }) });
  return workflow("batch-wf", [submit, after]);
}

test("a suspended stage is polled when due, resumes, and the run transitions to the next group", async () => {
  let ready = false;
  const env = makeEnv([batchWorkflow(async () => (ready ? { ready: true, output: { results: [1, 2] } } : { ready: false }))]);
  const id = await env.create("batch-wf", {});
  const [r] = await env.drain();
  assert.is(r?.outcome, "suspended");
  const st = (await env.kernel.runs.get(id))!.stages[0]!;
  assert.is(st.status, "SUSPENDED");
  assert.equal(st.suspendedState, { batchId: "b-1" });
  assert.is(st.nextPollAt?.getTime(), env.clock.now().getTime() + 1000);

  assert.equal(await env.kernel.dispatch({ type: "stage.pollSuspended" }), { checked: 0, resumed: 0, failed: 0, resumedRunIds: [] });
  env.clock.advance(1000);
  assert.equal((await env.kernel.dispatch({ type: "stage.pollSuspended" })).checked, 1);
  ready = true;
  env.clock.advance(1000);
  const res = await env.kernel.dispatch({ type: "stage.pollSuspended" });
  assert.equal(res, { checked: 1, resumed: 1, failed: 0, resumedRunIds: [id] });
  assert.equal(
    env.queue.jobs.map((j) => j.stageId),
    ["after"],
    "transition queued the next group",
  );
  await env.drain();
  const run = (await env.kernel.runs.get(id))!.run;
  assert.is(run.status, "COMPLETED");
  assert.equal(run.output, { n: 2 });
  const types = env.sink.types(id);
  assert.ok(types.includes("stage:suspended") && types.includes("stage:resumed"));
  assert.is((await env.kernel.runs.logs(id, { stageId: "batch" })).filter((l) => l.message === "checking b-1").length, 2);
});

test("nextCheckIn from checkCompletion sets the next poll", async () => {
  const env = makeEnv([batchWorkflow(async () => ({ ready: false, nextCheckIn: 50 }))]);
  const id = await env.create("batch-wf", {});
  await env.drain();
  env.clock.advance(1000);
  await env.kernel.dispatch({ type: "stage.pollSuspended" });
  const st = (await env.kernel.runs.get(id))!.stages[0]!;
  assert.is(st.nextPollAt?.getTime(), env.clock.now().getTime() + 50);
});

test("a check reporting an error fails the stage and the run", async () => {
  const env = makeEnv([batchWorkflow(async () => ({ ready: false, error: "Batch failed upstream" }))]);
  const id = await env.create("batch-wf", {});
  await env.drain();
  env.clock.advance(1000);
  const r = await env.kernel.dispatch({ type: "stage.pollSuspended" });
  assert.is(r.failed, 1);
  const run = (await env.kernel.runs.get(id))!.run;
  assert.is(run.status, "FAILED");
  assert.is(run.error, 'stage "batch" failed: Batch failed upstream');
});

test("a stage still waiting after maxWaitTime times out", async () => {
  let checks = 0;
  const env = makeEnv([
    batchWorkflow(
      async () => {
        checks++;
        return { ready: false };
      },
      { maxWaitTime: 3000 },
    ),
  ]);
  const id = await env.create("batch-wf", {});
  await env.drain();
  env.clock.advance(3001);
  await env.kernel.dispatch({ type: "stage.pollSuspended" });
  assert.is(checks, 0);
  const run = (await env.kernel.runs.get(id))!.run;
  assert.is(run.status, "FAILED");
  assert.match(run.error!, /timed out waiting for completion after maxWaitTime 3000 ms/);
});

test("a ready check whose output breaks the schema fails the stage, naming the field", async () => {
  const env = makeEnv([batchWorkflow(async () => ({ ready: true, output: { results: ["x"] } }))]);
  const id = await env.create("batch-wf", {});
  await env.drain();
  env.clock.advance(1000);
  await env.kernel.dispatch({ type: "stage.pollSuspended" });
  assert.match((await env.kernel.runs.get(id))!.run.error!, /output\.results\.0/);
});

test.run();
