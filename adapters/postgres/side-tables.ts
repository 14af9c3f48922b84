/**
 * Logs, artifacts, outbox, idempotency keys and annotations on Postgres (AI calls: ai-calls.ts). Orderings use
 * a per-table identity `seq` as tie-breaker so rows with equal timestamps keep insertion order.
 */
import type { AnnotationFilter, IdempotencyAcquire, NewAnnotation, NewLog, NewOutboxRow } from "../../src/ports/persistence.js";
import type { AnnotationRecord, ArtifactRecord, LogRecord, OutboxRecord } from "../../src/ports/records.js";
import type { Ctx } from "./runs-stages.js";
import { json, likePrefix, logRow, toAnnotation, toArtifact, toLog, toOutbox } from "./rows.js";

const DEFAULT_LOG_LIMIT = 1_000;

export async function appendLogs({ db, t }: Ctx, logs: NewLog[]): Promise<void> {
  if (logs.length === 0) return;
  const rows = logs.map((l) => ({ ...logRow(l), meta: json(db, l.meta) }));
  await db`insert into ${t.logs} ${db(rows)} on conflict (id) do nothing`;
}

export async function listLogs({ db, t }: Ctx, runId: string, opts?: { stageId?: string; limit?: number }): Promise<LogRecord[]> {
  const rows = await db`
    select * from ${t.logs} where run_id = ${runId}
    ${opts?.stageId !== undefined ? db`and stage_id = ${opts.stageId}` : db``}
    order by created_at, seq limit ${Math.max(0, opts?.limit ?? DEFAULT_LOG_LIMIT)}`;
  return rows.map(toLog);
}

/** Re-recording a key replaces its metadata (the blob was overwritten). */
export async function recordArtifact({ db, t }: Ctx, a: ArtifactRecord): Promise<void> {
  await db`
    insert into ${t.artifacts} (run_id, key, stage_id, size, content_type, created_at)
    values (${a.workflowRunId}, ${a.key}, ${a.stageId}, ${a.size}, ${a.contentType}, ${a.createdAt})
    on conflict (run_id, key) do update set stage_id = excluded.stage_id, size = excluded.size,
      content_type = excluded.content_type, created_at = excluded.created_at`;
}

export async function listArtifacts({ db, t }: Ctx, runId: string, opts?: { keyPrefix?: string }): Promise<ArtifactRecord[]> {
  const rows = await db`
    select * from ${t.artifacts} where run_id = ${runId}
    ${opts?.keyPrefix !== undefined ? db`and key like ${likePrefix(opts.keyPrefix)}` : db``}
    order by key collate "C"`;
  return rows.map(toArtifact);
}

export async function deleteArtifacts({ db, t }: Ctx, runId: string, keyPrefix: string): Promise<number> {
  const res = await db`delete from ${t.artifacts} where run_id = ${runId} and key like ${likePrefix(keyPrefix)}`;
  return res.count;
}

/** A row id seen before is ignored: re-appending never resets delivery state. */
export async function appendOutbox({ db, t }: Ctx, rows: NewOutboxRow[]): Promise<void> {
  if (rows.length === 0) return;
  const values = rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    run_id: r.workflowRunId,
    type: r.type,
    payload: json(db, r.payload ?? {}),
    created_at: r.createdAt,
    claimed_until: r.claimedUntil,
  }));
  await db`insert into ${t.outbox} ${db(values)} on conflict (id) do nothing`;
}

export async function claimOutbox(
  { db, t }: Ctx,
  o: { now: Date; limit: number; leaseMs: number; ids?: string[] },
): Promise<OutboxRecord[]> {
  if (o.limit <= 0 || (o.ids && o.ids.length === 0)) return [];
  const until = new Date(o.now.getTime() + o.leaseMs);
  // Given ids are the writer's own pre-claimed rows: taken whatever their claim.
  const which = o.ids ? db`and id = any(${o.ids})` : db`and (claimed_until is null or claimed_until <= ${o.now})`;
  const rows = await db`
    with picked as materialized (
      select id from ${t.outbox}
      where published_at is null and dead_lettered_at is null ${which}
      order by created_at, seq
      for update skip locked limit ${o.limit})
    update ${t.outbox} o set claimed_until = ${until}
    from picked where o.id = picked.id
    returning o.*`;
  return rows
    .sort((a, b) => (a.created_at as Date).getTime() - (b.created_at as Date).getTime() || Number(a.seq) - Number(b.seq))
    .map(toOutbox);
}

export async function markOutboxPublished({ db, t }: Ctx, ids: string[], now: Date): Promise<void> {
  if (ids.length === 0) return;
  await db`update ${t.outbox} set published_at = ${now} where id = any(${ids}) and published_at is null`;
}

/** Counts the attempt and releases the claim, so the next flush may retry (or, dead-lettered, never). */
export async function markOutboxFailed({ db, t }: Ctx, id: string, error: string, now: Date, deadLetter: boolean): Promise<void> {
  await db`
    update ${t.outbox} set attempts = attempts + 1, last_error = ${error}, claimed_until = null,
      dead_lettered_at = ${deadLetter ? now : null}::timestamptz
    where id = ${id} and published_at is null`;
}

export async function listDeadLetters({ db, t }: Ctx, limit: number): Promise<OutboxRecord[]> {
  const rows = await db`
    select * from ${t.outbox} where dead_lettered_at is not null and published_at is null
    order by dead_lettered_at, created_at, seq limit ${Math.max(0, limit)}`;
  return rows.map(toOutbox);
}

