/**
 * Wakes a remote stage's run the moment its task's outcome is recorded, instead of at the remote
 * stage's next poll (5 s by default): the outcome is committed before the report is acked, so
 * the check finds it. Polling stays as the fallback for wake-ups this process never sees (an
 * outcome recorded by another orchestrator is also woken there).
 */
import type { Kernel } from "../kernel/types.js";
import type { Logger } from "../ports/logger.js";
import { silentLogger } from "../ports/logger.js";
import { errorMessage } from "../kernel/deps.js";
import type { OutcomeListener } from "./outcome-waiters.js";

/**
 * Subscribes to `broker`'s outcomes and dispatches `stage.wake` for each; returns the unsubscribe.
 * Failures are logged (warn), never thrown: the next poll of the stage picks the outcome up.
 */
export function wakeSuspendedStages(
  broker: { onOutcome(listener: OutcomeListener): () => void },
  kernel: Pick<Kernel, "dispatch">,
  logger: Logger = silentLogger,
): () => void {
  return broker.onOutcome((taskId, ref) => {
    if (!ref) return; // a cancelled run's tasks: nothing to resume
    kernel.dispatch({ type: "stage.wake", workflowRunId: ref.workflowRunId, stageId: ref.stageId }).catch((err: unknown) => {
      logger.warn(
        { taskId, ...ref, err: errorMessage(err) },
        "waking the stage of a finished remote task failed; its next poll resumes it",
      );
    });
  });
}
