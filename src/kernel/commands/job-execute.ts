import { SpanStatusCode } from "@opentelemetry/api";
import { retryDelayMs } from "../../contract/failure-policy.js";
import type { PersistenceTx } from "../../ports/persistence.js";
import { type RunRecord, type StageRecord, TERMINAL_STAGE_STATUSES } from "../../ports/records.js";
import type { JobExecuteCommand, JobExecuteResult } from "../commands.js";
import { type KernelDeps, errorMessage } from "../deps.js";
import { RunNotFoundError } from "../../contract/errors.js";
import { withIdempotency } from "../idempotency.js";
import { withSpan } from "../tracing.js";
import { OutboxBatch, deliverFastPath } from "../outbox.js";
import { failRun, failStageAndRun, maxAttemptsOf, queueStageJob } from "../run-helpers.js";
import { type AttemptResult, type Claim, runAttempt, suspensionPatch } from "./job-attempt.js";
import { transitionAfterCompletion } from "./run-transition.js";
import { commitInOneWrite, startInOneWrite, suspendInOneWrite } from "./job-fast-path.js";
import { admitOrPark, checksOf, kickGrants } from "./stage-admit-waiting.js";
import { admit } from "../limits/admit.js";
import type { AnyStage } from "../../contract/stage-types.js";

const GHOST: JobExecuteResult = { outcome: "failed", ghost: true };

/**
 * job.execute: phase 1 claims the attempt (tx), phase 2 runs the stage with no transaction
 * held, phase 3 commits the outcome (tx) fenced by the attempt's execution token.
 */
export async function jobExecute(deps: KernelDeps, cmd: JobExecuteCommand): Promise<JobExecuteResult> {
  return withIdempotency(
    deps,
    "job.execute",
    cmd.idempotencyKey,
    () => execute(deps, cmd),
    (stored) => ({
      ...stored,
      ...(stored.nextPollAt ? { nextPollAt: new Date(stored.nextPollAt) } : {}),
    }),
  );
}

async function execute(deps: KernelDeps, cmd: JobExecuteCommand): Promise<JobExecuteResult> {
  const claimed = await claimAttempt(deps, cmd);
  if (!("claim" in claimed)) return claimed;
  const { claim } = claimed;
  const attrs = {
    "jetflow.workflow.id": claim.run.workflowId,
    "jetflow.run.id": claim.run.id,
    "jetflow.stage.id": claim.stageDef.id,
    "jetflow.stage.attempt": claim.attempt,
  };
  return withSpan(`stage ${claim.stageDef.id}`, claim.run.traceContext, attrs, async (span) => {
    const result = await runAttempt(deps, cmd, claim);
    const res =
      (await commitInOneWrite(deps, claim, result)) ??
      (await suspendInOneWrite(deps, claim, result)) ??
      (await commitAttempt(deps, claim, result));
    if (res.outcome === "suspended" && !res.ghost) await afterSuspension(deps, claim, res.nextPollAt);
    span.setAttribute("jetflow.outcome", res.ghost ? "ghost" : res.outcome);
    if (claim.stageDef.limits && res.outcome !== "suspended") kickGrants(deps); // its slot is free now
    if (result.outcome.kind === "failed") span.setStatus({ code: SpanStatusCode.ERROR, message: result.outcome.error });
    return res;
  });
}

/**
 * Phase 1: lock run and stage, decide whether this delivery may run, start the attempt. The usual
 * delivery (its attempt named, the stage PENDING one attempt behind) is claimed in one write;
 * anything else takes the transaction.
 */
async function claimAttempt(deps: KernelDeps, cmd: JobExecuteCommand): Promise<JobExecuteResult | { claim: Claim }> {
  return (await startInOneWrite(deps, cmd)) ?? (await claimIn(deps, cmd));
}

