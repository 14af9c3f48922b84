import type { JobDeadLetterCommand, JobDeadLetterResult, LeaseReapStaleCommand, LeaseReapStaleResult } from "../commands.js";
import { type KernelDeps, errorMessage } from "../deps.js";
import { RunNotFoundError } from "../../contract/errors.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { failStageAndRun } from "../run-helpers.js";

/** lease.reapStale: lets the transport release expired leases and fails stages whose jobs it gave up on. */
export async function leaseReapStale(deps: KernelDeps, cmd: LeaseReapStaleCommand): Promise<LeaseReapStaleResult> {
  const { released, deadLettered } = await deps.jobTransport.releaseStale(deps.clock.now(), cmd.staleThresholdMs);
  for (const { job, reason } of deadLettered) {
    try {
      await deps.dispatch({ type: "job.deadLetter", workflowRunId: job.workflowRunId, stageId: job.stageId, attempt: job.attempt, reason });
    } catch (err) {
      deps.logger.error({ jobId: job.jobId, err: errorMessage(err) }, "could not fail the stage of a dead-lettered job");
    }
  }
  return { released, deadLettered: deadLettered.length };
}

/**
 * job.deadLetter: fails the stage (and run) of a job the transport stopped delivering —
 * unless the stage already moved on to a newer attempt or finished.
 */
export async function jobDeadLetter(deps: KernelDeps, cmd: JobDeadLetterCommand): Promise<JobDeadLetterResult> {
  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  const failed = await deps.persistence.transaction(async (tx) => {
    const run = await tx.getRun(cmd.workflowRunId, { forUpdate: true });
    if (!run) throw new RunNotFoundError(cmd.workflowRunId);
    if (run.status !== "RUNNING") return false;
    const stage = await tx.getStage(run.id, cmd.stageId, { forUpdate: true });
    if (!stage) return false;
    const current =
      (stage.status === "RUNNING" && cmd.attempt >= stage.attempt) || (stage.status === "PENDING" && cmd.attempt > stage.attempt);
    if (!current) return false;
    const error = `job ${run.id}:${cmd.stageId}:${cmd.attempt} was dead-lettered by the job transport after attempt ${cmd.attempt} of ${stage.maxAttempts}: ${cmd.reason}`;
    await failStageAndRun(tx, run, cmd.stageId, error, now, batch);
    await batch.write(tx);
    return true;
  });
  await deliverFastPath(deps, batch);
  return { failed };
}
