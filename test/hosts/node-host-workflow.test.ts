// The node host driving a real kernel on in-memory adapters through the demo's 4-group workflow:
// pipe → parallel(2) → async-batch (suspends, resumes via checkCompletion) → pipe.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createStageIds } from "../../src/stages/index.js";
import { createNodeHost } from "../../src/hosts/index.js";
import { createKernel } from "../../src/kernel/create-kernel.js";
import { systemClock } from "../../src/ports/clock.js";
import { CollectingEventSink, InMemoryBlobStore, InMemoryJobQueue, InMemoryPersistence, NoopScheduler } from "../../src/testing/index.js";
import { createTranslationService, type TranslationService } from "../../demo/translation-service.js";
import { DOCUMENT_WORKFLOW_ID, createDocumentWorkflow } from "../../demo/workflow.js";

const corpus = {
  tiny: { title: "Tiny", text: "Queues deliver work. Workers finish work quickly. Engines remember work." },
};

function setup(translator: TranslationService = createTranslationService({ latencyMs: 60 }), maxConcurrentJobs = 1) {
  const workflow = createDocumentWorkflow({ translator, corpus });
  const sink = new CollectingEventSink();
  const jobTransport = new InMemoryJobQueue();
  const blobStore = new InMemoryBlobStore();
  const kernel = createKernel({
    persistence: new InMemoryPersistence(),
    blobStore,
    jobTransport,
    eventSink: sink,
    scheduler: new NoopScheduler(),
    clock: systemClock,
    registry: { getWorkflow: (id) => (id === workflow.id ? workflow : undefined) },
  });
  const host = createNodeHost({
    kernel,
    jobTransport,
    workerId: "it-1",
    orchestrationIntervalMs: 20,
    jobPollIntervalMs: 20,
    maxConcurrentJobs,
    handleSignals: false,
  });
  return { workflow, sink, kernel, host, jobTransport };
}

test("a 4-group workflow with an async-batch stage completes under the node host", async () => {
  const { workflow, sink, kernel, host } = setup();
  const ids = createStageIds(workflow);
  await host.start();
  try {
    const { workflowRunId } = await kernel.dispatch({
      type: "run.create",
      idempotencyKey: "it-1",
      workflowId: DOCUMENT_WORKFLOW_ID,
      input: { documentId: "tiny" },
    });
    const done = await sink.waitFor(
      (e) => e.workflowRunId === workflowRunId && (e.type === "workflow:completed" || e.type === "workflow:failed"),
      5_000,
    );
    assert.is(done.type, "workflow:completed", JSON.stringify(done.data));

    const expected = {
      title: "Tiny",
      words: 10,
      uniqueWords: 8,
      readingTimeSec: 3,
      topWords: ["work", "deliver", "engines", "finish", "queues"],
      summary: ["Queues deliver work.", "Engines remember work."],
      translation: { language: "pig-latin", sentences: ["Ueuesqay eliverday orkway.", "Enginesway ememberray orkway."] },
    };
    // The final group's output is persisted on the run and carried by workflow:completed.
    const view = await kernel.runs.get(workflowRunId);
    assert.is(view?.run.status, "COMPLETED");
    assert.equal(view?.run.output, expected);
    assert.equal(done.data.output, expected);
    assert.equal(view?.stages.map((s) => [s.stageId, s.status]).sort(), [
      [ids["fetch-document"], "COMPLETED"],
      [ids.report, "COMPLETED"],
      [ids.summarize, "COMPLETED"],
      [ids["translate-batch"], "COMPLETED"],
      [ids["word-stats"], "COMPLETED"],
    ]);

    const types = sink.events.filter((e) => e.workflowRunId === workflowRunId).map((e) => (e.stageId ? `${e.type}(${e.stageId})` : e.type));
    for (const t of [
      "stage:suspended(translate-batch)",
      "stage:resumed(translate-batch)",
      "stage:completed(word-stats)",
      "stage:completed(summarize)",
    ]) {
      assert.ok(types.includes(t), `missing ${t} in ${types.join(", ")}`);
    }
    // Order of the groups is respected: the report starts only after the batch resumed.
    assert.ok(types.indexOf("stage:resumed(translate-batch)") < types.indexOf("stage:started(report)"));
    assert.ok(types.indexOf("stage:completed(fetch-document)") < types.indexOf("stage:started(word-stats)"));
  } finally {
    await host.stop();
  }
  // Read after stop(): the last job's counters are bumped after its run.transition returns.
  const stats = host.getStats();
  assert.not.ok(stats.isRunning);
  assert.is(stats.jobsSuspended, 1);
  assert.is(stats.jobsCompleted, 4);
  assert.is(stats.jobsFailed, 0);
});

test("several runs complete side by side with concurrent job lanes", async () => {
  const { sink, kernel, host } = setup(createTranslationService({ latencyMs: 30 }), 3);
  await host.start();
  try {
    const runIds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await kernel.dispatch({
        type: "run.create",
        idempotencyKey: `many-${i}`,
        workflowId: DOCUMENT_WORKFLOW_ID,
        input: { documentId: "tiny" },
      });
      runIds.push(r.workflowRunId);
    }
    for (const id of runIds) {
      const e = await sink.waitFor(
        (ev) => ev.workflowRunId === id && (ev.type === "workflow:completed" || ev.type === "workflow:failed"),
        5_000,
      );
      assert.is(e.type, "workflow:completed");
    }
  } finally {
    await host.stop();
  }
  assert.is(host.getStats().jobsSuspended, 4);
});

test("a batch the external service lost fails the run with the stage's reason", async () => {
  const lost: TranslationService = { submit: async () => "batch-x", status: async () => ({ state: "unknown" }) };
  const { sink, kernel, host } = setup(lost);
  await host.start();
  try {
    const { workflowRunId } = await kernel.dispatch({
      type: "run.create",
      idempotencyKey: "lost",
      workflowId: DOCUMENT_WORKFLOW_ID,
      input: { documentId: "tiny" },
    });
    const e = await sink.waitFor(
      (ev) => ev.workflowRunId === workflowRunId && (ev.type === "workflow:completed" || ev.type === "workflow:failed"),
      5_000,
    );
    assert.is(e.type, "workflow:failed");
    const view = await kernel.runs.get(workflowRunId);
    assert.is(view?.run.status, "FAILED");
    assert.match(String(view?.run.error), /batch-x is unknown/);
    assert.is(
      view?.stages.find((s) => s.stageId === "report"),
      undefined,
      "the report never started",
    );
  } finally {
    await host.stop();
  }
});

test("a NonRetryableStageError fails the run on its first attempt", async () => {
  const { sink, kernel, host } = setup();
  await host.start();
  try {
    const { workflowRunId } = await kernel.dispatch({
      type: "run.create",
      idempotencyKey: "missing",
      workflowId: DOCUMENT_WORKFLOW_ID,
      input: { documentId: "missing" },
    });
    const e = await sink.waitFor(
      (ev) => ev.workflowRunId === workflowRunId && (ev.type === "workflow:completed" || ev.type === "workflow:failed"),
      5_000,
    );
    assert.is(e.type, "workflow:failed");
    assert.match(String(e.data.error), /no document "missing"/);
    assert.is(sink.events.filter((ev) => ev.workflowRunId === workflowRunId && ev.type === "stage:retrying").length, 0);
    const view = await kernel.runs.get(workflowRunId);
    assert.is(view?.stages.find((s) => s.stageId === "fetch-document")?.attempt, 1);
  } finally {
    await host.stop();
  }
});

test.run();
