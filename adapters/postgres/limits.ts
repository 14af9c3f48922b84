/**
 * Limit tables on Postgres (rate limits, concurrency keys; src/ports/limits.ts). `lockLimitKeys`
 * inserts missing rows and takes `FOR UPDATE` locks in (limit_id, key) order, so admissions on
 * every orchestrator serialise per key without deadlocking each other.
 */
import type { LimitCheck } from "../../src/contract/stage-limits.js";
import type { LimitKeyState, LimitSlot, LiveSlotQuery, StageWaiter, WaitReason, WaiterQuery } from "../../src/ports/limits.js";
import type { Ctx } from "./runs-stages.js";

type Row = Record<string, unknown>;
const date = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(v as string));

export async function lockLimitKeys(c: Ctx, keys: { limitId: string; key: string }[]): Promise<LimitKeyState[]> {
  if (keys.length === 0) return [];
  const uniq = [...new Map(keys.map((k) => [`${k.limitId}\u0000${k.key}`, k])).values()];
  const ids = uniq.map((k) => k.limitId);
  const ks = uniq.map((k) => k.key);
  await c.db`
    insert into ${c.t.limitKeys} (limit_id, key)
    select * from unnest(${ids}::text[], ${ks}::text[]) order by 1, 2
    on conflict do nothing`;
  const rows = await c.db<Row[]>`
    select limit_id, key, tokens, refilled_at, last_admitted_at from ${c.t.limitKeys}
    where (limit_id, key) in (select * from unnest(${ids}::text[], ${ks}::text[]))
    order by limit_id, key for update`;
  const byKey = new Map(rows.map((r) => [`${String(r.limit_id)}\u0000${String(r.key)}`, r]));
  return keys.map((k) => {
    const r = byKey.get(`${k.limitId}\u0000${k.key}`)!;
    return {
      limitId: k.limitId,
      key: k.key,
      tokens: r.tokens === null ? null : Number(r.tokens),
      refilledAt: date(r.refilled_at),
      lastAdmittedAt: date(r.last_admitted_at),
    };
  });
}

export async function saveLimitKey(c: Ctx, s: LimitKeyState): Promise<void> {
  await c.db`
    update ${c.t.limitKeys} set tokens = ${s.tokens}, refilled_at = ${s.refilledAt}, last_admitted_at = ${s.lastAdmittedAt}
    where limit_id = ${s.limitId} and key = ${s.key}`;
}

/** The rule of LimitSlot, as SQL over the slot `s` joined to its stage `st`. */
function heldSql(c: Ctx, grantedAfter: Date) {
  return c.db`((st.status in ('RUNNING', 'SUSPENDED') and st.attempt = s.attempt)
    or (st.status = 'PENDING' and st.attempt = s.attempt - 1 and s.granted_at > ${grantedAfter}))`;
}

export async function countLiveSlots(c: Ctx, q: LiveSlotQuery): Promise<number> {
  const [r] = await c.db<{ n: number }[]>`
    select count(*)::int as n from ${c.t.limitSlots} s
    join ${c.t.stages} st on st.run_id = s.run_id and st.stage_id = s.stage_id
    where s.limit_id = ${q.limitId} ${q.key !== undefined ? c.db`and s.key = ${q.key}` : c.db``}
      and not (s.run_id = ${q.exceptRunId} and s.stage_id = ${q.exceptStageId})
      and ${heldSql(c, q.grantedAfter)}`;
  return r!.n;
}

const toSlot = (r: Row): LimitSlot => ({
  limitId: String(r.limit_id),
  key: String(r.key),
  runId: String(r.run_id),
  stageId: String(r.stage_id),
  attempt: Number(r.attempt),
  grantedAt: new Date(r.granted_at as string),
});

export async function getSlot(c: Ctx, limitId: string, runId: string, stageId: string): Promise<LimitSlot | null> {
  const [r] = await c.db<
    Row[]
  >`select * from ${c.t.limitSlots} where limit_id = ${limitId} and run_id = ${runId} and stage_id = ${stageId}`;
  return r ? toSlot(r) : null;
}

export async function putSlot(c: Ctx, s: LimitSlot): Promise<void> {
  await c.db`
    insert into ${c.t.limitSlots} (limit_id, key, run_id, stage_id, attempt, granted_at)
    values (${s.limitId}, ${s.key}, ${s.runId}, ${s.stageId}, ${s.attempt}, ${s.grantedAt})
    on conflict (limit_id, run_id, stage_id) do update set key = excluded.key, attempt = excluded.attempt, granted_at = excluded.granted_at`;
}

