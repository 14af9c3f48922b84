/**
 * Runs and stages on Postgres. Guards are compare-and-set predicates in the UPDATE's WHERE, so a
 * refused update touches nothing and returns null; claims are one UPDATE over a
 * `FOR UPDATE SKIP LOCKED` sub-select, so concurrent claimers never take the same row.
 */
import type postgres from "postgres";
import type {
  CreateRunStarted,
  NewOutboxRow,
  NewRun,
  NewStage,
  RunFilter,
  RunGuard,
  RunPatch,
  StageGuard,
  StagePatch,
} from "../../src/ports/persistence.js";
import type { RunRecord, RunStatus, StageRecord } from "../../src/ports/records.js";
import { type Db, insertNewStages, json, outboxRecordset, toRun, toStage } from "./rows.js";
import type { Tables } from "./tables.js";

const DEFAULT_LIST_LIMIT = 100;

/** Where a query runs: the client (autocommit) or a transaction, plus the schema's tables. */
export interface Ctx {
  db: Db;
  t: Tables;
  /** True inside `transaction()`: row locks (FOR UPDATE) are meaningful only then. */
  inTx: boolean;
}

type Row = Record<string, unknown>;

const RUN_COLUMNS: Record<keyof RunPatch, [column: string, isJson: boolean]> = {
  status: ["status", false],
  output: ["output", true],
  error: ["error", false],
  currentGroupIndex: ["current_group_index", false],
  claimedBy: ["claimed_by", false],
  startedAt: ["started_at", false],
  completedAt: ["completed_at", false],
  lastActivityAt: ["last_activity_at", false],
  traceContext: ["trace_context", true],
};

const STAGE_COLUMNS: Record<keyof StagePatch, [column: string, isJson: boolean]> = {
  status: ["status", false],
  attempt: ["attempt", false],
  maxAttempts: ["max_attempts", false],
  executionToken: ["execution_token", false],
  output: ["output", true],
  outputRef: ["output_ref", false],
  error: ["error", false],
  suspendedState: ["suspended_state", true],
  nextPollAt: ["next_poll_at", false],
  pollIntervalMs: ["poll_interval_ms", false],
  maxWaitUntil: ["max_wait_until", false],
  metrics: ["metrics", true],
  traceContext: ["trace_context", true],
  startedAt: ["started_at", false],
  completedAt: ["completed_at", false],
};

/** The SET object for a patch: only defined fields (undefined = keep), JSON ones as jsonb. */
function setObject(db: Db, patch: object, columns: Record<string, [string, boolean]>, now: Date): Row {
  const out: Row = { updated_at: now };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    const col = columns[k];
    if (!col) throw new TypeError(`unknown patch field "${k}"`);
    out[col[0]] = col[1] ? json(db, v) : v;
  }
  return out;
}

/** The SET object of a run patch (updatedAt = `now`). */
export function runSet(db: Db, patch: RunPatch, now: Date): Row {
  return setObject(db, patch, RUN_COLUMNS, now);
}

/** The SET object of a stage patch (updatedAt = `now`). */
export function stageSet(db: Db, patch: StagePatch, now: Date): Row {
  return setObject(db, patch, STAGE_COLUMNS, now);
}

export async function createRun({ db, t }: Ctx, r: NewRun): Promise<RunRecord> {
  const rows = await db`
    insert into ${t.runs} (id, workflow_id, status, input, config, priority, trace_context, created_at, updated_at, last_activity_at)
    values (${r.id}, ${r.workflowId}, 'PENDING', ${json(db, r.input)}, ${json(db, r.config ?? {})}, ${r.priority},
            ${json(db, r.traceContext)}, ${r.now}, ${r.now}, ${r.now})
    returning *`;
  return toRun(rows[0]!);
}

