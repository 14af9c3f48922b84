/**
 * Options of the JetStream adapters: one defaults literal and one strict schema each, parsed
 * once when the component is created (src/contract/options.ts), so a misspelt option is refused
 * with a ValidationError instead of silently taking its default.
 */
import { z } from "zod";
import { callback, nonNegativeInt, parseOptions, positiveInt, withMethods } from "../../src/contract/options.js";
import type { Topology } from "../../src/contract/topology.js";
import type { Kernel } from "../../src/kernel/types.js";
import type { JobTransport } from "../../src/ports/job-transport.js";
import { type Logger, silentLogger } from "../../src/ports/logger.js";

/** Every default of the JetStream adapters, by name. */
export const JETSTREAM_DEFAULTS = {
  /** Bound on a PubAck or an ack confirmation. */
  ackTimeoutMs: 5_000,
  /** How long releaseStale waits for a max-deliveries advisory the server may still be storing. */
  deadLetterWaitMs: 100,
  /** Longest pull of a background loop (delayed-job promoter, report consumer); bounds stop(). */
  pollMs: 1_000,
  /** Redelivery delay of a report after its first transient failure; doubles per delivery. */
  reportRetryDelayMs: 1_000,
  /** Cap of that doubling delay. */
  reportMaxRetryDelayMs: 30_000,
  /**
   * Deliveries of one report before it is dead-lettered. With the delays above, ~13 minutes of a
   * failing store; the task's lease then expires and the attempt is redelivered or fails.
   */
  reportMaxDeliveries: 30,
  /** Reports handled at once per queue (each is one Postgres commit). */
  reportConcurrency: 8,
  /** Queue group shared by every orchestrator's broker responders. */
  brokerGroup: "jetflow-broker",
  /** Subject prefix of the submission API, and its service name. */
  apiPrefix: "jetflow",
  apiName: "jetflow",
  apiVersion: "0.1.0",
  /** Bound on every API request of a client. */
  clientTimeoutMs: 10_000,
} as const;

const topology = withMethods<Topology>("a Topology (createTopology)", "taskSubject");
const logger = withMethods<Logger>("a Logger", "warn", "error").default(silentLogger);
const prefix = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be a subject token (letters, digits, _ and -)");

const ensureTopologyFields = z.strictObject({
  replicas: z.number().int().min(1).max(5).optional(),
  eventsMaxAgeMs: positiveInt.optional(),
  duplicateWindowMs: positiveInt.optional(),
  storage: z.enum(["file", "memory"]).optional(),
});

const jobTransport = z.object({
  topology: topology.optional(),
  consumer: z.string().min(1).optional(),
  starvationLimit: positiveInt.optional(),
  leaseMs: positiveInt,
  maxDeliveries: positiveInt,
  ensure: z.union([z.boolean(), ensureTopologyFields]).default(true),
  ackTimeoutMs: positiveInt.default(JETSTREAM_DEFAULTS.ackTimeoutMs),
  promoteDelayedJobs: z.boolean().default(true),
  deadLetterWaitMs: nonNegativeInt.default(JETSTREAM_DEFAULTS.deadLetterWaitMs),
  promoterPollMs: positiveInt.default(JETSTREAM_DEFAULTS.pollMs),
  maxPromotionAttempts: positiveInt.default(20),
  promotionRetryMs: positiveInt.default(1_000),
  logger,
});

const eventSink = z.object({
  topology: topology.optional(),
  ackTimeoutMs: positiveInt.default(JETSTREAM_DEFAULTS.ackTimeoutMs),
});

const taskDispatcher = z.object({
  topology,
  ackTimeoutMs: positiveInt.default(JETSTREAM_DEFAULTS.ackTimeoutMs),
  labelledConsumers: callback<(queue: string, codeVersion: string) => never>().optional(),
  unavailableRetryMs: nonNegativeInt.default(20_000),
});

const brokerResponders = z.object({
  topology,
  queues: z.array(z.string().min(1)).optional(),
  group: z.string().min(1).default(JETSTREAM_DEFAULTS.brokerGroup),
  logger,
});

const reportConsumer = z.object({
  topology,
  queue: z.string().min(1),
  ensure: z.boolean().default(true),
  replicas: z.number().int().min(1).max(5).optional(),
  pollMs: positiveInt.default(JETSTREAM_DEFAULTS.pollMs),
  retryDelayMs: nonNegativeInt.default(JETSTREAM_DEFAULTS.reportRetryDelayMs),
  maxRetryDelayMs: nonNegativeInt.default(JETSTREAM_DEFAULTS.reportMaxRetryDelayMs),
  maxDeliveries: positiveInt.default(JETSTREAM_DEFAULTS.reportMaxDeliveries),
  ackTimeoutMs: positiveInt.default(JETSTREAM_DEFAULTS.ackTimeoutMs),
  concurrency: positiveInt.default(JETSTREAM_DEFAULTS.reportConcurrency),
  logger,
  onReport: callback<(r: never) => void>().optional(),
  onDeadLetter: callback<(d: never) => void>().optional(),
});

const apiService = z.object({
  kernel: withMethods<Kernel>("a Kernel (createKernel)", "dispatch"),
  prefix: prefix.default(JETSTREAM_DEFAULTS.apiPrefix),
  name: z.string().min(1).default(JETSTREAM_DEFAULTS.apiName),
  version: z.string().min(1).default(JETSTREAM_DEFAULTS.apiVersion),
  jobTransport: withMethods<Pick<JobTransport, "depth">>("a JobTransport", "depth").optional(),
  unservedTasks: callback<() => never[]>().optional(),
  runTasks: callback<(runId: string) => Promise<never[]>>().optional(),
  taskWaits: callback<(view: never) => Promise<never[]>>().optional(),
  runArtifacts: callback<(runId: string) => Promise<never[]>>().optional(),
  presignArtifact: callback<(key: string, expiresInSec: number) => Promise<never>>().optional(),
  deadLetters: callback<(limit: number) => Promise<never[]>>().optional(),
  aiCosts: callback<(q: never) => Promise<never[]>>().optional(),
  logger,
});

const client = z.object({
  prefix: prefix.default(JETSTREAM_DEFAULTS.apiPrefix),
  timeoutMs: positiveInt.default(JETSTREAM_DEFAULTS.clientTimeoutMs),
});

/**
 * Parses the options of one JetStream adapter, keeping the caller's own types for values zod
 * only checks (callbacks, topology, kernel) and every default applied.
 * @throws ValidationError naming each bad or unknown option.
 */
function parser<S extends z.ZodObject<z.ZodRawShape>>(what: string, schema: S) {
  return <O extends object>(opts: O) =>
    parseOptions(what, schema, opts) as Omit<O, keyof z.output<S>> & {
      [K in keyof z.output<S>]: K extends keyof O ? (undefined extends z.output<S>[K] ? O[K] : Exclude<O[K], undefined>) : z.output<S>[K];
    };
}

export const parseJobTransportOptions = parser("JetStream job transport", jobTransport);
export const parseEventSinkOptions = parser("JetStream event sink", eventSink);
export const parseTaskDispatcherOptions = parser("JetStream task dispatcher", taskDispatcher);
export const parseBrokerRespondersOptions = parser("broker responders", brokerResponders);
export const parseReportConsumerOptions = parser("report consumer", reportConsumer);
export const parseApiServiceOptions = parser("API service", apiService);
export const parseClientOptions = parser("jetflow client", client);
