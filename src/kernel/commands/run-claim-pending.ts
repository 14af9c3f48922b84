import type { PersistenceTx } from "../../ports/persistence.js";
import type { RunRecord } from "../../ports/records.js";
import type { RunClaimPendingCommand, RunClaimPendingResult } from "../commands.js";
import { type KernelDeps, errorMessage } from "../deps.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { failRun, newGroupStages, startGroup } from "../run-helpers.js";
import { preLockLimits, queueOrPark } from "./stage-admit-waiting.js";
import type { AnyWorkflow } from "../../builder/types.js";

type Claimed = RunClaimPendingResult["claimed"];

/**
 * run.claimPending: moves PENDING runs to RUNNING and queues their first group's jobs. The claim
 * and the start of every claimed run share one transaction (one commit for the whole batch, and
 * no run is ever left claimed but unstarted); if that batch fails, runs are claimed and started
 * one transaction each, so one run that cannot start never blocks the others.
 */
export async function runClaimPending(deps: KernelDeps, cmd: RunClaimPendingCommand): Promise<RunClaimPendingResult> {
  const limit = cmd.maxClaims ?? 10;
  try {
    return { claimed: await claimAndStart(deps, cmd.workerId, limit) };
  } catch (err) {
    deps.logger.warn({ err: errorMessage(err) }, "claiming and starting runs as one batch failed; starting them one by one");
  }
  const now = deps.clock.now();
  const runs = await deps.persistence.claimPendingRuns(limit, cmd.workerId, now);
  const claimed: Claimed = [];
  for (const run of runs) {
    try {
      const jobIds = await startRun(deps, run);
      if (jobIds) claimed.push({ workflowRunId: run.id, workflowId: run.workflowId, jobIds });
    } catch (err) {
      // run.reapStuck retries it later.
      deps.logger.error({ workflowRunId: run.id, err: errorMessage(err) }, "could not start claimed run");
    }
  }
  return { claimed };
}

async function claimAndStart(deps: KernelDeps, workerId: string, limit: number): Promise<Claimed> {
  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  const claimed = await deps.persistence.transaction(async (tx) => {
    // The claim's UPDATE holds every claimed row locked until this transaction ends.
    const out = await startAllLocked(deps, tx, await tx.claimPendingRuns(limit, workerId, now), now, batch);
    await batch.write(tx);
    return out;
  });
  await deliverFastPath(deps, batch);
  return claimed;
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
    const ids = await startLocked(deps, tx, run, now, batch);
    await batch.write(tx);
    return ids;
  });
  await deliverFastPath(deps, batch);
  return jobIds;
}

/**
 * Group 0 of every claimed run (RUNNING, not started, rows locked by `tx`) with a fixed number
 * of statements whatever the batch size: one insert of all their stages and one update of all
 * the runs (one of each per run made a 100-run claim 200 round trips). A run that cannot start
 * is failed on its own, as startLocked does.
 */
async function startAllLocked(deps: KernelDeps, tx: PersistenceTx, runs: RunRecord[], now: Date, batch: OutboxBatch): Promise<Claimed> {
  const startable: { run: RunRecord; workflow: AnyWorkflow }[] = [];
  for (const run of runs) {
    const workflow = deps.registry.getWorkflow(run.workflowId);
    if (workflow && workflow.groups.length > 0) startable.push({ run, workflow });
    else await startLocked(deps, tx, run, now, batch);
  }
  const rows = await tx.upsertStages(startable.flatMap(({ run, workflow }) => newGroupStages(deps, run, workflow, 0, now)));
  await tx.updateRuns(
    startable.map(({ run }) => run.id),
    { currentGroupIndex: 0, lastActivityAt: now },
    now,
  );
  await preLockLimits(
    tx,
    startable.map(({ run, workflow }) => ({ run, defs: workflow.groups[0]!.stages })),
  );
  const byKey = new Map(rows.map((r) => [`${r.workflowRunId}\u0000${r.stageId}`, r]));
  const out: Claimed = [];
  for (const { run, workflow } of startable) {
    const jobIds: string[] = [];
    // Same rows, jobs and events, in the same order, as startGroup + startLocked write for one run.
    for (const def of workflow.groups[0]!.stages) {
      const row = byKey.get(`${run.id}\u0000${def.id}`);
      if (row?.status !== "PENDING") continue;
      const jobId = await queueOrPark(deps, tx, batch, run, row, def, now);
      if (jobId) jobIds.push(jobId);
    }
    batch.event(run, "workflow:started", { groupIndex: 0 });
    out.push({ workflowRunId: run.id, workflowId: run.workflowId, jobIds });
  }
  return out;
}

/** Group 0 of `run` (RUNNING, not started, row locked by `tx`): its stages, jobs and events into `batch`. */
async function startLocked(deps: KernelDeps, tx: PersistenceTx, run: RunRecord, now: Date, batch: OutboxBatch): Promise<string[] | null> {
  const workflow = deps.registry.getWorkflow(run.workflowId);
  if (!workflow || workflow.groups.length === 0) {
    const why = !workflow ? `workflow "${run.workflowId}" is not registered on this kernel` : `workflow "${run.workflowId}" has no stages`;
    await failRun(tx, run, why, now, batch);
    return null;
  }
  const ids = await startGroup(deps, tx, run, workflow, 0, now, batch);
  await tx.updateRun(run.id, { currentGroupIndex: 0, lastActivityAt: now }, now);
  batch.event(run, "workflow:started", { groupIndex: 0 });
  return ids;
}
