import type { ActivityExecutor, ActivityRequest } from "../ports/activity-executor.js";
import type { StageOutcome } from "../contract/stage-types.js";

/**
 * The default executor: runs the stage's `execute()` in this process with the kernel-built
 * context. A throw is the attempt's failure (the kernel decides about retries).
 */
export function createLocalExecutor(): ActivityExecutor {
  return {
    async execute(request: ActivityRequest): Promise<StageOutcome<unknown>> {
      if (request.signal.aborted) {
        throw request.signal.reason instanceof Error ? request.signal.reason : new Error("execution aborted before it started");
      }
      return request.stage.execute(request.context);
    },
  };
}
