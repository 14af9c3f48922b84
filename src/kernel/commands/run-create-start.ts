/**
 * run.create's start in the same write: when this process runs a host (KernelConfig
 * `startOnCreate`) and no run is PENDING, the new run is created RUNNING with its first group's
 * stages and jobs, the rows and events run.claimPending would write a moment later, in one
 * statement instead of a statement and a claim transaction. A backlog of PENDING runs is left
 * to the hosts' claims (priority order), and a first group with limited stages takes the claim
 * path, which admits them under their limits' locks.
 */
import type { AnyWorkflow } from "../../builder/types.js";
import type { NewRun } from "../../ports/persistence.js";
import type { RunCreateResult } from "../commands.js";
import type { KernelDeps } from "../deps.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { newGroupStages, queueStageJob } from "../run-helpers.js";
import type { RunStarter } from "../types.js";

/**
 * Creates `run` under `key` and starts it when it can. Returns "exists" when the key was stored
 * before (nothing written: the caller replays it), and null when this case does not apply
 * (nothing written: the caller takes its plain create).
 */
export async function createAndStart(
  deps: KernelDeps,
  workflow: AnyWorkflow,
  run: NewRun,
  key: { command: string; key: string; result: RunCreateResult },
  starter: RunStarter,
): Promise<"started" | "pending" | "exists" | null> {
  const group = workflow.groups[0];
  if (!group || group.stages.some((def) => def.limits)) return null;
  const batch = new OutboxBatch(deps, run.now);
  const ref = { id: run.id, workflowId: run.workflowId, priority: run.priority, traceContext: run.traceContext };
  batch.event(ref, "workflow:created", { input: run.input, priority: run.priority });
  const createdRows = batch.rows.length;
  // The same rows, jobs and events, in the same order, as run.claimPending writes for a claimed run.
  const stages = newGroupStages(deps, run, workflow, 0, run.now);
  for (const s of stages) queueStageJob(batch, ref, s, 1);
  batch.event(ref, "workflow:started", { groupIndex: 0 });
  const r = await deps.persistence.createRunStarted({
    run,
    key,
    claimedBy: starter.claimedBy,
    stages,
    created: batch.rows.slice(0, createdRows),
    started: batch.rows.slice(createdRows),
  });
  if (r === "exists") return r;
  if (r === "pending") batch.rows.splice(createdRows);
  await deliverFastPath(deps, batch);
  if (r === "started") starter.started(run.id);
  else deps.onRunCreated?.(run.id);
  return r;
}
