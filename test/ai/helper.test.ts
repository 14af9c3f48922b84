// The AI helper inside real kernel stages (in-memory adapters), with the AI SDK's mock models:
// every call is stored with tokens and cost, budgets fail the stage for good, costs aggregate.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { MockEmbeddingModelV3, MockLanguageModelV3 } from "ai/test";
import { createAIHelper, defaultModelCatalogue, registerAIProvider, registerEmbeddingProvider } from "../../src/ai/index.js";
import { makeEnv, stage, workflow } from "../kernel/support/harness.js";

type Gen = Awaited<ReturnType<MockLanguageModelV3["doGenerate"]>>;
function reply(text: string, input = 100, output = 50, cacheRead = 0): Gen {
  return {
    content: [{ type: "text", text }],
    finishReason: { unified: "stop", raw: "stop" },
    usage: {
      inputTokens: { total: input, noCache: input - cacheRead, cacheRead, cacheWrite: 0 },
      outputTokens: { total: output, text: output, reasoning: 0 },
    },
    warnings: [],
  } as unknown as Gen;
}
const model = (replies: Gen[], modelId = "gpt-4o-mini") =>
  new MockLanguageModelV3({ provider: "openai.chat", modelId, doGenerate: replies });
const near = (a: number | null, b: number) => assert.ok(a !== null && Math.abs(a - b) < 1e-12, `${a} ≈ ${b}`);

