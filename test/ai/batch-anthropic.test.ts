// anthropicBatchProvider against a strict local stand-in of the Anthropic Message Batches API:
// what a user sees from submit and poll (results, recorded cost, per-request outcomes, typed errors, retries).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AIBatchProviderError, anthropicBatchProvider, createAIHelper, registerBatchProvider } from "../../src/ai/index.js";
import type { AIRecorder, ReportAICall } from "../../src/contract/ai-calls.js";
import { ValidationError } from "../../src/contract/errors.js";
import { FakeAnthropic, anthropicSucceeded } from "./support/fake-batch-apis.js";

const KEY = "sk-ant-test-secret-789";

function recorder(): AIRecorder & { calls: { call: ReportAICall; key: string | undefined }[] } {
  const calls: { call: ReportAICall; key: string | undefined }[] = [];
  return {
    topic: "workflow.r1.stage.s1",
    calls,
    record: (call, key) => void calls.push({ call, key }),
    spent: async () => ({ run: 0, stage: 0 }),
  };
}

async function setup(opts: Record<string, unknown> = {}) {
  const fake = await new FakeAnthropic(KEY).start();
  const provider = anthropicBatchProvider({
    apiKey: KEY,
    baseURL: `${fake.url}/v1`,
    name: "an-test",
    minRetryDelayMs: 1,
    maxRetryDelayMs: 20,
    ...opts,
  });
  const undo = registerBatchProvider(provider);
  const rec = recorder();
  const close = async () => {
    undo();
    await fake.close();
  };
  return { fake, provider, rec, ai: createAIHelper(rec), close };
}

const two = [
  { customId: "a", model: "claude-haiku-4-5", system: "Be brief.", prompt: "doc a", maxOutputTokens: 50 },
  { customId: "b", model: "claude-haiku-4-5", prompt: "doc b" },
];

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.unreachable("expected a rejection");
}

test("a message batch is created, pending twice, then ended: two results priced at the batch price, cache reads as cached", async () => {
  const { fake, rec, ai, close } = await setup();
  try {
    fake.plan = {
      statuses: ["in_progress", "canceling", "ended"],
      answer: (r) =>
        anthropicSucceeded(
          r,
          r.customId === "a"
            ? { input_tokens: 600, output_tokens: 100, cache_read_input_tokens: 400, cache_creation_input_tokens: 0 }
            : { input_tokens: 2000, output_tokens: 50 },
        ),
    };
    const handle = await ai.batch.submit("an-test", two);
    assert.is(handle.batchId, "msgbatch_1");
    assert.equal(fake.batches.get("msgbatch_1")!.requests, [
      { customId: "a", model: "claude-haiku-4-5", prompt: "doc a", maxTokens: 50, system: "Be brief." },
      { customId: "b", model: "claude-haiku-4-5", prompt: "doc b", maxTokens: 4096 },
    ]);
    assert.equal(await ai.batch.poll(handle), { done: false, completed: 0, total: 2 });
    assert.equal(await ai.batch.poll(handle), { done: false, completed: 0, total: 2 });
    const r = await ai.batch.poll(handle);
    assert.ok(r.done && r.results);
    assert.equal(
      r.results.map((x) => [x.customId, x.text, x.usage]),
      [
        ["a", "summary of doc a", { inputTokens: 1000, outputTokens: 100, cachedInputTokens: 400 }],
        ["b", "summary of doc b", { inputTokens: 2000, outputTokens: 50 }],
      ],
    );
    // claude-haiku-4-5: $1 in, $0.1 cached in, $5 out per 1M; batchMultiplier 0.5.
    const costA = ((600 * 1 + 400 * 0.1 + 100 * 5) / 1e6) * 0.5;
    const costB = ((2000 * 1 + 50 * 5) / 1e6) * 0.5;
    assert.equal(
      rec.calls.map((c) => [c.key, c.call.provider, c.call.model, c.call.status]),
      [
        ["batch:msgbatch_1:a", "anthropic", "claude-haiku-4-5", "ok"],
        ["batch:msgbatch_1:b", "anthropic", "claude-haiku-4-5", "ok"],
      ],
    );
    assert.ok(Math.abs(rec.calls[0]!.call.cost! - costA) < 1e-12, `cost a ${rec.calls[0]!.call.cost}`);
    assert.ok(Math.abs(rec.calls[1]!.call.cost! - costB) < 1e-12, `cost b ${rec.calls[1]!.call.cost}`);
    assert.equal(fake.violations, []);
    assert.equal(fake.log, [
      "POST /v1/messages/batches",
      "GET /v1/messages/batches/msgbatch_1",
      "GET /v1/messages/batches/msgbatch_1",
      "GET /v1/messages/batches/msgbatch_1",
      "GET /v1/messages/batches/msgbatch_1/results",
    ]);
  } finally {
    await close();
  }
});

test("errored, canceled and expired entries keep their reason per request; the succeeded one its text", async () => {
  const { fake, rec, ai, close } = await setup();
  try {
    const outcome: Record<string, Record<string, unknown>> = {
      b: { type: "errored", error: { type: "error", error: { type: "invalid_request_error", message: "max_tokens: too large" } } },
      c: { type: "canceled" },
      d: { type: "expired" },
    };
    fake.plan = { statuses: ["ended"], answer: (r) => outcome[r.customId] ?? anthropicSucceeded(r) };
    const reqs = ["a", "b", "c", "d"].map((id) => ({ customId: id, model: "claude-haiku-4-5", prompt: `doc ${id}` }));
    const r = await ai.batch.poll(await ai.batch.submit("an-test", reqs));
    assert.ok(r.done && r.results);
    assert.equal(
      r.results.map((x) => [x.customId, x.text, x.error]),
      [
        ["a", "summary of doc a", undefined],
        ["b", undefined, "invalid_request_error: max_tokens: too large"],
        ["c", undefined, "canceled: the batch was canceled before this request ran"],
        ["d", undefined, "expired: the batch ended before this request ran"],
      ],
    );
    assert.equal(
      rec.calls.map((c) => c.call.status),
      ["ok", "error", "error", "error"],
    );
    assert.equal(fake.violations, []);
  } finally {
    await close();
  }
});

