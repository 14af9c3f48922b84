import { JetflowError, RunNotFoundError, ValidationError } from "../../../src/contract/errors.js";
import type { ActivityTaskRecord } from "../../../src/ports/activity-task-store.js";
import type { ArtifactRecord, OutboxRecord } from "../../../src/ports/records.js";
import type { PresignedUrl } from "../../../src/ports/presigner.js";
import type { Kernel, RunView } from "../../../src/kernel/types.js";
import type { JobTransport } from "../../../src/ports/job-transport.js";
import type { ApiEndpoint, ApiReply } from "../../../src/contract/api-messages.js";
import { API_SCHEMAS, type StageWaitJson, type UnservedTaskJson } from "../../../src/contract/api-messages.js";
import type { z } from "zod";
import type { AICallSummaryQuery, AICallSummaryRow } from "../../../src/ports/persistence.js";
import { totalOf } from "../../../src/contract/api-costs.js";
import { annotationToJson, artifactToJson, deadLetterToJson, logToJson, runToJson, stageToJson, taskToJson } from "./serialize.js";

type Parsed<E extends ApiEndpoint> = z.output<(typeof API_SCHEMAS)[E]["request"]>;

export interface HandlerDeps {
  kernel: Kernel;
  jobTransport?: Pick<JobTransport, "depth">;
  service: { name: string; version: string; instanceId: string; startedAt: Date };
  /** The worker registry reader; without it `workers.list` answers an empty list. */
  workers?: (req: Parsed<"workers.list">) => Promise<ApiReply<"workers.list">["workers"]>;
  /** Remote tasks no live worker can serve, for `stats`. */
  unservedTasks?: () => UnservedTaskJson[];
  /** Why a run's stages wait beyond their limits: remote tasks not started, jobs behind higher bands (added to `runs.get`'s `waiting`). */
  taskWaits?: (view: RunView) => Promise<StageWaitJson[]>;
  /** A run's remote activity tasks (`runs.get` with `tasks`). */
  runTasks?: (workflowRunId: string) => Promise<ActivityTaskRecord[]>;
  /** A run's stored artifacts (`runs.get` with `artifacts`, `runs.artifact`). */
  runArtifacts?: (workflowRunId: string) => Promise<ArtifactRecord[]>;
  /** Presigns a GET of an object-store key (`runs.artifact`). */
  presignArtifact?: (key: string, expiresInSec: number) => Promise<PresignedUrl>;
  /** Dead-lettered outbox rows (`deadLetters.list`); without it the endpoint answers an empty list. */
  deadLetters?: (limit: number) => Promise<OutboxRecord[]>;
  /** AI call totals (`runs.costs`, `costs.summary`): the persistence's `summarizeAICalls`. */
  aiCosts?: (q: AICallSummaryQuery) => Promise<AICallSummaryRow[]>;
}

const WEEK_MS = 7 * 24 * 3_600_000;

function needAICosts(deps: HandlerDeps): NonNullable<HandlerDeps["aiCosts"]> {
  if (!deps.aiCosts) throw new JetflowError("UNAVAILABLE", "this orchestrator serves no AI cost data (no persistence wired to the API)");
  return deps.aiCosts;
}

/** Records a steering action taken on behalf of `actor` as the run's `jetflow.action` annotation (who did what, when). */
async function recordAction(
  kernel: Kernel,
  workflowRunId: string,
  actor: { kind: "system" | "user" | "agent" | "stage"; id: string } | undefined,
  action: Record<string, unknown>,
): Promise<void> {
  if (!actor) return;
  await kernel.annotations.attach(workflowRunId, { actor, attributes: { "jetflow.action": action } });
}

export type Handlers = { [E in ApiEndpoint]: (req: Parsed<E>) => Promise<ApiReply<E>> };

