import { TERMINAL_RUN_STATUSES } from "../../ports/records.js";
import type { RunRerunFromCommand, RunRerunFromResult } from "../commands.js";
import type { KernelDeps } from "../deps.js";
import { InvalidStateError, RunNotFoundError, StageNotFoundError, WorkflowNotFoundError } from "../../contract/errors.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { startGroup } from "../run-helpers.js";
import { stagePrefix } from "../stage-context.js";

/**
 * run.rerunFrom: resets the group of `fromStageId` and every later group (rows deleted,
 * artifacts deleted by prefix) and runs again from there. Earlier stages keep their outputs.
 */
export async function runRerunFrom(deps: KernelDeps, cmd: RunRerunFromCommand): Promise<RunRerunFromResult> {
  const before = await deps.persistence.getRun(cmd.workflowRunId);
  if (!before) throw new RunNotFoundError(cmd.workflowRunId);
  if (!TERMINAL_RUN_STATUSES.includes(before.status)) {
    throw new InvalidStateError(`run ${before.id} is ${before.status}; only a finished run can be rerun`);
  }
  const workflow = deps.registry.getWorkflow(before.workflowId);
  if (!workflow) throw new WorkflowNotFoundError(before.workflowId);
  const g = workflow.getGroupIndex(cmd.fromStageId);
  if (g < 0) throw new StageNotFoundError(workflow.id, cmd.fromStageId);
  const resetStageIds = workflow.groups.slice(g).flatMap((grp) => grp.stages.map((s) => s.id));
  // Later stages read earlier outputs: rerunning past an unfinished stage would feed them nothing.
  const rows = await deps.persistence.listStages(before.id);
  for (const def of workflow.groups.slice(0, g).flatMap((grp) => grp.stages)) {
    const row = rows.find((r) => r.stageId === def.id);
    if (row?.status !== "COMPLETED") {
      throw new InvalidStateError(
        `cannot rerun run ${before.id} from "${cmd.fromStageId}": earlier stage "${def.id}" is ${row?.status ?? "not started"}; rerun from "${def.id}" instead`,
      );
    }
  }

  // Blob deletion is network I/O: done before the transaction. The run is terminal, so nothing writes there meanwhile.
  let deletedArtifacts = 0;
  for (const id of resetStageIds) deletedArtifacts += await deps.blobStore.deletePrefix(stagePrefix(before.id, id));

  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  await deps.persistence.transaction(async (tx) => {
    const run = await tx.getRun(before.id, { forUpdate: true });
    if (!run) throw new RunNotFoundError(before.id);
    if (!TERMINAL_RUN_STATUSES.includes(run.status)) {
      throw new InvalidStateError(`run ${run.id} is ${run.status}; only a finished run can be rerun`);
    }
    const old = (await tx.listStages(run.id)).filter((s) => resetStageIds.includes(s.stageId));
    // New rows continue the old attempt numbers so job ids (`run:stage:attempt`) never repeat.
    const attemptBase = new Map(old.map((s) => [s.stageId, s.attempt] as const));
    await tx.deleteStages(run.id, resetStageIds);
    for (const id of resetStageIds) await tx.deleteArtifacts(run.id, stagePrefix(run.id, id));
    const updated = await tx.updateRun(
      run.id,
      { status: "RUNNING", currentGroupIndex: g, output: null, error: null, completedAt: null, lastActivityAt: now },
      now,
    );
    for (let idx = g; idx < workflow.groups.length; idx++) {
      await startGroup(deps, tx, updated ?? run, workflow, idx, now, batch, attemptBase, idx === g);
    }
    batch.event(run, "workflow:rerun", { fromStageId: cmd.fromStageId, groupIndex: g, resetStageIds });
    await batch.write(tx);
  });
  await deliverFastPath(deps, batch);
  return { workflowRunId: before.id, fromStageId: cmd.fromStageId, resetStageIds, deletedArtifacts };
}
