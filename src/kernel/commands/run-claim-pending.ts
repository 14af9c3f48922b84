import type { RunRecord } from "../../ports/records.js";
import type { RunClaimPendingCommand, RunClaimPendingResult } from "../commands.js";
import { type KernelDeps, errorMessage } from "../deps.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { failRun, startGroup } from "../run-helpers.js";

/** run.claimPending: moves PENDING runs to RUNNING and queues their first group's jobs. */
export async function runClaimPending(deps: KernelDeps, cmd: RunClaimPendingCommand): Promise<RunClaimPendingResult> {
  const now = deps.clock.now();
  const runs = await deps.persistence.claimPendingRuns(cmd.maxClaims ?? 10, cmd.workerId, now);
  const claimed: RunClaimPendingResult["claimed"] = [];
  for (const run of runs) {
    try {
      const jobIds = await startRun(deps, run);
      if (jobIds) claimed.push({ workflowRunId: run.id, workflowId: run.workflowId, jobIds });
    } catch (err) {
      // One broken run must not block the others; run.reapStuck retries it later.
      deps.logger.error({ workflowRunId: run.id, err: errorMessage(err) }, "could not start claimed run");
    }
  }
  return { claimed };
}

/**
 * Starts group 0 of a claimed run (also used by run.reapStuck for a run claimed but never
 * started). Returns the queued job ids, or null when the run had to be failed.
 */
export async function startRun(deps: KernelDeps, claimedRun: RunRecord): Promise<string[] | null> {
  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  const jobIds = await deps.persistence.transaction(async (tx) => {
    const run = await tx.getRun(claimedRun.id, { forUpdate: true });
    if (!run || run.status !== "RUNNING" || run.currentGroupIndex >= 0) return null;
    const workflow = deps.registry.getWorkflow(run.workflowId);
    if (!workflow || workflow.groups.length === 0) {
      const why = !workflow
        ? `workflow "${run.workflowId}" is not registered on this kernel`
        : `workflow "${run.workflowId}" has no stages`;
      await failRun(tx, run, why, now, batch);
      await batch.write(tx);
      return null;
    }
    const ids = await startGroup(deps, tx, run, workflow, 0, now, batch);
    await tx.updateRun(run.id, { currentGroupIndex: 0, lastActivityAt: now }, now);
    batch.event(run, "workflow:started", { groupIndex: 0 });
    await batch.write(tx);
    return ids;
  });
  await deliverFastPath(deps, batch);
  return jobIds;
}