/** Endpoint implementations: validated request in, reply out; errors propagate as JetflowError. */
export function createHandlers(deps: HandlerDeps): Handlers {
  const { kernel } = deps;
  return {
    "runs.create": async (req) =>
      kernel.dispatch({
        type: "run.create",
        workflowId: req.workflowId,
        input: req.input,
        config: req.config,
        idempotencyKey: req.idempotencyKey,
        priority: req.priority,
        annotations: req.annotations,
      }),
    "runs.get": async (req) => {
      const view = await kernel.runs.get(req.workflowRunId);
      if (!view) throw new RunNotFoundError(req.workflowRunId);
      const reply: ApiReply<"runs.get"> = {
        run: runToJson(view.run),
        stages: [...view.stages].sort((a, b) => a.groupIndex - b.groupIndex || a.stageId.localeCompare(b.stageId)).map(stageToJson),
      };
      const waiting: StageWaitJson[] = view.waiting.map((w) => ({
        stageId: w.stageId,
        reason: w.reason,
        detail: w.detail,
        retryAt: w.retryAt?.toISOString() ?? null,
        since: w.since.toISOString(),
      }));
      // The includes are independent reads: one round trip's wait instead of four (the console's run page asks for all of them).
      const id = req.workflowRunId;
      const [taskWaits, logs, annotations, artifacts, tasks] = await Promise.all([
        deps.taskWaits?.(view) ?? [],
        req.logs ? kernel.runs.logs(id, { limit: req.logs }) : undefined,
        req.annotations ? kernel.annotations.list(id) : undefined,
        req.artifacts ? (deps.runArtifacts?.(id) ?? []) : undefined,
        req.tasks ? (deps.runTasks?.(id) ?? []) : undefined,
      ]);
      waiting.push(...taskWaits);
      if (waiting.length > 0) reply.waiting = waiting;
      if (logs) reply.logs = logs.map(logToJson);
      if (annotations) reply.annotations = annotations.map(annotationToJson);
      if (artifacts) reply.artifacts = artifacts.map(artifactToJson);
      if (tasks) reply.tasks = tasks.map(taskToJson);
      return reply;
    },
    "runs.list": async (req) => {
      const runs = await kernel.runs.list({
        workflowId: req.workflowId,
        status: req.status,
        limit: req.limit,
        createdBefore: req.createdBefore ? new Date(req.createdBefore) : undefined,
        beforeId: req.createdBefore ? req.beforeId : undefined,
        createdAfter: req.createdAfter ? new Date(req.createdAfter) : undefined,
        idempotencyKey: req.idempotencyKey,
        annotation: req.annotationKey
          ? { key: req.annotationKey, ...(req.annotationValue !== undefined ? { value: req.annotationValue } : {}) }
          : undefined,
      });
      return { runs: runs.map(runToJson) };
    },
    "runs.cancel": async (req) => {
      const result = await kernel.dispatch({ type: "run.cancel", workflowRunId: req.workflowRunId, reason: req.reason });
      await recordAction(kernel, req.workflowRunId, req.actor, {
        action: "cancel",
        reason: req.reason ?? null,
        cancelled: result.cancelled,
      });
      return result;
    },
    "runs.rerun": async (req) => {
      const result = await kernel.dispatch({ type: "run.rerunFrom", workflowRunId: req.workflowRunId, fromStageId: req.fromStageId });
      await recordAction(kernel, req.workflowRunId, req.actor, { action: "rerun", fromStageId: req.fromStageId });
      return result;
    },
    "runs.artifact": async (req) => {
      if (!(await kernel.runs.get(req.workflowRunId))) throw new RunNotFoundError(req.workflowRunId);
      const artifact = deps.runArtifacts ? (await deps.runArtifacts(req.workflowRunId)).find((a) => a.key === req.key) : undefined;
      // Only keys the run recorded are signed: the endpoint must not become a GET-anything oracle on the bucket.
      if (!artifact)
        throw new ValidationError("invalid runs.artifact request", [{ path: "key", message: "is not an artifact of this run" }]);
      if (!deps.presignArtifact) throw new JetflowError("UNAVAILABLE", "this orchestrator has no object store to presign downloads from");
      const signed = await deps.presignArtifact(artifact.key, req.expiresInSec);
      return { url: signed.url, expiresAt: signed.expiresAt.toISOString(), size: artifact.size };
    },
    "runs.annotate": async (req) => {
      if (!(await kernel.runs.get(req.workflowRunId))) throw new RunNotFoundError(req.workflowRunId);
      return kernel.annotations.attach(req.workflowRunId, {
        stageId: req.stageId,
        actor: req.actor,
        attributes: req.attributes,
        idempotencyKey: req.idempotencyKey,
      });
    },
    "deadLetters.list": async (req) => ({
      deadLetters: deps.deadLetters ? (await deps.deadLetters(req.limit)).map(deadLetterToJson) : [],
    }),
    "runs.costs": async (req) => {
      if (!(await kernel.runs.get(req.workflowRunId))) throw new RunNotFoundError(req.workflowRunId);
      const aiCosts = needAICosts(deps);
      const topicPrefix = `workflow.${req.workflowRunId}.`;
      const [byStage, byModel] = await Promise.all([aiCosts({ by: "stage", topicPrefix }), aiCosts({ by: "model", topicPrefix })]);
      return { workflowRunId: req.workflowRunId, total: totalOf(byStage), byStage, byModel };
    },
    "costs.summary": async (req) => {
      const since = req.since ? new Date(req.since) : new Date(Date.now() - WEEK_MS);
      const rows = await needAICosts(deps)({ by: req.by, since });
      return { by: req.by, since: since.toISOString(), total: totalOf(rows), rows: rows.slice(0, req.limit) };
    },
    "workers.list": async (req) => ({ workers: deps.workers ? await deps.workers(req) : [] }),
    stats: async () => {
      const empty = { PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0 };
      const runs = kernel.runs.countByStatus ? await kernel.runs.countByStatus() : empty;
      const depth = deps.jobTransport?.depth ? await deps.jobTransport.depth() : null;
      return {
        runs: { ...empty, ...runs },
        jobsQueued: depth,
        ...(deps.unservedTasks ? { unservedTasks: deps.unservedTasks() } : {}),
        service: { ...deps.service, startedAt: deps.service.startedAt.toISOString() },
      };
    },
  };
}
