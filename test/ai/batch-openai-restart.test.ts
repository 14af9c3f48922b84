// End to end: an async-batch stage using createAIHelper(ctx).batch with the real OpenAI HTTP client
// runs through the kernel, and the batch one orchestrator submitted is collected by the next one
// (a new process: the provider registered again under the same name) against a local OpenAI stand-in.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { createKernel } from "../../src/kernel/create-kernel.js";
import { InMemoryPersistence } from "../../src/testing/index.js";
import { type AIBatchHandle, createAIHelper, openAIBatchProvider, registerBatchProvider } from "../../src/ai/index.js";
import { driver, stage, workflow } from "../kernel/support/harness.js";
import { TestBlobs, TestClock, TestQueue, TestSink } from "../kernel/support/fakes.js";
import { FakeOpenAI } from "./support/fake-batch-apis.js";

const KEY = "sk-e2e-key";

test("a batch submitted through the OpenAI client survives an orchestrator restart; results recorded once at batch price", async () => {
  const fake = await new FakeOpenAI(KEY).start();
  fake.plan = { statuses: ["in_progress", "completed"] };
  // What an orchestrator does at start: register its batch providers.
  const registerAtStart = () =>
    registerBatchProvider(openAIBatchProvider({ apiKey: KEY, baseURL: `${fake.url}/v1`, name: "openai-batch" }));
  let undo = registerAtStart();
  try {
    const summarize = stage({
      id: "summarize",
      output: z.object({ summaries: z.array(z.string()) }),
      execute: async (ctx) => {
        const handle = await createAIHelper(ctx).batch.submit(
          "openai-batch",
          ["a", "b"].map((d) => ({ customId: d, model: "gpt-4o-mini", prompt: d })),
        );
        return { suspended: true, state: handle, pollConfig: { pollInterval: 1000, maxWaitTime: 86_400_000 } };
      },
      checkCompletion: async (handle: AIBatchHandle, ctx) => {
        const r = await createAIHelper(ctx).batch.poll(handle);
        if (!r.done) return { ready: false, nextCheckIn: 1000 };
        if (r.error !== undefined) return { ready: false, error: r.error };
        return { ready: true, output: { summaries: r.results.map((x) => x.text ?? "") } };
      },
    });
    const wf = workflow("batch-wf", [summarize]);
    // Durable state shared by both orchestrators: database, job queue, blob store.
    const clock = new TestClock();
    const persistence = new InMemoryPersistence();
    const queue = new TestQueue(clock);
    const blobs = new TestBlobs();
    const boot = () =>
      createKernel({
        persistence,
        blobStore: blobs,
        jobTransport: queue,
        eventSink: new TestSink(),
        scheduler: { schedule: async () => {} },
        clock,
        registry: { getWorkflow: (id) => (id === wf.id ? wf : undefined) },
      });
    const first = boot();
    const d1 = driver(first, queue);
    const id = await d1.create("batch-wf", {});
    const [r] = await d1.drain();
    assert.is(r?.outcome, "suspended");
    clock.advance(1000);
    assert.is((await first.dispatch({ type: "stage.pollSuspended" })).resumed, 0);
    // The first orchestrator process is gone, with its provider registration.
    undo();
    undo = registerAtStart();
    const second = boot();
    clock.advance(1000);
    const res = await second.dispatch({ type: "stage.pollSuspended" });
    assert.equal([res.resumed, res.resumedRunIds], [1, [id]]);
    const view = (await second.runs.get(id))!;
    assert.is(view.run.status, "COMPLETED");
    assert.equal(view.run.output, { summaries: ["summary of a", "summary of b"] });
    const calls = await persistence.listAICalls(`workflow.${id}.`);
    assert.equal(
      calls.map((c) => [c.callType, c.model, c.meta?.provider, c.inputTokens, c.outputTokens]),
      [
        ["batch", "gpt-4o-mini", "openai", 1000, 100],
        ["batch", "gpt-4o-mini", "openai", 1000, 100],
      ],
    );
    const each = ((1000 * 0.15 + 100 * 0.6) / 1e6) * 0.5;
    assert.ok(calls.every((c) => Math.abs(c.cost! - each) < 1e-12));
    assert.equal(fake.log, [
      "POST /v1/files",
      "POST /v1/batches",
      "GET /v1/batches/batch_1",
      "GET /v1/batches/batch_1",
      "GET /v1/files/file-output-batch_1/content",
    ]);
    assert.equal(fake.violations, []);
  } finally {
    undo();
    await fake.close();
  }
});

test.run();
