// openAIBatchProvider against a strict local stand-in of the OpenAI Files + Batches API: what a
// user sees from submit and poll (results, recorded cost, failures, typed errors, retries).
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  AIBatchProviderError,
  createAIHelper,
  openAIBatchProvider,
  registerBatchProvider,
  type AIBatchHandle,
} from "../../src/ai/index.js";
import type { AIRecorder, ReportAICall } from "../../src/contract/ai-calls.js";
import { ValidationError } from "../../src/contract/errors.js";
import { FakeOpenAI, openAICompletionLine } from "./support/fake-batch-apis.js";

const KEY = "sk-test-secret-key-123";

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
  const fake = await new FakeOpenAI(KEY).start();
  const provider = openAIBatchProvider({
    apiKey: KEY,
    baseURL: `${fake.url}/v1`,
    name: "oa-test",
    minRetryDelayMs: 1,
    maxRetryDelayMs: 20,
    ...opts,
  });
  const undo = registerBatchProvider(provider);
  const rec = recorder();
  const ai = createAIHelper(rec);
  const close = async () => {
    undo();
    await fake.close();
  };
  return { fake, provider, rec, ai, close };
}

const two = [
  { customId: "a", model: "gpt-4o-mini", system: "Be brief.", prompt: "doc a", maxOutputTokens: 50 },
  { customId: "b", model: "gpt-4o-mini", prompt: "doc b" },
];

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.unreachable("expected a rejection");
}

test("a chat batch is uploaded as JSONL, pending twice, then completed: two results priced at the batch price", async () => {
  const { fake, rec, ai, close } = await setup();
  try {
    fake.plan = {
      statuses: ["in_progress", "finalizing", "completed"],
      answer: (r) => ({
        file: "output",
        line: openAICompletionLine(
          r,
          r.customId === "a" ? { prompt: 1000, completion: 100, cached: 400 } : { prompt: 2000, completion: 50, cached: 0 },
        ),
      }),
    };
    const handle: AIBatchHandle = await ai.batch.submit("oa-test", two);
    assert.is(handle.provider, "oa-test");
    assert.is(handle.batchId, "batch_1");
    const input = fake.files.get("file-1") as { requests: unknown[] };
    assert.equal(input.requests, [
      { customId: "a", model: "gpt-4o-mini", prompt: "doc a", system: "Be brief.", maxTokens: 50 },
      { customId: "b", model: "gpt-4o-mini", prompt: "doc b" },
    ]);
    assert.equal(await ai.batch.poll(handle), { done: false, completed: 0, total: 2 });
    assert.equal(await ai.batch.poll(handle), { done: false, completed: 0, total: 2 });
    assert.is(rec.calls.length, 0);
    const r = await ai.batch.poll(handle);
    assert.ok(r.done && r.results);
    assert.equal(
      r.results.map((x) => [x.customId, x.text, x.usage]),
      [
        ["a", "summary of doc a", { inputTokens: 1000, outputTokens: 100, cachedInputTokens: 400 }],
        ["b", "summary of doc b", { inputTokens: 2000, outputTokens: 50, cachedInputTokens: 0 }],
      ],
    );
    // gpt-4o-mini: $0.15 in, $0.075 cached in, $0.6 out per 1M; batchMultiplier 0.5. The answer's
    // dated model id is not used for pricing (the catalogue would not know it).
    const costA = ((600 * 0.15 + 400 * 0.075 + 100 * 0.6) / 1e6) * 0.5;
    const costB = ((2000 * 0.15 + 50 * 0.6) / 1e6) * 0.5;
    assert.equal(
      rec.calls.map((c) => [c.key, c.call.callType, c.call.model, c.call.status]),
      [
        ["batch:batch_1:a", "batch", "gpt-4o-mini", "ok"],
        ["batch:batch_1:b", "batch", "gpt-4o-mini", "ok"],
      ],
    );
    assert.ok(Math.abs(rec.calls[0]!.call.cost! - costA) < 1e-12, `cost a ${rec.calls[0]!.call.cost}`);
    assert.ok(Math.abs(rec.calls[1]!.call.cost! - costB) < 1e-12, `cost b ${rec.calls[1]!.call.cost}`);
    assert.equal(fake.violations, []);
    assert.equal(fake.log, [
      "POST /v1/files",
      "POST /v1/batches",
      "GET /v1/batches/batch_1",
      "GET /v1/batches/batch_1",
      "GET /v1/batches/batch_1",
      "GET /v1/files/file-output-batch_1/content",
    ]);
  } finally {
    await close();
  }
});

