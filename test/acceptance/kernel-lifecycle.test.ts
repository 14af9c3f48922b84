// Acceptance: the kernel driven by hand (dispatch, dequeue, execute, transition) on in-memory adapters.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { ValidationError } from "../../src/contract/errors.js";
import { acceptanceEnv as makeEnv, stage, workflow } from "./support/env.js";

test("run.create twice with one key returns one run; concurrent creates with one key create one run", async () => {
  const env = makeEnv([workflow("wf", [stage({ id: "s", execute: async () => ({ output: 1 }) })])]);
  const cmd = { type: "run.create", idempotencyKey: "order-42", workflowId: "wf", input: {} } as const;
  const first = await env.kernel.dispatch(cmd);
  const second = await env.kernel.dispatch(cmd);
  assert.is(second.workflowRunId, first.workflowRunId);
  assert.equal([first.created, second.created], [true, false]);

  // Concurrent creates with one key: the key is stored in the creating transaction, so the
  // others wait for it and replay its run.
  const racers = await Promise.all(Array.from({ length: 4 }, () => env.kernel.dispatch({ ...cmd, idempotencyKey: "order-43" })));
  assert.is(new Set(racers.map((r) => r.workflowRunId)).size, 1);
  assert.equal(racers.map((r) => r.created).sort(), [false, false, false, true]);
  assert.is((await env.kernel.runs.list({})).length, 2);
});

