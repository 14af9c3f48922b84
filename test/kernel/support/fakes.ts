// White-box JobTransport, BlobStore, EventSink and Clock for kernel unit tests: they expose their
// internals (queued jobs, dedupe set, injected dead letters, sink failures) so a test can simulate
// lost jobs and transport give-ups. Acceptance tests use the shared src/testing adapters instead.
import { randomUUID } from "node:crypto";
import type {
  BlobStore,
  Clock,
  DequeueOptions,
  EventSink,
  JobSpec,
  JobTransport,
  LeasedJob,
  WorkflowEvent,
  DeadLetteredJob,
} from "../../../src/ports/index.js";

export class TestClock implements Clock {
  constructor(private t = new Date("2026-01-01T00:00:00Z").getTime()) {}
  now() {
    return new Date(this.t);
  }
  advance(ms: number) {
    this.t += ms;
  }
}

/** FIFO queue that de-duplicates by jobId and honours availableAt against the clock. */
export class TestQueue implements JobTransport {
  readonly jobs: JobSpec[] = [];
  readonly seen = new Set<string>();
  readonly enqueued: JobSpec[] = [];
  deadLetters: DeadLetteredJob[] = [];
  constructor(private clock: Clock) {}
  async enqueue(jobs: JobSpec[]) {
    for (const j of jobs) {
      this.enqueued.push(j);
      if (this.seen.has(j.jobId)) continue;
      this.seen.add(j.jobId);
      this.jobs.push(j);
    }
  }
  async dequeue(_opts: DequeueOptions): Promise<LeasedJob | null> {
    const now = this.clock.now();
    const i = this.jobs.findIndex((j) => !j.availableAt || j.availableAt <= now);
    if (i < 0) return null;
    const [job] = this.jobs.splice(i, 1);
    return { ...job!, deliveryCount: 1, leaseToken: randomUUID(), leaseExpiresAt: new Date(now.getTime() + 30_000) };
  }
  async heartbeat() {}
  async complete() {}
  async suspend() {}
  async fail() {}
  async releaseStale() {
    const d = this.deadLetters;
    this.deadLetters = [];
    return { released: 0, deadLettered: d };
  }
}

export class TestBlobs implements BlobStore {
  readonly data = new Map<string, Uint8Array>();
  async put(key: string, d: Uint8Array) {
    this.data.set(key, d);
  }
  async get(key: string) {
    return this.data.get(key) ?? null;
  }
  async has(key: string) {
    return this.data.has(key);
  }
  async delete(key: string) {
    this.data.delete(key);
  }
  async list(prefix: string) {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  async deletePrefix(prefix: string) {
    const keys = await this.list(prefix);
    for (const k of keys) this.data.delete(k);
    return keys.length;
  }
}

export class TestSink implements EventSink {
  readonly events: WorkflowEvent[] = [];
  /** While > 0, publish throws (and decrements). */
  failures = 0;
  async publish(e: WorkflowEvent) {
    if (this.failures > 0) {
      this.failures--;
      throw new Error("sink unavailable");
    }
    this.events.push(e);
  }
  types(runId?: string) {
    return this.events.filter((e) => !runId || e.workflowRunId === runId).map((e) => e.type);
  }
}
