/**
 * Row ↔ record mapping and the SQL plumbing shared by the Postgres adapters. postgres.js parses
 * jsonb and timestamptz on the way out; on the way in every JSON value goes through `json()` so a
 * top-level string, number or array is stored as that JSON value (never as a text or PG array).
 */
import type postgres from "postgres";
import type {
  AICallRecord,
  ActorKind,
  AnnotationRecord,
  ArtifactRecord,
  LogLevel,
  LogRecord,
  OutboxKind,
  OutboxRecord,
  RunRecord,
  RunStatus,
  StageRecord,
  StageStatus,
  TraceCarrier,
} from "../../src/ports/records.js";
import type { NewLog, NewOutboxRow, NewStage } from "../../src/ports/persistence.js";
import type { Tables } from "./tables.js";

/** The root client or a transaction's: every query helper accepts either. */
export type Db = postgres.ISql;

/** A JSON parameter: SQL NULL for null/undefined, else an explicit jsonb parameter. */
export function json(db: Db, value: unknown): postgres.Parameter | null {
  if (value === undefined || value === null) return null;
  return db.json(value as postgres.JSONValue);
}

/** `prefix` as a LIKE pattern matching every string that starts with it. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * `select ... from` rows of the outbox as one jsonb parameter, for a statement that inserts them
 * only when an earlier CTE wrote something (`where exists (...)` after it).
 */
export function outboxRecordset(db: Db, outbox: NewOutboxRow[]): postgres.PendingQuery<postgres.Row[]> {
  const rows = outbox.map((o) => ({
    id: o.id,
    kind: o.kind,
    run_id: o.workflowRunId,
    type: o.type,
    payload: o.payload ?? {},
    created_at: o.createdAt.toISOString(),
    claimed_until: o.claimedUntil?.toISOString() ?? null,
  }));
  return db`
    select x.id, x.kind, x.run_id, x.type, x.payload, x.created_at, x.claimed_until
    from jsonb_to_recordset(${db.json(rows as unknown as postgres.JSONValue)}::jsonb)
      as x(id text, kind text, run_id text, type text, payload jsonb, created_at timestamptz, claimed_until timestamptz)`;
}

/**
 * `insert into <stages> ... select ...` of new stage rows (PENDING, attempt 0), open for a
 * `where` or an `on conflict` clause.
 */
export function insertNewStages(db: Db, table: Tables["stages"], stages: NewStage[]): postgres.PendingQuery<postgres.Row[]> {
  const rows = stages.map((n) => ({
    id: n.id,
    run_id: n.workflowRunId,
    stage_id: n.stageId,
    stage_name: n.stageName,
    group_index: n.groupIndex,
    max_attempts: n.maxAttempts,
    trace_context: n.traceContext,
    now: n.now.toISOString(),
  }));
  return db`
    insert into ${table} (id, run_id, stage_id, stage_name, group_index, status, attempt, max_attempts, trace_context, created_at, updated_at)
    select x.id, x.run_id, x.stage_id, x.stage_name, x.group_index, 'PENDING', 0, x.max_attempts,
           nullif(x.trace_context, 'null'::jsonb), x.now, x.now
    from jsonb_to_recordset(${db.json(rows as unknown as postgres.JSONValue)}::jsonb)
      as x(id text, run_id text, stage_id text, stage_name text, group_index int, max_attempts int, trace_context jsonb, now timestamptz)`;
}

/** A log as a row of the logs table (meta as given, for the caller to encode). */
export function logRow(l: NewLog) {
  return {
    id: l.id,
    run_id: l.workflowRunId,
    stage_id: l.stageId,
    level: l.level,
    message: l.message,
    meta: l.meta,
    created_at: l.createdAt,
  };
}

/** `logs` as a recordset in the logs table's column order, for an `insert ... select` inside a larger statement. */
export function logRecordset(db: Db, logs: NewLog[]): postgres.PendingQuery<postgres.Row[]> {
  const rows = logs.map((l) => ({ ...logRow(l), created_at: l.createdAt.toISOString() }));
  return db`
    select x.id, x.run_id, x.stage_id, x.level, x.message, x.meta, x.created_at
    from jsonb_to_recordset(${db.json(rows as unknown as postgres.JSONValue)}::jsonb)
      as x(id text, run_id text, stage_id text, level text, message text, meta jsonb, created_at timestamptz)`;
}

/**
 * A row that came back as `to_jsonb(t.*)` (so one statement can return rows of two tables) in
 * the shape postgres.js gives a plain row: the named timestamp columns as Dates.
 */