test("cancelling a run while a stage is suspended: no job of that run executes afterwards", async () => {
  let bodies = 0;
  let checks = 0;
  const s = stage({
    id: "wait",
    execute: async () => {
      bodies++;
      return { suspended: true, state: { id: 1 }, pollConfig: { pollInterval: 1000, maxWaitTime: 60_000 } };
    },
    checkCompletion: async () => {
      checks++;
      return { ready: true, output: {} };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  assert.is(bodies, 1);
  const c = await env.kernel.dispatch({ type: "run.cancel", workflowRunId: id });
  assert.is(c.cancelled, true);
  assert.is((await env.kernel.runs.get(id))!.stages[0]?.status, "CANCELLED");

  // A duplicate delivery of the stage's job shows up after the cancel: it is a ghost, not retried.
  await env.queue.enqueue([{ ...env.queue.enqueued[0]!, jobId: `${id}:wait:dup` }]);
  const ghost = (await env.step())!.result as { outcome: string; ghost?: boolean; retry?: boolean };
  assert.equal({ o: ghost.outcome, g: ghost.ghost, r: ghost.retry }, { o: "failed", g: true, r: undefined });
  env.clock.advance(5000);
  const poll = await env.kernel.dispatch({ type: "stage.pollSuspended" });
  assert.is(poll.resumed, 0);
  env.clock.advance(600_000);
  await env.kernel.dispatch({ type: "run.reapStuck" });
  await env.drain();
  assert.is(bodies, 1, "the stage body never ran again");
  assert.is(checks, 0);
  assert.is((await env.kernel.runs.get(id))!.run.status, "CANCELLED");
});

test("run.rerunFrom deletes the later stages' artifacts and re-runs only those stages", async () => {
  const counts: Record<string, number> = { extract: 0, transform: 0, load: 0 };
  const mk = (id: string) =>
    stage({
      id,
      execute: async (ctx) => {
        counts[id]!++;
        await ctx.artifacts.put(`part-${counts[id]}.bin`, `${id} run ${counts[id]}`);
        return { output: { id, run: counts[id], prev: ctx.input ?? null } };
      },
    });
  const env = makeEnv([workflow("etl", [mk("extract"), mk("transform"), mk("load")])]);
  const id = await env.create("etl", {});
  await env.drain();
  assert.is((await env.kernel.runs.get(id))!.run.status, "COMPLETED");
  assert.equal(await env.blobs.list(`runs/${id}/transform/`), [`runs/${id}/transform/part-1.bin`]);

  const r = await env.kernel.dispatch({ type: "run.rerunFrom", workflowRunId: id, fromStageId: "transform" });
  assert.equal(r.resetStageIds, ["transform", "load"]);
  assert.is(r.deletedArtifacts, 2);
  assert.equal(await env.blobs.list(`runs/${id}/transform/`), []);
  assert.equal(await env.blobs.list(`runs/${id}/load/`), []);
  assert.equal(await env.blobs.list(`runs/${id}/extract/`), [`runs/${id}/extract/part-1.bin`]);
  assert.equal(
    (await env.persistence.listArtifacts(id)).map((a) => a.key),
    [`runs/${id}/extract/part-1.bin`],
  );
  assert.ok(env.types(id).includes("workflow:rerun"));

  await env.drain();
  assert.equal(counts, { extract: 1, transform: 2, load: 2 });
  const run = (await env.kernel.runs.get(id))!.run;
  assert.is(run.status, "COMPLETED");
  assert.equal((run.output as { run: number }).run, 2);
  assert.equal(await env.kernel.runs.stageOutput(id, "extract"), { id: "extract", run: 1, prev: {} });
});

test("a throwing stage is retried up to its max attempts, then the run fails with the stage's error message", async () => {
  let calls = 0;
  const s = stage({
    id: "fetch",
    maxAttempts: 4,
    backoffMs: 10,
    execute: async () => {
      calls++;
      throw new Error("upstream 503");
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  for (let i = 0; i < 6; i++) {
    await env.drain();
    env.clock.advance(1000);
  }
  assert.is(calls, 4);
  const run = (await env.kernel.runs.get(id))!.run;
  assert.is(run.status, "FAILED");
  assert.match(run.error!, /stage "fetch" failed: upstream 503/);
});

test("annotations of a failing stage roll back with it; a successful stage's are listed with keyPrefix and actorId filters", async () => {
  let calls = 0;
  const s = stage({
    id: "triage",
    maxAttempts: 2,
    execute: async (ctx) => {
      calls++;
      ctx.annotate("decision.outcome", calls === 1 ? "rolled-back" : "low");
      if (calls === 1) throw new Error("model timeout");
      ctx.annotate({ actor: { kind: "agent", id: "triage-v3" }, attributes: { "decision.confidence": 0.42, "note.free": "x" } });
      ctx.annotate({ key: "decision.rationale" } as { key: string }, "below threshold");
      return { output: {} };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  env.clock.advance(1000);
  await env.drain();
  await env.kernel.annotations.attach(id, {
    actor: { kind: "user", id: "alice" },
    attributes: { "review.ok": true },
    idempotencyKey: "r1",
  });
  const again = await env.kernel.annotations.attach(id, {
    actor: { kind: "user", id: "alice" },
    attributes: { "review.ok": true },
    idempotencyKey: "r1",
  });
  assert.is(again.inserted, 0);

  const decisions = await env.kernel.annotations.list(id, { keyPrefix: "decision." });
  assert.equal(decisions.map((a) => `${a.key}=${a.value}`).sort(), [
    "decision.confidence=0.42",
    "decision.outcome=low",
    "decision.rationale=below threshold",
  ]);
  const agent = await env.kernel.annotations.list(id, { actorId: "triage-v3" });
  assert.equal(agent.map((a) => a.key).sort(), ["decision.confidence", "note.free"]);
  assert.equal(
    (await env.kernel.annotations.list(id, { actorId: "alice" })).map((a) => a.key),
    ["review.ok"],
  );
  assert.ok(!(await env.kernel.annotations.list(id)).some((a) => a.value === "rolled-back"));
});

test("invalid input or config is rejected with a zod error that names the field", async () => {
  const s = stage({ id: "mail", config: z.object({ retries: z.number().int().min(0) }), execute: async () => ({ output: 1 }) });
  const env = makeEnv([workflow("wf", [s], { input: z.object({ email: z.string().email() }) })]);
  const bad = (input: unknown, config?: unknown) =>
    env.kernel
      .dispatch({ type: "run.create", idempotencyKey: String(Math.random()), workflowId: "wf", input, config: config as never })
      .then(
        () => null,
        (e: Error) => e,
      );
  const e1 = await bad({ email: "not-an-email" }, { mail: { retries: 1 } });
  assert.instance(e1, ValidationError);
  assert.match(e1!.message, /input\.email: Invalid email/);
  const e2 = await bad({ email: "a@b.co" }, { mail: { retries: -1 } });
  assert.instance(e2, ValidationError);
  assert.match(e2!.message, /config\.mail\.retries/);
});

test.run();
