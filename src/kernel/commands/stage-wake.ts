import type { StageWakeCommand, StageWakeResult } from "../commands.js";
import type { KernelDeps } from "../deps.js";

/**
 * Due before every scheduled check: claimDueSuspendedStages takes the soonest first, so a woken
 * stage is the next one any poller (this kernel or another orchestrator's) looks at.
 */
const WOKEN = new Date(0);

/**
 * stage.wake: the external work of a SUSPENDED stage just finished (a remote task's outcome was
 * recorded), so check it now instead of at its next poll. Marks the stage due at once, then runs
 * one `stage.pollSuspended` check. A stage that is no longer SUSPENDED is left alone; a lost
 * wake-up costs at most the stage's poll interval, which stays the fallback.
 */
export async function stageWake(deps: KernelDeps, cmd: StageWakeCommand): Promise<StageWakeResult> {
  // Noted first: a suspension committing while this update runs then wakes its stage itself.
  deps.earlyWakes.note(cmd.workflowRunId, cmd.stageId);
  const woken = await deps.persistence.updateStage(cmd.workflowRunId, cmd.stageId, { nextPollAt: WOKEN }, deps.clock.now(), {
    status: ["SUSPENDED"],
  });
  if (!woken) return { woken: false, resumed: false };
  deps.earlyWakes.forget(cmd.workflowRunId, cmd.stageId);
  const r = await deps.dispatch({ type: "stage.pollSuspended", maxChecks: 1 });
  return { woken: true, resumed: r.resumedRunIds.includes(cmd.workflowRunId) };
}
