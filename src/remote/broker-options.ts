/** Options of the broker: the ports it drives, its defaults, and their one strict parse. */
import { z } from "zod";
import { DEFAULT_RETRY_POLICY } from "../contract/failure-policy.js";
import { DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_TASK_LEASE_MS } from "../contract/defaults.js";
import { PRESIGN_PAGE_MAX_PARTS } from "../contract/multipart-limits.js";
import { parseOptions, positiveInt, withMethods } from "../contract/options.js";
import type { ActivityTaskStore } from "../ports/activity-task-store.js";
import type { BlobStore } from "../ports/blob-store.js";
import type { Clock } from "../ports/clock.js";
import { type Logger, silentLogger } from "../ports/logger.js";
import type { Presigner } from "../ports/presigner.js";
import type { TaskDispatcher } from "./types.js";

/** Options of {@link import("./broker.js").createBroker}: task store, presigner, clock, leases and limits. */
export interface BrokerOptions {
  store: ActivityTaskStore;
  presigner: Presigner;
  clock: Clock;
  /** May be attached later (`attachDispatcher`), e.g. by `createInProcessTransport`. */
  dispatcher?: TaskDispatcher;
  /** Reads outputs stored by reference and answers `list` presign requests. */
  blobStore?: BlobStore;
  logger?: Logger;
  /** Lease granted per start/heartbeat; on JetStream equal to the consumer's AckWait. Default 30 s. */
  leaseMs?: number;
  /** Deliveries per task when the submitter sets none. Default 3. */
  defaultMaxAttempts?: number;
  /** Lifetime of presigned URLs. Default 900 s. */
  presignExpiresInSec?: number;
  /** Most part URLs per presign reply of a multipart upload (workers ask for the rest page by page). Default 100. */
  presignPageParts?: number;
  /**
   * Secret binding a multipart upload id to the attempt that started it (upload tickets). Orchestrators
   * serving the same queues must share it; default: a random secret of this broker, which suits one orchestrator.
   */
  uploadTicketSecret?: string;
  /**
   * Largest artifact one upload may store, for tasks whose stage sets no `maxUploadBytes`.
   * Default 5 GiB ({@link DEFAULT_MAX_UPLOAD_BYTES}).
   */
  maxUploadBytes?: number;
}

/** Every broker default, by name. */
export const BROKER_DEFAULTS = {
  leaseMs: DEFAULT_TASK_LEASE_MS,
  defaultMaxAttempts: DEFAULT_RETRY_POLICY.maxAttempts,
  presignExpiresInSec: 900,
  presignPageParts: PRESIGN_PAGE_MAX_PARTS,
  maxUploadBytes: DEFAULT_MAX_UPLOAD_BYTES,
} as const;

const schema = z.object({
  store: withMethods<ActivityTaskStore>("an ActivityTaskStore", "createTask", "getTask"),
  presigner: withMethods<Presigner>("a Presigner", "presignGet"),
  clock: withMethods<Clock>("a Clock", "now"),
  dispatcher: withMethods<TaskDispatcher>("a TaskDispatcher", "dispatch").optional(),
  blobStore: withMethods<BlobStore>("a BlobStore", "get").optional(),
  logger: withMethods<Logger>("a Logger", "warn", "error").default(silentLogger),
  leaseMs: positiveInt.default(BROKER_DEFAULTS.leaseMs),
  defaultMaxAttempts: positiveInt.default(BROKER_DEFAULTS.defaultMaxAttempts),
  presignExpiresInSec: positiveInt.default(BROKER_DEFAULTS.presignExpiresInSec),
  // Above 1,000 URLs a reply nears NATS's 1 MiB max_payload even with short keys.
  presignPageParts: positiveInt.max(1_000).default(BROKER_DEFAULTS.presignPageParts),
  uploadTicketSecret: z.string().min(16, "must be at least 16 characters").optional(),
  maxUploadBytes: positiveInt.max(Number.MAX_SAFE_INTEGER).default(BROKER_DEFAULTS.maxUploadBytes),
});

/** Broker options with every default applied. */
export type ResolvedBrokerOptions = z.output<typeof schema>;

/** @throws ValidationError naming each bad or unknown option. */
export function resolveBrokerOptions(opts: BrokerOptions): ResolvedBrokerOptions {
  return parseOptions("broker", schema, opts);
}
