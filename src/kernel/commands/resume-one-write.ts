/**
 * The common resume as one atomic write: a remote stage that is the only stage of its workflow's
 * last group, whose check found an inline output and recorded no annotation or AI call. The
 * stage's completion, its logs (the worker's, replayed by the check), the run's completion and
 * their events are one guarded statement (`commitStageAndRun` with the stage SUSPENDED) instead of
 * a transaction of six round trips. Returns null when the case does not apply or the guard fails
 * (a cancelled run, a stage resumed by another kernel): the caller takes its transactional path,
 * which decides those cases as before.
 */
import type { AnyStage } from "../../contract/stage-types.js";
import type { AnyWorkflow } from "../../builder/types.js";
import type { RunRecord, StageRecord } from "../../ports/records.js";
import type { AnnotationBuffer, LogBuffer } from "../buffers.js";
import type { KernelDeps } from "../deps.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { soleFinalStageOutput } from "../run-helpers.js";

export interface ReadyResume {
  run: RunRecord;
  workflow: AnyWorkflow;
  def: AnyStage;
  /** The SUSPENDED stage as claimed for the check. */
  stage: StageRecord;
  stored: { output: unknown; outputRef: string | null };
  metrics: Record<string, number> | null;
  logs: LogBuffer;
  annotations: AnnotationBuffer;
  doneAt: Date;
}

/** "transitioned" when the stage and its run were completed in one write; null otherwise (nothing written). */
export async function resumeInOneWrite(deps: KernelDeps, r: ReadyResume): Promise<"transitioned" | null> {
  const { run, workflow, def, stage, stored, logs, doneAt } = r;
  logs.endAttempt();
  if (stored.outputRef !== null || logs.aiCalls.length > 0 || r.annotations.rows.length > 0) return null;
  const final = soleFinalStageOutput(workflow, run, stage.groupIndex, def.id, stored.output);
  if (!final) return null;
  const batch = new OutboxBatch(deps, doneAt);
  batch.event(run, "stage:resumed", { attempt: stage.attempt }, def.id);
  batch.event(run, "stage:completed", { attempt: stage.attempt }, def.id);
  batch.event(run, "workflow:completed", { output: final.output });
  const committed = await deps.persistence.commitStageAndRun({
    runId: run.id,
    groupIndex: final.groupIndex,
    stageId: def.id,
    executionToken: stage.executionToken ?? "",
    stageStatus: "SUSPENDED",
    stagePatch: {
      status: "COMPLETED",
      ...stored,
      metrics: r.metrics,
      suspendedState: null,
      nextPollAt: null,
      completedAt: doneAt,
      error: null,
    },
    runPatch: { status: "COMPLETED", output: final.output, error: null, completedAt: doneAt, lastActivityAt: doneAt },
    now: doneAt,
    outbox: batch.rows,
    logs: logs.logs,
  });
  if (!committed) return null;
  await deliverFastPath(deps, batch);
  return "transitioned";
}
