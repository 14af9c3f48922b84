import type { AnyWorkflow } from "../builder/types.js";
import type { NewStage, PersistenceTx } from "../ports/persistence.js";
import type { RunRecord, StageRecord } from "../ports/records.js";
import type { AnyStage } from "../contract/stage-types.js";
import type { KernelDeps } from "./deps.js";
import { type OutboxBatch, jobIdOf } from "./outbox.js";
import { queueOrPark } from "./commands/stage-admit-waiting.js";

export function maxAttemptsOf(deps: KernelDeps, stage: AnyStage): number {
  const n = stage.retry?.maxAttempts;
  return typeof n === "number" && n >= 1 ? Math.floor(n) : deps.options.defaultMaxAttempts;
}

/** Queues the job of the stage's next attempt (or of `attempt` when given). */
export function queueStageJob(
  batch: OutboxBatch,
  run: Pick<RunRecord, "id" | "workflowId" | "priority" | "traceContext">,
  stage: Pick<StageRecord, "stageId" | "maxAttempts">,
  attempt: number,
  availableAt?: Date,
): string {
  const jobId = jobIdOf(run.id, stage.stageId, attempt);
  batch.job({
    jobId,
    workflowRunId: run.id,
    workflowId: run.workflowId,
    stageId: stage.stageId,
    attempt,
    maxAttempts: stage.maxAttempts,
    priority: run.priority,
    ...(availableAt ? { availableAt } : {}),
    payload: {},
    ...(run.traceContext ? { traceContext: run.traceContext } : {}),
  });
  return jobId;
}

/** New rows (PENDING, attempt 0) of the stages of `workflow`'s group `groupIndex` for `run`. */
export function newGroupStages(
  deps: KernelDeps,
  run: Pick<RunRecord, "id" | "traceContext">,
  workflow: AnyWorkflow,
  groupIndex: number,
  now: Date,
): NewStage[] {
  return (workflow.groups[groupIndex]?.stages ?? []).map((def) => ({
    id: deps.newId(),
    workflowRunId: run.id,
    stageId: def.id,
    stageName: def.name,
    groupIndex,
    maxAttempts: maxAttemptsOf(deps, def),
    traceContext: run.traceContext,
    now,
  }));
}

/**
 * Creates (idempotently) the stage rows of group `groupIndex` and queues the job of every
 * stage still PENDING. `attemptBase` carries attempts of rows a rerun deleted, so job ids
 * never repeat within a run (transports de-duplicate on them); a rerun pre-creates the rows
 * of later groups that way (`queueJobs` false) and their transition later queues the jobs.
 */
export async function startGroup(
  deps: KernelDeps,
  tx: PersistenceTx,
  run: RunRecord,
  workflow: AnyWorkflow,
  groupIndex: number,
  now: Date,
  batch: OutboxBatch,
  attemptBase: Map<string, number> = new Map(),
  queueJobs = true,
): Promise<string[]> {
  const group = workflow.groups[groupIndex];
  if (!group) throw new Error(`workflow "${workflow.id}" has no group ${groupIndex}`);
  const jobIds: string[] = [];
  for (const def of group.stages) {
    const maxAttempts = maxAttemptsOf(deps, def);
    let row = await tx.upsertStage({
      id: deps.newId(),
      workflowRunId: run.id,
      stageId: def.id,
      stageName: def.name,
      groupIndex,
      maxAttempts,
      traceContext: run.traceContext,
      now,
    });
    const base = attemptBase.get(def.id) ?? 0;
    if (base > 0 && row.attempt < base) {
      row = (await tx.updateStage(run.id, def.id, { attempt: base, maxAttempts: base + maxAttempts }, now)) ?? row;
    }
    if (queueJobs && row.status === "PENDING") {
      const jobId = await queueOrPark(deps, tx, batch, run, row, def, now);
      if (jobId) jobIds.push(jobId);
    }
  }
  return jobIds;
}

/**
 * Marks the run FAILED (if still non-terminal) and queues workflow:failed. Its other
 * unfinished stages (parallel siblings, suspended ones) are CANCELLED so no row is left
 * looking alive; their in-flight attempts become ghosts at commit.
 */
