import { DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_TASK_LEASE_MS } from "../src/contract/defaults.js";
import { z } from "zod";

/** One (queue, code version) the orchestrator serves: a durable task consumer plus the broker's responders. */
export const RemoteQueueConfig = z.strictObject({
  queue: z.string().min(1, "queue is required"),
  codeVersion: z.string().min(1, "codeVersion is required"),
  /** Lease per start/heartbeat = the consumer's AckWait. Default: `remote.leaseMs`. */
  leaseMs: z.number().int().min(100, "leaseMs must be at least 100").optional(),
  /** JetStream MaxDeliver; keep it >= the tasks' maxAttempts so the broker fails them with a clear error. */
  maxDeliver: z.number().int().min(1).default(5),
  /** JetStream MaxAckPending of the task consumer: tasks of this queue leased at once, all workers together. Default: `remote.maxAckPending`. */
  maxAckPending: z.number().int().min(1).max(1_000_000).optional(),
});
export type RemoteQueueConfig = z.output<typeof RemoteQueueConfig>;

/**
 * The optional `remote` section of the orchestrator config: remote activities run by workers
 * (`jetflow worker`) that pull tasks from JetStream and move artifacts by presigned S3 URL.
 * Requires the `s3` section (the orchestrator presigns with its credentials).
 */
export const RemoteConfig = z
  .strictObject({
    queues: z.array(RemoteQueueConfig).min(1, "list at least one { queue, codeVersion }"),
    /** Default lease of every queue. Workers must heartbeat well within it. */
    leaseMs: z.number().int().min(100).default(DEFAULT_TASK_LEASE_MS),
    /**
     * Default MaxAckPending of every task consumer: how many tasks of one (queue, version) may be
     * leased at once across all workers (a pull beyond it waits). Raise it with the workers'
     * `--concurrency` sum; an existing consumer is updated at start.
     */
    maxAckPending: z.number().int().min(1).max(1_000_000).default(1_000),
    /** Deliveries per task when the stage sets none. */
    defaultMaxAttempts: z.number().int().min(1).default(3),
    /** Lifetime of presigned URLs (seconds). */
    presignExpiresInSec: z.number().int().min(1).max(604_800).default(900),
    /**
     * Secret binding each multipart upload id to the attempt that started it (upload tickets,
     * checked whenever a worker asks for more part URLs). Orchestrators sharing queues must set the
     * same one; unset, each orchestrator process picks a random one.
     */
    uploadTicketSecret: z.string().min(16).optional(),
    /**
     * Largest artifact (bytes) one worker upload may store, for stages that set no `maxUploadBytes`.
     * Signed into every upload URL. Default 5 GiB (S3's single-PUT limit).
     */
    maxUploadBytes: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).default(DEFAULT_MAX_UPLOAD_BYTES),
    /** How often tasks past their deadline or out of attempts are failed, and stranded PENDING tasks re-published. */
    reapIntervalMs: z.number().int().min(50).default(5_000),
    /**
     * A task unchanged this long while PENDING, or this long past a lease that no new attempt
     * took over, is published again (a crash between create and publish, deliveries spent on
     * refusals, a message lost in a server crash). Keep it well above `leaseMs`.
     */
    republishAfterMs: z.number().int().min(1_000).default(60_000),
    /** Longest single pull of the report consumers; bounds stop(). */
    reportPollMs: z.number().int().min(50).default(1_000),
    /** A task PENDING this long with no live worker able to serve it is reported (stage log, stats). */
    unservedAfterMs: z.number().int().min(100).default(30_000),
    /** How often waiting tasks are checked against the fleet registry. */
    unservedCheckMs: z.number().int().min(50).default(5_000),
  })
  .superRefine((r, ctx) => {
    const seen = new Set<string>();
    const leaseOf = new Map<string, number>();
    r.queues.forEach((q, i) => {
      const id = `${q.queue} ${q.codeVersion}`;
      if (seen.has(id))
        ctx.addIssue({ code: "custom", path: ["queues", i], message: `queue "${q.queue}" version "${q.codeVersion}" is listed twice` });
      seen.add(id);
      // The broker's heartbeat responders serve a queue, not a version: one lease per queue.
      const lease = q.leaseMs ?? r.leaseMs;
      const other = leaseOf.get(q.queue);
      if (other !== undefined && other !== lease) {
        ctx.addIssue({
          code: "custom",
          path: ["queues", i, "leaseMs"],
          message: `queue "${q.queue}" has two leases (${other} and ${lease} ms); every version of a queue shares one`,
        });
      }
      leaseOf.set(q.queue, lease);
    });
  });
export type RemoteConfig = z.output<typeof RemoteConfig>;
