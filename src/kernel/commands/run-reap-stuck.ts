import type { RunRecord } from "../../ports/records.js";
import type { RunReapStuckCommand, RunReapStuckResult } from "../commands.js";
import { type KernelDeps, errorMessage } from "../deps.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { failRun, queueStageJob, startGroup } from "../run-helpers.js";
import { startRun } from "./run-claim-pending.js";

type Repair = "transition" | "requeued" | "failed" | "waiting";

/**
 * run.reapStuck: repairs RUNNING runs with no activity. A completed group whose transition
 * was lost is transitioned; PENDING/RUNNING stages whose job was lost get it re-enqueued
 * (same job id; fencing makes a duplicate harmless); an unrepairable run is failed.
 */
export async function runReapStuck(deps: KernelDeps, cmd: RunReapStuckCommand): Promise<RunReapStuckResult> {
  const now = deps.clock.now();
  const threshold = cmd.stuckThresholdMs ?? deps.options.stuckThresholdMs;
  const max = cmd.maxRuns ?? 50;
  const stale = await deps.persistence.findStaleRunningRuns(new Date(now.getTime() - threshold), max);
  // Claimed runs whose first group never started are repaired after a much shorter wait: nothing
  // of theirs can be running. (Without this a run claimed during a Postgres blip waited 5 min.)
  const unstartedBefore = new Date(now.getTime() - Math.min(threshold, deps.options.unstartedRunThresholdMs));
  const unstarted = (await deps.persistence.findStaleRunningRuns(unstartedBefore, max * 10)).filter((r) => r.currentGroupIndex < 0);
  const seen = new Set(stale.map((r) => r.id));
  const runs = [...stale, ...unstarted.filter((r) => !seen.has(r.id)).slice(0, max)];
  const result: RunReapStuckResult = { inspected: 0, requeued: 0, failed: 0, runIds: [] };
  for (const run of runs) {
    result.inspected++;
    try {
      const { repair, jobs } = await repairRun(deps, run);
      if (repair === "transition") {
        const t = await deps.dispatch({ type: "run.transition", workflowRunId: run.id });
        if (t.action === "failed") result.failed++;
      }
      if (repair === "requeued") result.requeued += jobs;
      if (repair === "failed") result.failed++;
      if (repair !== "waiting") result.runIds.push(run.id);
    } catch (err) {
      deps.logger.error({ workflowRunId: run.id, err: errorMessage(err) }, "could not repair stuck run");
    }
  }
  return result;
}

async function repairRun(deps: KernelDeps, stale: RunRecord): Promise<{ repair: Repair; jobs: number }> {
  if (stale.currentGroupIndex < 0) {
    // Claimed but its first group never started (crash inside run.claimPending).
    const ids = await startRun(deps, stale);
    return ids === null ? { repair: "failed", jobs: 0 } : { repair: "requeued", jobs: ids.length };
  }
  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  const out = await deps.persistence.transaction(async (tx): Promise<{ repair: Repair; jobs: number }> => {
    const run = await tx.getRun(stale.id, { forUpdate: true });
    // Someone made progress since we looked: not stuck any more.
    if (!run || run.status !== "RUNNING" || run.lastActivityAt.getTime() !== stale.lastActivityAt.getTime()) {
      return { repair: "waiting", jobs: 0 };
    }
    const workflow = deps.registry.getWorkflow(run.workflowId);
    const group = workflow?.groups[run.currentGroupIndex];
    if (!workflow || !group) {
      const why = !workflow
        ? `workflow "${run.workflowId}" is not registered on this kernel`
        : `run is at group ${run.currentGroupIndex}, which workflow "${workflow.id}" does not have`;
      await failRun(tx, run, `stuck run could not be repaired: ${why}`, now, batch);
      await batch.write(tx);
      return { repair: "failed", jobs: 0 };
    }
    const stages = (await tx.listStages(run.id)).filter((s) => s.groupIndex === run.currentGroupIndex);
    const settled = group.stages.every((d) =>
      stages.some((s) => s.stageId === d.id && (s.status === "COMPLETED" || s.status === "FAILED")),
    );
    if (settled) return { repair: "transition", jobs: 0 };
    let jobs = 0;
    if (stages.length < group.stages.length) {
      // Some rows of the group were never created: startGroup upserts them and queues their jobs.
      jobs += (await startGroup(deps, tx, run, workflow, run.currentGroupIndex, now, batch)).length;
    }
    for (const s of stages) {
      if (s.status === "PENDING") {
        queueStageJob(batch, run, s, s.attempt + 1);
        jobs++;
      } else if (s.status === "RUNNING") {
        // Same attempt's job id: a redelivery takes the stage over with a new execution token.
        queueStageJob(batch, run, s, s.attempt);
        jobs++;
      }
    }
    // Bump activity either way, so a run waiting only on SUSPENDED stages is not rescanned every tick.
    await tx.updateRun(run.id, { lastActivityAt: now }, now);
    await batch.write(tx);
    return jobs > 0 ? { repair: "requeued", jobs } : { repair: "waiting", jobs: 0 };
  });
  await deliverFastPath(deps, batch);
  return out;
}
