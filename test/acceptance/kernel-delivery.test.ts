// Acceptance: fencing of superseded attempts, outbox recovery and plugins, group data flow.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { definePlugin } from "../../src/kernel/plugins-runtime.js";
import { acceptanceEnv as makeEnv, stage, workflow } from "./support/env.js";

test("a superseded attempt (redelivery took over) cannot overwrite the newer attempt's result", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const firstStarted = new Promise<void>((r) => (started = r));
  const s = stage({
    id: "s",
    execute: async (ctx) => {
      if (ctx.attempt === 1) {
        started();
        await gate; // the holder of attempt 1 stalls past its lease
        ctx.annotate("result.by", "attempt-1");
        return { output: "old" };
      }
      ctx.annotate("result.by", "attempt-2");
      return { output: "new" };
    },
  });
  const env = makeEnv([workflow("wf", [s])], { options: { cancelCheckIntervalMs: 60_000 } });
  const id = await env.create("wf", {});
  await env.kernel.dispatch({ type: "run.claimPending", workerId: "w" });
  const job = (await env.queue.dequeue({ workerId: "w1" }))!;
  const delivery = { jobId: job.jobId, deliveryCount: 1, attempt: job.attempt };
  const exec = { type: "job.execute", workflowRunId: id, workflowId: "wf", stageId: "s" } as const;
  const slow = env.kernel.dispatch({ ...exec, delivery });
  await firstStarted;
  // The transport redelivers the same job to another worker, which takes the stage over.
  const fast = await env.kernel.dispatch({ ...exec, delivery: { ...delivery, deliveryCount: 2 } });
  assert.equal({ o: fast.outcome, a: fast.attempt }, { o: "completed", a: 2 });
  release();
  const late = await slow;
  assert.equal({ o: late.outcome, g: late.ghost, a: late.attempt }, { o: "failed", g: true, a: 1 });
  const st = (await env.kernel.runs.get(id))!.stages[0]!;
  assert.equal([st.status, st.output, st.attempt], ["COMPLETED", "new", 2]);
  assert.equal(
    (await env.kernel.annotations.list(id, { keyPrefix: "result." })).map((a) => a.value),
    ["attempt-2"],
  );
  await env.kernel.dispatch({ type: "run.transition", workflowRunId: id });
  assert.equal((await env.kernel.runs.get(id))!.run.output, "new");
});

test("outbox: sink fails on the fast path → outbox.flush delivers each event exactly once", async () => {
  const a = stage({ id: "a", execute: async () => ({ output: 1 }) });
  const env = makeEnv([workflow("wf", [a])]);
  env.sink.failWith(() => new Error("sink unreachable")); // every fast-path publish fails (as if the process died right after commit)
  const id = await env.create("wf", {});
  await env.drain();
  assert.is((await env.kernel.runs.get(id))!.run.status, "COMPLETED", "commits never depend on the sink");
  assert.is(env.sink.events.length, 0);
  env.sink.failWith(null);
  const f = await env.kernel.dispatch({ type: "outbox.flush" });
  assert.is(f.failed, 0);
  await env.kernel.dispatch({ type: "outbox.flush" });
  const types = env.types(id);
  assert.equal(types, ["workflow:created", "workflow:started", "stage:started", "stage:completed", "workflow:completed"]);
  assert.is(env.sink.duplicates, 0, "no event was delivered twice");
});

test("outbox: a persistently failing plugin dead-letters; plugin.replayDLQ redelivers", async () => {
  let healthy = false;
  const delivered: string[] = [];
  const env = makeEnv([workflow("wf", [stage({ id: "a", execute: async () => ({ output: 1 }) })])], {
    plugins: [
      definePlugin({
        id: "billing",
        name: "Billing",
        on: ["workflow:completed"],
        handle: async (e) => {
          if (!healthy) throw new Error("billing API 500");
          delivered.push(e.workflowRunId);
        },
      }),
    ],
    options: { outboxMaxAttempts: 2 },
  });
  const id = await env.create("wf", {});
  await env.drain(); // fast path: attempt 1 of workflow:completed fails
  const f = await env.kernel.dispatch({ type: "outbox.flush" }); // attempt 2 → dead letter
  assert.equal({ failed: f.failed, dead: f.deadLettered }, { failed: 1, dead: 1 });
  const dead = await env.persistence.listDeadLetters(10);
  assert.equal(
    dead.map((d) => d.type),
    ["workflow:completed"],
  );
  assert.match(dead[0]!.lastError!, /billing API 500/);
  assert.equal(delivered, []);
  healthy = true;
  assert.is((await env.kernel.dispatch({ type: "plugin.replayDLQ" })).replayed, 1);
  await env.kernel.dispatch({ type: "outbox.flush" });
  assert.equal(delivered, [id]);
  assert.is((await env.persistence.listDeadLetters(10)).length, 0);
});

test("parallel group outputs are keyed by stage id; ctx.require/optional; a 4-group workflow completes", async () => {
  const seenByReport: { input: unknown; optional: unknown; req: unknown } = { input: null, optional: "unset", req: null };
  const fetch = stage({
    id: "fetch",
    input: z.object({ url: z.string() }),
    execute: async (ctx) => ({ output: { body: `<${ctx.input.url}>` } }),
  });
  const parse = stage({
    id: "parse",
    input: z.object({ body: z.string() }),
    execute: async (ctx) => ({ output: { words: ctx.input.body.length } }),
  });
  const lang = stage({
    id: "lang",
    execute: async (ctx) => ({ output: (ctx.require("fetch") as { body: string }).body.includes("fr") ? "fr" : "en" }),
  });
  const size = stage({ id: "size", execute: async (ctx) => ({ output: (ctx.require("parse") as { words: number }).words }) });
  const report = stage({
    id: "report",
    input: z.object({ lang: z.string(), size: z.number() }),
    execute: async (ctx) => {
      seenByReport.input = ctx.input;
      seenByReport.optional = ctx.optional("never-ran");
      seenByReport.req = ctx.require("fetch");
      return { output: { summary: `${ctx.input.lang}:${ctx.input.size}` } };
    },
  });
  const wf = workflow("crawl", [fetch, parse, [lang, size], report], {
    input: z.object({ url: z.string() }),
    output: z.object({ summary: z.string() }),
  });
  const env = makeEnv([wf]);
  const id = await env.create("crawl", { url: "example.fr" });
  await env.drain();
  assert.equal(seenByReport, { input: { lang: "fr", size: 12 }, optional: undefined, req: { body: "<example.fr>" } });
  const run = (await env.kernel.runs.get(id))!.run;
  assert.is(run.status, "COMPLETED");
  assert.equal(run.output, { summary: "fr:12" });
  await env.kernel.dispatch({ type: "outbox.flush" });
  const completed = env.sink.events.filter((e) => e.type === "workflow:completed");
  assert.is(completed.length, 1);
  assert.equal(completed[0]!.data.output, { summary: "fr:12" });
});

test.run();
