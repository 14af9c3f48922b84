import type { TraceCarrier } from "./records.js";

/** A unit of kernel work: execute one attempt of one stage of one run. */
export interface JobSpec {
  /** Deterministic `<runId>:<stageId>:<attempt>`; transports de-duplicate enqueues by it. */
  jobId: string;
  workflowRunId: string;
  workflowId: string;
  stageId: string;
  /** Stage attempt this job was created for (1-based). */
  attempt: number;
  maxAttempts: number;
  priority: number;
  /** Not delivered before this instant. */
  availableAt?: Date;
  payload: Record<string, unknown>;
  traceContext?: TraceCarrier;
}

/** A job delivered to one holder until `leaseExpiresAt`; after that the transport may redeliver it. */
export interface LeasedJob extends JobSpec {
  /** How many times the transport has delivered this job (1 on first delivery). */
  deliveryCount: number;
  /** Identifies this delivery; operations with an older token are ignored. */
  leaseToken: string;
  leaseExpiresAt: Date;
}

/** A job that ran out of deliveries, and why. */
export interface DeadLetteredJob {
  job: JobSpec;
  reason: string;
}

/** Options of {@link JobTransport.dequeue}. */
export interface DequeueOptions {
  workerId: string;
  /** Longest time to wait for a job before returning null. 0 = do not wait. */
  waitMs?: number;
}

/**
 * The kernel's job queue. Delivery is at-least-once; the kernel's fencing makes a
 * duplicate delivery harmless.
 */
export interface JobTransport {
  /** Idempotent per jobId (within the transport's de-duplication window). */
  enqueue(jobs: JobSpec[]): Promise<void>;
  dequeue(opts: DequeueOptions): Promise<LeasedJob | null>;
  /** Heartbeat: extends the lease of a job still being executed. */
  heartbeat(job: LeasedJob): Promise<void>;
  /** The job is done (completed, finally failed, or a ghost); it is never redelivered. */
  complete(job: LeasedJob): Promise<void>;
  /** The stage suspended; stage.pollSuspended takes over, the job is done. */
  suspend(job: LeasedJob, nextPollAt: Date): Promise<void>;
  /** The attempt failed: redeliver after `delayMs` when `retry`, else drop it. */
  fail(job: LeasedJob, opts: { error: string; retry: boolean; delayMs?: number }): Promise<void>;
  /**
   * Makes jobs whose lease expired before `now - thresholdMs` deliverable again, and returns jobs
   * that exhausted their deliveries so the kernel can fail their stage. Transports whose server
   * expires leases itself only report dead letters.
   */
  releaseStale(now: Date, thresholdMs: number): Promise<{ released: number; deadLettered: DeadLetteredJob[] }>;
  /** Jobs waiting to be delivered (best effort; for stats). */
  depth?(): Promise<number>;
  close?(): Promise<void>;
}