test("a malformed response is a typed error naming provider and endpoint; a bad custom id is refused before any request", async () => {
  const { fake, rec, ai, close } = await setup({ retries: 0 });
  try {
    const h = await ai.batch.submit("an-test", two);
    fake.faults.push({
      method: "GET",
      path: /^\/v1\/messages\/batches\/[^/]+$/,
      body: JSON.stringify({ id: "msgbatch_1", type: "message_batch", processing_status: "done" }),
    });
    const e = (await rejection(ai.batch.poll(h))) as AIBatchProviderError;
    assert.instance(e, AIBatchProviderError);
    assert.equal([e.provider, e.endpoint, e.kind], ["anthropic", "GET /v1/messages/batches/msgbatch_1", "malformed"]);
    assert.match(
      e.message,
      /^anthropic batch API GET \/v1\/messages\/batches\/msgbatch_1 answered a malformed response: .*processing_status/,
    );
    // A result line of an unknown type is refused, not dropped.
    fake.plan = { statuses: ["ended"], answer: () => ({ type: "mystery" }) };
    const e2 = (await rejection(ai.batch.poll(await ai.batch.submit("an-test", two)))) as AIBatchProviderError;
    assert.equal([e2.endpoint, e2.kind], ["GET /v1/messages/batches/msgbatch_2/results", "malformed"]);
    assert.match(e2.message, /line 1: result/);
    const before = fake.log.length;
    const e3 = await rejection(ai.batch.submit("an-test", [{ customId: "doc/1", model: "claude-haiku-4-5", prompt: "x" }]));
    assert.instance(e3, ValidationError);
    assert.match((e3 as Error).message, /"doc\/1"/);
    assert.is(fake.log.length, before);
    assert.is(rec.calls.length, 0);
    assert.equal(fake.violations, []);
  } finally {
    await close();
  }
});

test("a 429 (and 529 overloaded) is retried; an HTTP error carries the status and Anthropic's message, never the key", async () => {
  const { fake, ai, close } = await setup({ retries: 2 });
  try {
    fake.faults.push(
      {
        method: "POST",
        path: /^\/v1\/messages\/batches$/,
        status: 429,
        headers: { "retry-after": "0" },
        body: JSON.stringify({ type: "error", error: { type: "rate_limit_error", message: "slow down" } }),
      },
      {
        method: "GET",
        path: /^\/v1\/messages\/batches\//,
        status: 529,
        body: JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }),
      },
    );
    const h = await ai.batch.submit("an-test", two);
    assert.is(fake.count("POST /v1/messages/batches"), 2);
    assert.equal(await ai.batch.poll(h), { done: false, completed: 0, total: 2 });
    assert.is(fake.count("GET /v1/messages/batches/msgbatch_1"), 2);
    const wrong = anthropicBatchProvider({ apiKey: "sk-ant-wrong-000", baseURL: `${fake.url}/v1` });
    const e = (await rejection(wrong.poll("msgbatch_1", {}))) as AIBatchProviderError;
    assert.equal([e.status, e.retryable, e.endpoint], [401, false, "GET /v1/messages/batches/msgbatch_1"]);
    assert.is(e.message, "anthropic batch API GET /v1/messages/batches/msgbatch_1 answered HTTP 401: invalid x-api-key");
    assert.not.match(JSON.stringify({ m: e.message, d: e.data }), "sk-ant-wrong-000");
    assert.equal(fake.violations, []);
  } finally {
    await close();
  }
});

test("results are read from results_url only on the base URL's origin: the API key is never sent elsewhere", async () => {
  const { fake, ai, close } = await setup();
  try {
    fake.plan = { statuses: ["ended"] };
    const h = await ai.batch.submit("an-test", two);
    const elsewhere = {
      id: "msgbatch_1",
      type: "message_batch",
      processing_status: "ended",
      request_counts: { processing: 0, succeeded: 2, errored: 0, canceled: 0, expired: 0 },
      results_url: "http://192.0.2.1:9/v1/messages/batches/msgbatch_1/results",
    };
    fake.faults.push({ method: "GET", path: /^\/v1\/messages\/batches\/msgbatch_1$/, body: JSON.stringify(elsewhere) });
    const r = await ai.batch.poll(h);
    assert.ok(r.done && r.results);
    assert.equal(
      r.results.map((x) => x.text),
      ["summary of doc a", "summary of doc b"],
    );
    assert.is(fake.count("GET /v1/messages/batches/msgbatch_1/results"), 1);
    assert.equal(fake.violations, []);
  } finally {
    await close();
  }
});

test("options are parsed strictly, with the documented defaults", () => {
  assert.throws(
    () => anthropicBatchProvider({ apiKey: KEY, anthropic_version: "2023-06-01" } as never),
    (e: Error) => e instanceof ValidationError && /anthropic_version/.test(e.message),
  );
  assert.is(anthropicBatchProvider({ apiKey: KEY }).name, "anthropic-batch");
});

test.run();
