/**
 * The hot path's compound writes, each one statement: a stage attempt's start, a stage's outcome
 * with its run's transition, and the first stages of a batch of claimed runs. Inside `sql.begin` each was four to six statements (BEGIN,
 * a locking read or two, the updates, the outbox insert, COMMIT), one round trip apiece; as one
 * statement of data-modifying CTEs it is one round trip and one commit. Every CTE after the first
 * runs only when the one before it wrote (`where exists`), so a failed guard writes nothing after
 * it, and the run row is always locked before the stage row, as in every other run write.
 */
import type postgres from "postgres";
import type { CommitStageAndRun, NewStage, StartStageAttempt } from "../../src/ports/persistence.js";
import type { RunRecord, StageRecord } from "../../src/ports/records.js";
import { fromJsonRow, insertNewStages, logRecordset, outboxRecordset, toRun, toStage } from "./rows.js";
import { type Ctx, runSet, stageSet } from "./runs-stages.js";

const RUN_TIMESTAMPS = ["created_at", "updated_at", "started_at", "completed_at", "last_activity_at"] as const;
const STAGE_TIMESTAMPS = ["created_at", "updated_at", "started_at", "completed_at", "next_poll_at", "max_wait_until"] as const;

export async function startStageAttempt({ db, t }: Ctx, o: StartStageAttempt): Promise<{ run: RunRecord; stage: StageRecord } | null> {
  // The stage guard is checked twice: in `r` so a stage that cannot start leaves the run alone
  // (mostly: a concurrent change between the two checks only costs a lastActivityAt bump), and
  // in `s` under the row lock, which is what decides.
  const rows = await db`
    with r as (
      update ${t.runs} set last_activity_at = ${o.now}, updated_at = ${o.now}
      where id = ${o.runId} and status = 'RUNNING' and workflow_id = ${o.workflowId}
        and exists (select 1 from ${t.stages} where run_id = ${o.runId} and stage_id = ${o.stageId}
                    and status = 'PENDING' and attempt = ${o.attempt - 1} and max_attempts >= ${o.attempt})
      returning *),
    s as (
      update ${t.stages} set status = 'RUNNING', attempt = ${o.attempt}, execution_token = ${o.executionToken},
        started_at = ${o.now}, error = null, updated_at = ${o.now}
      where run_id = ${o.runId} and stage_id = ${o.stageId} and status = 'PENDING' and attempt = ${o.attempt - 1}
        and max_attempts >= ${o.attempt} and exists (select 1 from r)
      returning *),
    ob as (
      insert into ${t.outbox} (id, kind, run_id, type, payload, created_at, claimed_until)
      ${outboxRecordset(db, o.outbox)}
      where exists (select 1 from s)
      returning 1)
    select to_jsonb(r.*) as run, to_jsonb(s.*) as stage, (select count(*) from ob)::int as outbox from r, s`;
  const row = rows[0];
  if (!row) return null;
  return {
    run: toRun(fromJsonRow(row.run as Record<string, unknown>, RUN_TIMESTAMPS)),
    stage: toStage(fromJsonRow(row.stage as Record<string, unknown>, STAGE_TIMESTAMPS)),
  };
}

export async function upsertStages({ db, t }: Ctx, stages: NewStage[]): Promise<StageRecord[]> {
  if (stages.length === 0) return [];
  const inserted = await db`${insertNewStages(db, t.stages, stages)} on conflict (run_id, stage_id) do nothing returning *`;
  const out = inserted.map(toStage);
  if (out.length === stages.length) return out;
  // ON CONFLICT waited for the competing inserts to commit, so the rows are visible to a new statement.
  const have = new Set(out.map((s) => `${s.workflowRunId}\u0000${s.stageId}`));
  const missing = stages.filter((n) => !have.has(`${n.workflowRunId}\u0000${n.stageId}`));
  const existing = await db`
    select s.* from ${t.stages} s
    join unnest(${missing.map((n) => n.workflowRunId)}::text[], ${missing.map((n) => n.stageId)}::text[]) as m(run_id, stage_id)
      on s.run_id = m.run_id and s.stage_id = m.stage_id`;
  if (existing.length !== missing.length)
    throw new Error(`upsertStages: ${missing.length - existing.length} stage(s) neither inserted nor found`);
  return [...out, ...existing.map(toStage)];
}

export async function commitStageAndRun({ db, t }: Ctx, o: CommitStageAndRun): Promise<boolean> {
  const rows = await db`
    with r as (
      select id from ${t.runs}
      where id = ${o.runId} and status = 'RUNNING' and current_group_index = ${o.groupIndex}
      for update),
    s as (
      update ${t.stages} set ${db(stageSet(db, o.stagePatch, o.now))}
      where run_id = ${o.runId} and stage_id = ${o.stageId}
        and ${o.stageStatus === "SUSPENDED" ? db`status = 'SUSPENDED'` : db`status = 'RUNNING' and execution_token = ${o.executionToken}`}
        and exists (select 1 from r)
      returning 1),
    u as (
      update ${t.runs} set ${db(runSet(db, o.runPatch, o.now))}
      where id = ${o.runId} and exists (select 1 from s)
      returning 1),
    ob as (
      insert into ${t.outbox} (id, kind, run_id, type, payload, created_at, claimed_until)
      ${outboxRecordset(db, o.outbox)}
      where exists (select 1 from u)
      returning 1)
    ${o.logs && o.logs.length > 0 ? db`, lg as (insert into ${t.logs} (id, run_id, stage_id, level, message, meta, created_at) ${logRecordset(db, o.logs)} where exists (select 1 from u) on conflict (id) do nothing returning 1)` : db``}
    select (select count(*) from u)::int as runs, (select count(*) from ob)::int as outbox`;
  return rows[0]!.runs === 1;
}