test("generateText inside a stage: one stored call with model, tokens, cost from the catalogue, latency, status", async () => {
  const s = stage({
    id: "summarize",
    execute: async (ctx) => {
      const ai = createAIHelper(ctx);
      const r = await ai.generateText({ model: model([reply("short", 1000, 200, 400)]), prompt: "sum up" });
      return { output: r.text };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  assert.is((await env.kernel.runs.get(id))!.run.status, "COMPLETED");
  const calls = await env.persistence.listAICalls(`workflow.${id}.`);
  assert.is(calls.length, 1);
  const c = calls[0]!;
  assert.equal(
    [c.topic, c.model, c.callType, c.inputTokens, c.outputTokens],
    [`workflow.${id}.stage.summarize`, "gpt-4o-mini", "generateText", 1000, 200],
  );
  // 600 fresh input at $0.15/M, 400 cached at $0.075/M, 200 output at $0.60/M.
  near(c.cost, (600 * 0.15 + 400 * 0.075 + 200 * 0.6) / 1e6);
  assert.equal([c.meta?.status, c.meta?.provider, c.meta?.cachedInputTokens], ["ok", "openai.chat", 400]);
  assert.type(c.meta?.latencyMs, "number");
});

test("a model missing from the catalogue is recorded with cost null (unknown), never a guess", async () => {
  const s = stage({
    id: "s",
    execute: async (ctx) => {
      await createAIHelper(ctx).generateText({ model: model([reply("x")], "gpt-4o-mini-2099-01-01"), prompt: "p" });
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  const [c] = await env.persistence.listAICalls(`workflow.${id}.`);
  assert.is(c!.cost, null);
  assert.is(c!.inputTokens, 100);
  const [sum] = await env.persistence.summarizeAICalls({ by: "run", topicPrefix: `workflow.${id}.` });
  assert.equal([sum!.cost, sum!.unknownCostCalls], [0, 1]);
});

test("generateObject: output failing the schema is asked again; both calls are recorded, the failed one as error", async () => {
  const schema = z.object({ title: z.string(), pages: z.number() });
  const s = stage({
    id: "extract",
    execute: async (ctx) => {
      const ai = createAIHelper(ctx, { schemaRetries: 1 });
      const m = model([reply('{"title": 42}', 80, 10), reply('{"title":"Dune","pages":412}', 90, 12)]);
      const r = await ai.generateObject({ model: m, schema, prompt: "extract" });
      return { output: r.object };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  const view = (await env.kernel.runs.get(id))!;
  assert.is(view.run.status, "COMPLETED");
  const calls = await env.persistence.listAICalls(`workflow.${id}.`);
  assert.equal(
    calls.map((c) => [c.callType, c.meta?.status, c.inputTokens]),
    [
      ["generateObject", "error", 80],
      ["generateObject", "ok", 90],
    ],
  );
  assert.match(String(calls[0]!.meta?.error), /schema|match|type/i);
  near(calls[0]!.cost, (80 * 0.15 + 10 * 0.6) / 1e6); // the failed call was billed too
});

test("generateObject: schema failures beyond schemaRetries fail the attempt", async () => {
  const s = stage({
    id: "extract",
    maxAttempts: 1,
    execute: async (ctx) => {
      const ai = createAIHelper(ctx, { schemaRetries: 1 });
      await ai.generateObject({ model: model([reply("nope"), reply("still not json")]), schema: z.object({ a: z.string() }), prompt: "p" });
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  assert.is((await env.kernel.runs.get(id))!.run.status, "FAILED");
  const calls = await env.persistence.listAICalls(`workflow.${id}.`);
  assert.equal(
    calls.map((c) => c.meta?.status),
    ["error", "error"],
  );
});

test("embed and embedMany (AI SDK model and a registered custom embedding provider) record tokens and cost", async () => {
  const undo = registerEmbeddingProvider("local-hash", {
    modelId: "hash-v1",
    async embed(values) {
      return { embeddings: values.map((v) => [v.length, 1]), tokens: values.length * 3 };
    },
  });
  try {
    const s = stage({
      id: "index",
      execute: async (ctx) => {
        const ai = createAIHelper(ctx);
        const m = new MockEmbeddingModelV3({
          provider: "openai.embedding",
          modelId: "text-embedding-3-small",
          doEmbed: async ({ values }) => ({
            embeddings: values.length === 1 ? [[1, 2]] : values.map((_, i) => [i + 1]),
            usage: { tokens: values.length * 10 },
            warnings: [],
          }),
        });
        const one = await ai.embed({ model: m, value: "a" });
        const many = await ai.embedMany({ model: m, values: ["a", "b", "c"] });
        const custom = await ai.embedMany({ model: "local-hash", values: ["abc", "de"] });
        return { output: { one: one.embedding, many: many.embeddings.length, custom: custom.embeddings } };
      },
    });
    const env = makeEnv([workflow("wf", [s])]);
    const id = await env.create("wf", {});
    await env.drain();
    const view = (await env.kernel.runs.get(id))!;
    assert.is(view.stages[0]!.error, null);
    assert.is(view.run.status, "COMPLETED");
    assert.equal(view.run.output, {
      one: [1, 2],
      many: 3,
      custom: [
        [3, 1],
        [2, 1],
      ],
    });
    const calls = await env.persistence.listAICalls(`workflow.${id}.`);
    assert.equal(
      calls.map((c) => [c.callType, c.model, c.inputTokens]),
      [
        ["embed", "text-embedding-3-small", 10],
        ["embedMany", "text-embedding-3-small", 30],
        ["embedMany", "hash-v1", 6],
      ],
    );
    near(calls[1]!.cost, (30 * 0.02) / 1e6);
    assert.is(calls[2]!.cost, null); // a custom model has no price until the catalogue gets one
  } finally {
    undo();
  }
});

test("a registered custom provider resolves '<name>:<model>' and a catalogue override prices it", async () => {
  const m = model([reply("hi", 1_000_000, 1_000_000)], "house-llm");
  const undo = registerAIProvider("house", { languageModel: () => m });
  try {
    const catalogue = defaultModelCatalogue.with({ "house/house-llm": { input: 1, output: 2 } });
    const s = stage({
      id: "s",
      execute: async (ctx) => ({
        output: (await createAIHelper(ctx, { catalogue }).generateText({ model: "house:house-llm", prompt: "p" })).text,
      }),
    });
    const env = makeEnv([workflow("wf", [s])]);
    const id = await env.create("wf", {});
    await env.drain();
    const [c] = await env.persistence.listAICalls(`workflow.${id}.`);
    assert.is(c!.model, "house-llm");
    // provider "openai.chat" of the mock does not match "house/…": the bare id is unique, so it prices.
    near(c!.cost, 3);
  } finally {
    undo();
  }
});

test("budget: a call crossing the stage cap fails the stage at once (not retried); the paid call is still recorded", async () => {
  let attempts = 0;
  const s = stage({
    id: "s",
    maxAttempts: 3,
    execute: async (ctx) => {
      attempts++;
      const ai = createAIHelper(ctx, { budget: { perStageUsd: 0.0001 } });
      // $0.15/M * 1000 = $0.00015 > $0.0001.
      await ai.generateText({ model: model([reply("a", 1000, 0)]), prompt: "p" });
      await ai.generateText({ model: model([reply("b", 1000, 0)]), prompt: "p" });
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  const view = (await env.kernel.runs.get(id))!;
  assert.is(view.run.status, "FAILED");
  assert.is(attempts, 1);
  assert.match(view.stages[0]!.error ?? "", /AI budget of the stage exceeded/);
  const calls = await env.persistence.listAICalls(`workflow.${id}.`);
  assert.is(calls.length, 1);
});

test("budget: the run cap counts earlier stages' calls, and an unpriced model is refused under a budget", async () => {
  const first = stage({
    id: "first",
    execute: async (ctx) => {
      await createAIHelper(ctx).generateText({ model: model([reply("a", 1000, 0)]), prompt: "p" });
      return { output: 1 };
    },
  });
  let refused = "";
  const second = stage({
    id: "second",
    maxAttempts: 1,
    execute: async (ctx) => {
      const ai = createAIHelper(ctx, { budget: { perRunUsd: 0.0001 } });
      try {
        await ai.generateText({ model: model([reply("x")], "mystery-model"), prompt: "p" });
      } catch (err) {
        refused = (err as Error).message;
      }
      await ai.generateText({ model: model([reply("b", 10, 0)]), prompt: "p" });
      return { output: 2 };
    },
  });
  const env = makeEnv([workflow("wf", [first, second])]);
  const id = await env.create("wf", {});
  await env.drain();
  assert.match(refused, /mystery-model" has no price/);
  const view = (await env.kernel.runs.get(id))!;
  assert.is(view.run.status, "FAILED");
  assert.match(view.stages.find((x) => x.stageId === "second")!.error ?? "", /AI budget of the run exceeded: spent \$0\.000150/);
  assert.is((await env.persistence.listAICalls(`workflow.${id}.stage.second`)).length, 0);
});

test("cost aggregation per run, stage, model and workflow", async () => {
  const a = stage({
    id: "a",
    execute: async (ctx) => {
      const ai = createAIHelper(ctx);
      await ai.generateText({ model: model([reply("1", 1000, 1000)]), prompt: "p" });
      await ai.generateText({ model: model([reply("2", 1000, 0)], "gpt-4o"), prompt: "p" });
      return { output: 1 };
    },
  });
  const b = stage({
    id: "b",
    execute: async (ctx) => {
      await createAIHelper(ctx).generateText({ model: model([reply("3", 2000, 0)]), prompt: "p" });
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [a, b]), workflow("other", [stage({ id: "c", execute: async () => ({ output: 0 }) })])]);
  const r1 = await env.create("wf", {});
  const r2 = await env.create("wf", {});
  await env.drain();
  const mini = (i: number, o: number) => (i * 0.15 + o * 0.6) / 1e6;
  const byStage = await env.persistence.summarizeAICalls({ by: "stage", topicPrefix: `workflow.${r1}.` });
  assert.equal(
    byStage.map((r) => [r.key, r.calls, r.inputTokens, r.outputTokens]),
    [
      ["a", 2, 2000, 1000],
      ["b", 1, 2000, 0],
    ],
  );
  near(byStage[0]!.cost, mini(1000, 1000) + (1000 * 2.5) / 1e6);
  near(byStage[1]!.cost, mini(2000, 0));
  const byRun = await env.persistence.summarizeAICalls({ by: "run" });
  assert.equal(byRun.map((r) => r.key).sort(), [r1, r2].sort());
  const byModel = await env.persistence.summarizeAICalls({ by: "model" });
  assert.equal(
    byModel.map((r) => [r.key, r.calls]),
    [
      ["gpt-4o", 2],
      ["gpt-4o-mini", 4],
    ],
  );
  const byWorkflow = await env.persistence.summarizeAICalls({ by: "workflow", since: new Date(0) });
  assert.equal(
    byWorkflow.map((r) => [r.key, r.calls]),
    [["wf", 6]],
  );
  assert.equal(await env.persistence.summarizeAICalls({ by: "workflow", since: new Date(Date.now() + 3_600_000) }), []);
});

test.run();
