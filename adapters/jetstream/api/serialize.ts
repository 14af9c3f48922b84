import type { LogRecord, RunRecord, StageRecord } from "../../../src/ports/records.js";
import type { ApiReply } from "../../../src/contract/api-messages.js";

type RunJson = ApiReply<"runs.get">["run"];
type StageJson = ApiReply<"runs.get">["stages"][number];
type LogJson = NonNullable<ApiReply<"runs.get">["logs"]>[number];

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** A run record as it travels on the wire (dates as ISO strings, no internal fields). */
export function runToJson(run: RunRecord): RunJson {
  return {
    id: run.id,
    workflowId: run.workflowId,
    status: run.status,
    input: run.input,
    config: run.config,
    output: run.output,
    error: run.error,
    currentGroupIndex: run.currentGroupIndex,
    priority: run.priority,
    createdAt: run.createdAt.toISOString(),
    updatedAt: run.updatedAt.toISOString(),
    startedAt: iso(run.startedAt),
    completedAt: iso(run.completedAt),
  };
}

export function stageToJson(stage: StageRecord): StageJson {
  return {
    stageId: stage.stageId,
    stageName: stage.stageName,
    groupIndex: stage.groupIndex,
    status: stage.status,
    attempt: stage.attempt,
    maxAttempts: stage.maxAttempts,
    error: stage.error,
    nextPollAt: iso(stage.nextPollAt),
    startedAt: iso(stage.startedAt),
    completedAt: iso(stage.completedAt),
  };
}

export function logToJson(log: LogRecord): LogJson {
  return { stageId: log.stageId, level: log.level, message: log.message, createdAt: log.createdAt.toISOString() };
}