test("a request that failed inside a completed batch keeps its error; the others their text", async () => {
  const { fake, rec, ai, close } = await setup();
  try {
    fake.plan = {
      statuses: ["completed"],
      answer: (r) =>
        r.customId === "b"
          ? {
              file: "error",
              line: {
                id: "batch_req_b",
                custom_id: "b",
                response: {
                  status_code: 400,
                  request_id: "req_b",
                  body: { error: { message: "Invalid model", type: "invalid_request_error" } },
                },
                error: null,
              },
            }
          : { file: "output", line: openAICompletionLine(r) },
    };
    const r = await ai.batch.poll(await ai.batch.submit("oa-test", two));
    assert.ok(r.done && r.results);
    assert.equal(
      r.results.map((x) => [x.customId, x.text, x.error]),
      [
        ["a", "summary of doc a", undefined],
        ["b", undefined, "HTTP 400: Invalid model"],
      ],
    );
    assert.equal(
      rec.calls.map((c) => [c.call.status, c.call.error]),
      [
        ["ok", undefined],
        ["error", "HTTP 400: Invalid model"],
      ],
    );
    assert.equal(fake.violations, []);
  } finally {
    await close();
  }
});

test("a failed or expired batch polls as done with the provider's reason, and records nothing", async () => {
  const { fake, rec, ai, close } = await setup();
  try {
    fake.plan = {
      statuses: ["failed"],
      extra: {
        errors: {
          object: "list",
          data: [{ code: "invalid_json_line", message: "This line is not parseable as valid JSON.", line: 2, param: null }],
        },
      },
    };
    const failed = await ai.batch.poll(await ai.batch.submit("oa-test", two));
    assert.equal(failed, { done: true, error: "OpenAI batch batch_1 failed: line 2: This line is not parseable as valid JSON." });
    fake.plan = { statuses: ["in_progress", "expired"] };
    const h = await ai.batch.submit("oa-test", two);
    assert.is((await ai.batch.poll(h)).done, false);
    const expired = await ai.batch.poll(h);
    assert.equal(expired, { done: true, error: "OpenAI batch batch_2 expired before completing (0 of 2 requests had completed)" });
    assert.is(rec.calls.length, 0);
    assert.equal(fake.violations, []);
  } finally {
    await close();
  }
});