export function fromJsonRow(r: Record<string, unknown>, timestamps: readonly string[]): Record<string, unknown> {
  const out = { ...r };
  for (const k of timestamps) if (typeof out[k] === "string") out[k] = new Date(out[k] as string);
  return out;
}

type Row = Record<string, unknown>;
const d = (v: unknown): Date => v as Date;
const dn = (v: unknown): Date | null => (v === null || v === undefined ? null : (v as Date));
const sn = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));
const jn = <T>(v: unknown): T | null => (v === undefined || v === null ? null : (v as T));

export function toRun(r: Row): RunRecord {
  return {
    id: r.id as string,
    workflowId: r.workflow_id as string,
    status: r.status as RunStatus,
    input: jn(r.input),
    config: (r.config ?? {}) as Record<string, unknown>,
    output: jn(r.output),
    error: sn(r.error),
    currentGroupIndex: r.current_group_index as number,
    priority: r.priority as number,
    claimedBy: sn(r.claimed_by),
    traceContext: jn<TraceCarrier>(r.trace_context),
    createdAt: d(r.created_at),
    updatedAt: d(r.updated_at),
    startedAt: dn(r.started_at),
    completedAt: dn(r.completed_at),
    lastActivityAt: d(r.last_activity_at),
  };
}

export function toStage(r: Row): StageRecord {
  return {
    id: r.id as string,
    workflowRunId: r.run_id as string,
    stageId: r.stage_id as string,
    stageName: r.stage_name as string,
    groupIndex: r.group_index as number,
    status: r.status as StageStatus,
    attempt: r.attempt as number,
    maxAttempts: r.max_attempts as number,
    executionToken: sn(r.execution_token),
    output: jn(r.output),
    outputRef: sn(r.output_ref),
    error: sn(r.error),
    suspendedState: jn(r.suspended_state),
    nextPollAt: dn(r.next_poll_at),
    pollIntervalMs: r.poll_interval_ms === null ? null : (r.poll_interval_ms as number),
    maxWaitUntil: dn(r.max_wait_until),
    metrics: jn<Record<string, number>>(r.metrics),
    traceContext: jn<TraceCarrier>(r.trace_context),
    createdAt: d(r.created_at),
    updatedAt: d(r.updated_at),
    startedAt: dn(r.started_at),
    completedAt: dn(r.completed_at),
  };
}

export function toLog(r: Row): LogRecord {
  return {
    id: r.id as string,
    workflowRunId: r.run_id as string,
    stageId: sn(r.stage_id),
    level: r.level as LogLevel,
    message: r.message as string,
    meta: jn<Record<string, unknown>>(r.meta),
    createdAt: d(r.created_at),
  };
}

export function toArtifact(r: Row): ArtifactRecord {
  return {
    workflowRunId: r.run_id as string,
    stageId: sn(r.stage_id),
    key: r.key as string,
    size: Number(r.size),
    contentType: sn(r.content_type),
    createdAt: d(r.created_at),
  };
}

export function toOutbox(r: Row): OutboxRecord {
  return {
    id: r.id as string,
    kind: r.kind as OutboxKind,
    workflowRunId: r.run_id as string,
    type: r.type as string,
    payload: r.payload as Record<string, unknown>,
    createdAt: d(r.created_at),
    publishedAt: dn(r.published_at),
    claimedUntil: dn(r.claimed_until),
    attempts: r.attempts as number,
    lastError: sn(r.last_error),
    deadLetteredAt: dn(r.dead_lettered_at),
  };
}

export function toAnnotation(r: Row): AnnotationRecord {
  return {
    id: r.id as string,
    workflowRunId: r.run_id as string,
    stageId: sn(r.stage_id),
    key: r.key as string,
    value: jn(r.value),
    actor: { kind: r.actor_kind as ActorKind, id: r.actor_id as string },
    idempotencyKey: sn(r.idempotency_key),
    createdAt: d(r.created_at),
  };
}

export function toAICall(r: Row): AICallRecord {
  return {
    id: r.id as string,
    topic: r.topic as string,
    model: r.model as string,
    callType: r.call_type as string,
    inputTokens: r.input_tokens as number,
    outputTokens: r.output_tokens as number,
    cost: r.cost === null || r.cost === undefined ? null : Number(r.cost),
    meta: jn<Record<string, unknown>>(r.meta),
    createdAt: d(r.created_at),
  };
}
