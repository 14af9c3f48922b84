import type { AnyWorkflow } from "../../builder/types.js";
import type { StagePatch } from "../../ports/persistence.js";
import type { RunRecord, StageRecord } from "../../ports/records.js";
import type { AnyStage, PollConfig } from "../../contract/stage-types.js";
import type { JobExecuteCommand } from "../commands.js";
import { AnnotationBuffer, LogBuffer } from "../buffers.js";
import { type KernelDeps, errorMessage } from "../deps.js";
import { ValidationError } from "../../contract/errors.js";
import { groupOutput, loadOutputs, storeOutput } from "../run-helpers.js";
import { issuesFromZod } from "../../contract/validation.js";
import { isRetryable } from "../../contract/failure-policy.js";
import { buildStageContext } from "../stage-context.js";

/** What phase 1 hands to phase 2: the claimed attempt. */
export interface Claim {
  run: RunRecord;
  workflow: AnyWorkflow;
  stageDef: AnyStage;
  stage: StageRecord;
  attempt: number;
  token: string;
}

/** Outcome of phase 2 (stage code run, no transaction held). */
export type AttemptOutcome =
  | { kind: "completed"; output: unknown | null; outputRef: string | null; metrics: Record<string, number> | null }
  | { kind: "suspended"; state: unknown; pollConfig: PollConfig }
  | { kind: "failed"; error: string; retryable: boolean };

export interface AttemptResult {
  outcome: AttemptOutcome;
  logs: LogBuffer;
  annotations: AnnotationBuffer;
}

/** True when the attempt logged, annotated and AI-called nothing: no rows to write beside its outcome. */
export function recordedNothing(result: AttemptResult): boolean {
  return result.logs.logs.length === 0 && result.logs.aiCalls.length === 0 && result.annotations.rows.length === 0;
}

/** The stage row of a suspension committed at `now`, and when the stage is first checked. */
export function suspensionPatch(o: Extract<AttemptOutcome, { kind: "suspended" }>, now: Date): { patch: StagePatch; nextPollAt: Date } {
  const nextPollAt = o.pollConfig.nextPollAt ?? new Date(now.getTime() + o.pollConfig.pollInterval);
  return {
    nextPollAt,
    patch: {
      status: "SUSPENDED",
      suspendedState: o.state ?? null,
      pollIntervalMs: o.pollConfig.pollInterval,
      nextPollAt,
      maxWaitUntil: new Date(now.getTime() + o.pollConfig.maxWaitTime),
    },
  };
}

/** Tracks this process's execution of a run so run.cancel can abort it at once. */
function trackInflight(deps: KernelDeps, runId: string, ac: AbortController): () => void {
  let set = deps.inflight.get(runId);
  if (!set) deps.inflight.set(runId, (set = new Set()));
  set.add(ac);
  return () => {
    set.delete(ac);
    if (set.size === 0) deps.inflight.delete(runId);
  };
}

/**
 * Re-reads the run while the stage runs and aborts the attempt once the run left RUNNING
 * (another process cancelled it). It also bumps the run's lastActivityAt every third of the
 * stuck threshold, so run.reapStuck never mistakes a long, healthy stage for a lost one.
 */
function watchRun(deps: KernelDeps, runId: string, ac: AbortController): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let lastTouch = deps.clock.now().getTime();
  const touchEveryMs = Math.max(1, Math.floor(deps.options.stuckThresholdMs / 3));
  const check = async () => {
    try {
      const run = await deps.persistence.getRun(runId);
      if (!run || run.status !== "RUNNING") {
        ac.abort(new Error(`run ${runId} is ${run?.status ?? "gone"}`));
      } else {
        const now = deps.clock.now();
        if (now.getTime() - lastTouch >= touchEveryMs) {
          lastTouch = now.getTime();
          await deps.persistence.updateRun(runId, { lastActivityAt: now }, now, { status: ["RUNNING"] });
        }
      }
    } catch (err) {
      deps.logger.warn({ workflowRunId: runId, err: errorMessage(err) }, "run status check failed; will retry");
    }
    if (!stopped && !ac.signal.aborted) schedule();
  };
  const schedule = () => {
    timer = setTimeout(check, deps.options.cancelCheckIntervalMs);
  };
  schedule();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