test("a malformed provider response is a typed error naming provider and endpoint, never a wrong result", async () => {
  const { fake, rec, ai, close } = await setup({ retries: 0 });
  try {
    const h = await ai.batch.submit("oa-test", two);
    fake.faults.push({ method: "GET", path: /^\/v1\/batches\//, body: JSON.stringify({ id: "batch_1", status: "exploded" }) });
    const e = await rejection(ai.batch.poll(h));
    assert.instance(e, AIBatchProviderError);
    const err = e as AIBatchProviderError;
    assert.equal([err.provider, err.endpoint, err.kind, err.retryable], ["openai", "GET /v1/batches/batch_1", "malformed", false]);
    assert.match(err.message, /^openai batch API GET \/v1\/batches\/batch_1 answered a malformed response: status: /);
    // An output line whose completion lacks its usage is refused too (its cost would be wrong).
    fake.plan = {
      statuses: ["completed"],
      answer: (r) => ({ file: "output", line: { ...openAICompletionLine(r), response: { status_code: 200, body: { choices: [] } } } }),
    };
    const e2 = await rejection(ai.batch.poll(await ai.batch.submit("oa-test", two)));
    assert.instance(e2, AIBatchProviderError);
    assert.match(
      (e2 as Error).message,
      /GET \/v1\/files\/file-output-batch_2\/content answered a malformed response: custom_id a: not a chat completion/,
    );
    fake.faults.push({ method: "GET", path: /^\/v1\/batches\//, body: "<html>gateway</html>" });
    assert.match(String(await rejection(ai.batch.poll(h))), /malformed response: not JSON: "<html>gateway<\/html>"/);
    assert.is(rec.calls.length, 0);
    assert.equal(fake.violations, []);
  } finally {
    await close();
  }
});

test("an HTTP error carries the status and the provider's message, never the API key", async () => {
  const fake = await new FakeOpenAI(KEY).start();
  try {
    const wrong = openAIBatchProvider({ apiKey: "sk-wrong-key-456", baseURL: `${fake.url}/v1`, retries: 0 });
    fake.faults.push({
      method: "POST",
      path: /^\/v1\/files$/,
      status: 401,
      body: JSON.stringify({ error: { message: "Incorrect API key provided: sk-wrong-key-456." } }),
    });
    const e = (await rejection(wrong.submit(two, {}))) as AIBatchProviderError;
    assert.instance(e, AIBatchProviderError);
    assert.equal([e.status, e.kind, e.retryable, e.endpoint], [401, "http", false, "POST /v1/files"]);
    assert.is(e.message, "openai batch API POST /v1/files answered HTTP 401: Incorrect API key provided: [redacted].");
    assert.not.match(JSON.stringify({ m: e.message, d: e.data }), "sk-wrong-key-456");
  } finally {
    await fake.close();
  }
});

test("429 and 5xx are retried with backoff (Retry-After honoured) until the provider answers; exhausted retries surface the status", async () => {
  const { fake, ai, provider, close } = await setup({ retries: 2 });
  try {
    fake.faults.push(
      {
        method: "POST",
        path: /^\/v1\/batches$/,
        status: 429,
        headers: { "retry-after": "0" },
        body: JSON.stringify({ error: { message: "Rate limit reached" } }),
      },
      { method: "GET", path: /^\/v1\/batches\//, status: 503, body: JSON.stringify({ error: { message: "overloaded" } }) },
    );
    const h = await ai.batch.submit("oa-test", two);
    assert.is(fake.count("POST /v1/batches"), 2);
    assert.is(fake.count("POST /v1/files"), 1);
    assert.equal(await ai.batch.poll(h), { done: false, completed: 0, total: 2 });
    assert.is(fake.count("GET /v1/batches/batch_1"), 2);
    for (let i = 0; i < 3; i++)
      fake.faults.push({ method: "GET", path: /^\/v1\/batches\//, status: 500, body: JSON.stringify({ error: { message: "boom" } }) });
    const e = (await rejection(provider.poll("batch_1", {}))) as AIBatchProviderError;
    assert.equal([e.status, e.retryable, e.code], [500, true, "UNAVAILABLE"]);
    assert.match(e.message, /GET \/v1\/batches\/batch_1 answered HTTP 500: boom/);
    assert.is(fake.count("GET /v1/batches/batch_1"), 5);
    assert.equal(fake.violations, []);
  } finally {
    await close();
  }
});

test("a request that gets no answer ends at the timeout as a typed, retryable error", async () => {
  const { fake, provider, close } = await setup({ retries: 0, timeoutMs: 300 });
  try {
    fake.faults.push({ method: "GET", path: /^\/v1\/batches\//, hang: true });
    const e = (await rejection(provider.poll("batch_9", {}))) as AIBatchProviderError;
    assert.instance(e, AIBatchProviderError);
    assert.equal([e.kind, e.retryable], ["timeout", true]);
    assert.match(e.message, /GET \/v1\/batches\/batch_9 timed out: no answer within 300 ms/);
  } finally {
    await close();
  }
});

test("a read is retried after a timeout, a create is not (it may have arrived: a second batch would be billed)", async () => {
  const { fake, ai, provider, close } = await setup({ retries: 2, timeoutMs: 300 });
  try {
    fake.faults.push({ method: "POST", path: /^\/v1\/batches$/, hang: true });
    const e = (await rejection(ai.batch.submit("oa-test", two))) as AIBatchProviderError;
    assert.equal([e.kind, e.endpoint], ["timeout", "POST /v1/batches"]);
    assert.is(fake.count("POST /v1/batches"), 1);
    await ai.batch.submit("oa-test", two);
    fake.faults.push({ method: "GET", path: /^\/v1\/batches\//, hang: true });
    assert.equal((await provider.poll("batch_1", {})).status, "pending");
    assert.is(fake.count("GET /v1/batches/batch_1"), 2);
    assert.equal(fake.violations, []);
  } finally {
    await close();
  }
});

test("Retry-After is honoured up to maxRetryDelayMs", async () => {
  const { fake, ai, close } = await setup({ retries: 1, minRetryDelayMs: 1, maxRetryDelayMs: 5_000 });
  try {
    fake.faults.push({ method: "POST", path: /^\/v1\/files$/, status: 429, headers: { "retry-after": "1" }, body: "{}" });
    const t0 = performance.now();
    await ai.batch.submit("oa-test", two);
    // Without Retry-After the backoff would be about 1 ms.
    assert.ok(performance.now() - t0 >= 950, `waited ${performance.now() - t0} ms`);
    assert.is(fake.count("POST /v1/files"), 2);
  } finally {
    await close();
  }
});

test("options are parsed strictly: a misspelt option or a missing key is refused", () => {
  assert.throws(
    () => openAIBatchProvider({ apiKey: KEY, baseUrl: "http://x" } as never),
    (e: Error) => e instanceof ValidationError && /baseUrl/.test(e.message),
  );
  assert.throws(
    () => openAIBatchProvider({} as never),
    (e: Error) => e instanceof ValidationError && /apiKey/.test(e.message),
  );
  assert.is(openAIBatchProvider({ apiKey: KEY }).name, "openai-batch");
});

test.run();
