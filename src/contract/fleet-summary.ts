/**
 * What the fleet registry says per queue: workers by status, tasks in flight and the capacity that
 * may still pull. One definition shared by the `jetflow.fleet.*` gauges and `jetflow workers list`,
 * so a dashboard and the CLI never disagree about what "live" means.
 */
import type { FleetWorkerStatus, WorkerRecord } from "./fleet.js";

/** A registry entry with the reader's health verdict (what `listWorkers` returns). */
export type JudgedWorker = Pick<WorkerRecord, "queue" | "stageCodeVersion" | "status" | "inFlight" | "maxConcurrentTasks"> & {
  healthy: boolean;
};

/** A worker's status as the fleet summary counts it: `unhealthy` when its heartbeat is stale. */
export type FleetSummaryStatus = FleetWorkerStatus | "unhealthy";

/** One queue of the fleet. */
export interface QueueSummary {
  queue: string;
  /** Workers by summary status (only statuses that occur). */
  byStatus: Partial<Record<FleetSummaryStatus, number>>;
  /** Tasks in flight on live workers (healthy, not stopped or failed; draining ones included). */
  inFlight: number;
  /** Sum of `maxConcurrentTasks` of the healthy workers that may still pull (`starting`, `running`). */
  capacity: number;
}

/** Workers of one (queue, code version, status). */
export interface FleetGroup {
  queue: string;
  codeVersion: string;
  status: FleetSummaryStatus;
  count: number;
}

/** The status a summary counts: a worker not heard from is `unhealthy`, whatever it last said. */
export function summaryStatus(w: JudgedWorker): FleetSummaryStatus {
  return w.healthy ? w.status : "unhealthy";
}

const live = (w: JudgedWorker) => w.healthy && w.status !== "stopped" && w.status !== "failed";
const pulling = (w: JudgedWorker) => w.healthy && (w.status === "running" || w.status === "starting");

/** Per-queue summaries (sorted by queue) and per (queue, version, status) counts of `workers`. */
export function summarizeFleet(workers: readonly JudgedWorker[]): { queues: QueueSummary[]; groups: FleetGroup[] } {
  const queues = new Map<string, QueueSummary>();
  const groups = new Map<string, FleetGroup>();
  for (const w of workers) {
    const status = summaryStatus(w);
    const q = queues.get(w.queue) ?? { queue: w.queue, byStatus: {}, inFlight: 0, capacity: 0 };
    q.byStatus[status] = (q.byStatus[status] ?? 0) + 1;
    if (live(w)) q.inFlight += w.inFlight;
    if (pulling(w)) q.capacity += w.maxConcurrentTasks;
    queues.set(w.queue, q);
    const key = JSON.stringify([w.queue, w.stageCodeVersion, status]);
    const g = groups.get(key) ?? { queue: w.queue, codeVersion: w.stageCodeVersion, status, count: 0 };
    g.count++;
    groups.set(key, g);
  }
  return { queues: [...queues.values()].sort((a, b) => a.queue.localeCompare(b.queue)), groups: [...groups.values()] };
}
