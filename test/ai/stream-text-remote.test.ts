// streamText on a remote worker: a stream consumed to the end and one the stage left unread both
// travel in the attempt's report (the unread one as aborted), and are stored with the outcome.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { simulateReadableStream } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { createKernel } from "../../src/kernel/create-kernel.js";
import { InMemoryPersistence } from "../../src/testing/index.js";
import { createActivityWorker } from "../../worker-sdk/index.js";
import { defineRemoteStage } from "../../src/remote/remote-stage.js";
import { createAIHelper } from "../../src/ai/index.js";
import { driver, stage, workflow } from "../kernel/support/harness.js";
import { TestBlobs, TestClock, TestQueue, TestSink } from "../kernel/support/fakes.js";
import { makeFixture, until } from "../remote/helpers/fixture.js";
import type { ReportMessage } from "../../src/contract/tasks.js";

const model = (modelId: string, chunkDelayInMs: number) =>
  new MockLanguageModelV3({
    provider: "openai.chat",
    modelId,
    doStream: async () => ({
      stream: simulateReadableStream({
        chunkDelayInMs,
        chunks: [
          { type: "text-start", id: "t" },
          { type: "text-delta", id: "t", delta: "streamed" },
          { type: "text-end", id: "t" },
          {
            type: "finish",
            finishReason: { unified: "stop", raw: "stop" },
            usage: {
              inputTokens: { total: 500, noCache: 500, cacheRead: 0, cacheWrite: 0 },
              outputTokens: { total: 20, text: 20, reasoning: 0 },
            },
          },
        ],
      }) as never,
    }),
  });

test("a remote stage's streams are in the worker's report: the consumed one with tokens and cost, the unread one as aborted", async () => {
  const f = await makeFixture();
  const heavy = stage({
    id: "heavy",
    input: "none",
    output: z.object({ text: z.string() }),
    execute: async (ctx) => {
      const ai = createAIHelper(ctx);
      const read = await ai.streamText({ model: model("gpt-4o-mini", 0), prompt: "1" });
      let text = "";
      for await (const t of read.textStream) text += t;
      // Started and never read: the worker must not send its report without it.
      await ai.streamText({ model: model("gpt-4o", 50), prompt: "2" });
      return { output: { text } };
    },
  });
  const remote = defineRemoteStage(heavy, f.broker, { queue: "q", stageCodeVersion: "v1", pollIntervalMs: 1000 });
  const wf = workflow("wf", [remote]);
  const transport = f.transport.worker;
  const sent: ReportMessage[] = [];
  const report = transport.report.bind(transport);
  transport.report = async (lease, msg) => {
    sent.push(msg);
    await report(lease, msg);
  };
  const clock = new TestClock();
  const persistence = new InMemoryPersistence();
  const queue = new TestQueue(clock);
  const kernel = createKernel({
    persistence,
    blobStore: new TestBlobs(),
    jobTransport: queue,
    eventSink: new TestSink(),
    scheduler: { schedule: async () => {} },
    clock,
    registry: { getWorkflow: (id: string) => (id === wf.id ? wf : undefined) },
  });
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
    await until(async () => (await f.broker.getOutcome(`${id}.heavy.1`))?.status === "completed", 10_000, "the worker's report");
  } finally {
    await worker.stop();
  }
  assert.equal(
    sent[0]!.aiCalls?.map((c) => [c.callType, c.model, c.status, c.inputTokens]),
    [
      ["streamText", "gpt-4o-mini", "ok", 500],
      ["streamText", "gpt-4o", "error", 0],
    ],
  );
  assert.match(sent[0]!.aiCalls![1]!.error ?? "", /had not finished when the stage's attempt ended/);
  clock.advance(1000);
  assert.is((await kernel.dispatch({ type: "stage.pollSuspended" })).resumed, 1);
  const calls = await persistence.listAICalls(`workflow.${id}.`);
  assert.equal(
    calls.map((c) => [c.model, c.meta?.status]),
    [
      ["gpt-4o-mini", "ok"],
      ["gpt-4o", "error"],
    ],
  );
  assert.ok(Math.abs(calls[0]!.cost! - (500 * 0.15 + 20 * 0.6) / 1e6) < 1e-12);
  await f.close();
});

test.run();
