/**
 * Names of every JetStream stream, consumer and subject jetflow uses, derived from two
 * configurable prefixes so several deployments (or tests) can share one NATS account.
 *
 * | stream                 | retention  | subjects                                   |
 * | ---------------------- | ---------- | ------------------------------------------ |
 * | `<S>_JOBS`             | work-queue | `<p>.jobs.<priority>` (normal band), `<p>.jobs.<band>.<priority>` (high, low) |
 * | `<S>_JOBS_DELAYED`     | work-queue | `<p>.jobs-delayed.<priority>`              |
 * | `<S>_TASKS`            | work-queue | `<p>.tasks.<queue>.<codeVersion>[.<labelKey>][.high|.low]` |
 * | `<S>_REPORTS`          | work-queue | `<p>.reports.<queue>`                      |
 * | `<S>_EVENTS`           | limits     | `<p>.events.<workflowId>.<runId>.<type>`   |
 * | `<S>_JOBS_DEAD`        | work-queue | `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<S>_JOBS.*` |
 *
 * `<S>` is `streamPrefix` (default `JETFLOW`), `<p>` is `prefix` (default `jetflow`). Ids are
 * encoded with {@link encodeToken}, event types with {@link eventTypeToken}, priorities with
 * {@link priorityToken}, bands with {@link priorityBand} (one consumer per band, see priority.ts). `<S>_JOBS_DELAYED` holds jobs whose `availableAt` is in the future until
 * they are due, so waiting never spends the jobs consumer's delivery budget (see docs/protocol.md).
 * `<S>_JOBS_DEAD` keeps the server's max-deliveries advisories for jobs durably, so a dead letter
 * survives an orchestrator restart and is handled by exactly one orchestrator.
 */
import { ProtocolError } from "./protocol-error.js";
import { encodeToken, eventTypeToken, priorityToken } from "./tokens.js";
import { labelSubjectSuffix } from "./label-routing.js";
import { priorityBand, type PriorityBand } from "./priority.js";

const PREFIX = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
const STREAM_PREFIX = /^[A-Za-z0-9_-]+$/;

/** Options of {@link createTopology}: subject and stream-name prefixes. */
export interface TopologyOptions {
  /** Subject prefix: one or more safe tokens separated by dots. Default `jetflow`. */
  prefix?: string;
  /** Stream-name prefix: letters, digits, `_`, `-`. Default `JETFLOW`. */
  streamPrefix?: string;
}

/** Every name jetflow puts on the wire, for one deployment. */
export interface Topology {
  readonly prefix: string;
  readonly streamPrefix: string;
  readonly streams: {
    readonly jobs: string;
    readonly jobsDelayed: string;
    readonly jobsDead: string;
    readonly tasks: string;
    readonly reports: string;
    readonly events: string;
  };
  /** Durable consumer names (scoped to their stream). `jobs` is the normal band's. */
  readonly consumers: {
    readonly jobs: string;
    readonly jobsDelayed: string;
    readonly jobsDead: string;
    /** The jobs consumer of each priority band (normal = `jobs`). */
    readonly jobBands: Readonly<Record<PriorityBand, string>>;
  };
  /** Subject a job is published to when it is due now: `<p>.jobs.default` (normal band) or `<p>.jobs.<band>.<priority>`. */
  jobSubject(priority?: number): string;
  /** Subject a job is published to while its `availableAt` is in the future. */
  delayedJobSubject(priority?: number): string;
  /**
   * `<p>.tasks.<queue>.<codeVersion>`, plus `.<labelKey>` when the task requires labels and
   * `.high` / `.low` outside the normal priority band (see label-routing.ts, priority.ts).
   */
  taskSubject(queue: string, codeVersion: string, requiredLabels?: Readonly<Record<string, string>>, band?: PriorityBand): string;
  reportSubject(queue: string): string;
  eventSubject(workflowId: string, runId: string, type: string): string;
  /** Filter matching every event of one run (any workflow, any type). */
  runEventsFilter(runId: string): string;
  /** `<p>.api.<endpoint>` (endpoint names are fixed, dotted: `runs.create`). */
  apiSubject(endpoint: string): string;
  /** Stream subject filters. */
  readonly filters: {
    readonly jobs: string;
    readonly jobsDelayed: string;
    readonly jobsDead: string;
    readonly tasks: string;
    readonly reports: string;
    readonly events: string;
    readonly api: string;
  };
  /**
   * Filter of each band's jobs consumer. Normal is `<p>.jobs.*` (one token: also the subjects of
   * every priority before bands existed), high and low `<p>.jobs.<band>.>`: they never overlap.
   */
  readonly jobBandFilters: Readonly<Record<PriorityBand, string>>;
  /** Advisory the server publishes when a message of `stream`/`consumer` exhausts MaxDeliver. */
  maxDeliveriesAdvisory(stream: string, consumer: string): string;
}

