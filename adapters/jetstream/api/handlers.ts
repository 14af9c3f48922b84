import { RunNotFoundError } from "../../../src/contract/errors.js";
import type { Kernel } from "../../../src/kernel/types.js";
import type { JobTransport } from "../../../src/ports/job-transport.js";
import type { ApiEndpoint, ApiReply } from "../../../src/contract/api-messages.js";
import { API_SCHEMAS, type UnservedTaskJson } from "../../../src/contract/api-messages.js";
import type { z } from "zod";
import { logToJson, runToJson, stageToJson } from "./serialize.js";

type Parsed<E extends ApiEndpoint> = z.output<(typeof API_SCHEMAS)[E]["request"]>;

export interface HandlerDeps {
  kernel: Kernel;
  jobTransport?: Pick<JobTransport, "depth">;
  service: { name: string; version: string; instanceId: string; startedAt: Date };
  /** The worker registry reader; without it `workers.list` answers an empty list. */
  workers?: (req: Parsed<"workers.list">) => Promise<ApiReply<"workers.list">["workers"]>;
  /** Remote tasks no live worker can serve, for `stats`. */
  unservedTasks?: () => UnservedTaskJson[];
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
      if (req.logs) reply.logs = (await kernel.runs.logs(req.workflowRunId, { limit: req.logs })).map(logToJson);
      return reply;
    },
    "runs.list": async (req) => {
      const runs = await kernel.runs.list({
        workflowId: req.workflowId,
        status: req.status,
        limit: req.limit,
        createdBefore: req.createdBefore ? new Date(req.createdBefore) : undefined,
      });
      return { runs: runs.map(runToJson) };
    },
    "runs.cancel": async (req) => kernel.dispatch({ type: "run.cancel", workflowRunId: req.workflowRunId, reason: req.reason }),
    "runs.rerun": async (req) => kernel.dispatch({ type: "run.rerunFrom", workflowRunId: req.workflowRunId, fromStageId: req.fromStageId }),
    "runs.annotate": async (req) => {
      if (!(await kernel.runs.get(req.workflowRunId))) throw new RunNotFoundError(req.workflowRunId);
      return kernel.annotations.attach(req.workflowRunId, {
        stageId: req.stageId,
        actor: req.actor,
        attributes: req.attributes,
        idempotencyKey: req.idempotencyKey,
      });
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
