// Acceptance: workflows made with the real defineStage / defineAsyncBatchStage / WorkflowBuilder
// run end to end on the kernel and the shared in-memory adapters.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { WorkflowBuilder } from "../../src/builder/index.js";
import { defineAsyncBatchStage, defineStage } from "../../src/stages/index.js";
import { acceptanceEnv } from "./support/env.js";

const fetchDoc = defineStage({
  id: "fetch",
  name: "Fetch",
  schemas: {
    input: z.object({ url: z.string().url() }),
    output: z.object({ text: z.string() }),
    config: z.object({ prefix: z.string().default(">") }),
  },
  async execute(ctx) {
    await ctx.log("INFO", `fetching ${ctx.input.url}`);
    ctx.annotate("fetch.url", ctx.input.url);
    return { output: { text: `${ctx.config.prefix}${ctx.input.url}` } };
  },
});
const countWords = defineStage({
  id: "count",
  name: "Count",
  dependencies: ["fetch"],
  schemas: { input: z.object({ text: z.string() }), output: z.object({ n: z.number() }), config: z.object({}) },
  async execute(ctx) {
    return { output: { n: ctx.input.text.length } };
  },
});
const upper = defineStage({
  id: "upper",
  name: "Upper",
  schemas: { input: "none", output: z.string(), config: z.object({}) },
  async execute(ctx) {
    return { output: (ctx.require("fetch") as { text: string }).text.toUpperCase() };
  },
});
const batch = defineAsyncBatchStage({
  id: "summarise",
  name: "Summarise",
  schemas: {
    input: z.object({ count: z.object({ n: z.number() }), upper: z.string() }),
    output: z.object({ summary: z.string() }),
    config: z.object({}),
  },
  async execute(ctx) {
    return {
      suspended: true,
      state: { job: `${ctx.input.upper}:${ctx.input.count.n}` },
      pollConfig: { pollInterval: 1000, maxWaitTime: 60_000 },
    };
  },
  async checkCompletion(state: { job: string }) {
    return { ready: true, output: { summary: state.job } };
  },
});

test("a built workflow with a parallel group and an async-batch stage completes", async () => {
  const wf = new WorkflowBuilder(
    "docs",
    "Docs",
    "fetch and summarise",
    z.object({ url: z.string().url() }),
    z.object({ summary: z.string() }),
  )
    .pipe(fetchDoc)
    .parallel([countWords, upper])
    .pipe(batch)
    .build();
  const env = acceptanceEnv([wf]);
  const id = await env.create("docs", { url: "https://x.io" }, { config: { fetch: { prefix: "#" } } });
  await env.drain();
  env.clock.advance(1000);
  const polled = await env.kernel.dispatch({ type: "stage.pollSuspended" });
  assert.is(polled.resumed, 1);
  const view = (await env.kernel.runs.get(id))!;
  assert.is(view.run.status, "COMPLETED");
  assert.equal(view.run.output, { summary: "#HTTPS://X.IO:13" });
  assert.equal(
    (await env.kernel.annotations.list(id, { keyPrefix: "fetch." })).map((a) => a.value),
    ["https://x.io"],
  );
  await env.kernel.dispatch({ type: "outbox.flush" });
  assert.equal(
    env.sink.ofType("workflow:completed").map((e) => e.data.output),
    [{ summary: "#HTTPS://X.IO:13" }],
  );
});

test("builder-level config validation errors reach run.create callers naming stage and field", async () => {
  const wf = new WorkflowBuilder("docs", "Docs", "", z.object({ url: z.string().url() }), z.any()).pipe(fetchDoc).build();
  const env = acceptanceEnv([wf]);
  const err = await env.kernel
    .dispatch({
      type: "run.create",
      idempotencyKey: "k",
      workflowId: "docs",
      input: { url: "https://x.io" },
      config: { fetch: { prefix: 5 } },
    })
    .then(
      () => null,
      (e: Error) => e,
    );
  assert.match(err?.message ?? "", /config\.fetch\.prefix/);
});

test.run();
