// Batches that outlive the orchestrator that submitted them, and AI calls made on a remote
// worker: both are recorded exactly once with the stage outcome.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { MockLanguageModelV3 } from "ai/test";
import { createKernel } from "../../src/kernel/create-kernel.js";
import { LogBuffer } from "../../src/kernel/buffers.js";
import { createDeps } from "../../src/kernel/deps.js";
import { InMemoryPersistence } from "../../src/testing/index.js";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { defineRemoteStage } from "../../src/remote/remote-stage.js";
import {
  type AIBatchHandle,
  type AIBatchProvider,
  type AIBatchRequest,
  type AIBatchStatus,
  createAIHelper,
  registerBatchProvider,
} from "../../src/ai/index.js";
import { driver, stage, workflow } from "../kernel/support/harness.js";
import { TestBlobs, TestClock, TestQueue, TestSink } from "../kernel/support/fakes.js";
import { makeFixture, until } from "../remote/helpers/fixture.js";
import type { ReportMessage } from "../../src/contract/tasks.js";

/** A provider batch endpoint held outside any orchestrator (as the real one is). */
class FakeBatchEndpoint implements AIBatchProvider {
  readonly name = "fake-openai-batch";
  readonly provider = "openai";
  readonly batches = new Map<string, { requests: AIBatchRequest[]; done: boolean }>();
  polls = 0;
  async submit(requests: AIBatchRequest[]) {
    const batchId = `batch_${this.batches.size + 1}`;
    this.batches.set(batchId, { requests, done: false });
    return { batchId };
  }
  async poll(batchId: string): Promise<AIBatchStatus> {
    this.polls++;
    const b = this.batches.get(batchId);
    if (!b) return { status: "failed", error: `no batch ${batchId}` };
    if (!b.done) return { status: "pending", completed: 0, total: b.requests.length };
    return {
      status: "completed",
      results: b.requests.map((r) => ({
        customId: r.customId,
        text: `summary of ${r.prompt}`,
        usage: { inputTokens: 1000, outputTokens: 100 },
      })),
    };
  }
}

