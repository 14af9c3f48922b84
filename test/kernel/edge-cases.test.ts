import { test } from "uvu";
import * as assert from "uvu/assert";
import { createKernel } from "../../src/kernel/create-kernel.js";
import { JetflowError, RunNotFoundError, ValidationError } from "../../src/contract/errors.js";
import { makeEnv, stage, workflow } from "./support/harness.js";

test("createKernel names every missing port", () => {
  assert.throws(
    () => createKernel({} as never),
    (e: Error) => e instanceof ValidationError && /persistence: is required/.test(e.message) && /clock: is required/.test(e.message),
  );
});

test("job.execute for an unknown run raises RunNotFoundError", async () => {
  const env = makeEnv([]);
  const err = await env.kernel.dispatch({ type: "job.execute", workflowRunId: "nope", workflowId: "wf", stageId: "s" }).then(
    () => null,
    (e) => e,
  );
  assert.instance(err, RunNotFoundError);
});

test("job.execute for a stage the workflow does not have fails the run clearly", async () => {
  const env = makeEnv([workflow("wf", [stage({ id: "s", execute: async () => ({ output: 1 }) })])]);
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  const r = await env.kernel.dispatch({ type: "job.execute", workflowRunId: id, workflowId: "wf", stageId: "ghost-stage" });
  assert.is(r.outcome, "failed");
  assert.match((await env.kernel.runs.get(id))!.run.error!, /stage "ghost-stage" is not part of workflow "wf"/);
});

test("a redelivery past the last attempt fails the stage as exhausted instead of running it again", async () => {
  let calls = 0;
  let release!: () => void;
  const hang = new Promise<void>((r) => (release = r));
  const s = stage({
    id: "s",
    maxAttempts: 1,
    execute: async () => {
      calls++;
      await hang;
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])], { options: { cancelCheckIntervalMs: 60_000 } });
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  const job = (await env.queue.dequeue({ workerId: "w" }))!;
  const delivery = { jobId: job.jobId, deliveryCount: 1, attempt: 1 };
  const first = env.kernel.dispatch({ type: "job.execute", workflowRunId: id, workflowId: "wf", stageId: "s", delivery });
  const again = await env.kernel.dispatch({
    type: "job.execute",
    workflowRunId: id,
    workflowId: "wf",
    stageId: "s",
    delivery: { ...delivery, deliveryCount: 2 },
  });
  assert.is(again.outcome, "failed");
  assert.match(again.error!, /exhausted 1 attempts/);
  release();
  assert.is((await first).ghost, true);
  assert.is(calls, 1);
  assert.match((await env.kernel.runs.get(id))!.run.error!, /stage "s" failed: exhausted 1 attempts/);
});

test("a delivery for the next attempt of a PENDING stage already at its last attempt fails it as exhausted, never runs it", async () => {
  let calls = 0;
  const s = stage({
    id: "s",
    maxAttempts: 1,
    execute: async () => {
      calls++;
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  // A PENDING row one attempt behind the delivery, but with no attempt left (e.g. a stray retry job).
  await env.persistence.updateStage(id, "s", { attempt: 1 }, env.clock.now());
  const r = await env.kernel.dispatch({
    type: "job.execute",
    workflowRunId: id,
    workflowId: "wf",
    stageId: "s",
    delivery: { jobId: `${id}:s:2`, deliveryCount: 1, attempt: 2 },
  });
  assert.is(r.outcome, "failed");
  assert.match(r.error!, /exhausted 1 attempts/);
  assert.is(calls, 0);
  const view = (await env.kernel.runs.get(id))!;
  assert.is(view.stages[0]!.status, "FAILED");
  assert.is(view.stages[0]!.attempt, 1, "the rolled-back claim left no attempt behind");
  assert.is(view.run.status, "FAILED");
});

test("run.reapStuck starts a run that was claimed but never started (crash inside claimPending)", async () => {
  const env = makeEnv([workflow("wf", [stage({ id: "s", execute: async () => ({ output: "ok" }) })])]);
  const id = await env.create("wf", {});
  await env.persistence.claimPendingRuns(10, "crashed-worker", env.clock.now());
  env.clock.advance(600_000);
  const r = await env.kernel.dispatch({ type: "run.reapStuck" });
  assert.equal({ requeued: r.requeued, runIds: r.runIds }, { requeued: 1, runIds: [id] });
  await env.drain();
  assert.equal((await env.kernel.runs.get(id))!.run.output, "ok");
});

test("query side: stageOutput of an unfinished stage is a clear error; counts by status", async () => {
  const env = makeEnv([workflow("wf", [stage({ id: "s", execute: async () => ({ output: 1 }) })])]);
  await env.create("wf", {});
  await env.create("wf", {});
  const claimed = await env.kernel.dispatch({ type: "run.claimPending", workerId: "w", maxClaims: 1 });
  const id = claimed.claimed[0]!.workflowRunId;
  const err = await env.kernel.runs.stageOutput(id, "s").then(
    () => null,
    (e) => e,
  );
  assert.instance(err, JetflowError);
  assert.is((err as JetflowError).code, "INVALID_STATE");
  const counts = await env.kernel.runs.countByStatus!();
  assert.equal({ p: counts.PENDING, r: counts.RUNNING }, { p: 1, r: 1 });
});

test("unknown command types are rejected with a validation error", async () => {
  const env = makeEnv([]);
  const err = await env.kernel.dispatch({ type: "run.explode" } as never).then(
    () => null,
    (e) => e,
  );
  assert.instance(err, ValidationError);
  assert.match((err as Error).message, /unknown command type "run.explode"/);
});

test("annotations.attach on a missing run raises RunNotFoundError; attach can target a stage", async () => {
  const env = makeEnv([workflow("wf", [stage({ id: "s", execute: async () => ({ output: 1 }) })])]);
  const missing = await env.kernel.annotations.attach("nope", { attributes: { a: 1 } }).then(
    () => null,
    (e) => e,
  );
  assert.instance(missing, RunNotFoundError);
  const id = await env.create("wf", {});
  const r = await env.kernel.annotations.attach(id, { stageId: "s", attributes: { "qa.ok": true, "qa.by": "bot" } });
  assert.is(r.inserted, 2);
  const rows = await env.kernel.annotations.list(id, { stageId: "s" });
  assert.equal(rows.map((a) => [a.key, a.actor.id]).sort(), [
    ["qa.by", "jetflow"],
    ["qa.ok", "jetflow"],
  ]);
});

test.run();
