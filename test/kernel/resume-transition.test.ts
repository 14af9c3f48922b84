// A resumed stage transitions its run in the same commit: the run is COMPLETED (or the next
// group queued) when stage.pollSuspended / stage.wake return. The common case (the only stage of
// the last group, an inline output) is one guarded write with no transaction, logs included.
// A final output too large to keep inline lives in the BlobStore; the run still completes with it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { countTransactions, makeEnv, stage, workflow } from "./support/harness.js";

const Out = z.object({ text: z.string() });

function lastStageSuspends(output: { text: string }, logged: string[] = []) {
  return workflow("resume-last", [
    stage({
      id: "remote",
      output: Out,
      execute: async () => ({ suspended: true, state: {}, pollConfig: { pollInterval: 3_600_000, maxWaitTime: 7_200_000 } }),
      checkCompletion: async (_state, ctx) => {
        for (const m of logged) await ctx.log("INFO", m);
        return { ready: true, output };
      },
    }),
  ]);
}

async function suspendedRun(env: ReturnType<typeof makeEnv>): Promise<string> {
  const id = await env.create("resume-last", {});
  const [r] = await env.drain();
  assert.is(r?.outcome, "suspended");
  return id;
}

test("stage.wake of a suspended last stage completes the run before it returns; events in order", async () => {
  const env = makeEnv([lastStageSuspends({ text: "done" })]);
  const id = await suspendedRun(env);
  // Counted from here: the wake's check commits the resume and the transition in one write.
  const transactions = countTransactions(env.persistence);
  // The hour-long poll never comes due: the wake alone must finish the run.
  assert.equal(await env.kernel.dispatch({ type: "stage.wake", workflowRunId: id, stageId: "remote" }), { woken: true, resumed: true });
  const { run, stages } = (await env.kernel.runs.get(id))!;
  assert.is(run.status, "COMPLETED");
  assert.equal(run.output, { text: "done" });
  assert.is(transactions(), 0, "resume and transition in one write, no transaction");
  assert.is(stages[0]!.status, "COMPLETED");
  assert.is(stages[0]!.nextPollAt, null, "no check left scheduled");
  const types = env.sink.types(id);
  assert.equal(types.slice(types.indexOf("stage:resumed")), ["stage:resumed", "stage:completed", "workflow:completed"]);
  // A second wake (a duplicate outcome notice) finds nothing to do and changes nothing.
  assert.equal(await env.kernel.dispatch({ type: "stage.wake", workflowRunId: id, stageId: "remote" }), { woken: false, resumed: false });
  assert.is(env.sink.types(id).filter((t) => t === "workflow:completed").length, 1);
});

test("the worker's logs replayed by the check are written with the resume, in order, still without a transaction", async () => {
  const env = makeEnv([lastStageSuspends({ text: "done" }, ["first", "second"])]);
  const id = await suspendedRun(env);
  const transactions = countTransactions(env.persistence);
  assert.equal(await env.kernel.dispatch({ type: "stage.wake", workflowRunId: id, stageId: "remote" }), { woken: true, resumed: true });
  assert.is(transactions(), 0);
  assert.is((await env.kernel.runs.get(id))!.run.status, "COMPLETED");
  assert.equal(
    (await env.persistence.listLogs(id)).map((l) => [l.stageId, l.message]),
    [
      ["remote", "first"],
      ["remote", "second"],
    ],
  );
});

test("a run cancelled while its stage was suspended is not resumed by the one write; the transactional path decides", async () => {
  const env = makeEnv([lastStageSuspends({ text: "done" }, ["checked"])]);
  const id = await suspendedRun(env);
  await env.kernel.dispatch({ type: "run.cancel", workflowRunId: id, reason: "stop" });
  env.clock.advance(3_600_000);
  const res = await env.kernel.dispatch({ type: "stage.pollSuspended" });
  assert.is(res.resumed, 0);
  const { run, stages } = (await env.kernel.runs.get(id))!;
  assert.is(run.status, "CANCELLED");
  assert.is(stages[0]!.status, "CANCELLED");
  assert.is(env.sink.types(id).filter((t) => t === "stage:completed" || t === "workflow:completed").length, 0);
});

test("a resumed last stage whose output goes to the BlobStore still completes its run with that output", async () => {
  const big = "x".repeat(4_096);
  const env = makeEnv([lastStageSuspends({ text: big })], { options: { inlineOutputLimitBytes: 1_024 } });
  const id = await suspendedRun(env);
  env.clock.advance(3_600_000);
  const res = await env.kernel.dispatch({ type: "stage.pollSuspended" });
  assert.equal(res, { checked: 1, resumed: 1, failed: 0, resumedRunIds: [id] });
  const { run } = (await env.kernel.runs.get(id))!;
  assert.ok((await env.persistence.getStage(id, "remote"))?.outputRef, "the stage output was stored in the BlobStore");
  assert.is(run.status, "COMPLETED");
  assert.equal(run.output, { text: big });
  assert.is(env.sink.types(id).filter((t) => t === "workflow:completed").length, 1);
});

test.run();
