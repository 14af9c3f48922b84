import type { StageRecord } from "../../ports/records.js";
import type { CompletionCheck } from "../../contract/stage-types.js";
import type { StagePollSuspendedCommand, StagePollSuspendedResult } from "../commands.js";
import { AnnotationBuffer, LogBuffer } from "../buffers.js";
import { type KernelDeps, errorMessage } from "../deps.js";
import { ValidationError } from "../../contract/errors.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { failStageAndRun, storeOutput } from "../run-helpers.js";
import { issuesFromZod } from "../../contract/validation.js";
import { kickGrants } from "./stage-admit-waiting.js";
import { transitionAfterCompletion } from "./run-transition.js";
import { resumeInOneWrite } from "./resume-one-write.js";

/** "transitioned": resumed, and its run transitioned in the same commit. */
type CheckResult = "resumed" | "transitioned" | "failed" | "waiting" | "skipped";

/**
 * stage.pollSuspended: asks each due SUSPENDED stage whether its external work finished
 * (outside any transaction), then completes, fails or reschedules it in its own transaction.
 */
export async function stagePollSuspended(deps: KernelDeps, cmd: StagePollSuspendedCommand): Promise<StagePollSuspendedResult> {
  const now = deps.clock.now();
  const due = await deps.persistence.claimDueSuspendedStages(now, cmd.maxChecks ?? 10, deps.options.suspendedCheckLeaseMs);
  const result: StagePollSuspendedResult = { checked: 0, resumed: 0, failed: 0, resumedRunIds: [] };
  for (const stage of due) {
    const r = await checkClaimedStage(deps, stage);
    if (r === "skipped") continue;
    result.checked++;
    if (r === "failed") result.failed++;
    if (r === "resumed") {
      result.resumed++;
      result.resumedRunIds.push(stage.workflowRunId);
    }
  }
  return result;
}

/**
 * Checks one SUSPENDED stage this kernel has claimed (its nextPollAt moved past the check), and
 * carries out what follows: a freed limit slot, the run's transition. Never throws: a failing
 * check is logged and its claim lease expires, so a later poll tries again.
 */
export async function checkClaimedStage(deps: KernelDeps, stage: StageRecord): Promise<Exclude<CheckResult, "transitioned">> {
  let r: CheckResult;
  try {
    r = await checkOne(deps, stage);
  } catch (err) {
    deps.logger.error(
      { workflowRunId: stage.workflowRunId, stageId: stage.stageId, err: errorMessage(err) },
      "suspended stage check failed",
    );
    return "skipped";
  }
  if (r === "skipped") return r;
  // A limited stage (this kernel has admitted some) may have freed its slot.
  if (r !== "waiting" && deps.grantKick.seenLimited) kickGrants(deps);
  if (r === "resumed") {
    try {
      await deps.dispatch({ type: "run.transition", workflowRunId: stage.workflowRunId });
    } catch (err) {
      // The stage is COMPLETED already; run.reapStuck transitions the run if this keeps failing.
      deps.logger.error({ workflowRunId: stage.workflowRunId, err: errorMessage(err) }, "transition after resume failed");
    }
  }
  return r === "transitioned" ? "resumed" : r;
}

async function failSuspended(deps: KernelDeps, stage: StageRecord, error: string, logs?: LogBuffer): Promise<CheckResult> {
  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  await deps.persistence.transaction(async (tx) => {
    const run = await tx.getRun(stage.workflowRunId, { forUpdate: true });
    if (logs) await logs.flush(tx);
    if (!run || run.status !== "RUNNING") return;
    const current = await tx.getStage(stage.workflowRunId, stage.stageId, { forUpdate: true });
    if (!current || current.status !== "SUSPENDED") return;
    await failStageAndRun(tx, run, stage.stageId, error, now, batch);
    await batch.write(tx);
  });
  await deliverFastPath(deps, batch);
  return "failed";
}

