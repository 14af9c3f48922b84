/**
 * Wires the remote-task wait explainer (adapters/jetstream/remote/task-waits.ts) into `runs.get`
 * (a task's band comes from the priority stored with it).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { createTaskWaitExplainer } from "../adapters/jetstream/remote/task-waits.js";
import type { ActivityTaskStore } from "../src/ports/activity-task-store.js";
import type { Logger } from "../src/ports/logger.js";
import type { RunView } from "../src/kernel/types.js";
import type { Topology } from "../src/contract/topology.js";
import type { StageWaitJson } from "../src/contract/api-messages.js";

/** `runs.get`'s `taskWaits` source for an orchestrator serving remote activities. */
export function taskWaitsOf(
  nc: NatsConnection,
  topology: Topology,
  store: Pick<ActivityTaskStore, "listTasks">,
  logger: Logger,
): (view: RunView) => Promise<StageWaitJson[]> {
  const explainer = createTaskWaitExplainer({
    nc,
    topology,
    store,
  });
  // The reasons are an explanation, not the run's state: a registry or consumer read that fails
  // leaves them out (logged) instead of failing the whole `runs.get`.
  return (view) =>
    explainer.explain(view).catch((err: unknown) => {
      logger.warn({ err: (err as Error).message, workflowRunId: view.run.id }, "runs.get: could not tell why remote tasks wait");
      return [];
    });
}
