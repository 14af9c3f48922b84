/**
 * A remote stage's run resumes when its task's outcome is recorded, not at the stage's next
 * poll: with an hour-long poll interval and a clock that never advances, the run still completes.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { defineRemoteStage } from "../../src/remote/remote-stage.js";
import { wakeSuspendedStages } from "../../src/remote/wake-on-outcome.js";
import { makeEnv, workflow } from "../kernel/support/harness.js";
import { makeFixture, stage, until } from "./helpers/fixture.js";

const heavy = stage("heavy", async (ctx) => ({ output: { r: ctx.input.n * 10 } }));
const HOUR = 3_600_000;

async function runOnce(wake: boolean): Promise<{ status: string | undefined; output: unknown }> {
  const f = await makeFixture();
  const remote = defineRemoteStage(heavy, f.broker, { queue: "q", stageCodeVersion: "v1", pollIntervalMs: HOUR, maxWaitMs: HOUR });
  const env = makeEnv([workflow("wf", [remote])]);
  const unsubscribe = wake ? wakeSuspendedStages(f.broker, env.kernel) : () => {};
  const runId = await env.create("wf", { n: 3 });
  await env.drain(); // the stage submits its task and suspends
  assert.is((await env.persistence.getStage(runId, "heavy"))?.status, "SUSPENDED");
  const w = createActivityWorker({
    transport: f.transport.worker,
    queue: "q",
    stageCodeVersion: "v1",
    registry: { heavy },
    workerId: "w",
    pollWaitMs: 50,
  });
  w.start();
  try {
    await until(
      async () => (await f.store.listTasks({ workflowRunId: runId })).some((t) => t.status === "COMPLETED"),
      10_000,
      "the task's outcome",
    );
    if (wake) await until(async () => (await env.persistence.getRun(runId))?.status === "COMPLETED", 10_000, "the run to complete");
    const run = await env.persistence.getRun(runId);
    return { status: run?.status, output: run?.output };
  } finally {
    unsubscribe();
    await w.stop();
    await f.close();
  }
}

test("the outcome of a remote task wakes its suspended stage at once; the run completes", async () => {
  const r = await runOnce(true);
  assert.is(r.status, "COMPLETED");
  assert.equal(r.output, { r: 30 });
});

test("without the wake-up the same run waits for the stage's poll (here: an hour)", async () => {
  const r = await runOnce(false);
  assert.is(r.status, "RUNNING");
});

test.run();
