// A suspension with nothing logged (a remote stage that just submitted its task) commits in one
// write, fenced like the transaction; one that logged takes the transaction and keeps its logs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import type { CommitStageAndRun } from "../../src/ports/persistence.js";
import { countTransactions, makeEnv, stage, workflow } from "./support/harness.js";

function suspending(logged: boolean) {
  return workflow("suspends", [
    stage({
      id: "remote",
      output: z.object({ ok: z.boolean() }),
      execute: async (ctx) => {
        if (logged) await ctx.log("INFO", "submitted");
        return { suspended: true, state: { taskId: "t-1" }, pollConfig: { pollInterval: 5_000, maxWaitTime: 60_000 } };
      },
      checkCompletion: async () => ({ ready: true, output: { ok: true } }),
    }),
  ]);
}

/** The env, with every commitStageAndRun and every transaction counted. */
function counted(logged: boolean) {
  const env = makeEnv([suspending(logged)]);
  const writes: CommitStageAndRun[] = [];
  const p = env.persistence;
  const commit = p.commitStageAndRun.bind(p);
  p.commitStageAndRun = (o) => (writes.push(o), commit(o));
  return { env, writes, transactions: countTransactions(p) };
}

test("a suspension with nothing logged is one write: stage SUSPENDED with its state and poll, event, no transaction", async () => {
  const { env, writes, transactions } = counted(false);
  const id = await env.create("suspends", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w", maxClaims: 10 });
  const before = transactions();
  const s = await env.step();
  assert.is((s?.result as { outcome: string }).outcome, "suspended");
  assert.is(transactions(), before, "no transaction for the start or the suspension");
  assert.equal(
    writes.map((w) => w.stagePatch.status),
    ["SUSPENDED"],
  );
  const st = (await env.persistence.getStage(id, "remote"))!;
  assert.is(st.status, "SUSPENDED");
  assert.equal(st.suspendedState, { taskId: "t-1" });
  assert.is(st.nextPollAt?.getTime(), env.clock.now().getTime() + 5_000);
  assert.is(st.maxWaitUntil?.getTime(), env.clock.now().getTime() + 60_000);
  assert.ok(env.sink.types(id).includes("stage:suspended"));
  // And it resumes as any suspension does.
  env.clock.advance(5_000);
  await env.kernel.dispatch({ type: "stage.pollSuspended" });
  assert.is((await env.kernel.runs.get(id))!.run.status, "COMPLETED");
});

test("a suspension that logged takes the transaction and keeps the log", async () => {
  const { env, writes } = counted(true);
  const id = await env.create("suspends", {});
  const [r] = await env.drain();
  assert.is(r?.outcome, "suspended");
  assert.equal(writes, [], "not the one-write path");
  assert.is((await env.persistence.getStage(id, "remote"))!.status, "SUSPENDED");
  assert.equal(
    (await env.kernel.runs.logs(id, { stageId: "remote" })).map((l) => l.message),
    ["submitted"],
  );
});

test("a suspension whose run was cancelled meanwhile is a ghost: the stage is not suspended", async () => {
  let kernelCancel: (() => Promise<unknown>) | undefined;
  const wf = workflow("suspends", [
    stage({
      id: "remote",
      output: z.object({ ok: z.boolean() }),
      execute: async () => {
        await kernelCancel!();
        return { suspended: true, state: {}, pollConfig: { pollInterval: 5_000, maxWaitTime: 60_000 } };
      },
      checkCompletion: async () => ({ ready: true, output: { ok: true } }),
    }),
  ]);
  const env = makeEnv([wf]);
  const id = await env.create("suspends", {});
  kernelCancel = () => env.kernel.dispatch({ type: "run.cancel", workflowRunId: id, reason: "test" });
  const [r] = await env.drain();
  assert.ok(r?.ghost, "the outcome is discarded");
  assert.is((await env.kernel.runs.get(id))!.run.status, "CANCELLED");
  assert.is.not((await env.persistence.getStage(id, "remote"))!.status, "SUSPENDED");
});

test.run();