/**
 * Builds the names for one deployment.
 * @throws ProtocolError when a prefix is not subject-safe.
 */
export function createTopology(opts: TopologyOptions = {}): Topology {
  const prefix = opts.prefix ?? "jetflow";
  const streamPrefix = opts.streamPrefix ?? "JETFLOW";
  if (!PREFIX.test(prefix)) {
    throw new ProtocolError(`prefix "${prefix}" must be dot-separated tokens of letters, digits, _ and -`, [
      { path: "prefix", message: "not subject-safe" },
    ]);
  }
  if (!STREAM_PREFIX.test(streamPrefix)) {
    throw new ProtocolError(`streamPrefix "${streamPrefix}" may only hold letters, digits, _ and -`, [
      { path: "streamPrefix", message: "not a valid stream name part" },
    ]);
  }
  const p = prefix;
  return {
    prefix,
    streamPrefix,
    streams: {
      jobs: `${streamPrefix}_JOBS`,
      jobsDelayed: `${streamPrefix}_JOBS_DELAYED`,
      jobsDead: `${streamPrefix}_JOBS_DEAD`,
      tasks: `${streamPrefix}_TASKS`,
      reports: `${streamPrefix}_REPORTS`,
      events: `${streamPrefix}_EVENTS`,
    },
    consumers: {
      jobs: "jobs",
      jobsDelayed: "jobs-delayed",
      jobsDead: "dead-letters",
      jobBands: { high: "jobs-high", normal: "jobs", low: "jobs-low" },
    },
    jobSubject: (priority) => {
      const band = priorityBand(priority);
      return band === "normal" ? `${p}.jobs.${priorityToken(priority)}` : `${p}.jobs.${band}.${priorityToken(priority)}`;
    },
    delayedJobSubject: (priority) => `${p}.jobs-delayed.${priorityToken(priority)}`,
    taskSubject: (queue, codeVersion, requiredLabels, band) =>
      `${p}.tasks.${encodeToken(queue, "queue")}.${encodeToken(codeVersion, "codeVersion")}${labelSubjectSuffix(requiredLabels, band)}`,
    reportSubject: (queue) => `${p}.reports.${encodeToken(queue, "queue")}`,
    eventSubject: (workflowId, runId, type) =>
      `${p}.events.${encodeToken(workflowId, "workflowId")}.${encodeToken(runId, "workflowRunId")}.${eventTypeToken(type)}`,
    runEventsFilter: (runId) => `${p}.events.*.${encodeToken(runId, "workflowRunId")}.*`,
    apiSubject: (endpoint) => `${p}.api.${endpoint}`,
    filters: {
      jobs: `${p}.jobs.>`,
      jobsDelayed: `${p}.jobs-delayed.>`,
      jobsDead: `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${streamPrefix}_JOBS.*`,
      tasks: `${p}.tasks.>`,
      reports: `${p}.reports.>`,
      events: `${p}.events.>`,
      api: `${p}.api.>`,
    },
    jobBandFilters: { high: `${p}.jobs.high.>`, normal: `${p}.jobs.*`, low: `${p}.jobs.low.>` },
    maxDeliveriesAdvisory: (stream, consumer) => `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`,
  };
}