export async function createRunWithKey(
  { db, t }: Ctx,
  r: NewRun,
  key: { command: string; key: string; result: unknown },
  outbox: NewOutboxRow[],
): Promise<boolean> {
  // One statement, so no BEGIN/COMMIT round trips: the key's ON CONFLICT waits for a concurrent
  // writer of the same key, and the run and outbox inserts happen only if the key was inserted.
  const res = await db`
    with k as (
      insert into ${t.idempotency} (command, key, status, result, created_at, updated_at)
      values (${key.command}, ${key.key}, 'COMPLETED', ${json(db, key.result)}, ${r.now}, ${r.now})
      on conflict (command, key) do nothing returning 1),
    r as (
      insert into ${t.runs} (id, workflow_id, status, input, config, priority, trace_context, created_at, updated_at, last_activity_at)
      select ${r.id}::text, ${r.workflowId}::text, 'PENDING', ${json(db, r.input)}::jsonb, ${json(db, r.config ?? {})}::jsonb,
             ${r.priority}::int, ${json(db, r.traceContext)}::jsonb, ${r.now}::timestamptz, ${r.now}::timestamptz, ${r.now}::timestamptz
      where exists (select 1 from k)
      returning 1),
    o as (
      insert into ${t.outbox} (id, kind, run_id, type, payload, created_at, claimed_until)
      ${outboxRecordset(db, outbox)}
      where exists (select 1 from k)
      returning 1)
    select (select count(*) from r)::int as runs`;
  return res[0]!.runs === 1;
}

export async function createRunStarted({ db, t }: Ctx, o: CreateRunStarted): Promise<"started" | "pending" | "exists"> {
  const r = o.run;
  // One statement, as createRunWithKey: the run starts here only when no run is PENDING (a
  // backlog is claimed by the hosts in priority order), and its stages and jobs are written only
  // if it did.
  const res = await db`
    with k as (
      insert into ${t.idempotency} (command, key, status, result, created_at, updated_at)
      values (${o.key.command}, ${o.key.key}, 'COMPLETED', ${json(db, o.key.result)}, ${r.now}, ${r.now})
      on conflict (command, key) do nothing returning 1),
    q as (select not exists (select 1 from ${t.runs} where status = 'PENDING') as go),
    r as (
      insert into ${t.runs} (id, workflow_id, status, input, config, priority, trace_context, created_at, updated_at, last_activity_at,
                             claimed_by, started_at, current_group_index)
      select ${r.id}::text, ${r.workflowId}::text, case when q.go then 'RUNNING' else 'PENDING' end, ${json(db, r.input)}::jsonb,
             ${json(db, r.config ?? {})}::jsonb, ${r.priority}::int, ${json(db, r.traceContext)}::jsonb, ${r.now}::timestamptz,
             ${r.now}::timestamptz, ${r.now}::timestamptz, case when q.go then ${o.claimedBy}::text end,
             case when q.go then ${r.now}::timestamptz end, case when q.go then 0 else -1 end
      from q where exists (select 1 from k)
      returning status),
    s as (${insertNewStages(db, t.stages, o.stages)} where exists (select 1 from r where status = 'RUNNING') returning 1),
    oc as (
      insert into ${t.outbox} (id, kind, run_id, type, payload, created_at, claimed_until)
      ${outboxRecordset(db, o.created)}
      where exists (select 1 from r)
      returning 1),
    os as (
      insert into ${t.outbox} (id, kind, run_id, type, payload, created_at, claimed_until)
      ${outboxRecordset(db, o.started)}
      where exists (select 1 from r where status = 'RUNNING')
      returning 1)
    select (select status from r) as status`;
  const status = res[0]!.status as string | null;
  return status === "RUNNING" ? "started" : status === "PENDING" ? "pending" : "exists";
}

export async function getRun({ db, t, inTx }: Ctx, id: string, forUpdate: boolean): Promise<RunRecord | null> {
  const rows =
    forUpdate && inTx ? await db`select * from ${t.runs} where id = ${id} for update` : await db`select * from ${t.runs} where id = ${id}`;
  return rows[0] ? toRun(rows[0]) : null;
}

