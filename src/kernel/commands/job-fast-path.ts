/**
 * job.execute's common cases as one atomic write each, so a one-stage run costs one statement to
 * start its attempt and one to commit (or suspend) it (a transaction spent four to six: BEGIN,
 * locking reads, updates, the outbox insert, COMMIT). Each returns null when its case does not apply or its
 * guard fails; the caller then takes the transactional path, which handles everything else
 * (ghosts, exhausted attempts, retries, failures, logs, parallel groups, outputs in the
 * BlobStore), so these paths decide nothing the full path would decide differently.
 */
import type { JobExecuteCommand, JobExecuteResult } from "../commands.js";
import type { KernelDeps } from "../deps.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { soleFinalStageOutput } from "../run-helpers.js";
import { type AttemptResult, type Claim, recordedNothing, suspensionPatch } from "./job-attempt.js";

/**
 * Phase 1 for a delivery naming its attempt, with the stage PENDING one attempt behind (the
 * usual delivery): run activity, stage start and the `stage:started` event in one write.
 */
export async function startInOneWrite(deps: KernelDeps, cmd: JobExecuteCommand): Promise<{ claim: Claim } | null> {
  const attempt = cmd.delivery?.attempt;
  if (attempt === undefined || !Number.isInteger(attempt) || attempt < 1) return null;
  const workflow = deps.registry.getWorkflow(cmd.workflowId);
  const stageDef = workflow?.getStage(cmd.stageId);
  // A limited stage is admitted under its limits' locks: the transactional path.
  if (!workflow || !stageDef || stageDef.limits) return null;
  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  batch.event({ id: cmd.workflowRunId, workflowId: workflow.id }, "stage:started", { attempt }, cmd.stageId);
  const token = deps.newId();
  const started = await deps.persistence.startStageAttempt({
    runId: cmd.workflowRunId,
    workflowId: workflow.id,
    stageId: cmd.stageId,
    attempt,
    executionToken: token,
    now,
    outbox: batch.rows,
  });
  if (!started) return null;
  await deliverFastPath(deps, batch);
  return { claim: { run: started.run, workflow, stageDef, stage: started.stage, attempt, token } };
}

/**
 * Phase 3 for a completed attempt of the only stage of the workflow's last group, with an inline
 * output and nothing logged, annotated or AI-called: the stage's completion and the run's in one write.
 */
export async function commitInOneWrite(deps: KernelDeps, claim: Claim, result: AttemptResult): Promise<JobExecuteResult | null> {
  const o = result.outcome;
  if (o.kind !== "completed" || o.outputRef !== null) return null;
  if (!recordedNothing(result)) return null;
  const { run, workflow, stageDef, stage, attempt, token } = claim;
  const final = soleFinalStageOutput(workflow, run, stage.groupIndex, stageDef.id, o.output);
  if (!final) return null;
  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  batch.event(run, "stage:completed", { attempt }, stageDef.id);
  batch.event(run, "workflow:completed", { output: final.output });
  const committed = await deps.persistence.commitStageAndRun({
    runId: run.id,
    groupIndex: final.groupIndex,
    stageId: stageDef.id,
    executionToken: token,
    stagePatch: {
      status: "COMPLETED",
      output: o.output,
      outputRef: null,
      metrics: o.metrics,
      error: null,
      completedAt: now,
      suspendedState: null,
    },
    runPatch: { status: "COMPLETED", output: final.output, error: null, completedAt: now, lastActivityAt: now },
    now,
    outbox: batch.rows,
  });
  if (!committed) return null;
  await deliverFastPath(deps, batch);
  return { outcome: "completed", attempt, transitioned: true };
}

/**
 * Phase 3 for a suspended attempt with nothing logged, annotated or AI-called (a remote stage
 * that just submitted its task): the suspension, the run's activity and the `stage:suspended`
 * event in one write, fenced like the transactional path (run RUNNING at this group, stage
 * RUNNING under this attempt's token).
 */
export async function suspendInOneWrite(deps: KernelDeps, claim: Claim, result: AttemptResult): Promise<JobExecuteResult | null> {
  const o = result.outcome;
  if (o.kind !== "suspended") return null;
  if (!recordedNothing(result)) return null;
  const { run, stageDef, stage, attempt, token } = claim;
  if (stage.groupIndex !== run.currentGroupIndex) return null;
  const now = deps.clock.now();
  const { patch, nextPollAt } = suspensionPatch(o, now);
  const batch = new OutboxBatch(deps, now);
  batch.event(run, "stage:suspended", { attempt, nextPollAt: nextPollAt.toISOString() }, stageDef.id);
  const committed = await deps.persistence.commitStageAndRun({
    runId: run.id,
    groupIndex: run.currentGroupIndex,
    stageId: stageDef.id,
    executionToken: token,
    stagePatch: patch,
    runPatch: { lastActivityAt: now },
    now,
    outbox: batch.rows,
  });
  if (!committed) return null;
  await deliverFastPath(deps, batch);
  return { outcome: "suspended", attempt, nextPollAt };
}
