// Hand-built stages/workflows (plain objects satisfying the contract) and a kernel wired to
// in-memory fakes, plus a driver that plays the host: claim, dequeue, execute, transition.
import { z } from "zod";
import type { AnyWorkflow, ExecutionGroup } from "../../../src/builder/types.js";
import { createKernel } from "../../../src/kernel/create-kernel.js";
import type { Kernel, KernelConfig } from "../../../src/kernel/types.js";
import type { JobTransport, LeasedJob } from "../../../src/ports/index.js";
import type { AnyStage, StageContext, StageOutcome, CompletionCheck, CheckContext } from "../../../src/contract/stage-types.js";
import { TestBlobs, TestClock, TestQueue, TestSink } from "./fakes.js";
import { InMemoryPersistence as MemoryPersistence } from "../../../src/testing/index.js";

export interface StageSpec {
  id: string;
  input?: z.ZodType | "none";
  output?: z.ZodType;
  config?: z.ZodType;
  maxAttempts?: number;
  backoffMs?: number;
  execute: (ctx: StageContext<any, any, any>) => Promise<StageOutcome<any>>;
  checkCompletion?: (state: any, ctx: CheckContext<any>) => Promise<CompletionCheck<any>>;
}

export function stage(s: StageSpec): AnyStage {
  return {
    id: s.id,
    name: s.id,
    dependencies: [],
    mode: s.checkCompletion ? "async-batch" : "sync",
    schemas: { input: s.input ?? z.any(), output: s.output ?? z.any(), config: s.config ?? z.object({}) },
    retry: { maxAttempts: s.maxAttempts ?? 3, backoffMs: s.backoffMs ?? 100, maxBackoffMs: 1000 },
    execute: s.execute,
    ...(s.checkCompletion ? { checkCompletion: s.checkCompletion } : {}),
  } as AnyStage;
}

/** Each entry is a group: one stage (pipe) or an array (parallel). */
export function workflow(id: string, groups: (AnyStage | AnyStage[])[], io?: { input?: z.ZodType; output?: z.ZodType }): AnyWorkflow {
  const gs: ExecutionGroup[] = groups.map((g, index) => ({ index, parallel: Array.isArray(g), stages: Array.isArray(g) ? g : [g] }));
  const all = gs.flatMap((g) => g.stages);
  return {
    id,
    name: id,
    description: id,
    inputSchema: io?.input ?? z.any(),
    outputSchema: io?.output ?? z.any(),
    groups: gs,
    getStageIds: () => all.map((s) => s.id),
    getStage: (sid) => all.find((s) => s.id === sid),
    getGroupIndex: (sid) => gs.findIndex((g) => g.stages.some((s) => s.id === sid)),
    getExecutionPlan: () => [],
    getDefaultConfig: () => Object.fromEntries(all.map((s) => [s.id, s.schemas.config.parse({})])),
    validateConfig(config: unknown) {
      const c = (config ?? {}) as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      const issues: { stageId: string; path: string; message: string }[] = [];
      for (const s of all) {
        const r = s.schemas.config.safeParse(c[s.id] ?? {});
        if (r.success) out[s.id] = r.data;
        else for (const i of r.error.issues) issues.push({ stageId: s.id, path: i.path.join("."), message: i.message });
      }
      return issues.length ? { success: false, issues } : { success: true, config: out };
    },
  };
}

export interface TestEnv {
  kernel: Kernel;
  persistence: MemoryPersistence;
  queue: TestQueue;
  blobs: TestBlobs;
  sink: TestSink;
  clock: TestClock;
  /** Plays the host until no job is runnable: claim, dequeue, execute, transition. Returns executed job results. */
  drain(opts?: { maxJobs?: number }): Promise<{ job: LeasedJob; outcome: string; ghost?: boolean }[]>;
  /** Dequeues and executes one job (no transition); null when none is runnable. */
  step(): Promise<{ job: LeasedJob; result: Awaited<ReturnType<Kernel["dispatch"]>> } | null>;
  create(workflowId: string, input: unknown, extra?: Record<string, unknown>): Promise<string>;
}

export function makeEnv(workflows: AnyWorkflow[], extra: Partial<KernelConfig> = {}): TestEnv {
  const clock = new TestClock();
  const persistence = new MemoryPersistence();
  const queue = new TestQueue(clock);
  const blobs = new TestBlobs();
  const sink = new TestSink();
  const byId = new Map(workflows.map((w) => [w.id, w]));
  const kernel = createKernel({
    persistence,
    blobStore: blobs,
    jobTransport: queue,
    eventSink: sink,
    scheduler: { schedule: async () => {} },
    clock,
    registry: { getWorkflow: (id) => byId.get(id) },
    ...extra,
  });
  return { kernel, persistence, queue, blobs, sink, clock, ...driver(kernel, queue) };
}

/** The host's loop, by hand: create, claim, dequeue, execute, transition. Works on any JobTransport. */
export function driver(kernel: Kernel, queue: JobTransport): Pick<TestEnv, "create" | "step" | "drain"> {
  let n = 0;
  const d: Pick<TestEnv, "create" | "step" | "drain"> = {
    async create(workflowId, input, more = {}) {
      const r = await kernel.dispatch({ type: "run.create", idempotencyKey: `k-${++n}`, workflowId, input, ...more });
      return r.workflowRunId;
    },
    async step() {
      const job = await queue.dequeue({ workerId: "w" });
      if (!job) return null;
      const result = await kernel.dispatch({
        type: "job.execute",
        workflowRunId: job.workflowRunId,
        workflowId: job.workflowId,
        stageId: job.stageId,
        delivery: { jobId: job.jobId, deliveryCount: job.deliveryCount, attempt: job.attempt },
      });
      const r = result as { outcome: string; retry?: boolean; nextPollAt?: Date };
      // Acknowledge like a host would: retries were already re-enqueued by the kernel (outbox).
      if (r.outcome === "suspended" && r.nextPollAt) await queue.suspend(job, r.nextPollAt);
      else await queue.complete(job);
      return { job, result };
    },
    async drain(opts = {}) {
      const done: { job: LeasedJob; outcome: string; ghost?: boolean }[] = [];
      await kernel.dispatch({ type: "run.claimPending", workerId: "w", maxClaims: 100 });
      for (let i = 0; i < (opts.maxJobs ?? 200); i++) {
        const s = await d.step();
        if (!s) break;
        const r = s.result as { outcome: string; ghost?: boolean };
        done.push({ job: s.job, outcome: r.outcome, ...(r.ghost ? { ghost: true } : {}) });
        if (r.outcome === "completed") await kernel.dispatch({ type: "run.transition", workflowRunId: s.job.workflowRunId });
      }
      return done;
    },
  };
  return d;
}

/** Counts the transactions `persistence` opens from now on (the kernel holds the same object). */
export function countTransactions(persistence: MemoryPersistence): () => number {
  let n = 0;
  const transaction = persistence.transaction.bind(persistence);
  persistence.transaction = ((fn) => (n++, transaction(fn))) as typeof persistence.transaction;
  return () => n;
}
