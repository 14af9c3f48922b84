import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import type { Kernel } from "../../src/kernel/types.js";
import { makeEnv, stage, workflow } from "./support/harness.js";

/** Resolves once `cond` holds; a bound, not a sleep. */
async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("a wake that arrives before its stage is suspended resumes the stage as soon as the suspension commits", async () => {
  let kernel!: Kernel;
  const wakes: { woken: boolean }[] = [];
  const batch = stage({
    id: "batch",
    output: z.object({ done: z.boolean() }),
    // Like a remote worker that finishes before the kernel commits the suspension.
    execute: async (ctx) => {
      wakes.push(await kernel.dispatch({ type: "stage.wake", workflowRunId: ctx.workflowRunId, stageId: "batch" }));
      return { suspended: true, state: {}, pollConfig: { pollInterval: 3_600_000, maxWaitTime: 7_200_000 } };
    },
    checkCompletion: async () => ({ ready: true, output: { done: true } }),
  });
  const env = makeEnv([workflow("early", [batch])]);
  kernel = env.kernel;
  const id = await env.create("early", {});
  const [r] = await env.drain();
  assert.is(r?.outcome, "suspended");
  assert.equal(wakes, [{ woken: false, resumed: false }], "the stage was still RUNNING when woken");
  // The test clock never moves: only the remembered wake can resume it before its hour-long poll.
  await until(async () => (await env.kernel.runs.get(id))?.run.status === "COMPLETED", 10_000, "the run to complete");
  assert.equal((await env.kernel.runs.get(id))!.run.output, { done: true });
});

test.run();
