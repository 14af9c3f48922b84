import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { makeEnv, stage, workflow } from "./support/harness.js";

test("a throwing stage is retried with exponential backoff, then the run fails with its message", async () => {
  let calls = 0;
  const flaky = stage({
    id: "fetch",
    maxAttempts: 3,
    backoffMs: 100,
    execute: async () => {
      calls++;
      throw new Error("boom");
    },
  });
  const env = makeEnv([workflow("wf", [flaky])]);
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });

  const r1 = (await env.step())!.result;
  assert.equal({ ...r1 }, { outcome: "failed", retry: true, retryDelayMs: 100, error: "boom", attempt: 1 });
  assert.is(await env.step(), null, "retry job must wait for its backoff");
  env.clock.advance(100);
  const r2 = (await env.step())!.result;
  assert.is((r2 as { retryDelayMs: number }).retryDelayMs, 200);
  env.clock.advance(200);
  const r3 = (await env.step())!.result as { outcome: string; retry?: boolean; attempt: number };
  assert.is(r3.outcome, "failed");
  assert.is(r3.retry, undefined);
  assert.is(r3.attempt, 3);
  assert.is(calls, 3);
  const view = await env.kernel.runs.get(id);
  assert.is(view?.run.status, "FAILED");
  assert.is(view?.run.error, 'stage "fetch" failed: boom');
  assert.is(view?.stages[0]?.status, "FAILED");
  assert.equal(
    env.queue.enqueued.map((j) => j.jobId),
    [`${id}:fetch:1`, `${id}:fetch:2`, `${id}:fetch:3`],
  );
  const types = env.sink.types(id);
  assert.is(types.filter((t) => t === "stage:retrying").length, 2);
  assert.ok(types.includes("stage:failed") && types.includes("workflow:failed"));
});

