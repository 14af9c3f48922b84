/** What bench/peers.ts drives for every system: the same jobs, the same handler hooks. */

/** Called by a system's no-op handler with the job's index (from its payload). */
export interface Hooks {
  /** The handler began (enqueue→start latency is measured up to here). */
  started(i: number): void;
  /** The job is done as far as the system reports it: acked / completed / outcome committed. */
  completed(i: number): void;
}

/** One measurement's queue: fresh per measurement, so no backlog leaks between rounds. */
export interface Session {
  /** Starts `workers` consumers, each with up to `inflight` jobs at once; resolves when they pull. */
  start(workers: number, inflight: number, hooks: Hooks): Promise<void>;
  /** Enqueues job `i` with its ~200-byte payload; resolves when the system accepted it. */
  enqueue(i: number): Promise<void>;
  /** Stops the consumers and removes the queue. */
  close(): Promise<void>;
}

export interface Peer {
  readonly name: string;
  /** Server version, when it is not the NATS or Postgres one already printed. */
  readonly version?: string;
  open(): Promise<Session>;
  close(): Promise<void>;
}

/** A peer that could not start (its server is missing), with the reason printed instead of numbers. */
export interface Skipped {
  readonly name: string;
  readonly skipped: string;
}