async function claimIn(deps: KernelDeps, cmd: JobExecuteCommand): Promise<JobExecuteResult | { claim: Claim }> {
  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  const out = await deps.persistence.transaction(async (tx): Promise<JobExecuteResult | { claim: Claim }> => {
    // Locks the run row first (every command does, so no lock-order deadlock) and records the
    // activity in the same statement; a run no longer RUNNING is left untouched.
    const run = await tx.updateRun(cmd.workflowRunId, { lastActivityAt: now }, now, { status: ["RUNNING"] });
    if (!run) {
      if (!(await tx.getRun(cmd.workflowRunId))) throw new RunNotFoundError(cmd.workflowRunId);
      return GHOST;
    }
    const workflow = deps.registry.getWorkflow(run.workflowId);
    if (!workflow) {
      const error = `workflow "${run.workflowId}" is not registered on this kernel`;
      await failRun(tx, run, error, now, batch);
      await batch.write(tx);
      return { outcome: "failed", error };
    }
    const stageDef = workflow.getStage(cmd.stageId);
    if (!stageDef) {
      const error = `stage "${cmd.stageId}" is not part of workflow "${workflow.id}"`;
      await failRun(tx, run, error, now, batch);
      await batch.write(tx);
      return { outcome: "failed", error };
    }
    const token = deps.newId();
    const started = { status: "RUNNING" as const, executionToken: token, startedAt: now, error: null };
    const stage = await tx.getStage(run.id, cmd.stageId, { forUpdate: true });
    if (!stage || TERMINAL_STAGE_STATUSES.includes(stage.status) || stage.status === "SUSPENDED") return GHOST;
    if (cmd.delivery && isStaleDelivery(stage.status, stage.attempt, cmd.delivery.attempt)) return GHOST;
    const next = stage.attempt + 1;
    if (next > stage.maxAttempts) {
      const error = `exhausted ${stage.maxAttempts} attempts`;
      await failStageAndRun(tx, run, stage.stageId, stage.error ? `${error}; last error: ${stage.error}` : error, now, batch);
      await batch.write(tx);
      return { outcome: "failed", error, attempt: stage.attempt };
    }
    if (stageDef.limits) {
      const parked = await admitLimited(deps, tx, run, stage, stageDef, next, now, batch);
      if (parked) return parked;
    }
    const updated = await tx.updateStage(run.id, stage.stageId, { ...started, attempt: next }, now, {
      status: ["PENDING", "RUNNING"],
      attempt: stage.attempt,
    });
    if (!updated) return GHOST;
    const attempt = updated.attempt;
    batch.event(run, "stage:started", { attempt }, updated.stageId);
    await batch.write(tx);
    return { claim: { run, workflow, stageDef, stage: updated, attempt, token } };
  });
  await deliverFastPath(deps, batch);
  return out;
}

/**
 * Admits attempt `next` of a limited stage or parks it (outcome "waiting"; the job is done and
 * the grant pass queues a new one). A RUNNING stage (its holder crashed) that no longer fits is
 * put back to PENDING so the grant finds it. A key function that throws fails the stage.
 */
async function admitLimited(
  deps: KernelDeps,
  tx: PersistenceTx,
  run: RunRecord,
  stage: StageRecord,
  stageDef: AnyStage,
  next: number,
  now: Date,
  batch: OutboxBatch,
): Promise<JobExecuteResult | null> {
  deps.grantKick.seenLimited = true;
  const checks = checksOf(run, stageDef);
  if ("error" in checks) {
    await failStageAndRun(tx, run, stage.stageId, checks.error, now, batch);
    await batch.write(tx);
    return { outcome: "failed", error: checks.error };
  }
  let attempt = next;
  if (stage.status === "RUNNING") {
    const a = await admit(tx, checks, { runId: run.id, stageId: stage.stageId, attempt }, now, deps.options.limitGrantTtlMs);
    if (a.admitted) return null;
    await tx.updateStage(run.id, stage.stageId, { status: "PENDING", executionToken: null }, now, { attempt: stage.attempt });
    attempt = stage.attempt + 1;
  }
  const a = await admitOrPark(deps, tx, run, stage, checks, attempt, now);
  if (a.admitted) return null;
  await batch.write(tx);
  return { outcome: "waiting", waiting: { reason: a.reason, detail: a.detail, retryAt: a.retryAt } };
}

/**
 * A delivery for an attempt the stage already moved past: while PENDING a retry job for the
 * next attempt is queued; while RUNNING a newer attempt holds the stage.
 */
function isStaleDelivery(status: string, stageAttempt: number, deliveryAttempt: number): boolean {
  if (status === "PENDING") return deliveryAttempt <= stageAttempt;
  return deliveryAttempt < stageAttempt;
}

/** Exponential backoff; counts only this incarnation's attempts (a rerun offsets attempt numbers). */
function backoffMs(deps: KernelDeps, claim: Claim): number {
  const base = Math.max(0, claim.stage.maxAttempts - maxAttemptsOf(deps, claim.stageDef));
  return retryDelayMs(Math.max(1, claim.attempt - base), claim.stageDef.retry);
}

