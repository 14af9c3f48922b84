/**
 * The hook an activity worker calls to take part in a fleet (registry + remote control). Kept free
 * of NATS so the worker loop stays transport-agnostic; `createNatsFleetMember` implements it.
 */
import type { WorkerStats } from "./worker.js";

/** What a fleet member may read from, and do to, the worker it represents. */
export interface FleetWorkerView {
  readonly workerId: string;
  readonly queue: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly stageCodeVersion: string;
  readonly maxConcurrentTasks: number;
  readonly startedAt: Date;
  /** The worker service's restart count of this worker's project, if it runs in one. */
  readonly restarts?: number;
  /** Milliseconds spent loading the stage code, if the caller measured it. */
  readonly codeLoadMs?: number;
  getStats(): WorkerStats;
  /** The worker's own stop (drain by default). */
  stop(opts?: { drain?: boolean }): Promise<void>;
}

/** Called by the worker; implementations must not throw from `changed`. */
export interface FleetMember {
  /** Once, from `start()`: register and begin serving control requests. */
  join(worker: FleetWorkerView): Promise<void>;
  /** Status or in-flight count changed: publish soon (implementations coalesce). */
  changed(): void;
  /** Once, after the worker stopped or failed: publish the final state and stop serving. */
  leave(): Promise<void>;
}
