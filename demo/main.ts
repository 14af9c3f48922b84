/**
 * `npm run demo`: runs the document-report workflow end to end on a node host with in-memory
 * adapters, printing progress from the events as they are published, then the final report.
 */
import { randomUUID } from "node:crypto";
import { createNodeHost } from "../src/hosts/index.js";
import { createKernel } from "../src/kernel/create-kernel.js";
import { systemClock } from "../src/ports/clock.js";
import { CollectingEventSink, InMemoryBlobStore, InMemoryJobQueue, InMemoryPersistence, NoopScheduler } from "../src/testing/index.js";
import { createProgressPrinter } from "./progress-printer.js";
import { createTranslationService } from "./translation-service.js";
import { DOCUMENT_WORKFLOW_ID, createDocumentWorkflow } from "./workflow.js";

const RUN_TIMEOUT_MS = 10_000;

async function main(): Promise<number> {
  const documentId = process.argv[2] ?? "durable-execution";
  const workflow = createDocumentWorkflow({ translator: createTranslationService({ latencyMs: 300 }) });
  const events = new CollectingEventSink();
  const jobTransport = new InMemoryJobQueue();
  const kernel = createKernel({
    persistence: new InMemoryPersistence(),
    blobStore: new InMemoryBlobStore(),
    jobTransport,
    eventSink: createProgressPrinter(events),
    scheduler: new NoopScheduler(),
    clock: systemClock,
    registry: { getWorkflow: (id) => (id === workflow.id ? workflow : undefined) },
  });
  // Short intervals so the demo finishes in about a second; production keeps the defaults.
  const host = createNodeHost({
    kernel,
    jobTransport,
    workerId: "demo-worker",
    orchestrationIntervalMs: 50,
    jobPollIntervalMs: 50,
    maxConcurrentJobs: 2,
  });

  console.log(`jetflow demo: workflow "${DOCUMENT_WORKFLOW_ID}" on document "${documentId}"`);
  for (const g of workflow.getExecutionPlan()) {
    console.log(
      `  group ${g.groupIndex}${g.parallel ? " (parallel)" : ""}: ${g.stages.map((s) => `${s.id}${s.mode === "async-batch" ? " [async-batch]" : ""}`).join(", ")}`,
    );
  }
  await host.start();
  try {
    const { workflowRunId } = await kernel.dispatch({
      type: "run.create",
      idempotencyKey: randomUUID(),
      workflowId: DOCUMENT_WORKFLOW_ID,
      input: { documentId },
    });
    const end = await events.waitFor(
      (e) => e.workflowRunId === workflowRunId && (e.type === "workflow:completed" || e.type === "workflow:failed"),
      RUN_TIMEOUT_MS,
    );
    const view = await kernel.runs.get(workflowRunId);
    if (end.type === "workflow:failed" || view?.run.status !== "COMPLETED") {
      console.error(`run ${workflowRunId} did not complete: ${view?.run.error ?? JSON.stringify(end.data)}`);
      return 1;
    }
    console.log("\nfinal report (persisted run output):");
    console.log(JSON.stringify(view.run.output, null, 2));
    const stats = host.getStats();
    console.log(`\nhost: ${stats.jobsProcessed} jobs, ${stats.orchestrationTicks} orchestration ticks, up ${stats.uptimeMs} ms`);
    return 0;
  } finally {
    await host.stop();
    await jobTransport.close?.();
  }
}

// No process.exit: the process ends on its own once the host stopped, which proves nothing leaks.
main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