/** Phase 3: commit the outcome if the run is still RUNNING and this attempt still owns the stage. */
async function commitAttempt(deps: KernelDeps, claim: Claim, result: AttemptResult): Promise<JobExecuteResult> {
  const now = deps.clock.now();
  const batch = new OutboxBatch(deps, now);
  const { run, attempt } = claim;
  const out = await deps.persistence.transaction(async (tx): Promise<JobExecuteResult> => {
    const current = await tx.getRun(run.id, { forUpdate: true });
    const ghost = async (): Promise<JobExecuteResult> => {
      // The outcome is discarded, but what the attempt logged is still worth keeping.
      await result.logs.flush(tx);
      return { ...GHOST, attempt };
    };
    if (!current || current.status !== "RUNNING") return ghost();
    const o = result.outcome;
    const applied = await applyOutcome(deps, tx, claim, result, now, batch);
    if (applied === null) return ghost();
    const { res, stage } = applied;
    await result.logs.flush(tx);
    if (o.kind !== "failed") {
      // A failed attempt's annotations roll back with it; the others commit with the outcome.
      if (result.annotations.rows.length > 0) await tx.insertAnnotations(result.annotations.rows);
    }
    // A completed stage transitions its run in the same transaction (the run row is already
    // locked): one commit instead of two, and run.transition has nothing left to do.
    let transitioned = false;
    if (o.kind === "completed") transitioned = await transitionAfterCompletion(deps, tx, current, claim.workflow, stage, now, batch);
    else await tx.updateRun(run.id, { lastActivityAt: now }, now, { status: ["RUNNING"] });
    await batch.write(tx);
    return { ...res, attempt, ...(transitioned ? { transitioned } : {}) };
  });
  await deliverFastPath(deps, batch);
  return out;
}

/**
 * After a suspension committed: a wake that came before it (a fast remote worker) checks the
 * stage now, and a scheduling host learns when to poll.
 */
async function afterSuspension(deps: KernelDeps, claim: Claim, nextPollAt: Date | undefined): Promise<void> {
  if (deps.earlyWakes.take(claim.run.id, claim.stageDef.id)) wakeNow(deps, claim.run.id, claim.stageDef.id);
  if (nextPollAt) await hintPoll(deps, nextPollAt);
}

/**
 * The stage's external work finished before its suspension committed (a fast remote worker):
 * check it now rather than at its next poll. Not awaited, like any wake: the job is done.
 */
function wakeNow(deps: KernelDeps, workflowRunId: string, stageId: string): void {
  deps.dispatch({ type: "stage.wake", workflowRunId, stageId }).catch((err: unknown) => {
    deps.logger.warn(
      { workflowRunId, stageId, err: errorMessage(err) },
      "waking a stage woken before it suspended failed; its poll resumes it",
    );
  });
}

/** Tells a scheduling host when to poll; polling hosts ignore it, so a failure is only logged. */
async function hintPoll(deps: KernelDeps, at: Date): Promise<void> {
  try {
    await deps.scheduler.schedule({ type: "stage.pollSuspended" }, at);
  } catch (err) {
    deps.logger.warn({ err: errorMessage(err) }, "scheduler rejected the poll hint; the periodic poll still runs");
  }
}

/**
 * Writes the stage row for the outcome (fenced by token); null when the attempt was superseded.
 * `stage` is the written row (null when the outcome failed the run).
 */
async function applyOutcome(
  deps: KernelDeps,
  tx: PersistenceTx,
  claim: Claim,
  result: AttemptResult,
  now: Date,
  batch: OutboxBatch,
): Promise<{ res: JobExecuteResult; stage: StageRecord | null } | null> {
  const { run, stageDef, attempt, token } = claim;
  const guard = { executionToken: token, status: ["RUNNING" as const] };
  const o = result.outcome;
  if (o.kind === "completed") {
    const s = await tx.updateStage(
      run.id,
      stageDef.id,
      {
        status: "COMPLETED",
        output: o.output,
        outputRef: o.outputRef,
        metrics: o.metrics,
        error: null,
        completedAt: now,
        suspendedState: null,
      },
      now,
      guard,
    );
    if (!s) return null;
    batch.event(run, "stage:completed", { attempt, ...(o.outputRef ? { outputRef: o.outputRef } : {}) }, stageDef.id);
    return { res: { outcome: "completed" }, stage: s };
  }
  if (o.kind === "suspended") {
    const { patch, nextPollAt } = suspensionPatch(o, now);
    const s = await tx.updateStage(run.id, stageDef.id, patch, now, guard);
    if (!s) return null;
    batch.event(run, "stage:suspended", { attempt, nextPollAt: nextPollAt.toISOString() }, stageDef.id);
    return { res: { outcome: "suspended", nextPollAt }, stage: s };
  }
  if (o.retryable && attempt < claim.stage.maxAttempts) {
    const delay = backoffMs(deps, claim);
    const s = await tx.updateStage(run.id, stageDef.id, { status: "PENDING", error: o.error, executionToken: null }, now, guard);
    if (!s) return null;
    queueStageJob(batch, run, s, attempt + 1, new Date(now.getTime() + delay));
    batch.event(run, "stage:retrying", { attempt, nextAttempt: attempt + 1, error: o.error, retryDelayMs: delay }, stageDef.id);
    return { res: { outcome: "failed", retry: true, retryDelayMs: delay, error: o.error }, stage: s };
  }
  const s = await tx.getStage(run.id, stageDef.id, { forUpdate: true });
  if (!s || s.executionToken !== token || s.status !== "RUNNING") return null;
  await failStageAndRun(tx, run, stageDef.id, o.error, now, batch, { executionToken: token });
  return { res: { outcome: "failed", error: o.error }, stage: null };
}
