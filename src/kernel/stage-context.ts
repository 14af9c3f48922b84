import type { AnyStage, StageArtifacts, StageContext } from "../contract/stage-types.js";
import type { KernelDeps } from "./deps.js";
import type { AnnotationBuffer, LogBuffer } from "./buffers.js";
import { ValidationError } from "../contract/errors.js";
import { withBufferedStreams } from "./buffered-artifact-streams.js";

/** Prefix under which a stage's artifacts live; run.rerunFrom deletes it. */
export function stagePrefix(runId: string, stageId: string): string {
  return `runs/${runId}/${stageId}/`;
}

function checkName(name: string): void {
  if (typeof name !== "string" || name === "" || name.startsWith("/") || name.split("/").some((p) => p === ".." || p === "")) {
    throw new ValidationError("invalid artifact name", [
      { path: "name", message: `"${String(name)}" must be a relative path without empty or ".." segments` },
    ]);
  }
}

/** Artifacts API bound to one stage: writes stay under its prefix, reads stay inside its run. */
export function stageArtifacts(deps: KernelDeps, runId: string, stageId: string): StageArtifacts {
  const prefix = stagePrefix(runId, stageId);
  const runPrefix = `runs/${runId}/`;
  const keyOf = (nameOrKey: string) => (nameOrKey.startsWith("runs/") ? nameOrKey : prefix + nameOrKey);
  return withBufferedStreams(
    {
      async put(name, data, opts) {
        checkName(name);
        const key = prefix + name;
        const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
        await deps.blobStore.put(key, bytes, opts?.contentType ? { contentType: opts.contentType } : undefined);
        await deps.persistence.recordArtifact({
          workflowRunId: runId,
          stageId,
          key,
          size: bytes.byteLength,
          contentType: opts?.contentType ?? null,
          createdAt: deps.clock.now(),
        });
        return { key, size: bytes.byteLength };
      },
      async get(nameOrKey) {
        if (nameOrKey.startsWith("runs/")) {
          // A full key may name another stage's artifact, but never another run's (confused deputy).
          if (!nameOrKey.startsWith(runPrefix) || nameOrKey.split("/").includes("..")) {
            throw new ValidationError("invalid artifact key", [{ path: "key", message: `"${nameOrKey}" is outside run ${runId}` }]);
          }
          return deps.blobStore.get(nameOrKey);
        }
        checkName(nameOrKey);
        return deps.blobStore.get(prefix + nameOrKey);
      },
      async list() {
        return deps.blobStore.list(prefix);
      },
    },
    keyOf,
  );
}

export interface ContextParts {
  runId: string;
  workflowId: string;
  stage: AnyStage;
  attempt: number;
  priority?: number;
  input: unknown;
  config: unknown;
  workflowContext: Record<string, unknown>;
  resumeState: unknown;
  signal: AbortSignal;
  onHeartbeat?: () => void;
  logs: LogBuffer;
  annotations: AnnotationBuffer;
}

/** The StageContext a stage's execute() receives. */
export function buildStageContext(deps: KernelDeps, p: ContextParts): StageContext<unknown, unknown, Record<string, unknown>> {
  const wc = Object.freeze({ ...p.workflowContext });
  return {
    workflowRunId: p.runId,
    workflowId: p.workflowId,
    stageId: p.stage.id,
    stageName: p.stage.name,
    attempt: p.attempt,
    ...(p.priority !== undefined ? { priority: p.priority } : {}),
    input: p.input,
    config: p.config,
    workflowContext: wc,
    require(stageId: string) {
      if (!(stageId in wc)) {
        throw new Error(
          `stage "${p.stage.id}" requires the output of "${stageId}", which has not completed in an earlier group (available: ${Object.keys(wc).join(", ") || "none"})`,
        );
      }
      return wc[stageId] as never;
    },
    optional(stageId: string) {
      return wc[stageId] as never;
    },
    log: p.logs.log,
    annotate: p.annotations.annotate,
    resumeState: p.resumeState,
    signal: p.signal,
    heartbeat() {
      p.onHeartbeat?.();
    },
    heartbeatDetails: undefined,
    artifacts: stageArtifacts(deps, p.runId, p.stage.id),
    ai: p.logs.ai,
  };
}
