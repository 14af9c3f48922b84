import type { PersistenceTx } from "../../ports/persistence.js";
import type { RunRecord, StageRecord } from "../../ports/records.js";
import type { AnyWorkflow } from "../../builder/types.js";
import type { RunTransitionCommand, RunTransitionResult } from "../commands.js";
import type { KernelDeps } from "../deps.js";
import { RunNotFoundError, ValidationError } from "../../contract/errors.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { failRun, groupOutput, loadOutput, startGroup } from "../run-helpers.js";
import { issuesFromZod } from "../../contract/validation.js";

/** Outputs of completed stages read outside the transaction, keyed by row id + ref so stale reads are detected. */
export type Preloaded = Map<string, unknown>;
const preKey = (s: StageRecord) => `${s.id}|${s.outputRef ?? ""}|${s.attempt}`;

/**
 * run.transition: when every stage of the current group completed, starts the next group or
 * completes the run; a failed stage fails the run. The run row lock makes concurrent
 * transitions (two parallel stages finishing together) advance exactly once.
 */
export async function runTransition(deps: KernelDeps, cmd: RunTransitionCommand): Promise<RunTransitionResult> {
  // Final-group outputs may live in the BlobStore: read them before taking locks (no tx across I/O),
  // then re-check under the lock; a changed row means another round.
  const preloaded: Preloaded = new Map();
  for (let round = 0; round < 3; round++) {
    const res = await attempt(deps, cmd, preloaded);
    if (res !== "need-outputs") return res;
    const stages = await deps.persistence.listStages(cmd.workflowRunId);
    for (const s of stages) {
      if (s.status === "COMPLETED" && !preloaded.has(preKey(s))) preloaded.set(preKey(s), await loadOutput(deps, s));
    }
  }
  throw new Error(`run.transition for ${cmd.workflowRunId}: stage outputs kept changing while the run completed`);
}

async function attempt(deps: KernelDeps, cmd: RunTransitionCommand, preloaded: Preloaded): Promise<RunTransitionResult | "need-outputs"> {
  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  const res = await deps.persistence.transaction(async (tx): Promise<RunTransitionResult | "need-outputs"> => {
    const run = await tx.getRun(cmd.workflowRunId, { forUpdate: true });
    if (!run) throw new RunNotFoundError(cmd.workflowRunId);
    const r = await transitionLocked(deps, tx, run, preloaded, now, batch);
    if (r !== "need-outputs") await batch.write(tx);
    return r;
  });
  await deliverFastPath(deps, batch);
  return res;
}

/**
 * The transition of `run`, whose row `tx` holds locked. Events go into `batch`, which the caller
 * writes. `groupStages`, when given, are the current group's stage rows as `tx` sees them (the
 * caller just wrote them), saving the re-read. "need-outputs": a final output lives in the
 * BlobStore and is not in `preloaded`; nothing was written.
 */
export async function transitionLocked(
  deps: KernelDeps,
  tx: PersistenceTx,
  run: RunRecord,
  preloaded: Preloaded,
  now: Date,
  batch: OutboxBatch,
  groupStages?: StageRecord[],
): Promise<RunTransitionResult | "need-outputs"> {
  const idx = run.currentGroupIndex;
  if (run.status !== "RUNNING") return { action: run.status === "FAILED" ? "failed" : "noop", groupIndex: idx };
  const workflow = deps.registry.getWorkflow(run.workflowId);
  const group = workflow?.groups[idx];
  if (!workflow || !group) {
    const why = !workflow
      ? `workflow "${run.workflowId}" is not registered on this kernel`
      : `run is at group ${idx}, which workflow "${workflow.id}" does not have`;
    await failRun(tx, run, why, now, batch);
    return { action: "failed", groupIndex: idx };
  }
  const stages = groupStages ?? (await tx.listStages(run.id)).filter((s) => s.groupIndex === idx);
  const failed = stages.find((s) => s.status === "FAILED");
  if (failed) {
    await failRun(tx, run, `stage "${failed.stageId}" failed: ${failed.error ?? "unknown error"}`, now, batch);
    return { action: "failed", groupIndex: idx };
  }
  const done = group.stages.every((def) => stages.some((s) => s.stageId === def.id && s.status === "COMPLETED"));
  if (!done) return { action: "noop", groupIndex: idx };

  if (idx + 1 < workflow.groups.length) {
    const advanced = { ...run, currentGroupIndex: idx + 1 };
    await startGroup(deps, tx, advanced, workflow, idx + 1, now, batch);
    await tx.updateRun(run.id, { currentGroupIndex: idx + 1, lastActivityAt: now }, now);
    return { action: "advanced", groupIndex: idx + 1 };
  }

  const outputs: Record<string, unknown> = {};
  for (const s of stages) {
    if (s.outputRef === null) outputs[s.stageId] = s.output;
    else if (preloaded.has(preKey(s))) outputs[s.stageId] = preloaded.get(preKey(s));
    else return "need-outputs";
  }
  const parsed = workflow.outputSchema.safeParse(groupOutput(workflow, idx, outputs));
  if (!parsed.success) {
    const err = new ValidationError("workflow output does not match the workflow's output schema", issuesFromZod(parsed.error, "output"));
    await failRun(tx, run, err.message, now, batch);
    return { action: "failed", groupIndex: idx };
  }
  await tx.updateRun(run.id, { status: "COMPLETED", output: parsed.data, error: null, completedAt: now, lastActivityAt: now }, now, {
    status: ["RUNNING"],
  });
  batch.event(run, "workflow:completed", { output: parsed.data as unknown });
  return { action: "completed", groupIndex: idx };
}

/**
 * The transition that follows `stage` completing, in the same transaction `tx` (which just wrote
 * the stage and holds `run` locked): one commit instead of two, leaving run.transition nothing to
 * do. Bumps the run's lastActivityAt either way. False when a final output lives in the BlobStore
 * ("need-outputs", nothing transitioned): the caller dispatches run.transition after its commit.
 */
export async function transitionAfterCompletion(
  deps: KernelDeps,
  tx: PersistenceTx,
  run: RunRecord,
  workflow: AnyWorkflow,
  stage: StageRecord | null,
  now: Date,
  batch: OutboxBatch,
): Promise<boolean> {
  const t = await transitionLocked(deps, tx, run, new Map(), now, batch, soleStageOfGroup(workflow, run, stage));
  // Every action but "noop" wrote lastActivityAt already.
  if (t === "need-outputs" || t.action === "noop") await tx.updateRun(run.id, { lastActivityAt: now }, now, { status: ["RUNNING"] });
  return t !== "need-outputs";
}

/**
 * `[stage]` when it is the only stage of the run's current group: then the row just written is
 * the whole group and the transition need not re-read it.
 */
function soleStageOfGroup(workflow: AnyWorkflow, run: RunRecord, stage: StageRecord | null): StageRecord[] | undefined {
  const group = workflow.groups[run.currentGroupIndex];
  if (!stage || !group || group.stages.length !== 1 || group.stages[0]!.id !== stage.stageId) return undefined;
  return stage.groupIndex === run.currentGroupIndex ? [stage] : undefined;
}
