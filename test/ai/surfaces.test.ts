// Where AI costs show: GenAI span attributes and the cost metric, the API endpoints (runs.costs,
// costs.summary) and the CLI's --since parsing.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Meter, type MeterProvider, type Span, type Tracer, metrics, trace } from "@opentelemetry/api";
import { MockLanguageModelV3 } from "ai/test";
import { createAIHelper } from "../../src/ai/index.js";
import { createHandlers } from "../../adapters/jetstream/api/handlers.js";
import { API_SCHEMAS } from "../../src/contract/api-messages.js";
import { parseSince } from "../../cli/commands/costs.js";
import { makeEnv, stage, workflow } from "../kernel/support/harness.js";

const spans: { name: string; attrs: Record<string, unknown>; status?: number; ended: boolean }[] = [];
// Kernel spans (startActiveSpan) get a no-op span; the helper's spans (startSpan) are recorded.
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
const points: { name: string; value: number; attrs: Record<string, unknown> }[] = [];
const instrument = (name: string) => ({
  add: (value: number, attrs: Record<string, unknown>) => points.push({ name, value, attrs }),
  record: (value: number, attrs: Record<string, unknown>) => points.push({ name, value, attrs }),
});
metrics.setGlobalMeterProvider({
  getMeter: () => ({ createCounter: instrument, createHistogram: instrument }) as unknown as Meter,
} as MeterProvider);

const reply = (input: number, output: number) =>
  ({
    content: [{ type: "text", text: "ok" }],
    finishReason: { unified: "stop", raw: "stop" },
    usage: {
      inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
      outputTokens: { total: output, text: output, reasoning: 0 },
    },
    warnings: [],
  }) as never;

test("each call is a CLIENT span with GenAI attributes; tokens and cost go to the metrics", async () => {
  const s = stage({
    id: "s",
    execute: async (ctx) => {
      const ai = createAIHelper(ctx);
      const model = new MockLanguageModelV3({ provider: "openai.chat", modelId: "gpt-4o", doGenerate: [reply(1000, 100)] });
      await ai.generateText({ model, prompt: "p" });
      const failing = new MockLanguageModelV3({
        provider: "openai.chat",
        modelId: "gpt-4o",
        doGenerate: async () => {
          throw new Error("provider down");
        },
      });
      await ai.generateText({ model: failing, prompt: "p", maxRetries: 0 }).catch(() => undefined);
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  const ai = spans.filter((x) => x.name === "chat gpt-4o");
  assert.is(ai.length, 2);
  const cost = (1000 * 2.5 + 100 * 10) / 1e6;
  assert.equal(
    {
      op: ai[0]!.attrs["gen_ai.operation.name"],
      model: ai[0]!.attrs["gen_ai.request.model"],
      provider: ai[0]!.attrs["gen_ai.provider.name"],
      input: ai[0]!.attrs["gen_ai.usage.input_tokens"],
      output: ai[0]!.attrs["gen_ai.usage.output_tokens"],
      topic: ai[0]!.attrs["jetflow.ai.topic"],
      ended: ai[0]!.ended,
    },
    { op: "chat", model: "gpt-4o", provider: "openai", input: 1000, output: 100, topic: `workflow.${id}.stage.s`, ended: true },
  );
  assert.ok(Math.abs((ai[0]!.attrs["jetflow.ai.cost_usd"] as number) - cost) < 1e-12);
  assert.is(ai[1]!.status, 2, "the failed call's span is an error");
  const costPoints = points.filter((p) => p.name === "jetflow.ai.cost");
  assert.is(costPoints.length, 1, "the failed call adds no cost");
  assert.ok(Math.abs(costPoints[0]!.value - cost) < 1e-12);
  assert.equal(
    points.filter((p) => p.name === "gen_ai.client.token.usage").map((p) => [p.attrs["gen_ai.token.type"], p.value]),
    [
      ["input", 1000],
      ["output", 100],
    ],
  );
  const [failed] = await env.persistence.listAICalls(`workflow.${id}.`).then((c) => c.filter((x) => x.meta?.status === "error"));
  assert.match(String(failed!.meta?.error), /provider down/);
});

test("API: runs.costs answers a run's total, per stage and per model; costs.summary groups since an instant", async () => {
  const s = stage({
    id: "s",
    execute: async (ctx) => {
      const model = new MockLanguageModelV3({ provider: "openai.chat", modelId: "gpt-4o-mini", doGenerate: [reply(1_000_000, 0)] });
      await createAIHelper(ctx).generateText({ model, prompt: "p" });
      return { output: 1 };
    },
  });
  const env = makeEnv([workflow("wf", [s])]);
  const id = await env.create("wf", {});
  await env.drain();
  const service = { name: "jetflow", version: "t", instanceId: "i", startedAt: new Date() };
  const h = createHandlers({ kernel: env.kernel, service, aiCosts: (q) => env.persistence.summarizeAICalls(q) });
  const costs = API_SCHEMAS["runs.costs"].reply.parse(await h["runs.costs"]({ workflowRunId: id }));
  assert.equal([costs.total.calls, costs.byStage.map((r) => r.key), costs.byModel.map((r) => r.key)], [1, ["s"], ["gpt-4o-mini"]]);
  assert.ok(Math.abs(costs.total.cost - 0.15) < 1e-9);
  const req = API_SCHEMAS["costs.summary"].request.parse({ by: "workflow", since: new Date(0).toISOString() });
  const summary = API_SCHEMAS["costs.summary"].reply.parse(await h["costs.summary"](req));
  assert.equal(
    summary.rows.map((r) => [r.key, r.calls]),
    [["wf", 1]],
  );
  // The clock of the in-memory kernel is in 2026-01; "since now" excludes it.
  const none = await h["costs.summary"](API_SCHEMAS["costs.summary"].request.parse({ since: new Date(Date.now() + 1000).toISOString() }));
  assert.equal([none.rows, none.total.calls], [[], 0]);
  await h["runs.costs"]({ workflowRunId: "nope" }).then(
    () => assert.unreachable("unknown run"),
    (err: { code?: string }) => assert.is(err.code, "RUN_NOT_FOUND"),
  );
  const bare = createHandlers({ kernel: env.kernel, service });
  await bare["runs.costs"]({ workflowRunId: id }).then(
    () => assert.unreachable("no cost data"),
    (err: { code?: string }) => assert.is(err.code, "UNAVAILABLE"),
  );
});

test("CLI --since: durations back from now or an ISO date; anything else is refused", () => {
  const now = new Date("2026-05-10T12:00:00Z");
  assert.is(parseSince("7d", now).toISOString(), "2026-05-03T12:00:00.000Z");
  assert.is(parseSince("12h", now).toISOString(), "2026-05-10T00:00:00.000Z");
  assert.is(parseSince("30m", now).toISOString(), "2026-05-10T11:30:00.000Z");
  assert.is(parseSince("2026-04-01", now).toISOString(), "2026-04-01T00:00:00.000Z");
  assert.throws(() => parseSince("last week", now), /neither a duration/);
  assert.throws(() => parseSince("7y", now), /neither a duration/);
});

test.run();
