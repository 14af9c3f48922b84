import type { ActivityExecutor, ActivityRequest } from "../ports/activity-executor.js";
import type { StageOutcome } from "../contract/stage-types.js";
import { createLocalExecutor } from "./local.js";

/** Options of {@link createRoutingExecutor}: which executor runs which stage. */
export interface RoutingExecutorOptions {
  /** Executor for the listed stages (e.g. `createRemoteExecutor(...)`). */
  remote: ActivityExecutor;
  /** Executor for every other stage. Default `createLocalExecutor()`. */
  local?: ActivityExecutor;
  /** Stage ids that run remotely. */
  remoteStageIds: Iterable<string>;
}

/**
 * Sends the listed stages to `remote` and every other stage to `local`, so a workflow can
 * offload only its heavy stages without changing their definitions.
 */
export function createRoutingExecutor(opts: RoutingExecutorOptions): ActivityExecutor {
  if (!opts || typeof opts.remote?.execute !== "function") {
    throw new TypeError("createRoutingExecutor: `remote` must be an ActivityExecutor");
  }
  const remoteIds = new Set(opts.remoteStageIds);
  for (const id of remoteIds) {
    if (typeof id !== "string" || id === "") throw new TypeError("createRoutingExecutor: remoteStageIds must be non-empty strings");
  }
  const local = opts.local ?? createLocalExecutor();
  return {
    execute(request: ActivityRequest): Promise<StageOutcome<unknown>> {
      return remoteIds.has(request.stageId) ? opts.remote.execute(request) : local.execute(request);
    },
  };
}
