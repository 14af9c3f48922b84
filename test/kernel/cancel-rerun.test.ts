import { test } from "uvu";
import * as assert from "uvu/assert";
import { InvalidStateError, StageNotFoundError } from "../../src/contract/errors.js";
import { makeEnv, stage, workflow } from "./support/harness.js";

test("cancel marks run and non-terminal stages CANCELLED; queued jobs become ghosts, never retried", async () => {
  let calls = 0;
  const s = stage({
    id: "s",
    execute: async () => {
      calls++;
      return { output: 1 };
    },
  });
  const hooked: string[] = [];
  const env = makeEnv([workflow("wf", [s])], {
    onRunCancelled: async (id) => {
      hooked.push(id);
    },
  });
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  const c = await env.kernel.dispatch({ type: "run.cancel", workflowRunId: id, reason: "user asked" });
  assert.equal(c, { cancelled: true, status: "CANCELLED" });
  assert.equal(hooked, [id]);
  const r = (await env.step())!.result as { outcome: string; ghost?: boolean; retry?: boolean };
  assert.equal({ outcome: r.outcome, ghost: r.ghost, retry: r.retry }, { outcome: "failed", ghost: true, retry: undefined });
  assert.is(calls, 0);
  const view = (await env.kernel.runs.get(id))!;
  assert.is(view.stages[0]?.status, "CANCELLED");
  assert.ok(env.sink.types(id).includes("workflow:cancelled"));
  const again = await env.kernel.dispatch({ type: "run.cancel", workflowRunId: id });
  assert.equal(again, { cancelled: false, status: "CANCELLED" });
});

test("cancel aborts an in-process execution at once and its late outcome is discarded", async () => {
  let sawAbort = false;
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const s = stage({
    id: "s",
    execute: (ctx) =>
      new Promise((_, reject) => {
        started();
        ctx.signal.addEventListener("abort", () => {
          sawAbort = true;
          reject(new Error("aborted"));
        });
      }),
  });
  const env = makeEnv([workflow("wf", [s])], { options: { cancelCheckIntervalMs: 60_000 } });
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  const exec = env.step();
  await running;
  await env.kernel.dispatch({ type: "run.cancel", workflowRunId: id });
  const r = (await exec)!.result as { ghost?: boolean };
  assert.ok(sawAbort);
  assert.is(r.ghost, true);
  assert.is((await env.kernel.runs.get(id))!.run.status, "CANCELLED");
});

test("a stage notices a cancel made elsewhere through the status poll", async () => {
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const s = stage({
    id: "s",
    execute: (ctx) =>
      new Promise((_, reject) => {
        started();
        ctx.signal.addEventListener("abort", () => reject(new Error("aborted")));
      }),
  });
  const env = makeEnv([workflow("wf", [s])], { options: { cancelCheckIntervalMs: 5 } });
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  const exec = env.step();
  await running;
  // Cancel behind the kernel's back (another orchestrator): only the poll can notice it.
  await env.persistence.updateRun(id, { status: "CANCELLED" }, env.clock.now());
  const r = (await exec)!.result as { ghost?: boolean };
  assert.is(r.ghost, true);
});

test("rerunFrom requires a finished run and a known stage", async () => {
  const s = stage({ id: "s", execute: async () => ({ output: 1 }) });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  try {
    await env.kernel.dispatch({ type: "run.rerunFrom", workflowRunId: id, fromStageId: "s" });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, InvalidStateError);
  }
  await env.drain();
  try {
    await env.kernel.dispatch({ type: "run.rerunFrom", workflowRunId: id, fromStageId: "nope" });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, StageNotFoundError);
  }
});

test("rerunFrom a failed run gives the stage fresh attempts with new job ids", async () => {
  let fail = true;
  const s = stage({
    id: "s",
    maxAttempts: 1,
    execute: async () => {
      if (fail) throw new Error("down");
      return { output: "up" };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  assert.is((await env.kernel.runs.get(id))!.run.status, "FAILED");
  fail = false;
  await env.kernel.dispatch({ type: "run.rerunFrom", workflowRunId: id, fromStageId: "s" });
  await env.drain();
  const run = (await env.kernel.runs.get(id))!.run;
  assert.is(run.status, "COMPLETED");
  assert.is(run.error, null);
  assert.equal(
    env.queue.enqueued.map((j) => j.jobId),
    [`${id}:s:1`, `${id}:s:2`],
  );
});

test("rerunFrom refuses to skip over an earlier stage that never completed", async () => {
  const a = stage({
    id: "a",
    maxAttempts: 1,
    execute: async () => {
      throw new Error("broken");
    },
  });
  const b = stage({ id: "b", execute: async () => ({ output: 1 }) });
  const env = makeEnv([workflow("wf", [a, b])]);
  const id = await env.create("wf", {});
  await env.drain();
  const err = await env.kernel.dispatch({ type: "run.rerunFrom", workflowRunId: id, fromStageId: "b" }).then(
    () => null,
    (e) => e,
  );
  assert.instance(err, InvalidStateError);
  assert.match((err as Error).message, /earlier stage "a" is FAILED; rerun from "a"/);
});

test.run();