export async function updateRun({ db, t }: Ctx, id: string, patch: RunPatch, now: Date, guard?: RunGuard): Promise<RunRecord | null> {
  const set = setObject(db, patch, RUN_COLUMNS, now);
  const rows = await db`
    update ${t.runs} set ${db(set)} where id = ${id}
    ${guard?.status ? db`and status = any(${guard.status})` : db``}
    returning *`;
  return rows[0] ? toRun(rows[0]) : null;
}

export async function updateRuns({ db, t }: Ctx, ids: string[], patch: RunPatch, now: Date): Promise<number> {
  if (ids.length === 0) return 0;
  const res = await db`update ${t.runs} set ${db(setObject(db, patch, RUN_COLUMNS, now))} where id = any(${[...new Set(ids)]})`;
  return res.count;
}

/**
 * One status as plain equality: Postgres 15 then walks runs_status_created_idx in list order and
 * stops after a page, where `= any(array)` (even of one element) reads every run of the status and sorts.
 */
function statusCondition(db: Db, status: RunStatus[] | undefined) {
  if (!status) return db``;
  const distinct = [...new Set(status)];
  return distinct.length === 1 ? db`and status = ${distinct[0]!}` : db`and status = any(${distinct})`;
}

export async function listRuns({ db, t }: Ctx, f: RunFilter): Promise<RunRecord[]> {
  const rows = await db`
    select * from ${t.runs} r where true
    ${f.workflowId !== undefined ? db`and workflow_id = ${f.workflowId}` : db``}
    ${statusCondition(db, f.status)}
    ${
      f.createdBefore
        ? f.beforeId !== undefined
          ? db`and (created_at, id) < (${f.createdBefore}, ${f.beforeId})`
          : db`and created_at < ${f.createdBefore}`
        : db``
    }
    ${f.createdAfter ? db`and created_at >= ${f.createdAfter}` : db``}
    ${
      f.idempotencyKey !== undefined
        ? db`and id = (select result->>'workflowRunId' from ${t.idempotency} where command = 'run.create' and key = ${f.idempotencyKey})`
        : db``
    }
    ${
      f.annotation
        ? db`and exists (select 1 from ${t.annotations} a where a.run_id = r.id and a.key = ${f.annotation.key}
            ${f.annotation.value !== undefined ? db`and a.value = ${db.json(f.annotation.value as never)}` : db``})`
        : db``
    }
    order by created_at desc, id desc limit ${Math.max(0, f.limit ?? DEFAULT_LIST_LIMIT)}`;
  return rows.map(toRun);
}

export async function countRunsByStatus({ db, t }: Ctx): Promise<Record<RunStatus, number>> {
  const out: Record<RunStatus, number> = { PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0 };
  const rows = await db`select status, count(*)::int as n from ${t.runs} group by status`;
  for (const r of rows) out[r.status as RunStatus] = r.n as number;
  return out;
}

