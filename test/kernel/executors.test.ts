import { test } from "uvu";
import * as assert from "uvu/assert";
import { createLocalExecutor } from "../../src/executors/local.js";
import { createRoutingExecutor } from "../../src/executors/routing.js";
import type { ActivityExecutor, ActivityRequest } from "../../src/ports/index.js";
import { makeEnv, stage, workflow } from "./support/harness.js";

test("the routing executor sends listed stages to the remote executor and the rest run locally", async () => {
  const remoteCalls: { stageId: string; input: unknown; attempt: number }[] = [];
  const remote: ActivityExecutor = {
    async execute(req: ActivityRequest) {
      remoteCalls.push({ stageId: req.stageId, input: req.input, attempt: req.attempt });
      return { output: { transcoded: true } };
    },
  };
  let localRuns = 0;
  const prep = stage({
    id: "prep",
    execute: async () => {
      localRuns++;
      return { output: { file: "a.mov" } };
    },
  });
  const heavy = stage({
    id: "transcode",
    execute: async () => {
      throw new Error("must not run in-process");
    },
  });
  const env = makeEnv([workflow("media", [prep, heavy])], { executor: createRoutingExecutor({ remote, remoteStageIds: ["transcode"] }) });
  const id = await env.create("media", {});
  await env.drain();
  assert.is(localRuns, 1);
  assert.equal(remoteCalls, [{ stageId: "transcode", input: { file: "a.mov" }, attempt: 1 }]);
  assert.equal((await env.kernel.runs.get(id))!.run.output, { transcoded: true });
});

test("a remote executor's failure is an ordinary retryable attempt failure", async () => {
  let calls = 0;
  const remote: ActivityExecutor = {
    async execute() {
      if (++calls === 1) throw new Error("worker lost");
      return { output: 7 };
    },
  };
  const env = makeEnv([workflow("wf", [stage({ id: "r", execute: async () => ({ output: 0 }) })])], {
    executor: createRoutingExecutor({ remote, remoteStageIds: new Set(["r"]) }),
  });
  const id = await env.create("wf", {});
  await env.drain();
  env.clock.advance(1000);
  await env.drain();
  assert.is(calls, 2);
  assert.equal((await env.kernel.runs.get(id))!.run.output, 7);
});

test("createRoutingExecutor rejects a missing remote executor", () => {
  assert.throws(() => createRoutingExecutor({ remote: undefined as never, remoteStageIds: [] }), /remote/);
});

test("the local executor refuses to start an already aborted attempt", async () => {
  const ac = new AbortController();
  ac.abort(new Error("host stopping"));
  let ran = false;
  const s = stage({
    id: "s",
    execute: async () => {
      ran = true;
      return { output: 1 };
    },
  });
  const err = await createLocalExecutor()
    .execute({
      workflowRunId: "r",
      workflowId: "w",
      stageId: "s",
      attempt: 1,
      stage: s,
      context: {} as never,
      input: {},
      config: {},
      signal: ac.signal,
    })
    .then(
      () => null,
      (e: Error) => e,
    );
  assert.match(err?.message ?? "", /host stopping/);
  assert.is(ran, false);
});

test.run();
