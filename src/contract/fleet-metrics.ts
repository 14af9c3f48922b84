/**
 * Fleet metrics on the global MeterProvider of `@opentelemetry/api` (no-op without an SDK); see
 * docs/observability.md. The orchestrator observes the registry (`jetflow.fleet.*`); a worker
 * records its own code loads, tasks in flight and, in the worker service, project restarts.
 *
 * | instrument                            | kind            | unit       | attributes |
 * | ------------------------------------- | --------------- | ---------- | ---------- |
 * | `jetflow.fleet.workers`               | gauge (observed) | `{worker}` | `jetflow.queue`, `jetflow.code_version`, `jetflow.worker.status` |
 * | `jetflow.fleet.inflight`              | gauge (observed) | `{task}`   | `jetflow.queue` |
 * | `jetflow.fleet.capacity`              | gauge (observed) | `{task}`   | `jetflow.queue` |
 * | `jetflow.worker.code_load.duration`   | histogram       | `s`        | `jetflow.queue`, `jetflow.code.source` (`path`, `store`) |
 * | `jetflow.worker.restarts`             | counter         | `{restart}` | `jetflow.project`, `jetflow.restart.reason` (`crash`, `request`) |
 * | `jetflow.worker.tasks.inflight`       | up-down counter | `{task}`   | `jetflow.queue` |
 */
import { metrics, type BatchObservableCallback, type Counter, type Histogram, type UpDownCounter } from "@opentelemetry/api";
import { METER_NAME, meterInstruments } from "./metrics.js";
import { summarizeFleet, type JudgedWorker } from "./fleet-summary.js";

/** Where a worker's stage code came from: a module path or package, or a bundle from the deploy store. */
export type CodeSource = "path" | "store";
/** Why the worker service started a project again. */
export type RestartReason = "crash" | "request";

interface WorkerInstruments {
  codeLoad: Histogram;
  restarts: Counter;
  inflight: UpDownCounter;
}

const instruments = meterInstruments<WorkerInstruments>((meter) => ({
  codeLoad: meter.createHistogram("jetflow.worker.code_load.duration", {
    unit: "s",
    description:
      "Time to load a worker's stage code: importing the module, plus fetching and verifying the bundle when it comes from the store",
  }),
  restarts: meter.createCounter("jetflow.worker.restarts", {
    unit: "{restart}",
    description: "Project workers started again by the worker service (after a crash, or by a restart request)",
  }),
  inflight: meter.createUpDownCounter("jetflow.worker.tasks.inflight", {
    unit: "{task}",
    description: "Tasks a worker process is running now",
  }),
}));

/** A worker loaded its stage code in `seconds`. */
export function recordCodeLoad(seconds: number, queue: string, source: CodeSource): void {
  instruments().codeLoad.record(seconds, { "jetflow.queue": queue, "jetflow.code.source": source });
}

/** The worker service starts project `project` again. */
export function countWorkerRestart(project: string, reason: RestartReason): void {
  instruments().restarts.add(1, { "jetflow.project": project, "jetflow.restart.reason": reason });
}

/** A task of `queue` started (+1) or ended (−1) on this worker. */
export function addTasksInflight(delta: 1 | -1, queue: string): void {
  instruments().inflight.add(delta, { "jetflow.queue": queue });
}

/**
 * Observes the fleet at every metric collection, from one registry read per collection: workers by
 * (queue, code version, status), and per queue the tasks in flight on live workers and the
 * capacity that may still pull ({@link summarizeFleet}). A failed read skips that collection and is
 * reported to `onError`. Returns the function that stops observing.
 */
export function observeFleet(read: () => Promise<readonly JudgedWorker[]>, onError: (err: unknown) => void): () => void {
  const meter = metrics.getMeterProvider().getMeter(METER_NAME);
  const workers = meter.createObservableGauge("jetflow.fleet.workers", {
    unit: "{worker}",
    description: "Registered workers by queue, code version and status (unhealthy: no recent heartbeat)",
  });
  const inflight = meter.createObservableGauge("jetflow.fleet.inflight", {
    unit: "{task}",
    description: "Tasks in flight on the live workers of a queue",
  });
  const capacity = meter.createObservableGauge("jetflow.fleet.capacity", {
    unit: "{task}",
    description: "Concurrent tasks the healthy running workers of a queue can take",
  });
  const callback: BatchObservableCallback = async (result) => {
    let list: readonly JudgedWorker[];
    try {
      list = await read();
    } catch (err) {
      onError(err);
      return;
    }
    const { queues, groups } = summarizeFleet(list);
    for (const g of groups)
      result.observe(workers, g.count, {
        "jetflow.queue": g.queue,
        "jetflow.code_version": g.codeVersion,
        "jetflow.worker.status": g.status,
      });
    for (const q of queues) {
      result.observe(inflight, q.inFlight, { "jetflow.queue": q.queue });
      result.observe(capacity, q.capacity, { "jetflow.queue": q.queue });
    }
  };
  meter.addBatchObservableCallback(callback, [workers, inflight, capacity]);
  return () => meter.removeBatchObservableCallback(callback, [workers, inflight, capacity]);
}