test("a stage that recovers on a retry completes the run", async () => {
  let calls = 0;
  const s = stage({
    id: "s",
    execute: async () => {
      if (++calls === 1) throw new Error("transient");
      return { output: { ok: true } };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  env.clock.advance(1000);
  await env.drain();
  const view = await env.kernel.runs.get(id);
  assert.is(view?.run.status, "COMPLETED");
  assert.equal(view?.run.output, { ok: true });
  assert.is(view?.stages[0]?.attempt, 2);
});

test("zod failures of stage output are not retried and name the field", async () => {
  let calls = 0;
  const s = stage({
    id: "s",
    output: z.object({ n: z.number() }),
    execute: async () => {
      calls++;
      return { output: { n: "x" } };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  assert.is(calls, 1);
  const run = (await env.kernel.runs.get(id))!.run;
  assert.is(run.status, "FAILED");
  assert.match(run.error!, /output\.n/);
});

test("a zod error thrown by stage code is not retried", async () => {
  let calls = 0;
  const s = stage({
    id: "s",
    execute: async () => {
      calls++;
      z.object({ a: z.string() }).parse({});
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  env.clock.advance(10_000);
  await env.drain();
  assert.is(calls, 1);
  assert.is((await env.kernel.runs.get(id))!.run.status, "FAILED");
});

test("invalid stage config fails the stage without running it, naming the field", async () => {
  let calls = 0;
  const s = stage({
    id: "s",
    config: z.object({ n: z.number() }),
    execute: async () => {
      calls++;
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {}, { config: { s: { n: 1 } } });
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  const job = await env.queue.dequeue({ workerId: "w" });
  const r = await env.kernel.dispatch({
    type: "job.execute",
    workflowRunId: id,
    workflowId: "wf",
    stageId: "s",
    config: { s: { n: "bad" } },
  });
  assert.ok(job);
  assert.is(r.outcome, "failed");
  assert.is(r.retry, undefined);
  assert.match(r.error!, /config\.s\.n/);
  assert.is(calls, 0);
});

test("large outputs go to the blob store and are read back transparently", async () => {
  const big = "x".repeat(2000);
  const a = stage({ id: "a", execute: async () => ({ output: { big } }) });
  const b = stage({ id: "b", input: z.object({ big: z.string() }), execute: async (ctx) => ({ output: { len: ctx.input.big.length } }) });
  const env = makeEnv([workflow("wf", [a, b])], { options: { inlineOutputLimitBytes: 100 } });
  const id = await env.create("wf", {});
  await env.drain();
  const view = (await env.kernel.runs.get(id))!;
  const sa = view.stages.find((s) => s.stageId === "a")!;
  assert.is(sa.output, null);
  assert.is(sa.outputRef, `runs/${id}/a/1/output.json`);
  assert.ok(env.blobs.data.has(sa.outputRef!));
  assert.equal(await env.kernel.runs.stageOutput(id, "a"), { big });
  assert.equal(view.run.output, { len: 2000 });
});

test("logs are kept for failed attempts and stage annotations of a failed attempt are dropped", async () => {
  let calls = 0;
  const s = stage({
    id: "s",
    maxAttempts: 2,
    execute: async (ctx) => {
      calls++;
      await ctx.log("INFO", `attempt ${ctx.attempt}`);
      ctx.annotate("decision.outcome", calls === 1 ? "bad" : "good");
      if (calls === 1) throw new Error("first fails");
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  env.clock.advance(1000);
  await env.drain();
  const logs = await env.kernel.runs.logs(id, { stageId: "s" });
  assert.equal(
    logs.map((l) => l.message),
    ["attempt 1", "attempt 2"],
  );
  const anns = await env.kernel.annotations.list(id, { keyPrefix: "decision." });
  assert.equal(
    anns.map((a) => a.value),
    ["good"],
  );
  assert.equal(anns[0]?.actor, { kind: "stage", id: "s" });
});

test("artifacts are written under the stage prefix and readable by later stages", async () => {
  const a = stage({
    id: "a",
    execute: async (ctx) => {
      const { key } = await ctx.artifacts.put("report.txt", "hello");
      return { output: { key } };
    },
  });
  const b = stage({
    id: "b",
    execute: async (ctx) => {
      const key = (ctx.require("a") as { key: string }).key;
      const bytes = await ctx.artifacts.get(key);
      let escaped = "";
      await ctx.artifacts.get("runs/other-run/a/report.txt").catch((e: Error) => (escaped = e.message));
      return { output: { text: new TextDecoder().decode(bytes!), escaped } };
    },
  });
  const env = makeEnv([workflow("wf", [a, b])]);
  const id = await env.create("wf", {});
  await env.drain();
  const out = (await env.kernel.runs.get(id))!.run.output as { text: string; escaped: string };
  assert.is(out.text, "hello");
  assert.match(out.escaped, /outside run/);
  assert.equal(
    (await env.persistence.listArtifacts(id)).map((x) => x.key),
    [`runs/${id}/a/report.txt`],
  );
});

test("job.execute with an idempotency key replays the first result without re-running", async () => {
  let calls = 0;
  const s = stage({ id: "s", execute: async () => ({ output: ++calls }) });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  const cmd = { type: "job.execute", idempotencyKey: "j1", workflowRunId: id, workflowId: "wf", stageId: "s" } as const;
  const r1 = await env.kernel.dispatch(cmd);
  const r2 = await env.kernel.dispatch(cmd);
  assert.equal(r2, r1);
  assert.is(calls, 1);
});

test("heartbeats reach the host's onHeartbeat callback", async () => {
  const s = stage({
    id: "s",
    execute: async (ctx) => {
      ctx.heartbeat();
      ctx.heartbeat({ pct: 50 });
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  let beats = 0;
  await env.kernel.dispatch({ type: "job.execute", workflowRunId: id, workflowId: "wf", stageId: "s", onHeartbeat: () => beats++ });
  assert.is(beats, 2);
});

test.run();
