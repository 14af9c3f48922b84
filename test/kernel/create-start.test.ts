// run.create starts its run in the creating write when a host of the process takes it and no
// run is PENDING: no claim transaction, the first job queued at once, the same events and rows
// as a claim. A backlog keeps its priority order (the new run waits for a claim), and a first
// group with limited stages is admitted by the claim, under its limits' locks.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { RunStarter } from "../../src/index.js";
import { countTransactions, makeEnv, stage, workflow } from "./support/harness.js";

const two = workflow("two", [
  stage({ id: "a", execute: async () => ({ output: 1 }) }),
  stage({ id: "b", execute: async () => ({ output: 2 }) }),
]);
const limited = workflow("limited", [
  { ...stage({ id: "a", execute: async () => ({ output: 1 }) }), limits: { concurrency: { maxConcurrent: 1 } } },
]);

/** An env whose host starts new runs while `hostUp` holds; records what it was told. */
function envWithStarter() {
  const told = { started: [] as string[], created: [] as string[], hostUp: true };
  const starter: RunStarter = { claimedBy: "host-a", started: (id) => told.started.push(id) };
  const env = makeEnv([two, limited], {
    startOnCreate: () => (told.hostUp ? starter : null),
    onRunCreated: (id) => told.created.push(id),
  });
  return { env, told };
}

test("with no backlog, run.create starts the run in one write: claimed, first job queued, the claim's events; it completes as before", async () => {
  const { env, told } = envWithStarter();
  const transactions = countTransactions(env.persistence);
  const id = await env.create("two", {});
  assert.is(transactions(), 0, "no transaction");
  const { run, stages } = (await env.kernel.runs.get(id))!;
  assert.equal([run.status, run.claimedBy, run.currentGroupIndex], ["RUNNING", "host-a", 0]);
  assert.ok(run.startedAt, "startedAt set");
  assert.equal(
    stages.map((s) => [s.stageId, s.status]),
    [["a", "PENDING"]],
  );
  assert.equal([told.started, told.created], [[id], []]);
  assert.equal(await env.kernel.dispatch({ type: "run.claimPending", workerId: "other", maxClaims: 10 }), { claimed: [] });
  const done = await env.drain();
  assert.equal(
    done.map((d) => [d.job.stageId, d.job.attempt, d.outcome]),
    [
      ["a", 1, "completed"],
      ["b", 1, "completed"],
    ],
  );
  assert.is((await env.kernel.runs.get(id))!.run.status, "COMPLETED");
  const types = env.sink.types(id);
  assert.equal(types.slice(0, 3), ["workflow:created", "workflow:started", "stage:started"]);
});

test("with a run PENDING, a new run waits for the claim, which takes both in priority order", async () => {
  const { env, told } = envWithStarter();
  told.hostUp = false;
  const low = await env.create("two", {}, { priority: 1 });
  told.hostUp = true;
  const high = await env.create("two", {}, { priority: 5 });
  for (const id of [low, high]) assert.is((await env.kernel.runs.get(id))!.run.status, "PENDING");
  assert.equal([told.started, told.created], [[], [low, high]]);
  const { claimed } = await env.kernel.dispatch({ type: "run.claimPending", workerId: "w", maxClaims: 10 });
  assert.equal(
    claimed.map((c) => c.workflowRunId),
    [high, low],
  );
});

test("a first group with a limited stage is left to the claim, which admits it under its limits", async () => {
  const { env, told } = envWithStarter();
  const id = await env.create("limited", {});
  assert.is((await env.kernel.runs.get(id))!.run.status, "PENDING");
  assert.equal([told.started, told.created], [[], [id]]);
  await env.drain();
  assert.is((await env.kernel.runs.get(id))!.run.status, "COMPLETED");
});

test("a replayed key returns the first run and starts nothing more", async () => {
  const { env, told } = envWithStarter();
  const first = await env.kernel.dispatch({ type: "run.create", idempotencyKey: "same", workflowId: "two", input: {} });
  const again = await env.kernel.dispatch({ type: "run.create", idempotencyKey: "same", workflowId: "two", input: {} });
  assert.equal([again.workflowRunId, again.created], [first.workflowRunId, false]);
  assert.equal(told.started, [first.workflowRunId]);
  assert.is((await env.kernel.runs.list({})).length, 1);
});

test.run();