test("a batch submitted by one orchestrator is collected by a fresh one after a restart; results recorded once at batch price", async () => {
  const endpoint = new FakeBatchEndpoint();
  const undo = registerBatchProvider(endpoint);
  try {
    const summarize = stage({
      id: "summarize",
      output: z.object({ summaries: z.array(z.string()) }),
      execute: async (ctx) => {
        const handle = await createAIHelper(ctx).batch.submit(
          "fake-openai-batch",
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
    // Shared durable state: the database, the job queue and the blob store outlive orchestrators.
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
    // The first orchestrator is gone; the provider finishes the batch meanwhile.
    endpoint.batches.get("batch_1")!.done = true;
    const second = boot();
    clock.advance(1000);
    const res = await second.dispatch({ type: "stage.pollSuspended" });
    assert.equal([res.resumed, res.resumedRunIds], [1, [id]]);
    const view = (await second.runs.get(id))!;
    assert.is(view.run.status, "COMPLETED");
    assert.equal(view.run.output, { summaries: ["summary of a", "summary of b"] });
    const calls = await persistence.listAICalls(`workflow.${id}.`);
    assert.equal(
      calls.map((c) => [c.callType, c.model, c.inputTokens, c.outputTokens]),
      [
        ["batch", "gpt-4o-mini", 1000, 100],
        ["batch", "gpt-4o-mini", 1000, 100],
      ],
    );
    // Half the regular price (batchMultiplier 0.5 in the catalogue).
    const each = ((1000 * 0.15 + 100 * 0.6) / 1e6) * 0.5;
    assert.ok(Math.abs(calls[0]!.cost! - each) < 1e-12);
    assert.is(endpoint.polls, 2);
  } finally {
    undo();
  }
});

test("a remote stage's AI calls travel in the worker's report and are stored once, though the report is redelivered and the outcome replayed", async () => {
  const f = await makeFixture();
  const model = new MockLanguageModelV3({
    provider: "openai.chat",
    modelId: "gpt-4o-mini",
    doGenerate: async () =>
      ({
        content: [{ type: "text", text: "ok" }],
        finishReason: { unified: "stop", raw: "stop" },
        usage: {
          inputTokens: { total: 500, noCache: 500, cacheRead: 0, cacheWrite: 0 },
          outputTokens: { total: 20, text: 20, reasoning: 0 },
        },
        warnings: [],
      }) as never,
  });
  const heavy = stage({
    id: "heavy",
    input: "none",
    output: z.object({ texts: z.array(z.string()) }),
    execute: async (ctx) => {
      const ai = createAIHelper(ctx, { budget: { perRunUsd: 1 } });
      const a = await ai.generateText({ model, prompt: "1" });
      const b = await ai.generateText({ model, prompt: "2" });
      return { output: { texts: [a.text, b.text] } };
    },
  });
  const remote = defineRemoteStage(heavy, f.broker, { queue: "q", stageCodeVersion: "v1", pollIntervalMs: 1000, shipAISpend: true });
  const wf = workflow("wf", [remote]);
  // Every report is published twice, as a redelivered publish would be.
  const transport = f.transport.worker;
  const sent: ReportMessage[] = [];
  const report = transport.report.bind(transport);
  transport.report = async (lease, msg) => {
    sent.push(msg);
    await report(lease, msg);
    await report(lease, msg);
  };
  const clock = new TestClock();
  const persistence = new InMemoryPersistence();
  const queue = new TestQueue(clock);
  const deps = {
    persistence,
    blobStore: new TestBlobs(),
    jobTransport: queue,
    eventSink: new TestSink(),
    scheduler: { schedule: async () => {} },
    clock,
    registry: { getWorkflow: (id: string) => (id === wf.id ? wf : undefined) },
  };
  const kernel = createKernel(deps);
  const d = driver(kernel, queue);
  const id = await d.create("wf", {});
  await d.drain();
  const worker = createActivityWorker({
    transport,
    queue: "q",
    stageCodeVersion: "v1",
    registry: { heavy },
    workerId: "w",
    pollWaitMs: 50,
  });
  worker.start();
  try {
    const taskId = `${id}.heavy.1`;
    await until(async () => (await f.broker.getOutcome(taskId))?.status === "completed", 10_000, "the worker's report");
  } finally {
    await worker.stop();
  }
  assert.is(sent.length, 1);
  assert.is(sent[0]!.aiCalls?.length, 2);
  clock.advance(1000);
  assert.is((await kernel.dispatch({ type: "stage.pollSuspended" })).resumed, 1);
  assert.is((await kernel.runs.get(id))!.run.status, "COMPLETED");
  // A second replay of the same outcome (a poller whose commit was lost re-checks it) adds nothing.
  const logs = new LogBuffer(
    createDeps(deps, async () => ({}) as never),
    id,
    "heavy",
  );
  const again = await remote.checkCompletion!(
    { taskId: `${id}.heavy.1`, codeVersion: "v1", submittedAt: "" },
    {
      workflowRunId: id,
      workflowId: "wf",
      stageId: "heavy",
      config: {},
      log: logs.log,
      annotate: (() => {}) as never,
      signal: new AbortController().signal,
      ai: logs.ai,
    },
  );
  assert.is(again.ready, true);
  await persistence.transaction((tx) => logs.flush(tx));
  const calls = await persistence.listAICalls(`workflow.${id}.`);
  assert.equal(
    calls.map((c) => [c.topic, c.model, c.inputTokens, c.outputTokens, c.meta?.status]),
    [
      [`workflow.${id}.stage.heavy`, "gpt-4o-mini", 500, 20, "ok"],
      [`workflow.${id}.stage.heavy`, "gpt-4o-mini", 500, 20, "ok"],
    ],
  );
  const [sum] = await persistence.summarizeAICalls({ by: "stage", topicPrefix: `workflow.${id}.` });
  assert.ok(Math.abs(sum!.cost - (2 * (500 * 0.15 + 20 * 0.6)) / 1e6) < 1e-12);
  await f.close();
});

test.run();
