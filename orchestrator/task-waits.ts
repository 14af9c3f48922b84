/**
 * Wires the wait explainers into `runs.get`: remote tasks no worker has started
 * (adapters/jetstream/remote/task-waits.ts; a task's band is the priority stored with it) and,
 * on the JetStream job transport, PENDING stages whose job waits behind higher-priority jobs
 * (adapters/jetstream/job-waits.ts).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { createTaskWaitExplainer } from "../adapters/jetstream/remote/task-waits.js";
import { createJobWaitExplainer } from "../adapters/jetstream/job-waits.js";
import type { ActivityTaskStore } from "../src/ports/activity-task-store.js";
import type { Logger } from "../src/ports/logger.js";
import type { RunView } from "../src/kernel/types.js";
import type { Topology } from "../src/contract/topology.js";
import type { StageWaitJson } from "../src/contract/api-messages.js";

/**
 * `runs.get`'s `taskWaits` source: `store` when this orchestrator serves remote activities,
 * `jetstreamJobs` when its kernel jobs run on JetStream. Null when neither applies.
 */
export function taskWaitsOf(
  nc: NatsConnection,
  topology: Topology,
  o: { store?: Pick<ActivityTaskStore, "listTasks"> | null | undefined; jetstreamJobs: boolean },
  logger: Logger,
): ((view: RunView) => Promise<StageWaitJson[]>) | null {
  const explainers = [
    ...(o.store ? [{ what: "remote tasks", explainer: createTaskWaitExplainer({ nc, topology, store: o.store }) }] : []),
    ...(o.jetstreamJobs ? [{ what: "kernel jobs", explainer: createJobWaitExplainer({ nc, topology }) }] : []),
  ];
  if (explainers.length === 0) return null;
  // The reasons are an explanation, not the run's state: a registry or consumer read that fails
  // leaves them out (logged) instead of failing the whole `runs.get`.
  return async (view) =>
    (
      await Promise.all(
        explainers.map(({ what, explainer }) =>
          explainer.explain(view).catch((err: unknown) => {
            logger.warn({ err: (err as Error).message, workflowRunId: view.run.id }, `runs.get: could not tell why ${what} wait`);
            return [];
          }),
        ),
      )
    ).flat();
}
