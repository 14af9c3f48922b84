/**
 * A kernel orchestrator for integration/remote tests: kernel state and jobs in Postgres, driven by
 * a node host, with one remote stage wrapped by `defineRemoteStage` over a given broker and the
 * kernel's cancel hook wired to `broker.cancelRun` (what a production orchestrator does).
 */
import { z } from "zod";
import type postgres from "postgres";
import { createKernel, createNodeHost, defineRemoteStage, WorkflowBuilder, type Kernel } from "../../src/index.js";
import type { AnyStage } from "../../src/contract/stage-types.js";
import type { Broker } from "../../src/remote/index.js";
import { systemClock } from "../../src/ports/clock.js";
import { CollectingEventSink, InMemoryBlobStore, NoopScheduler } from "../../src/testing/index.js";
import { createPostgresJobTransport, createPostgresPersistence } from "../../adapters/postgres/index.js";

export const WORKFLOW_ID = "remote-wf";

export interface KernelOrchestrator {
  kernel: Kernel;
  sink: CollectingEventSink;
  stop(): Promise<void>;
}

/** Starts a kernel + node host whose workflow is the single remote stage `activity` (queue/version given). */
export async function startKernelOrchestrator(o: {
  sql: postgres.Sql;
  schema: string;
  broker: Broker;
  activity: AnyStage;
  queue: string;
  stageCodeVersion: string;
  workerId: string;
  /** How often the suspended stage is checked. Default 100 ms. */
  pollIntervalMs?: number;
}): Promise<KernelOrchestrator> {
  const remote = defineRemoteStage(o.activity, o.broker, {
    queue: o.queue,
    stageCodeVersion: o.stageCodeVersion,
    pollIntervalMs: o.pollIntervalMs ?? 100,
    maxWaitMs: 120_000,
  });
  const workflow = new WorkflowBuilder(
    WORKFLOW_ID,
    "remote",
    "one remote activity",
    z.object({ n: z.number() }),
    z.object({ r: z.number() }),
  )
    .pipe(remote)
    .build();
  const jobTransport = createPostgresJobTransport(o.sql, { schema: o.schema, leaseMs: 10_000, pollIntervalMs: 100 });
  const sink = new CollectingEventSink();
  const kernel = createKernel({
    persistence: createPostgresPersistence(o.sql, { schema: o.schema }),
    blobStore: new InMemoryBlobStore(),
    jobTransport,
    eventSink: sink,
    scheduler: new NoopScheduler(),
    clock: systemClock,
    registry: { getWorkflow: (id) => (id === workflow.id ? workflow : undefined) },
    onRunCancelled: async (runId) => {
      await o.broker.cancelRun(runId);
    },
  });
  const host = createNodeHost({
    kernel,
    jobTransport,
    workerId: o.workerId,
    orchestrationIntervalMs: 50,
    jobPollIntervalMs: 50,
    handleSignals: false,
    shutdownTimeoutMs: 5_000,
  });
  await host.start();
  return {
    kernel,
    sink,
    async stop() {
      await host.stop();
      await jobTransport.close();
    },
  };
}
