/**
 * Request and reply schemas of the submission API (`<prefix>.api.*`, a NATS micro-service).
 * Shared by the orchestrator's service, the client library and the CLI; documented in
 * docs/protocol.md for clients in other languages. Dates travel as ISO-8601 strings.
 */
import { z } from "zod";
import { WorkerRecord } from "./fleet.js";
import { CostsSummaryReply, CostsSummaryRequest, RunCostsReply, RunCostsRequest } from "./api-costs.js";
import { ERROR_STATUS } from "./public-error.js";
import { INT4_MAX, identifier, int4, storableJson, storableText } from "./storable.js";

const id = identifier(200);
const runStatus = z.enum(["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"]);
const stageStatus = z.enum(["PENDING", "RUNNING", "SUSPENDED", "COMPLETED", "FAILED", "CANCELLED"]);
const isoDate = z.string().datetime({ offset: true });
// A request date must also fit a timestamptz column (year 1 or later).
const requestDate = isoDate.refine((s) => !s.startsWith("0000"), { error: "year must be 0001 or later" });
const actor = z.object({ kind: z.enum(["system", "user", "agent", "stage"]), id: identifier(200) });
const annotationInput = z.object({
  actor: actor.optional(),
  attributes: z.record(storableText(200).min(1), storableJson()),
  idempotencyKey: storableText(200).min(1).optional(),
});

/** Endpoint names under `<prefix>.api.`; each maps to one request and one reply schema. */
export const API_ENDPOINTS = [
  "runs.create",
  "runs.get",
  "runs.list",
  "runs.cancel",
  "runs.rerun",
  "runs.annotate",
  "stats",
  "workers.list",
  "runs.artifact",
  "deadLetters.list",
  "runs.costs",
  "costs.summary",
] as const;
/** Name of a submission API endpoint (`runs.create`, `runs.get`, ...). */
export type ApiEndpoint = (typeof API_ENDPOINTS)[number];

/** `runs.create` request: workflow, input, per-stage config, idempotency key. */
export const RunCreateRequest = z.object({
  workflowId: id,
  input: storableJson(),
  config: z.record(storableText(200), storableJson()).optional(),
  /** Required: a retried submission with the same key returns the first run. */
  idempotencyKey: storableText(200).min(1, "idempotencyKey is required"),
  /** Higher runs first; a Postgres integer (int4). */
  priority: int4().optional(),
  annotations: z.array(annotationInput).max(1_000).optional(),
});
/** `runs.create` reply. */
export const RunCreateReply = z.object({ workflowRunId: id, status: runStatus, created: z.boolean() });

/** `runs.get` request. */
export const RunGetRequest = z.object({
  workflowRunId: id,
  /** Include up to this many log lines (newest last). */
  logs: z.number().int().min(0).max(1000).optional(),
  /** Include the run's annotations (oldest first). */
  annotations: z.boolean().optional(),
  /** Include the run's artifacts (key, size, stage). */
  artifacts: z.boolean().optional(),
  /** Include the run's remote activity tasks (attempt, worker, lease), when the orchestrator runs remote activities. */
  tasks: z.boolean().optional(),
});
/** A run as the API returns it. */
export const RunJson = z.object({
  id,
  workflowId: id,
  status: runStatus,
  input: z.unknown(),
  config: z.record(z.string(), z.unknown()),
  output: z.unknown().nullable(),
  error: z.string().nullable(),
  currentGroupIndex: z.number().int(),
  priority: z.number().int(),
  createdAt: isoDate,
  updatedAt: isoDate,
  startedAt: isoDate.nullable(),
  completedAt: isoDate.nullable(),
  /** W3C trace id of the run's trace, when it was created inside one. */
  traceId: z.string().nullable().optional(),
});
/** A stage of a run as the API returns it. */
export const StageJson = z.object({
  stageId: id,
  stageName: z.string(),
  groupIndex: z.number().int(),
  status: stageStatus,
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  error: z.string().nullable(),
  nextPollAt: isoDate.nullable(),
  startedAt: isoDate.nullable(),
  completedAt: isoDate.nullable(),
});
/** A log line as the API returns it. */
export const LogJson = z.object({
  stageId: z.string().nullable(),
  level: z.enum(["DEBUG", "INFO", "WARN", "ERROR"]),
  message: z.string(),
  createdAt: isoDate,
});
/** An annotation as the API returns it. */
export const AnnotationJson = z.object({
  stageId: z.string().nullable(),
  key: z.string(),
  value: z.unknown(),
  actor: z.object({ kind: z.string(), id: z.string() }),
  createdAt: isoDate,
});
/** A stored artifact of a run as the API returns it (download it with `runs.artifact`). */
export const ArtifactJson = z.object({
  stageId: z.string().nullable(),
  key: z.string(),
  size: z.number().int().min(0),
  contentType: z.string().nullable(),
  createdAt: isoDate,
});
/** A remote activity task of a run as the API returns it: who holds its current attempt. */
export const TaskJson = z.object({
  taskId: z.string(),
  stageId: z.string(),
  queue: z.string(),
  codeVersion: z.string(),
  status: z.enum(["PENDING", "LEASED", "COMPLETED", "FAILED", "CANCELLED"]),
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  workerId: z.string().nullable(),
  outcome: z.string().nullable(),
  error: z.string().nullable(),
  heartbeatAt: isoDate.nullable(),
  leaseDeadline: isoDate.nullable(),
  createdAt: isoDate,
  updatedAt: isoDate,
  /** Every started attempt, oldest first, with the worker that started it (absent until one starts). */
  attempts: z.array(z.object({ attempt: z.number().int(), workerId: z.string(), startedAt: isoDate })).optional(),
});
/** `runs.get` reply: the run, its stages and, when asked for, logs, annotations, artifacts and remote tasks. */
/**
 * Why a stage waits: for admission (rate limit, concurrency key, round-robin turn), or, SUSPENDED on a
 * remote task not yet started, for a worker (`no-worker`, `lower-priority`, `workers-busy`): docs/flow-control.md.
 */
