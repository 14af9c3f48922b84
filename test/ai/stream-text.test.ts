// The helper's streamText inside real kernel stages (in-memory adapters), with the AI SDK's mock
// models and simulated streams: one call recorded when the stream ends, errors and aborts
// recorded as errors, the budget checked before the model is called, GenAI spans.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Span, type Tracer, trace } from "@opentelemetry/api";
import { simulateReadableStream } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { AIBudgetExceededError, createAIHelper } from "../../src/ai/index.js";
import { makeEnv, stage, workflow } from "../kernel/support/harness.js";

const spans: { name: string; attrs: Record<string, unknown>; status?: number; ended: boolean }[] = [];
const noop = {
  setAttribute: () => noop,
  setAttributes: () => noop,
  setStatus: () => noop,
  recordException() {},
  end() {},
} as unknown as Span;
trace.setGlobalTracerProvider({
  getTracer: () =>
    ({
      startActiveSpan: (_n: string, _o: unknown, _c: unknown, fn: (s: Span) => unknown) => fn(noop),
      startSpan(name: string, opts: { attributes?: Record<string, unknown> }) {
        const rec = { name, attrs: { ...opts.attributes }, ended: false } as (typeof spans)[number];
        spans.push(rec);
        const span = {
          setAttributes(a: Record<string, unknown>) {
            Object.assign(rec.attrs, a);
            return span;
          },
          setStatus(s: { code: number }) {
            rec.status = s.code;
            return span;
          },
          recordException() {},
          end() {
            rec.ended = true;
          },
        } as unknown as Span;
        return span;
      },
    }) as unknown as Tracer,
});

const usage = (input: number, output: number) => ({
  inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: output, text: output, reasoning: 0 },
});
type Part = Record<string, unknown>;
const textParts = (words: string[]): Part[] => [
  { type: "text-start", id: "t" },
  ...words.map((delta) => ({ type: "text-delta", id: "t", delta })),
  { type: "text-end", id: "t" },
];
/** A mock streaming model; `calls` counts doStream calls. */
function streaming(chunks: Part[], modelId = "gpt-4o-mini", opts: { chunkDelayInMs?: number } = {}) {
  const m = new MockLanguageModelV3({
    provider: "openai.chat",
    modelId,
    doStream: async () => {
      m.streams++;
      return { stream: simulateReadableStream({ chunks, ...opts }) as never };
    },
  }) as MockLanguageModelV3 & { streams: number };
  m.streams = 0;
  return m;
}
const finished = (words: string[], input: number, output: number): Part[] => [
  ...textParts(words),
  { type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage: usage(input, output) },
];
const near = (a: number | null | undefined, b: number) => assert.ok(typeof a === "number" && Math.abs(a - b) < 1e-12, `${a} ≈ ${b}`);

