import type { AnnotationRecord, ArtifactRecord, LogRecord, OutboxRecord, RunRecord, StageRecord } from "../../../src/ports/records.js";
import type { ActivityTaskRecord } from "../../../src/ports/activity-task-store.js";
import type { ApiReply } from "../../../src/contract/api-messages.js";

type RunJson = ApiReply<"runs.get">["run"];
type StageJson = ApiReply<"runs.get">["stages"][number];
type LogJson = NonNullable<ApiReply<"runs.get">["logs"]>[number];
type AnnotationJson = NonNullable<ApiReply<"runs.get">["annotations"]>[number];
type ArtifactJson = NonNullable<ApiReply<"runs.get">["artifacts"]>[number];
type TaskJson = NonNullable<ApiReply<"runs.get">["tasks"]>[number];

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
    traceId: traceIdOf(run.traceContext),
  };
}

/** The trace id of a W3C `traceparent` (version-traceid-spanid-flags), or null. */
function traceIdOf(carrier: RunRecord["traceContext"]): string | null {
  const parent = carrier?.traceparent;
  const m = typeof parent === "string" ? /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(parent) : null;
  return m ? m[1]! : null;
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

export function annotationToJson(a: AnnotationRecord): AnnotationJson {
  return {
    stageId: a.stageId,
    key: a.key,
    value: a.value,
    actor: { kind: a.actor.kind, id: a.actor.id },
    createdAt: a.createdAt.toISOString(),
  };
}

export function artifactToJson(a: ArtifactRecord): ArtifactJson {
  return { stageId: a.stageId, key: a.key, size: a.size, contentType: a.contentType, createdAt: a.createdAt.toISOString() };
}

/** A remote task without its capability, lease token, input or report: what an operator needs, none of the secrets. */
export function taskToJson(t: ActivityTaskRecord): TaskJson {
  return {
    taskId: t.taskId,
    stageId: t.stageId,
    queue: t.queue,
    codeVersion: t.codeVersion,
    status: t.status,
    attempt: t.attempt,
    maxAttempts: t.maxAttempts,
    workerId: t.workerId,
    outcome: t.outcome,
    error: t.error,
    heartbeatAt: iso(t.heartbeatAt),
    leaseDeadline: iso(t.leaseDeadline),
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
    ...(t.attempts
      ? { attempts: t.attempts.map((a) => ({ attempt: a.attempt, workerId: a.workerId, startedAt: a.startedAt.toISOString() })) }
      : {}),
  };
}

/** A dead-lettered outbox row without its payload (which may hold run data). */
export function deadLetterToJson(r: OutboxRecord): ApiReply<"deadLetters.list">["deadLetters"][number] {
  return {
    id: r.id,
    kind: r.kind,
    workflowRunId: r.workflowRunId,
    type: r.type,
    attempts: r.attempts,
    lastError: r.lastError,
    createdAt: r.createdAt.toISOString(),
    deadLetteredAt: iso(r.deadLetteredAt),
  };
}