export const StageWaitJson = z.object({
  stageId: z.string(),
  reason: z.enum(["concurrency", "queue-concurrency", "rate-limited", "fair-share", "no-worker", "lower-priority", "workers-busy"]),
  /** `concurrency key "t1" of "queue:render#concurrency" full: 2/2 running`, `rate limit ... until <ISO>`, `behind 3 pending high-priority task(s) on queue "q"`. */
  detail: z.string(),
  /** When a rate-limited stage gets its next token; null: when a slot frees. */
  retryAt: z.string().nullable(),
  /** Waiting since (first parked; for a remote task, since it was created). */
  since: z.string(),
});
/** A stage's waiting reason, as `runs.get` returns it. */
export type StageWaitJson = z.output<typeof StageWaitJson>;

/** `runs.get` reply. */
export const RunGetReply = z.object({
  run: RunJson,
  stages: z.array(StageJson),
  /** Stages parked by a rate limit or concurrency key, or whose remote task waits for a worker, with the reason (absent when none). */
  waiting: z.array(StageWaitJson).optional(),
  logs: z.array(LogJson).optional(),
  annotations: z.array(AnnotationJson).optional(),
  artifacts: z.array(ArtifactJson).optional(),
  tasks: z.array(TaskJson).optional(),
});

/** `runs.list` request. */
export const RunListRequest = z.object({
  workflowId: id.optional(),
  status: z.array(runStatus).optional(),
  limit: z.number().int().min(1).max(500).default(50),
  /** Keyset pagination: runs created strictly before this instant. */
  createdBefore: requestDate.optional(),
  /** With `createdBefore`: the id of the previous page's last run; the page continues right after it (same-instant runs are kept). */
  beforeId: id.optional(),
  /** Only runs created at or after this instant. */
  createdAfter: requestDate.optional(),
  /** Only the run created with this idempotency key. */
  idempotencyKey: storableText(200).min(1).optional(),
  /** Only runs with an annotation of this key (and, when `annotationValue` is set, this JSON value). */
  annotationKey: storableText(200).min(1).optional(),
  annotationValue: storableJson().optional(),
});
/** `runs.list` reply. */
export const RunListReply = z.object({ runs: z.array(RunJson) });

/** `runs.cancel` request; with `actor`, the cancel is also recorded as an annotation `jetflow.action` by that actor. */
export const RunCancelRequest = z.object({ workflowRunId: id, reason: storableText(1000).optional(), actor: actor.optional() });
/** `runs.cancel` reply. */
export const RunCancelReply = z.object({ cancelled: z.boolean(), status: runStatus });

/** `runs.rerun` request; with `actor`, the rerun is also recorded as an annotation `jetflow.action` by that actor. */
export const RunRerunRequest = z.object({ workflowRunId: id, fromStageId: id, actor: actor.optional() });
/** `runs.rerun` reply. */
export const RunRerunReply = z.object({
  workflowRunId: id,
  fromStageId: id,
  resetStageIds: z.array(id),
  deletedArtifacts: z.number().int(),
});

/** `runs.annotate` request. */
export const RunAnnotateRequest = annotationInput.extend({ workflowRunId: id, stageId: id.optional() });
/** `runs.annotate` reply. */
export const RunAnnotateReply = z.object({ inserted: z.number().int() });