export async function claimPendingRuns({ db, t }: Ctx, limit: number, workerId: string, now: Date): Promise<RunRecord[]> {
  if (limit <= 0) return [];
  // A materialized CTE runs the locking pick exactly once: `id in (select ... limit n)` may be
  // planned as a join that re-evaluates it and claims more than n rows.
  const rows = await db`
    with picked as materialized (
      select id from ${t.runs} where status = 'PENDING'
      order by priority desc, created_at, id
      for update skip locked limit ${limit})
    update ${t.runs} r set status = 'RUNNING', claimed_by = ${workerId}, started_at = ${now}, last_activity_at = ${now}, updated_at = ${now}
    from picked where r.id = picked.id and r.status = 'PENDING'
    returning r.*`;
  // RETURNING has no order; give callers the claim order.
  return rows
    .map(toRun)
    .sort((a, b) => b.priority - a.priority || a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export async function findStaleRunningRuns({ db, t }: Ctx, before: Date, limit: number): Promise<RunRecord[]> {
  const rows = await db`
    select * from ${t.runs} where status = 'RUNNING' and last_activity_at < ${before}
    order by last_activity_at, id limit ${Math.max(0, limit)}`;
  return rows.map(toRun);
}

export async function upsertStage({ db, t }: Ctx, n: NewStage): Promise<StageRecord> {
  const inserted = await db`
    insert into ${t.stages} (id, run_id, stage_id, stage_name, group_index, status, attempt, max_attempts, trace_context, created_at, updated_at)
    values (${n.id}, ${n.workflowRunId}, ${n.stageId}, ${n.stageName}, ${n.groupIndex}, 'PENDING', 0, ${n.maxAttempts},
            ${json(db, n.traceContext)}, ${n.now}, ${n.now})
    on conflict (run_id, stage_id) do nothing
    returning *`;
  if (inserted[0]) return toStage(inserted[0]);
  // ON CONFLICT waited for the competing insert to commit, so the row is visible now.
  const existing = await db`select * from ${t.stages} where run_id = ${n.workflowRunId} and stage_id = ${n.stageId}`;
  if (!existing[0]) throw new Error(`upsertStage: stage ${n.workflowRunId}/${n.stageId} neither inserted nor found`);
  return toStage(existing[0]);
}

export async function getStage({ db, t, inTx }: Ctx, runId: string, stageId: string, forUpdate: boolean): Promise<StageRecord | null> {
  const rows =
    forUpdate && inTx
      ? await db`select * from ${t.stages} where run_id = ${runId} and stage_id = ${stageId} for update`
      : await db`select * from ${t.stages} where run_id = ${runId} and stage_id = ${stageId}`;
  return rows[0] ? toStage(rows[0]) : null;
}

export async function listStages({ db, t }: Ctx, runId: string): Promise<StageRecord[]> {
  const rows = await db`select * from ${t.stages} where run_id = ${runId} order by group_index, created_at, stage_id`;
  return rows.map(toStage);
}

export async function updateStage(
  { db, t }: Ctx,
  runId: string,
  stageId: string,
  patch: StagePatch,
  now: Date,
  guard?: StageGuard,
): Promise<StageRecord | null> {
  const set = setObject(db, patch, STAGE_COLUMNS, now);
  // `executionToken: null` is a real guard ("nobody owns it"); only undefined skips the check.
  const tokenGuard =
    guard?.executionToken === undefined
      ? db``
      : guard.executionToken === null
        ? db`and execution_token is null`
        : db`and execution_token = ${guard.executionToken}`;
  const rows = await db`
    update ${t.stages} set ${db(set)} where run_id = ${runId} and stage_id = ${stageId}
    ${guard?.status ? db`and status = any(${guard.status})` : db``}
    ${tokenGuard}
    ${guard?.attempt !== undefined ? db`and attempt = ${guard.attempt}` : db``}
    returning *`;
  return rows[0] ? toStage(rows[0]) : null;
}

export async function deleteStages({ db, t }: Ctx, runId: string, stageIds: string[]): Promise<number> {
  if (stageIds.length === 0) return 0;
  const res = await db`delete from ${t.stages} where run_id = ${runId} and stage_id = any(${[...new Set(stageIds)]})`;
  return res.count;
}

export async function claimDueSuspendedStages({ db, t }: Ctx, now: Date, limit: number, leaseMs: number): Promise<StageRecord[]> {
  if (limit <= 0) return [];
  const rows = await db`
    with due as materialized (
      select id, next_poll_at as due_at from ${t.stages}
      where status = 'SUSPENDED' and next_poll_at <= ${now}
      order by next_poll_at, id
      for update skip locked limit ${limit})
    update ${t.stages} s set next_poll_at = ${new Date(now.getTime() + leaseMs)}
    from due where s.id = due.id
    returning s.*, due.due_at`;
  // Soonest-due first, as selected (the returned rows already carry the new nextPollAt).
  return rows.sort((a, b) => (a.due_at as Date).getTime() - (b.due_at as Date).getTime()).map((r) => toStage(r));
}