export async function requeueDeadLetters({ db, t }: Ctx, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const res = await db`
    update ${t.outbox} set dead_lettered_at = null, attempts = 0, claimed_until = null
    where id = any(${[...new Set(ids)]}) and dead_lettered_at is not null and published_at is null`;
  return res.count;
}

/**
 * Claims (command, key) by inserting it as IN_PROGRESS (`result` undefined) or as COMPLETED with
 * `result`; with `staleBefore`, takes over a key abandoned by a crashed holder (the row lock makes
 * exactly one racer win). Otherwise answers what the key already holds. ON CONFLICT waits for a
 * concurrent transaction holding the same key; the SELECT after it is a new statement (a new
 * snapshot under READ COMMITTED), so it sees that transaction's row.
 */
async function claimIdempotencyKey(
  { db, t }: Ctx,
  what: string,
  command: string,
  key: string,
  now: Date,
  result: { value: unknown } | undefined,
  staleBefore: Date | undefined,
): Promise<IdempotencyAcquire> {
  const status = result ? "COMPLETED" : "IN_PROGRESS";
  const stored = result ? json(db, result.value) : null;
  // A concurrent release can delete the row between our insert and select: try again then.
  for (let i = 0; i < 5; i++) {
    const ins = await db`
      insert into ${t.idempotency} (command, key, status, result, created_at, updated_at)
      values (${command}, ${key}, ${status}, ${stored}, ${now}, ${now})
      on conflict (command, key) do nothing returning command`;
    if (ins.length > 0) return { kind: "acquired" };
    if (staleBefore) {
      const taken = result
        ? await db`
            update ${t.idempotency} set status = 'COMPLETED', result = ${stored}, created_at = ${now}, updated_at = ${now}
            where command = ${command} and key = ${key} and status = 'IN_PROGRESS' and updated_at < ${staleBefore}
            returning command`
        : await db`
            update ${t.idempotency} set created_at = ${now}, updated_at = ${now}
            where command = ${command} and key = ${key} and status = 'IN_PROGRESS' and updated_at < ${staleBefore}
            returning command`;
      if (taken.length > 0) return { kind: "acquired" };
    }
    const rows = await db`select status, result from ${t.idempotency} where command = ${command} and key = ${key}`;
    const row = rows[0];
    if (!row) continue;
    return row.status === "COMPLETED" ? { kind: "completed", result: row.result ?? null } : { kind: "in_progress" };
  }
  throw new Error(`${what}(${command}, ${key}): the key kept vanishing under concurrent releases`);
}

export async function acquireIdempotencyKey(
  ctx: Ctx,
  command: string,
  key: string,
  now: Date,
  opts?: { staleBefore?: Date },
): Promise<IdempotencyAcquire> {
  return claimIdempotencyKey(ctx, "acquireIdempotencyKey", command, key, now, undefined, opts?.staleBefore);
}

export async function completeIdempotencyKey({ db, t }: Ctx, command: string, key: string, result: unknown, now: Date): Promise<void> {
  // Completing without acquiring still caches the result.
  await db`
    insert into ${t.idempotency} (command, key, status, result, created_at, updated_at)
    values (${command}, ${key}, 'COMPLETED', ${json(db, result)}, ${now}, ${now})
    on conflict (command, key) do update set status = 'COMPLETED', result = excluded.result, updated_at = excluded.updated_at`;
}

/** Stores `result` as the key's COMPLETED result, unless the key is already held or completed. */
export async function storeIdempotencyResult(
  ctx: Ctx,
  command: string,
  key: string,
  result: unknown,
  now: Date,
  opts?: { staleBefore?: Date },
): Promise<IdempotencyAcquire> {
  return claimIdempotencyKey(ctx, "storeIdempotencyResult", command, key, now, { value: result }, opts?.staleBefore);
}

/** Only an IN_PROGRESS key is released: a completed result stays cached. */
export async function releaseIdempotencyKey({ db, t }: Ctx, command: string, key: string): Promise<void> {
  await db`delete from ${t.idempotency} where command = ${command} and key = ${key} and status = 'IN_PROGRESS'`;
}

/** Rows whose idempotency key is already stored for the run (or repeated in `rows`) are skipped. */
export async function insertAnnotations({ db, t }: Ctx, rows: NewAnnotation[]): Promise<number> {
  if (rows.length === 0) return 0;
  const values = rows.map((r) => ({
    id: r.id,
    run_id: r.workflowRunId,
    stage_id: r.stageId,
    key: r.key,
    value: json(db, r.value),
    actor_kind: r.actor.kind,
    actor_id: r.actor.id,
    idempotency_key: r.idempotencyKey,
    created_at: r.createdAt,
  }));
  const res = await db`insert into ${t.annotations} ${db(values)} on conflict do nothing`;
  return res.count;
}

export async function listAnnotations({ db, t }: Ctx, runId: string, f?: AnnotationFilter): Promise<AnnotationRecord[]> {
  const rows = await db`
    select * from ${t.annotations} where run_id = ${runId}
    ${f?.keyPrefix !== undefined ? db`and key like ${likePrefix(f.keyPrefix)}` : db``}
    ${f?.actorId !== undefined ? db`and actor_id = ${f.actorId}` : db``}
    ${f?.stageId !== undefined ? db`and stage_id = ${f.stageId}` : db``}
    order by created_at, seq`;
  return rows.map(toAnnotation);
}
