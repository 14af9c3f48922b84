// The serverless host driving a real kernel on in-memory adapters, the way a cron + queue
// function would: maintenance ticks and job batches, with time moved by a FakeClock (no waiting).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createServerlessHost } from "../../src/hosts/index.js";
import { createKernel } from "../../src/kernel/create-kernel.js";
import {
  CollectingEventSink,
  FakeClock,
  InMemoryBlobStore,
  InMemoryJobQueue,
  InMemoryPersistence,
  NoopScheduler,
} from "../../src/testing/index.js";
import { createTranslationService } from "../../demo/translation-service.js";
import { DOCUMENT_WORKFLOW_ID, createDocumentWorkflow } from "../../demo/workflow.js";

test("maintenance ticks and job batches drive the 4-group workflow to completion", async () => {
  const clock = new FakeClock();
  const translator = createTranslationService({ latencyMs: 5_000, now: () => clock.now().getTime() });
  const workflow = createDocumentWorkflow({ translator, corpus: { d: { title: "D", text: "One two three. Four five six." } } });
  const sink = new CollectingEventSink();
  const jobTransport = new InMemoryJobQueue({ clock });
  const kernel = createKernel({
    persistence: new InMemoryPersistence(),
    blobStore: new InMemoryBlobStore(),
    jobTransport,
    eventSink: sink,
    scheduler: new NoopScheduler(),
    clock,
    registry: { getWorkflow: (id) => (id === workflow.id ? workflow : undefined) },
  });
  const host = createServerlessHost({ kernel, jobTransport, workerId: "fn" });
  const { workflowRunId } = await kernel.dispatch({
    type: "run.create",
    idempotencyKey: "sls",
    workflowId: DOCUMENT_WORKFLOW_ID,
    input: { documentId: "d" },
  });

  const ticks = [];
  let processed = 0;
  for (let round = 0; round < 20; round++) {
    ticks.push(await host.runMaintenanceTick());
    processed += (await host.processAvailableJobs({ maxJobs: 10 })).processed;
    if (sink.ofType("workflow:completed").length > 0) break;
    clock.advance(1_000); // the batch finishes 5 s of (fake) time after submission
  }
  const view = await kernel.runs.get(workflowRunId);
  assert.is(view?.run.status, "COMPLETED", view?.run.error ?? "");
  assert.equal((view?.run.output as { translation: unknown }).translation, {
    language: "pig-latin",
    sentences: ["Oneway otway eethray.", "Ourfay ivefay ixsay."],
  });
  assert.is(processed, 5, "fetch, two parallel stages, the batch's first execution, report");
  assert.is(ticks[0]!.claimed, 1);
  assert.ok(ticks.every((t) => t.errors.length === 0));
  assert.ok(
    ticks.some((t) => t.suspendedChecked > 0),
    "the suspended batch was polled",
  );
  assert.is(sink.ofType("stage:resumed").length, 1);
});

test.run();
