/**
 * Why a SUSPENDED stage's remote task has not started (docs/flow-control.md, "Why is it waiting?"):
 * for each of a run's PENDING tasks, judged from the worker registry and the task consumers at the
 * moment of the `runs.get` request:
 *
 * - `no-worker`: no live worker of the queue/version has the required labels (the unserved-task
 *   watch's judgement, {@link workersServing}).
 * - `lower-priority`: the task is in band normal or low and the higher bands' consumers of the same
 *   (queue, version, label set) hold pending deliveries (their `num_pending`).
 * - `workers-busy`: every live worker able to serve it uses all its slots (registry `inFlight`).
 *
 * A task that fits none (a worker has a free slot and nothing outranks it) gets no reason: it is
 * about to be pulled. Registry walks and consumer reads are cached for `cacheMs`, so a console
 * polling many runs costs one registry walk and one read per consumer per period.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import type { ActivityTaskRecord, ActivityTaskStore } from "../../../src/ports/activity-task-store.js";
import type { RunView } from "../../../src/kernel/types.js";
import type { Topology } from "../../../src/contract/topology.js";
import type { StageWaitJson } from "../../../src/contract/api-messages.js";
import { PRIORITY_BANDS, priorityBand } from "../../../src/contract/priority.js";
import { taskConsumerName } from "../../../src/contract/label-routing.js";
import { workersServing } from "../../../src/contract/fleet.js";
import { parseOptions } from "../../../src/contract/options.js";
import { listWorkers, type WorkerListing } from "../fleet/registry.js";
import { cached, consumerPendingReader } from "../consumer-pending.js";

/** Defaults of {@link createTaskWaitExplainer}. */
export const TASK_WAIT_EXPLAINER_DEFAULTS = {
  /** How long a registry walk or a consumer's pending count is reused. */
  cacheMs: 1_500,
  /** Most PENDING tasks of one run judged per request. */
  maxTasks: 200,
} as const;

const ExplainerSchema = z
  .object({
    cacheMs: z.number().int().min(0).max(60_000).default(TASK_WAIT_EXPLAINER_DEFAULTS.cacheMs),
    maxTasks: z.number().int().min(1).max(1_000).default(TASK_WAIT_EXPLAINER_DEFAULTS.maxTasks),
  })
  .strict();

/** Options of {@link createTaskWaitExplainer} besides its collaborators. */
export type TaskWaitExplainerOptions = z.input<typeof ExplainerSchema>;

/** A waiting reason as `runs.get` returns it. */
export type TaskWait = StageWaitJson;

/** What the explainer reads. */
export interface TaskWaitExplainerDeps {
  nc: NatsConnection;
  topology: Topology;
  store: Pick<ActivityTaskStore, "listTasks">;
}

/** Explains the waits of one run's remote tasks. */
export interface TaskWaitExplainer {
  explain(view: RunView): Promise<TaskWait[]>;
}

const labelText = (l: Record<string, string>) =>
  Object.entries(l)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/**
 * Why no live worker serves a task (queue, then version, then labels), or null when one does.
 * Shared with the unserved-task watch so both say the same thing.
 */
export function noWorkerDetail(
  workers: readonly WorkerListing[],
  t: { queue: string; codeVersion: string; requiredLabels: Record<string, string> },
): string | null {
  if (workersServing(workers, t).length > 0) return null;
  const live = workers.filter((w) => w.healthy && w.status === "running");
  const ofQueue = live.filter((w) => w.queue === t.queue);
  if (ofQueue.length === 0) return `no live worker serves queue "${t.queue}"`;
  const ofVersion = ofQueue.filter((w) => w.stageCodeVersion === t.codeVersion);
  if (ofVersion.length === 0)
    return `no live worker of queue "${t.queue}" runs code version "${t.codeVersion}" (running: ${[...new Set(ofQueue.map((w) => w.stageCodeVersion))].join(", ")})`;
  return `no live worker of queue "${t.queue}" version "${t.codeVersion}" has the labels ${labelText(t.requiredLabels)} (${ofVersion.length} live worker(s) lack them)`;
}

/** Creates an explainer; it holds only caches (nothing to stop). */
export function createTaskWaitExplainer(deps: TaskWaitExplainerDeps, options: TaskWaitExplainerOptions = {}): TaskWaitExplainer {
  const o = parseOptions("task wait explainer", ExplainerSchema, options);
  const workers = cached(o.cacheMs, () => listWorkers(deps.nc, { prefix: deps.topology.prefix }));
  /** Pending deliveries of one task consumer; an absent consumer holds none. */
  const pendingOf = consumerPendingReader(deps.nc, deps.topology.streams.tasks, o.cacheMs);

  async function explainTask(view: RunView, t: ActivityTaskRecord, all: WorkerListing[]): Promise<TaskWait | null> {
    const base = { stageId: t.stageId, retryAt: null, since: t.createdAt.toISOString() };
    const none = noWorkerDetail(all, t);
    if (none) return { ...base, reason: "no-worker", detail: none };
    const band = priorityBand(t.priority);
    const higher = PRIORITY_BANDS.slice(0, PRIORITY_BANDS.indexOf(band));
    if (higher.length > 0) {
      const counts = await Promise.all(higher.map((b) => pendingOf(taskConsumerName(t.queue, t.codeVersion, t.requiredLabels, b))));
      const ahead = counts.reduce((a, b) => a + b, 0);
      if (ahead > 0) {
        const what = higher.length === 1 ? `${higher[0]}-priority` : "higher-priority";
        return { ...base, reason: "lower-priority", detail: `behind ${ahead} pending ${what} task(s) on queue "${t.queue}"` };
      }
    }
    const serving = workersServing(all, t);
    const used = serving.reduce((a, w) => a + Math.min(w.inFlight, w.maxConcurrentTasks), 0);
    const slots = serving.reduce((a, w) => a + w.maxConcurrentTasks, 0);
    if (used >= slots)
      return {
        ...base,
        reason: "workers-busy",
        detail: `all ${serving.length} live worker(s) able to run it are busy: ${used}/${slots} slots in use`,
      };
    return null;
  }

  return {
    async explain(view) {
      const suspended = new Set(view.stages.filter((s) => s.status === "SUSPENDED").map((s) => s.stageId));
      if (suspended.size === 0) return [];
      const tasks = (await deps.store.listTasks({ workflowRunId: view.run.id, status: ["PENDING"], limit: o.maxTasks })).filter((t) =>
        suspended.has(t.stageId),
      );
      if (tasks.length === 0) return [];
      const all = await workers();
      const out: TaskWait[] = [];
      for (const t of tasks) {
        const w = await explainTask(view, t, all);
        if (w) out.push(w);
      }
      return out;
    },
  };
}
