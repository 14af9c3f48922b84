/**
 * jetflow's metrics on the global MeterProvider of `@opentelemetry/api` (no-op without an SDK).
 * Names follow the OpenTelemetry conventions: dot-separated namespace, no unit in the name,
 * UCUM units, `{thing}` annotations for counts.
 *
 * | instrument                       | kind      | unit       | attributes |
 * | -------------------------------- | --------- | ---------- | ---------- |
 * | `jetflow.run.transitions`        | counter   | `{run}`    | `jetflow.run.status`, `jetflow.workflow.id` |
 * | `jetflow.activity.tasks`         | counter   | `{task}`   | `jetflow.task.outcome`, `jetflow.queue` |
 * | `jetflow.activity.redeliveries`  | counter   | `{delivery}` | `jetflow.queue` |
 * | `jetflow.activity.duration`      | histogram | `s`        | `jetflow.task.outcome`, `jetflow.queue` |
 * | `jetflow.jobs.queued`            | gauge (observed) | `{job}` | `jetflow.host.id` |
 * | `jetflow.activity.heartbeat.gap` | histogram | `s`        | `jetflow.queue` |
 * | `jetflow.outbox.lag`             | histogram | `s`        | `jetflow.outbox.kind` |
 */
import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type ObservableCallback,
  metrics,
} from "@opentelemetry/api";

/** Name of the OpenTelemetry meter every jetflow metric is recorded on. */
export const METER_NAME = "jetflow";

interface Instruments {
  runTransitions: Counter;
  tasks: Counter;
  redeliveries: Counter;
  activityDuration: Histogram;
  heartbeatGap: Histogram;
  outboxLag: Histogram;
}

/**
 * A getter of instruments made by `create` on the current global MeterProvider's jetflow meter.
 * The metrics API has no proxy provider, so the instruments are re-created when an SDK is
 * installed after their first use.
 */
export function meterInstruments<T>(create: (meter: Meter) => T): () => T {
  let cached: { provider: MeterProvider; instruments: T } | null = null;
  return () => {
    const provider = metrics.getMeterProvider();
    if (cached?.provider !== provider) cached = { provider, instruments: create(provider.getMeter(METER_NAME)) };
    return cached.instruments;
  };
}

/** The instruments of the current global MeterProvider. */
const instruments = meterInstruments<Instruments>((meter) => ({
  runTransitions: meter.createCounter("jetflow.run.transitions", {
    unit: "{run}",
    description: "Runs entering a status (created, started, completed, failed, cancelled, rerun)",
  }),
  tasks: meter.createCounter("jetflow.activity.tasks", { unit: "{task}", description: "Remote activity tasks finished, by outcome" }),
  redeliveries: meter.createCounter("jetflow.activity.redeliveries", {
    unit: "{delivery}",
    description: "Task deliveries after the first (lease expired, released for retry, worker lost)",
  }),
  activityDuration: meter.createHistogram("jetflow.activity.duration", {
    unit: "s",
    description: "Wall time of one activity attempt on a worker",
  }),
  heartbeatGap: meter.createHistogram("jetflow.activity.heartbeat.gap", {
    unit: "s",
    description: "Time between an attempt's accepted heartbeats, seen by the worker; alert well before it reaches the lease",
  }),
  outboxLag: meter.createHistogram("jetflow.outbox.lag", {
    unit: "s",
    description: "Time from an outbox row's commit to its publication (events and jobs)",
  }),
}));

/** A run entered `status` (counted once per committed transition). */
export function countRunTransition(status: string, workflowId: string): void {
  instruments().runTransitions.add(1, { "jetflow.run.status": status, "jetflow.workflow.id": workflowId });
}

/** A remote task reached a terminal outcome. */
export function countTaskOutcome(outcome: "completed" | "failed" | "cancelled", queue: string): void {
  instruments().tasks.add(1, { "jetflow.task.outcome": outcome, "jetflow.queue": queue });
}

/** A task was delivered again (attempt > 1). */
export function countRedelivery(queue: string): void {
  instruments().redeliveries.add(1, { "jetflow.queue": queue });
}

/** One attempt's wall time on the worker, in seconds. */
export function recordActivityDuration(seconds: number, attrs: Attributes): void {
  instruments().activityDuration.record(seconds, attrs);
}

/** Seconds since the previous accepted heartbeat (or the lease) of one attempt. */
export function recordHeartbeatGap(seconds: number, queue: string): void {
  instruments().heartbeatGap.record(seconds, { "jetflow.queue": queue });
}

/** Seconds an outbox row waited between its commit and its publication. */
export function recordOutboxLag(seconds: number, kind: string): void {
  instruments().outboxLag.record(seconds, { "jetflow.outbox.kind": kind });
}

/**
 * Observes the job queue's depth (jobs waiting, e.g. the JetStream consumer's pending count) at
 * every metric collection, as `jetflow.jobs.queued`. Returns the function that stops observing.
 * A failed read skips that collection and is reported to `onError` (never thrown into the SDK).
 */
export function observeJobQueueDepth(depth: () => Promise<number>, attributes: Attributes, onError: (err: unknown) => void): () => void {
  const gauge = metrics.getMeterProvider().getMeter(METER_NAME).createObservableGauge("jetflow.jobs.queued", {
    unit: "{job}",
    description: "Jobs waiting in the job queue (consumer pending count)",
  });
  const callback: ObservableCallback = async (result) => {
    try {
      result.observe(await depth(), attributes);
    } catch (err) {
      onError(err);
    }
  };
  gauge.addCallback(callback);
  return () => gauge.removeCallback(callback);
}