const toWaiter = (r: Row): StageWaiter => ({
  runId: String(r.run_id),
  workflowId: String(r.workflow_id),
  stageId: String(r.stage_id),
  attempt: Number(r.attempt),
  limitId: String(r.limit_id),
  key: String(r.key),
  checks: r.checks as LimitCheck[],
  reason: String(r.reason) as WaitReason,
  detail: String(r.detail),
  retryAt: date(r.retry_at),
  parks: Number(r.parks),
  createdAt: new Date(r.created_at as string),
  updatedAt: new Date(r.updated_at as string),
});

export async function putWaiter(c: Ctx, w: StageWaiter): Promise<void> {
  await c.db`
    insert into ${c.t.limitWaiters} (run_id, stage_id, workflow_id, attempt, limit_id, key, checks, reason, detail, retry_at, parks, created_at, updated_at)
    values (${w.runId}, ${w.stageId}, ${w.workflowId}, ${w.attempt}, ${w.limitId}, ${w.key}, ${c.db.json(w.checks as never)},
      ${w.reason}, ${w.detail}, ${w.retryAt}, ${w.parks}, ${w.createdAt}, ${w.updatedAt})
    on conflict (run_id, stage_id) do update set workflow_id = excluded.workflow_id, attempt = excluded.attempt,
      limit_id = excluded.limit_id, key = excluded.key, checks = excluded.checks, reason = excluded.reason,
      detail = excluded.detail, retry_at = excluded.retry_at, parks = excluded.parks, created_at = excluded.created_at,
      updated_at = excluded.updated_at`;
}

export async function getWaiter(c: Ctx, runId: string, stageId: string): Promise<StageWaiter | null> {
  const [r] = await c.db<Row[]>`select * from ${c.t.limitWaiters} where run_id = ${runId} and stage_id = ${stageId}`;
  return r ? toWaiter(r) : null;
}

export async function deleteWaiter(c: Ctx, runId: string, stageId: string): Promise<void> {
  await c.db`delete from ${c.t.limitWaiters} where run_id = ${runId} and stage_id = ${stageId}`;
}

export async function listWaiters(c: Ctx, q: WaiterQuery): Promise<StageWaiter[]> {
  const where = c.db`where true ${q.limitId !== undefined ? c.db`and limit_id = ${q.limitId}` : c.db``}
      ${q.key !== undefined ? c.db`and key = ${q.key}` : c.db``}
      ${q.runId !== undefined ? c.db`and run_id = ${q.runId}` : c.db``}`;
  // Collation "C": ties break in code-unit order, as in the in-memory store.
  const rows = q.byTurns
    ? await c.db<Row[]>`
        select * from (
          select w.*, row_number() over (partition by limit_id, key order by created_at, run_id collate "C", stage_id collate "C") as turn
          from ${c.t.limitWaiters} w ${where}) t
        order by turn, created_at, run_id collate "C", stage_id collate "C" limit ${q.limit}`
    : await c.db<Row[]>`
        select * from ${c.t.limitWaiters} ${where}
        order by created_at, run_id collate "C", stage_id collate "C" limit ${q.limit}`;
  return rows.map(toWaiter);
}

export async function waitingLimitIds(c: Ctx, limit: number): Promise<string[]> {
  const rows = await c.db<{ limit_id: string }[]>`select distinct limit_id from ${c.t.limitWaiters} order by limit_id limit ${limit}`;
  return rows.map((r) => r.limit_id);
}

export async function pruneLimits(c: Ctx, grantedAfter: Date, limit: number): Promise<number> {
  const slots = await c.db`
    delete from ${c.t.limitSlots} d where (d.limit_id, d.run_id, d.stage_id) in (
      select s.limit_id, s.run_id, s.stage_id from ${c.t.limitSlots} s
      left join ${c.t.stages} st on st.run_id = s.run_id and st.stage_id = s.stage_id
      where st.run_id is null or not ${heldSql(c, grantedAfter)}
      limit ${limit} for update of s skip locked)`;
  const waiters = await c.db`
    delete from ${c.t.limitWaiters} d where (d.run_id, d.stage_id) in (
      select w.run_id, w.stage_id from ${c.t.limitWaiters} w
      left join ${c.t.stages} st on st.run_id = w.run_id and st.stage_id = w.stage_id
      where st.run_id is null or st.status <> 'PENDING'
      limit ${limit} for update of w skip locked)`;
  return slots.count + waiters.count;
}