/** Input and workflowContext of the claimed stage, read from earlier groups' outputs. */
async function stageInputs(deps: KernelDeps, claim: Claim): Promise<{ input: unknown; workflowContext: Record<string, unknown> }> {
  const g = claim.stage.groupIndex;
  if (g === 0) return { input: claim.run.input, workflowContext: {} };
  const stages = await deps.persistence.listStages(claim.run.id);
  const workflowContext = await loadOutputs(
    deps,
    stages.filter((s) => s.groupIndex < g),
  );
  return { input: groupOutput(claim.workflow, g - 1, workflowContext), workflowContext };
}

/** Phase 2: validates input/config, runs the stage through the executor, validates and stores the output. */
export async function runAttempt(deps: KernelDeps, cmd: JobExecuteCommand, claim: Claim): Promise<AttemptResult> {
  const { run, stageDef, attempt } = claim;
  const logs = new LogBuffer(deps, run.id, stageDef.id);
  const annotations = new AnnotationBuffer(deps, run.id, stageDef.id);
  const fail = (error: string, retryable: boolean): AttemptResult => ({ outcome: { kind: "failed", error, retryable }, logs, annotations });

  let input: unknown;
  let workflowContext: Record<string, unknown>;
  try {
    ({ input, workflowContext } = await stageInputs(deps, claim));
  } catch (err) {
    return fail(`could not load stage inputs: ${errorMessage(err)}`, true);
  }
  if (stageDef.schemas.input !== "none") {
    const parsed = stageDef.schemas.input.safeParse(input);
    if (!parsed.success) return fail(new ValidationError("invalid stage input", issuesFromZod(parsed.error, "input")).message, false);
    input = parsed.data;
  } else {
    input = undefined;
  }
  const rawConfig = cmd.config?.[stageDef.id] ?? run.config[stageDef.id] ?? {};
  const parsedConfig = stageDef.schemas.config.safeParse(rawConfig);
  if (!parsedConfig.success) {
    return fail(new ValidationError("invalid stage config", issuesFromZod(parsedConfig.error, `config.${stageDef.id}`)).message, false);
  }

  const ac = new AbortController();
  const onOuterAbort = () => ac.abort(cmd.signal?.reason ?? new Error("execution aborted"));
  if (cmd.signal?.aborted) onOuterAbort();
  cmd.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const untrack = trackInflight(deps, run.id, ac);
  const unwatch = watchRun(deps, run.id, ac);
  const context = buildStageContext(deps, {
    runId: run.id,
    workflowId: run.workflowId,
    stage: stageDef,
    attempt,
    priority: run.priority,
    input,
    config: parsedConfig.data,
    workflowContext,
    resumeState: claim.stage.suspendedState ?? undefined,
    signal: ac.signal,
    ...(cmd.onHeartbeat ? { onHeartbeat: cmd.onHeartbeat } : {}),
    logs,
    annotations,
  });
  let raw;
  try {
    raw = await deps.executor.execute({
      workflowRunId: run.id,
      workflowId: run.workflowId,
      stageId: stageDef.id,
      attempt,
      stage: stageDef,
      context,
      input,
      config: parsedConfig.data,
      signal: ac.signal,
    });
  } catch (err) {
    return fail(errorMessage(err), isRetryable(err));
  } finally {
    logs.endAttempt();
    unwatch();
    untrack();
    cmd.signal?.removeEventListener("abort", onOuterAbort);
  }

  if (raw && typeof raw === "object" && "suspended" in raw && raw.suspended === true) {
    const pc = raw.pollConfig;
    if (!pc || !(pc.pollInterval > 0) || !(pc.maxWaitTime > 0)) {
      return fail("suspended without a valid pollConfig (pollInterval and maxWaitTime must be positive)", false);
    }
    return { outcome: { kind: "suspended", state: raw.state, pollConfig: pc }, logs, annotations };
  }
  if (!raw || typeof raw !== "object" || !("output" in raw)) {
    return fail("execute() returned neither { output } nor { suspended: true }", false);
  }
  const parsedOut = stageDef.schemas.output.safeParse(raw.output);
  if (!parsedOut.success) return fail(new ValidationError("invalid stage output", issuesFromZod(parsedOut.error, "output")).message, false);
  try {
    const stored = await storeOutput(deps, run.id, stageDef.id, attempt, parsedOut.data);
    return { outcome: { kind: "completed", ...stored, metrics: raw.customMetrics ?? null }, logs, annotations };
  } catch (err) {
    return fail(`could not store output: ${errorMessage(err)}`, true);
  }
}
