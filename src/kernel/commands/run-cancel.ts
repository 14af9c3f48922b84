import { TERMINAL_RUN_STATUSES, TERMINAL_STAGE_STATUSES } from "../../ports/records.js";
import type { RunCancelCommand, RunCancelResult } from "../commands.js";
import { type KernelDeps, errorMessage } from "../deps.js";
import { RunNotFoundError } from "../../contract/errors.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { kickGrants } from "./stage-admit-waiting.js";

/**
 * run.cancel: authoritative. The run and every non-terminal stage become CANCELLED in one
 * transaction; queued jobs turn into ghosts when dequeued; executions in this process are
 * aborted and `onRunCancelled` interrupts remote ones.
 */
export async function runCancel(deps: KernelDeps, cmd: RunCancelCommand): Promise<RunCancelResult> {
  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  const reason = cmd.reason ?? "cancelled";
  const res = await deps.persistence.transaction(async (tx): Promise<RunCancelResult> => {
    const run = await tx.getRun(cmd.workflowRunId, { forUpdate: true });
    if (!run) throw new RunNotFoundError(cmd.workflowRunId);
    if (TERMINAL_RUN_STATUSES.includes(run.status)) return { cancelled: false, status: run.status };
    await tx.updateRun(run.id, { status: "CANCELLED", error: reason, completedAt: now, lastActivityAt: now }, now);
    for (const s of await tx.listStages(run.id)) {
      if (TERMINAL_STAGE_STATUSES.includes(s.status)) continue;
      await tx.updateStage(
        run.id,
        s.stageId,
        { status: "CANCELLED", error: reason, completedAt: now, executionToken: null, nextPollAt: null },
        now,
      );
      batch.event(run, "stage:cancelled", { reason }, s.stageId);
    }
    batch.event(run, "workflow:cancelled", { reason });
    await batch.write(tx);
    return { cancelled: true, status: "CANCELLED" };
  });
  await deliverFastPath(deps, batch);
  if (!res.cancelled) return res;
  if (deps.grantKick.seenLimited) kickGrants(deps); // its stages' slots are free now
  for (const ac of deps.inflight.get(cmd.workflowRunId) ?? []) ac.abort(new Error(`run ${cmd.workflowRunId} was cancelled: ${reason}`));
  if (deps.onRunCancelled) {
    try {
      await deps.onRunCancelled(cmd.workflowRunId);
    } catch (err) {
      // The cancel is committed; remote activities still stop at their next heartbeat reply.
      deps.logger.error({ workflowRunId: cmd.workflowRunId, err: errorMessage(err) }, "onRunCancelled hook failed");
    }
  }
  return res;
}
