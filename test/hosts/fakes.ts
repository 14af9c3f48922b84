// Fakes for host tests: a kernel whose commands are scripted per type and a job transport that
// records every call. Not a test file (no .test.ts suffix).
import type { CommandResultMap, KernelCommand, KernelCommandType } from "../../src/kernel/commands.js";
import type { Kernel } from "../../src/kernel/types.js";
import type { DequeueOptions, JobSpec, JobTransport, LeasedJob } from "../../src/ports/job-transport.js";
import type { Logger } from "../../src/ports/logger.js";

type Handler<T extends KernelCommandType> = (
  cmd: Extract<KernelCommand, { type: T }>,
) => Promise<CommandResultMap[T]> | CommandResultMap[T];

const defaults: { [T in KernelCommandType]?: Handler<T> } = {
  "run.claimPending": () => ({ claimed: [] }),
  "stage.pollSuspended": () => ({ checked: 0, resumed: 0, failed: 0, resumedRunIds: [] }),
  "lease.reapStale": () => ({ released: 0, deadLettered: 0 }),
  "run.reapStuck": () => ({ inspected: 0, requeued: 0, failed: 0, runIds: [] }),
  "outbox.flush": () => ({ published: 0, failed: 0, deadLettered: 0 }),
  "stage.admitWaiting": () => ({ granted: 0, nextRetryAt: null }),
  "job.execute": () => ({ outcome: "completed" }),
  "run.transition": () => ({ action: "advanced", groupIndex: 1 }),
};

export class FakeKernel implements Kernel {
  readonly commands: KernelCommand[] = [];
  private handlers: { [T in KernelCommandType]?: Handler<T> } = { ...defaults };

  on<T extends KernelCommandType>(type: T, handler: Handler<T>): this {
    (this.handlers as Record<string, unknown>)[type] = handler;
    return this;
  }

  of<T extends KernelCommandType>(type: T): Extract<KernelCommand, { type: T }>[] {
    return this.commands.filter((c) => c.type === type) as Extract<KernelCommand, { type: T }>[];
  }

  async dispatch<C extends KernelCommand>(command: C): Promise<CommandResultMap[C["type"]]> {
    this.commands.push(command);
    const h = this.handlers[command.type] as Handler<C["type"]> | undefined;
    if (!h) throw new Error(`FakeKernel: no handler for ${command.type}`);
    return h(command as never);
  }

  annotations = { attach: async () => ({ inserted: 0 }), list: async () => [] };
  runs = { get: async () => null, list: async () => [], logs: async () => [], stageOutput: async () => undefined };
}

export type TransportCall =
  | { op: "complete"; jobId: string }
  | { op: "suspend"; jobId: string; nextPollAt: Date }
  | { op: "fail"; jobId: string; error: string; retry: boolean; delayMs?: number }
  | { op: "heartbeat"; jobId: string };

export class FakeTransport implements JobTransport {
  readonly calls: TransportCall[] = [];
  readonly dequeues: DequeueOptions[] = [];
  private readonly ready: LeasedJob[] = [];
  dequeueError: Error | null = null;
  private n = 0;

  push(spec: Partial<LeasedJob> = {}): LeasedJob {
    const i = ++this.n;
    const job: LeasedJob = {
      jobId: `run-${i}:stage:1`,
      workflowRunId: `run-${i}`,
      workflowId: "wf",
      stageId: "stage",
      attempt: 1,
      maxAttempts: 3,
      priority: 0,
      payload: {},
      deliveryCount: 1,
      leaseToken: `lease-${i}`,
      leaseExpiresAt: new Date(Date.now() + 30_000),
      ...spec,
    };
    this.ready.push(job);
    return job;
  }

  ofOp<O extends TransportCall["op"]>(op: O): Extract<TransportCall, { op: O }>[] {
    return this.calls.filter((c) => c.op === op) as Extract<TransportCall, { op: O }>[];
  }

  async enqueue(_jobs: JobSpec[]): Promise<void> {}
  async dequeue(opts: DequeueOptions): Promise<LeasedJob | null> {
    this.dequeues.push(opts);
    if (this.dequeueError) throw this.dequeueError;
    return this.ready.shift() ?? null;
  }
  async heartbeat(job: LeasedJob): Promise<void> {
    this.calls.push({ op: "heartbeat", jobId: job.jobId });
  }
  async complete(job: LeasedJob): Promise<void> {
    this.calls.push({ op: "complete", jobId: job.jobId });
  }
  async suspend(job: LeasedJob, nextPollAt: Date): Promise<void> {
    this.calls.push({ op: "suspend", jobId: job.jobId, nextPollAt });
  }
  async fail(job: LeasedJob, opts: { error: string; retry: boolean; delayMs?: number }): Promise<void> {
    this.calls.push({ op: "fail", jobId: job.jobId, ...opts });
  }
  async releaseStale(): Promise<{ released: number; deadLettered: [] }> {
    return { released: 0, deadLettered: [] };
  }
}

export interface LogEntry {
  level: "debug" | "info" | "warn" | "error";
  obj: Record<string, unknown>;
  msg?: string;
}

/** A Logger that keeps entries so tests can assert a failure was reported, not swallowed. */
export function collectingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry["level"]) => (obj: Record<string, unknown>, msg?: string) =>
    void entries.push({ level, obj, ...(msg ? { msg } : {}) });
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Waits until `cond()` holds, checking every few ms; fails after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs = 2_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
