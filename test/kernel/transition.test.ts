import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { makeEnv, stage, workflow } from "./support/harness.js";

test("parallel group output is keyed by stage id; require/optional read earlier outputs", async () => {
  const seen: unknown[] = [];
  const a = stage({ id: "a", execute: async () => ({ output: { a: 1 } }) });
  const b1 = stage({ id: "b1", execute: async (ctx) => ({ output: { from: (ctx.require("a") as { a: number }).a + 1 } }) });
  const b2 = stage({ id: "b2", execute: async () => ({ output: "two" }) });
  const c = stage({
    id: "c",
    execute: async (ctx) => {
      seen.push(ctx.input, ctx.optional("missing"), ctx.require("b2"));
      let err = "";
      try {
        ctx.require("nope");
      } catch (e) {
        err = (e as Error).message;
      }
      return { output: { input: ctx.input, err } };
    },
  });
  const env = makeEnv([workflow("wf", [a, [b1, b2], c])]);
  const id = await env.create("wf", {});
  await env.drain();
  assert.equal(seen[0], { b1: { from: 2 }, b2: "two" });
  assert.is(seen[1], undefined);
  assert.is(seen[2], "two");
  const out = (await env.kernel.runs.get(id))!.run.output as { err: string };
  assert.match(out.err, /requires the output of "nope"/);
});

test("a 4-group workflow completes with the final output persisted and in workflow:completed", async () => {
  const order: string[] = [];
  const mk = (id: string, f: (x: any) => unknown) =>
    stage({
      id,
      execute: async (ctx) => {
        order.push(id);
        return { output: f(ctx.input) };
      },
    });
  const wf = workflow(
    "four",
    [
      mk("g0", (i) => ({ n: i.n + 1 })),
      mk("g1", (i) => ({ n: i.n * 10 })),
      [mk("g2a", (i) => i.n), mk("g2b", (i) => -i.n)],
      mk("g3", (i) => ({ sum: i.g2a + i.g2b, a: i.g2a })),
    ],
    { input: z.object({ n: z.number() }), output: z.object({ sum: z.number(), a: z.number() }) },
  );
  const env = makeEnv([wf]);
  const id = await env.create("four", { n: 1 });
  await env.drain();
  const run = (await env.kernel.runs.get(id))!.run;
  assert.is(run.status, "COMPLETED");
  assert.equal(run.output, { sum: 0, a: 20 });
  assert.ok(run.completedAt);
  assert.equal(order.slice(0, 2), ["g0", "g1"]);
  assert.is(order[4], "g3");
  const done = env.sink.events.filter((e) => e.type === "workflow:completed");
  assert.is(done.length, 1);
  assert.equal(done[0]?.data.output, { sum: 0, a: 20 });
});

test("a final output that does not match the workflow output schema fails the run clearly", async () => {
  const s = stage({ id: "s", execute: async () => ({ output: { total: "many" } }) });
  const env = makeEnv([workflow("wf", [s], { output: z.object({ total: z.number() }) })]);
  const id = await env.create("wf", {});
  await env.drain();
  const run = (await env.kernel.runs.get(id))!.run;
  assert.is(run.status, "FAILED");
  assert.match(run.error!, /workflow output.*output\.total/);
});

test("concurrent transitions after two parallel stages finish advance exactly once", async () => {
  let nextRuns = 0;
  const a = stage({ id: "a", execute: async () => ({ output: 1 }) });
  const b = stage({ id: "b", execute: async () => ({ output: 2 }) });
  const c = stage({
    id: "c",
    execute: async () => {
      nextRuns++;
      return { output: 3 };
    },
  });
  const env = makeEnv([workflow("wf", [[a, b], c])]);
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  await env.step();
  await env.step();
  const results = await Promise.all([
    env.kernel.dispatch({ type: "run.transition", workflowRunId: id }),
    env.kernel.dispatch({ type: "run.transition", workflowRunId: id }),
  ]);
  // The commit of the second parallel stage already advanced the run (under the run row lock);
  // transitions dispatched afterwards, however many and concurrent, find nothing to do.
  assert.equal(
    results.map((r) => r.action),
    ["noop", "noop"],
  );
  assert.equal(
    env.queue.jobs.map((j) => j.stageId),
    ["c"],
  );
  await env.drain();
  assert.is(nextRuns, 1);
  assert.is((await env.kernel.runs.get(id))!.run.status, "COMPLETED");
});

test("transition is a noop while the group is still in progress", async () => {
  const a = stage({ id: "a", execute: async () => ({ output: 1 }) });
  const b = stage({ id: "b", execute: async () => ({ output: 2 }) });
  const env = makeEnv([workflow("wf", [[a, b]])]);
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  await env.step();
  const r = await env.kernel.dispatch({ type: "run.transition", workflowRunId: id });
  assert.equal(r, { action: "noop", groupIndex: 0 });
});

test("a failing parallel stage fails the run and cancels its sibling, whose late result is discarded", async () => {
  const bad = stage({
    id: "bad",
    maxAttempts: 1,
    execute: async () => {
      throw new Error("kaput");
    },
  });
  const slow = stage({ id: "slow", execute: async () => ({ output: 1 }) });
  const env = makeEnv([workflow("wf", [[slow, bad]])]);
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  const slowJob = env.queue.jobs.shift()!;
  await env.step(); // "bad" fails for good
  const view = (await env.kernel.runs.get(id))!;
  assert.is(view.run.status, "FAILED");
  assert.is(view.run.error, 'stage "bad" failed: kaput');
  assert.is(view.stages.find((s) => s.stageId === "slow")?.status, "CANCELLED");
  const late = await env.kernel.dispatch({ type: "job.execute", workflowRunId: id, workflowId: "wf", stageId: slowJob.stageId });
  assert.is(late.ghost, true);
});

test("a suspension hints the scheduler when the stage should be polled", async () => {
  const hints: [string, number][] = [];
  const s = stage({
    id: "s",
    execute: async () => ({ suspended: true, state: {}, pollConfig: { pollInterval: 5000, maxWaitTime: 60_000 } }),
    checkCompletion: async () => ({ ready: false }),
  });
  const env = makeEnv([workflow("wf", [s])], {
    scheduler: {
      schedule: async (c, at) => {
        hints.push([c.type, at.getTime()]);
      },
    },
  });
  await env.create("wf", {});
  await env.drain();
  assert.equal(hints, [["stage.pollSuspended", env.clock.now().getTime() + 5000]]);
});

test.run();
