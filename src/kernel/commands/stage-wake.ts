import type { StageWakeCommand, StageWakeResult } from "../commands.js";
import type { KernelDeps } from "../deps.js";
import { checkClaimedStage } from "./stage-poll-suspended.js";

/**
 * stage.wake: the external work of a SUSPENDED stage just finished (a remote task's outcome was
 * recorded), so check it now instead of at its next poll. One write claims this stage for the
 * check (its nextPollAt moves a check lease ahead, as stage.pollSuspended's claim does), then the
 * check runs here. A stage that is no longer SUSPENDED is left alone; a lost wake-up costs at most
 * the stage's poll interval, which stays the fallback.
 */
export async function stageWake(deps: KernelDeps, cmd: StageWakeCommand): Promise<StageWakeResult> {
  // Noted first: a suspension committing while this update runs then wakes its stage itself.
  deps.earlyWakes.note(cmd.workflowRunId, cmd.stageId);
  const now = deps.clock.now();
  const claimed = await deps.persistence.updateStage(
    cmd.workflowRunId,
    cmd.stageId,
    { nextPollAt: new Date(now.getTime() + deps.options.suspendedCheckLeaseMs) },
    now,
    { status: ["SUSPENDED"] },
  );
  if (!claimed) return { woken: false, resumed: false };
  deps.earlyWakes.forget(cmd.workflowRunId, cmd.stageId);
  return { woken: true, resumed: (await checkClaimedStage(deps, claimed)) === "resumed" };
}
