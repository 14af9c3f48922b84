import type { AnnotationFilter } from "../ports/persistence.js";
import type { CommandResult, KernelCommand } from "./commands.js";
import { annotationRows } from "./buffers.js";
import { type KernelDeps, createDeps } from "./deps.js";
import { JetflowError, RunNotFoundError, StageNotFoundError, ValidationError } from "../contract/errors.js";
import { jobExecute } from "./commands/job-execute.js";
import { jobDeadLetter, leaseReapStale } from "./commands/lease-reap-stale.js";
import { outboxFlush, pluginReplayDLQ } from "./commands/outbox-flush.js";
import { runCancel } from "./commands/run-cancel.js";
import { runClaimPending } from "./commands/run-claim-pending.js";
import { runCreate } from "./commands/run-create.js";
import { runReapStuck } from "./commands/run-reap-stuck.js";
import { runRerunFrom } from "./commands/run-rerun-from.js";
import { runTransition } from "./commands/run-transition.js";
import { stagePollSuspended } from "./commands/stage-poll-suspended.js";
import { stageWake } from "./commands/stage-wake.js";
import { stageAdmitWaiting } from "./commands/stage-admit-waiting.js";
import { loadOutput } from "./run-helpers.js";
import type { Kernel, KernelConfig } from "./types.js";

type Handlers = { [K in KernelCommand["type"]]: (deps: KernelDeps, cmd: Extract<KernelCommand, { type: K }>) => Promise<unknown> };

const HANDLERS: Handlers = {
  "run.create": runCreate,
  "run.claimPending": runClaimPending,
  "run.transition": runTransition,
  "run.cancel": runCancel,
  "run.rerunFrom": runRerunFrom,
  "job.execute": jobExecute,
  "stage.pollSuspended": stagePollSuspended,
  "stage.wake": stageWake,
  "stage.admitWaiting": stageAdmitWaiting,
  "lease.reapStale": leaseReapStale,
  "run.reapStuck": runReapStuck,
  "outbox.flush": outboxFlush,
  "plugin.replayDLQ": pluginReplayDLQ,
  "job.deadLetter": jobDeadLetter,
};

const REQUIRED = ["persistence", "blobStore", "jobTransport", "eventSink", "scheduler", "clock", "registry"] as const;

/**
 * Creates the command kernel: a dispatcher over the ports with no timers and no global
 * state. Hosts drive it (claim, execute, transition, poll, reap, flush).
 */
export function createKernel(config: KernelConfig): Kernel {
  const missing = REQUIRED.filter((k) => config?.[k] == null);
  if (missing.length > 0) {
    throw new ValidationError(
      "invalid kernel config",
      missing.map((k) => ({ path: k, message: "is required" })),
    );
  }
  const dispatch = async <C extends KernelCommand>(command: C): Promise<CommandResult<C>> => {
    const handler = HANDLERS[command?.type as KernelCommand["type"]] as ((d: KernelDeps, c: C) => Promise<unknown>) | undefined;
    if (!handler) {
      throw new ValidationError("invalid command", [{ path: "type", message: `unknown command type "${String(command?.type)}"` }]);
    }
    return (await handler(deps, command)) as CommandResult<C>;
  };
  const deps = createDeps(config, dispatch);

  return {
    dispatch,
    annotations: {
      async attach(workflowRunId, input) {
        const run = await deps.persistence.getRun(workflowRunId);
        if (!run) throw new RunNotFoundError(workflowRunId);
        const now = deps.clock.now();
        const rows = annotationRows(deps, workflowRunId, input.stageId ?? null, input, { kind: "system", id: "jetflow" }, now);
        return { inserted: rows.length === 0 ? 0 : await deps.persistence.insertAnnotations(rows) };
      },
      list(workflowRunId: string, filter?: AnnotationFilter) {
        return deps.persistence.listAnnotations(workflowRunId, filter);
      },
    },
    runs: {
      async get(workflowRunId) {
        const run = await deps.persistence.getRun(workflowRunId);
        if (!run) return null;
        const [stages, waiters] = await Promise.all([
          deps.persistence.listStages(workflowRunId),
          deps.persistence.listWaiters({ runId: workflowRunId, limit: 100 }),
        ]);
        const pending = new Set(stages.filter((s) => s.status === "PENDING").map((s) => s.stageId));
        const waiting = waiters
          .filter((w) => pending.has(w.stageId))
          .map((w) => ({ stageId: w.stageId, reason: w.reason, detail: w.detail, retryAt: w.retryAt, since: w.createdAt }));
        return { run, stages, waiting };
      },
      list: (filter) => deps.persistence.listRuns(filter),
      logs: (workflowRunId, opts) => deps.persistence.listLogs(workflowRunId, opts),
      async stageOutput(workflowRunId, stageId) {
        const run = await deps.persistence.getRun(workflowRunId);
        if (!run) throw new RunNotFoundError(workflowRunId);
        const stage = await deps.persistence.getStage(workflowRunId, stageId);
        if (!stage) throw new StageNotFoundError(run.workflowId, stageId);
        if (stage.status !== "COMPLETED") {
          throw new JetflowError("INVALID_STATE", `stage "${stageId}" of run ${workflowRunId} is ${stage.status}, it has no output yet`);
        }
        return loadOutput(deps, stage);
      },
      countByStatus: () => deps.persistence.countRunsByStatus(),
    },
  };
}
