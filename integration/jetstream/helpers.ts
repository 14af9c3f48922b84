/** Shared bits of the JetStream integration tests: unique topologies, jobs, bounded waits. */
import { randomUUID } from "node:crypto";
import type { JobSpec } from "../../src/ports/job-transport.js";
import { createTopology, type Topology } from "../../src/contract/topology.js";

/** A topology no other test in the file shares (streams and subjects are all prefixed). */
export function freshTopology(): Topology {
  const id = randomUUID().replaceAll("-", "").slice(0, 10);
  return createTopology({ prefix: `t${id}`, streamPrefix: `T${id.toUpperCase()}` });
}

let n = 0;
/** A job with a unique id. */
export function makeJob(overrides: Partial<JobSpec> = {}): JobSpec {
  n++;
  const runId = overrides.workflowRunId ?? `run-${n}-${randomUUID().slice(0, 8)}`;
  return {
    jobId: `${runId}:stage-a:1`,
    workflowRunId: runId,
    workflowId: "wf",
    stageId: "stage-a",
    attempt: 1,
    maxAttempts: 3,
    priority: 0,
    payload: { n },
    ...overrides,
  };
}

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
