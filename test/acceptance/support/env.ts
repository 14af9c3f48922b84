// Acceptance environment: the kernel on the shared in-memory adapters of `src/testing`
// (the same ones hosts and demos use), driven by hand like a host.
import type { AnyWorkflow } from "../../../src/builder/types.js";
import { createKernel } from "../../../src/kernel/create-kernel.js";
import type { Kernel, KernelConfig } from "../../../src/kernel/types.js";
import {
  CollectingEventSink,
  FakeClock,
  InMemoryBlobStore,
  InMemoryJobQueue,
  InMemoryPersistence,
  NoopScheduler,
} from "../../../src/testing/index.js";
import { type TestEnv, driver } from "../../kernel/support/harness.js";

export { stage, workflow } from "../../kernel/support/harness.js";

export interface AcceptanceEnv extends Pick<TestEnv, "create" | "step" | "drain"> {
  kernel: Kernel;
  persistence: InMemoryPersistence;
  queue: InMemoryJobQueue;
  blobs: InMemoryBlobStore;
  sink: CollectingEventSink;
  scheduler: NoopScheduler;
  clock: FakeClock;
  /** Event types of one run, in delivery order. */
  types(runId: string): string[];
}

export function acceptanceEnv(workflows: AnyWorkflow[], extra: Partial<KernelConfig> = {}): AcceptanceEnv {
  const clock = new FakeClock();
  const persistence = new InMemoryPersistence();
  const queue = new InMemoryJobQueue({ clock });
  const blobs = new InMemoryBlobStore();
  const sink = new CollectingEventSink();
  const scheduler = new NoopScheduler();
  const byId = new Map(workflows.map((w) => [w.id, w]));
  const kernel = createKernel({
    persistence,
    blobStore: blobs,
    jobTransport: queue,
    eventSink: sink,
    scheduler,
    clock,
    registry: { getWorkflow: (id) => byId.get(id) },
    ...extra,
  });
  return {
    kernel,
    persistence,
    queue,
    blobs,
    sink,
    scheduler,
    clock,
    ...driver(kernel, queue),
    types: (runId) => sink.events.filter((e) => e.workflowRunId === runId).map((e) => e.type),
  };
}