/** `stats` request (no fields). */
export const StatsRequest = z.object({}).passthrough();
/** A remote task waiting for a worker while no live worker could take it (docs/fleet.md). */
export const UnservedTaskJson = z.object({
  taskId: id,
  workflowRunId: id,
  stageId: id,
  queue: z.string(),
  codeVersion: z.string(),
  requiredLabels: z.record(z.string(), z.string()),
  /** How long the task has waited, at reply time. */
  waitingMs: z.number().min(0),
  reason: z.string(),
});
/** A remote task no live worker could take, as the API returns it. */
export type UnservedTaskJson = z.output<typeof UnservedTaskJson>;
/** `stats` reply: runs by status, queued jobs, unserved tasks, service identity. */
export const StatsReply = z.object({
  runs: z.record(runStatus, z.number().int()),
  jobsQueued: z.number().int().nullable(),
  /** Remote tasks no live worker can serve (present when the orchestrator runs remote activities). */
  unservedTasks: z.array(UnservedTaskJson).optional(),
  service: z.object({ name: z.string(), version: z.string(), instanceId: z.string(), startedAt: isoDate }),
});

/** `workers.list`: the worker registry (docs/fleet.md), optionally for one queue. */
export const WorkersListRequest = z.object({
  queue: id.optional(),
  unhealthyAfterMs: z.number().int().positive().max(INT4_MAX).optional(),
});
/** `workers.list` reply. */
export const WorkersListReply = z.object({
  workers: z.array(WorkerRecord.extend({ healthy: z.boolean(), lastSeenMs: z.number().min(0) })),
});

/** `runs.artifact`: a presigned GET URL of one of the run's artifacts. */
export const RunArtifactRequest = z.object({
  workflowRunId: id,
  key: storableText(1024).min(1),
  expiresInSec: z.number().int().min(1).max(3600).default(300),
});
/** `runs.artifact` reply. */
export const RunArtifactReply = z.object({ url: z.string().url(), expiresAt: isoDate, size: z.number().int().min(0) });

/** `deadLetters.list`: outbox rows (run events, jobs) that exhausted their publish retries, newest first. */
export const DeadLettersListRequest = z.object({ limit: z.number().int().min(1).max(500).default(100) });
/** A dead-lettered outbox row as the API returns it (its payload is left out). */
export const DeadLetterJson = z.object({
  id: z.string(),
  kind: z.enum(["event", "job"]),
  workflowRunId: z.string(),
  type: z.string(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  createdAt: isoDate,
  deadLetteredAt: isoDate.nullable(),
});
/** `deadLetters.list` reply. */
export const DeadLettersListReply = z.object({ deadLetters: z.array(DeadLetterJson) });

/** Error body sent with every error reply (also mirrored in the service error headers). */
export const ApiErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    /** Set on UNAVAILABLE and INTERNAL errors: the server logged the full error under this id. */
    correlationId: z.string().optional(),
  }),
});

/** Request schema and reply schema of each endpoint. */
export const API_SCHEMAS = {
  "runs.create": { request: RunCreateRequest, reply: RunCreateReply },
  "runs.get": { request: RunGetRequest, reply: RunGetReply },
  "runs.list": { request: RunListRequest, reply: RunListReply },
  "runs.cancel": { request: RunCancelRequest, reply: RunCancelReply },
  "runs.rerun": { request: RunRerunRequest, reply: RunRerunReply },
  "runs.annotate": { request: RunAnnotateRequest, reply: RunAnnotateReply },
  stats: { request: StatsRequest, reply: StatsReply },
  "workers.list": { request: WorkersListRequest, reply: WorkersListReply },
  "runs.artifact": { request: RunArtifactRequest, reply: RunArtifactReply },
  "deadLetters.list": { request: DeadLettersListRequest, reply: DeadLettersListReply },
  "runs.costs": { request: RunCostsRequest, reply: RunCostsReply },
  "costs.summary": { request: CostsSummaryRequest, reply: CostsSummaryReply },
} as const satisfies Record<ApiEndpoint, { request: z.ZodType; reply: z.ZodType }>;

/** Request body of endpoint `E` (input side of its schema). */
export type ApiRequest<E extends ApiEndpoint> = z.input<(typeof API_SCHEMAS)[E]["request"]>;
/** Reply body of endpoint `E` (parsed). */
export type ApiReply<E extends ApiEndpoint> = z.output<(typeof API_SCHEMAS)[E]["reply"]>;

/** Numeric code placed in the `Nats-Service-Error-Code` header for each jetflow error code. */
export const API_ERROR_STATUS: Readonly<Record<string, number>> = ERROR_STATUS;

/** Subject of an API endpoint under a prefix (default "jetflow"). */
export function apiSubject(endpoint: ApiEndpoint, prefix = "jetflow"): string {
  return `${prefix}.api.${endpoint}`;
}