test("a stream consumed to the end is recorded once, at its end, with tokens and cost; the caller reads textStream and text", async () => {
  spans.length = 0;
  const m = streaming(finished(["Hel", "lo"], 1000, 200));
  let seenBeforeEnd = -1;
  const s = stage({
    id: "write",
    execute: async (ctx) => {
      const r = await createAIHelper(ctx).streamText({ model: m, prompt: "greet" });
      let streamed = "";
      for await (const t of r.textStream) {
        streamed += t;
        if (seenBeforeEnd < 0) seenBeforeEnd = spans.filter((x) => x.ended).length;
      }
      return { output: { streamed, text: await r.text } };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  const view = (await env.kernel.runs.get(id))!;
  assert.is(view.run.status, "COMPLETED");
  assert.equal(view.run.output, { streamed: "Hello", text: "Hello" });
  assert.is(seenBeforeEnd, 0, "the span is still open while the stream runs");
  const calls = await env.persistence.listAICalls(`workflow.${id}.`);
  assert.equal(
    calls.map((c) => [c.callType, c.model, c.inputTokens, c.outputTokens, c.meta?.status]),
    [["streamText", "gpt-4o-mini", 1000, 200, "ok"]],
  );
  near(calls[0]!.cost, (1000 * 0.15 + 200 * 0.6) / 1e6);
  assert.type(calls[0]!.meta?.latencyMs, "number");
  // The span: same GenAI attributes as generateText, ended at the stream's end.
  assert.equal(
    spans.map((x) => x.name),
    ["chat gpt-4o-mini"],
  );
  const a = spans[0]!.attrs;
  assert.equal(
    [
      a["gen_ai.operation.name"],
      a["gen_ai.request.model"],
      a["gen_ai.provider.name"],
      a["gen_ai.usage.input_tokens"],
      a["gen_ai.usage.output_tokens"],
      a["jetflow.ai.topic"],
      spans[0]!.ended,
    ],
    ["chat", "gpt-4o-mini", "openai", 1000, 200, `workflow.${id}.stage.write`, true],
  );
  near(a["jetflow.ai.cost_usd"] as number, (1000 * 0.15 + 200 * 0.6) / 1e6);
});

test("a stream that errors midway is recorded once with status error and its message; its span is an error", async () => {
  spans.length = 0;
  const m = streaming([...textParts(["par"]), { type: "error", error: new Error("provider overloaded") }]);
  const s = stage({
    id: "write",
    execute: async (ctx) => {
      const r = await createAIHelper(ctx).streamText({ model: m, prompt: "p" });
      let streamed = "";
      for await (const t of r.textStream) streamed += t;
      return { output: streamed };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  const calls = await env.persistence.listAICalls(`workflow.${id}.`);
  assert.equal(
    calls.map((c) => [c.callType, c.meta?.status, c.cost]),
    [["streamText", "error", null]],
  );
  assert.match(String(calls[0]!.meta?.error), /provider overloaded/);
  assert.equal([spans.length, spans[0]!.status, spans[0]!.ended], [1, 2, true]);
});

test("a stream aborted by the caller is recorded as an error with the usage of the steps that finished", async () => {
  const m = streaming(finished(["a", "b", "c", "d"], 300, 40), "gpt-4o-mini", { chunkDelayInMs: 5 });
  const s = stage({
    id: "write",
    execute: async (ctx) => {
      const stop = new AbortController();
      const r = await createAIHelper(ctx).streamText({ model: m, prompt: "p", abortSignal: stop.signal });
      try {
        for await (const _ of r.textStream) stop.abort(new Error("enough"));
      } catch {
        // The abort surfaces as the stream's error; the call record is what this test checks.
      }
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  const calls = await env.persistence.listAICalls(`workflow.${id}.`);
  assert.equal(
    calls.map((c) => [c.meta?.status, c.meta?.error, c.inputTokens]),
    [["error", "enough", 0]],
  );
});

test("a stream the stage never consumed is aborted and recorded as an error when the attempt ends, not lost", async () => {
  const m = streaming(finished(["never", "read"], 100, 10), "gpt-4o-mini", { chunkDelayInMs: 5 });
  const s = stage({
    id: "write",
    execute: async (ctx) => {
      await createAIHelper(ctx).streamText({ model: m, prompt: "p" });
      return { output: "returned without reading" };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  assert.is((await env.kernel.runs.get(id))!.run.status, "COMPLETED");
  const calls = await env.persistence.listAICalls(`workflow.${id}.`);
  assert.equal(
    calls.map((c) => [c.callType, c.meta?.status]),
    [["streamText", "error"]],
  );
  assert.match(String(calls[0]!.meta?.error), /had not finished when the stage's attempt ended/);
});

test("budget: a streamText call once the cap is spent throws AIBudgetExceededError before the model is called; the stage is not retried", async () => {
  const first = streaming(finished(["x"], 1000, 0));
  const second = streaming(finished(["y"], 10, 0));
  let attempts = 0;
  let thrown: unknown;
  const s = stage({
    id: "write",
    maxAttempts: 3,
    execute: async (ctx) => {
      attempts++;
      const ai = createAIHelper(ctx, { budget: { perStageUsd: 0.0001 } });
      // $0.15/M * 1000 = $0.00015 >= $0.0001: the next call is refused.
      await (
        await ai.streamText({ model: first, prompt: "p" })
      ).text;
      try {
        await ai.streamText({ model: second, prompt: "p" });
      } catch (err) {
        thrown = err;
        throw err;
      }
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  assert.ok(thrown instanceof AIBudgetExceededError, String(thrown));
  assert.equal([first.streams, second.streams, attempts], [1, 0, 1]);
  const view = (await env.kernel.runs.get(id))!;
  assert.is(view.run.status, "FAILED");
  assert.match(view.stages[0]!.error ?? "", /AI budget of the stage exceeded/);
  assert.is((await env.persistence.listAICalls(`workflow.${id}.`)).length, 1);
});

test.run();