async function checkOne(deps: KernelDeps, stage: StageRecord): Promise<CheckResult> {
  const run = await deps.persistence.getRun(stage.workflowRunId);
  if (!run || run.status !== "RUNNING") return "skipped";
  const workflow = deps.registry.getWorkflow(run.workflowId);
  const def = workflow?.getStage(stage.stageId);
  if (!workflow || !def) {
    return failSuspended(deps, stage, `stage "${stage.stageId}" of workflow "${run.workflowId}" is not registered on this kernel`);
  }
  if (!def.checkCompletion) return failSuspended(deps, stage, `stage "${stage.stageId}" suspended but defines no checkCompletion`);
  const now = deps.clock.now();
  if (stage.maxWaitUntil && now.getTime() > stage.maxWaitUntil.getTime()) {
    const waited = stage.maxWaitUntil.getTime() - (stage.startedAt ?? stage.createdAt).getTime();
    return failSuspended(deps, stage, `timed out waiting for completion after maxWaitTime ${waited} ms`);
  }

  const parsedConfig = def.schemas.config.safeParse(run.config[stage.stageId] ?? {});
  if (!parsedConfig.success) {
    return failSuspended(
      deps,
      stage,
      new ValidationError("invalid stage config", issuesFromZod(parsedConfig.error, `config.${stage.stageId}`)).message,
    );
  }
  const logs = new LogBuffer(deps, run.id, stage.stageId);
  const annotations = new AnnotationBuffer(deps, run.id, stage.stageId);
  let check: CompletionCheck<unknown>;
  try {
    check = await def.checkCompletion(stage.suspendedState, {
      workflowRunId: run.id,
      workflowId: run.workflowId,
      stageId: stage.stageId,
      config: parsedConfig.data,
      log: logs.log,
      annotate: annotations.annotate,
      signal: new AbortController().signal,
      ai: logs.ai,
    });
  } catch (err) {
    // A throwing check is treated as "not yet": external systems flake; maxWaitTime bounds it.
    await logs.log("WARN", `checkCompletion threw: ${errorMessage(err)}`);
    return reschedule(deps, stage, stage.pollIntervalMs ?? 60_000, logs);
  }
  if (!check.ready) {
    if (check.error) return failSuspended(deps, stage, check.error, logs);
    return reschedule(deps, stage, check.nextCheckIn ?? stage.pollIntervalMs ?? 60_000, logs);
  }
  const parsedOut = def.schemas.output.safeParse(check.output);
  if (!parsedOut.success) {
    return failSuspended(deps, stage, new ValidationError("invalid stage output", issuesFromZod(parsedOut.error, "output")).message, logs);
  }
  const stored = await storeOutput(deps, run.id, stage.stageId, stage.attempt, parsedOut.data);
  const doneAt = deps.clock.now();
  const metrics = check.customMetrics ?? null;
  const oneWrite = await resumeInOneWrite(deps, { run, workflow, def, stage, stored, metrics, logs, annotations, doneAt });
  if (oneWrite) return oneWrite;
  const batch = new OutboxBatch(deps, doneAt);
  const resumed = await deps.persistence.transaction(async (tx): Promise<CheckResult | false> => {
    const locked = await tx.getRun(run.id, { forUpdate: true });
    await logs.flush(tx);
    if (!locked || locked.status !== "RUNNING") return false;
    const s = await tx.updateStage(
      run.id,
      stage.stageId,
      {
        status: "COMPLETED",
        ...stored,
        metrics,
        suspendedState: null,
        nextPollAt: null,
        completedAt: doneAt,
        error: null,
      },
      doneAt,
      { status: ["SUSPENDED"] },
    );
    if (!s) return false;
    if (annotations.rows.length > 0) await tx.insertAnnotations(annotations.rows);
    batch.event(locked, "stage:resumed", { attempt: s.attempt }, stage.stageId);
    batch.event(locked, "stage:completed", { attempt: s.attempt }, stage.stageId);
    // The run transitions in this commit too (its row is locked): one commit fewer per resume.
    const transitioned = await transitionAfterCompletion(deps, tx, locked, workflow, s, doneAt, batch);
    await batch.write(tx);
    return transitioned ? "transitioned" : "resumed";
  });
  await deliverFastPath(deps, batch);
  return resumed || "skipped";
}

async function reschedule(deps: KernelDeps, stage: StageRecord, inMs: number, logs: LogBuffer): Promise<CheckResult> {
  const now = deps.clock.now();
  await deps.persistence.transaction(async (tx) => {
    await logs.flush(tx);
    await tx.updateStage(stage.workflowRunId, stage.stageId, { nextPollAt: new Date(now.getTime() + inMs) }, now, {
      status: ["SUSPENDED"],
    });
  });
  return "waiting";
}