export async function failRun(
  tx: PersistenceTx,
  run: RunRecord,
  message: string,
  now: Date,
  batch: OutboxBatch,
): Promise<RunRecord | null> {
  const updated = await tx.updateRun(run.id, { status: "FAILED", error: message, completedAt: now, lastActivityAt: now }, now, {
    status: ["PENDING", "RUNNING"],
  });
  if (!updated) return null;
  for (const s of await tx.listStages(run.id)) {
    if (s.status !== "PENDING" && s.status !== "RUNNING" && s.status !== "SUSPENDED") continue;
    const cancelled = await tx.updateStage(
      run.id,
      s.stageId,
      { status: "CANCELLED", error: `run failed: ${message}`, completedAt: now, executionToken: null, nextPollAt: null },
      now,
      { status: [s.status] },
    );
    if (cancelled) batch.event(run, "stage:cancelled", { reason: "run failed" }, s.stageId);
  }
  batch.event(run, "workflow:failed", { error: message });
  return updated;
}

/** Fails one stage with `stageError`, then its run with `stage "<id>" failed: <stageError>`. */
export async function failStageAndRun(
  tx: PersistenceTx,
  run: RunRecord,
  stageId: string,
  stageError: string,
  now: Date,
  batch: OutboxBatch,
  guard: { executionToken?: string | null } = {},
): Promise<void> {
  const stage = await tx.updateStage(
    run.id,
    stageId,
    { status: "FAILED", error: stageError, completedAt: now, suspendedState: null, nextPollAt: null },
    now,
    { status: ["PENDING", "RUNNING", "SUSPENDED"], ...guard },
  );
  if (stage) batch.event(run, "stage:failed", { error: stageError, attempt: stage.attempt }, stageId);
  await failRun(tx, run, `stage "${stageId}" failed: ${stageError}`, now, batch);
}

/** Stores an output inline, or in the BlobStore when its JSON exceeds the inline limit. Call outside transactions. */
export async function storeOutput(
  deps: KernelDeps,
  runId: string,
  stageId: string,
  attempt: number,
  output: unknown,
): Promise<{ output: unknown | null; outputRef: string | null }> {
  const json = JSON.stringify(output ?? null);
  const bytes = Buffer.byteLength(json, "utf8");
  if (bytes <= deps.options.inlineOutputLimitBytes) return { output: output ?? null, outputRef: null };
  const key = `runs/${runId}/${stageId}/${attempt}/output.json`;
  await deps.blobStore.put(key, new TextEncoder().encode(json), { contentType: "application/json" });
  await deps.persistence.recordArtifact({
    workflowRunId: runId,
    stageId,
    key,
    size: bytes,
    contentType: "application/json",
    createdAt: deps.clock.now(),
  });
  return { output: null, outputRef: key };
}

/** A stage's output, inline or read back from the BlobStore. Call outside transactions. */
export async function loadOutput(deps: KernelDeps, stage: StageRecord): Promise<unknown> {
  if (stage.outputRef === null) return stage.output;
  const bytes = await deps.blobStore.get(stage.outputRef);
  if (bytes === null) {
    throw new Error(`output of stage "${stage.stageId}" is missing from the blob store (key ${stage.outputRef})`);
  }
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** Outputs of the completed stages among `stages`, keyed by stage id. */
export async function loadOutputs(deps: KernelDeps, stages: StageRecord[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const s of stages) {
    if (s.status === "COMPLETED") out[s.stageId] = await loadOutput(deps, s);
  }
  return out;
}

/** What a group hands on: a single stage's output, or (parallel group) outputs keyed by stage id. */
export function groupOutput(workflow: AnyWorkflow, groupIndex: number, outputs: Record<string, unknown>): unknown {
  const group = workflow.groups[groupIndex];
  if (!group) throw new Error(`workflow "${workflow.id}" has no group ${groupIndex}`);
  if (!group.parallel && group.stages.length === 1) return outputs[group.stages[0]!.id];
  const keyed: Record<string, unknown> = {};
  for (const s of group.stages) keyed[s.id] = outputs[s.id];
  return keyed;
}

/**
 * The run's output when `stageId`, of group `stageGroupIndex`, is the only stage of the workflow's
 * last group and the run is at that group: the one-write commits complete the stage and the run
 * together only then. Null when that is not the case, or when the workflow's output schema refuses
 * the output (the transactional path words and records that failure).
 */
export function soleFinalStageOutput(
  workflow: AnyWorkflow,
  run: RunRecord,
  stageGroupIndex: number,
  stageId: string,
  output: unknown,
): { groupIndex: number; output: unknown } | null {
  const idx = run.currentGroupIndex;
  const group = workflow.groups[idx];
  if (stageGroupIndex !== idx || idx !== workflow.groups.length - 1) return null;
  if (!group || group.stages.length !== 1 || group.stages[0]!.id !== stageId) return null;
  const parsed = workflow.outputSchema.safeParse(groupOutput(workflow, idx, { [stageId]: output }));
  return parsed.success ? { groupIndex: idx, output: parsed.data as unknown } : null;
}
