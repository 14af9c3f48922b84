/**
 * `createPostgresActivityTaskStore`: the broker's fenced task store on Postgres. Every transition
 * is one guarded UPDATE (compare-and-set in its WHERE); when it matches nothing, the row is read
 * back only to say why, so concurrent orchestrators can never let a stale attempt win.
 */
import type postgres from "postgres";
import type {
  ActivityOutcome,
  ActivityReport,
  ActivityTaskRecord,
  ActivityTaskStatus,
  ActivityTaskStore,
  ActivityTimeouts,
  AttemptTimeout,
  NewActivityTask,
  ReportVerdict,
  LeaseRefresh,
} from "../../src/ports/activity-task-store.js";
import type { TraceCarrier } from "../../src/ports/records.js";
import { type Db, json } from "./rows.js";
import { type Tables, tables } from "./tables.js";
import { parseSchemaOnlyOptions } from "./options.js";
import { GroupCommit } from "./activity-task-group-commit.js";
import { firedTimeout } from "../../src/remote/timeouts.js";
import { checkedPriority } from "../../src/contract/priority.js";

const TERMINAL: ActivityTaskStatus[] = ["COMPLETED", "FAILED", "CANCELLED"];
const STATUS_OF = { completed: "COMPLETED", failed: "FAILED", cancelled: "CANCELLED" } as const;
type Reason = "unknown_task" | "stale_attempt" | "already_terminal" | "run_cancelled";
type Row = Record<string, unknown>;

/** Options of {@link createPostgresActivityTaskStore}. */
export interface PostgresActivityTaskStoreOptions {
  /** Schema holding jetflow's tables (created by `migrate`). Default "jetflow". */
  schema?: string;
}

const dn = (v: unknown): Date | null => (v === null || v === undefined ? null : (v as Date));
const jn = <T>(v: unknown): T | null => (v === null || v === undefined ? null : (v as T));

function toTask(r: Row): ActivityTaskRecord {
  return {
    taskId: r.task_id as string,
    workflowRunId: r.run_id as string,
    workflowId: r.workflow_id as string,
    stageId: r.stage_id as string,
    queue: r.queue as string,
    codeVersion: r.code_version as string,
    requiredLabels: (r.required_labels ?? {}) as Record<string, string>,
    status: r.status as ActivityTaskStatus,
    attempt: r.attempt as number,
    maxAttempts: r.max_attempts as number,
    priority: (r.priority ?? 0) as number,
    capability: jn<string>(r.capability),
    capabilitySpentBy: (r.capability_spent_by ?? null) as number | null,
    // bigint arrives as a string; the limit stays a safe integer (the broker validates it).
    maxUploadBytes: r.max_upload_bytes === null || r.max_upload_bytes === undefined ? null : Number(r.max_upload_bytes),
    leaseToken: jn<string>(r.lease_token),
    leaseDeadline: dn(r.lease_deadline),
    workerId: jn<string>(r.worker_id),
    input: jn(r.input),
    config: jn(r.config),
    heartbeatDetails: jn(r.heartbeat_details),
    heartbeatAt: dn(r.heartbeat_at),
    outcome: jn<ActivityOutcome>(r.outcome),
    output: jn(r.output),
    error: jn<string>(r.error),
    ...(Array.isArray(r.attempts)
      ? {
          attempts: (r.attempts as { attempt: number; workerId: string; startedAt: string }[]).map((a) => ({
            attempt: a.attempt,
            workerId: a.workerId,
            startedAt: new Date(a.startedAt),
          })),
        }
      : {}),
    report: jn(r.report),
    reportedAt: dn(r.reported_at),
    deadline: dn(r.deadline),
    traceContext: jn<TraceCarrier>(r.trace_context),
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
    // Timer fields only on tasks that have timers: records of others keep their shape.
    ...(r.timeouts
      ? { timeouts: r.timeouts as ActivityTimeouts, attemptStartedAt: dn(r.attempt_started_at), progressAt: dn(r.progress_at) }
      : {}),
  };
}

/** Neither per-attempt timer of the current attempt has fired at `now` (true for tasks without timers). */
const timersRunning = (db: Db, now: Date) =>
  db`coalesce(${timerEnd(db, db`attempt_started_at`, "startToCloseMs")} > ${now}, true)
    and coalesce(${timerEnd(db, db`progress_at`, "heartbeatTimeoutMs")} > ${now}, true)`;

/** `<started> + <timeouts.key> ms` in SQL (null when the timer is not set; least() skips nulls). */
const timerEnd = (db: Db, started: postgres.PendingQuery<postgres.Row[]>, key: "startToCloseMs" | "heartbeatTimeoutMs") =>
  db`(${started} + (timeouts->>${key})::bigint * interval '1 millisecond')`;

/** ActivityTaskStore on Postgres; the client is the caller's (never closed here). */
export class PostgresActivityTaskStore implements ActivityTaskStore {
  private readonly t: Tables;
  /** Inserts, starts, heartbeats and reports of concurrent tasks share commits (one WAL flush per group). */
  private readonly writes: GroupCommit;

  constructor(
    private readonly sql: postgres.Sql,
    schema: string,
  ) {
    this.t = tables(sql, schema);
    this.writes = new GroupCommit(sql);
  }

  async createTask(n: NewActivityTask): Promise<ActivityTaskRecord> {
    const { sql, t } = this;
    // Checked here, not left to the column: a bad value is the caller's error, not a failed insert.
    const priority = checkedPriority(n.priority, `createTask(${n.taskId})`);
    const ins = await this.writes.run(
      n.taskId,
      (db) => db`
      insert into ${t.activityTasks} (task_id, run_id, workflow_id, stage_id, queue, code_version, required_labels, status,
        attempt, max_attempts, priority, capability, max_upload_bytes, input, config, deadline, trace_context, timeouts, created_at, updated_at)
      values (${n.taskId}, ${n.workflowRunId}, ${n.workflowId}, ${n.stageId}, ${n.queue}, ${n.codeVersion},
        ${json(sql, n.requiredLabels ?? {})}, 'PENDING', 0, ${n.maxAttempts}, ${priority}, ${n.capability}, ${n.maxUploadBytes ?? null}, ${json(sql, n.input)}, ${json(sql, n.config)},
        ${n.deadline}, ${json(sql, n.traceContext)}, ${n.timeouts ? json(sql, n.timeouts) : null}, ${n.now}, ${n.now})
      on conflict (task_id) do nothing returning *`,
    );
    if (ins[0]) return toTask(ins[0]);
    const existing = await this.getTask(n.taskId);
    if (!existing) throw new Error(`createTask: task ${n.taskId} neither inserted nor found`);
    return existing;
  }

  async getTask(taskId: string): Promise<ActivityTaskRecord | null> {
    const rows = await this.sql`select * from ${this.t.activityTasks} where task_id = ${taskId}`;
    return rows[0] ? toTask(rows[0]) : null;
  }

  async listTasks(f: {
    workflowRunId?: string;
    status?: ActivityTaskStatus[];
    queue?: string;
    limit?: number;
  }): Promise<ActivityTaskRecord[]> {
    const { sql, t } = this;
    const rows = await sql`
      select * from ${t.activityTasks} where true
      ${f.workflowRunId !== undefined ? sql`and run_id = ${f.workflowRunId}` : sql``}
      ${f.status ? sql`and status = any(${f.status})` : sql``}
      ${f.queue !== undefined ? sql`and queue = ${f.queue}` : sql``}
      order by created_at, seq limit ${Math.max(0, f.limit ?? 100)}`;
    return rows.map(toTask);
  }

  async startAttempt(
    taskId: string,
    s: {
      attempt: number;
      leaseToken: string;
      workerId: string;
      leaseDeadline: Date;
      now: Date;
      liveLeaseCutoff: Date;
      capability?: string | null;
    },
  ): Promise<{ accepted: boolean; task: ActivityTaskRecord | null }> {
    const { t } = this;
    // A newer attempt, or the same call repeated by the current holder (idempotent retry).
    const rows = await this.writes.run(
      taskId,
      (db) => db`
      update ${t.activityTasks} set status = 'LEASED', attempt = ${s.attempt}, lease_token = ${s.leaseToken},
        capability_spent_by = case when attempt < ${s.attempt} and capability is not null then ${s.attempt}::int else capability_spent_by end,
        attempts = case when attempt < ${s.attempt}
          then coalesce(attempts, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
            'attempt', ${s.attempt}::int, 'workerId', ${s.workerId}::text, 'startedAt', ${s.now.toISOString()}::text))
          else attempts end,
        attempt_started_at = case when timeouts is null then null when attempt < ${s.attempt} then ${s.now}::timestamptz else attempt_started_at end,
        progress_at = case when timeouts is null then null when attempt < ${s.attempt} then ${s.now}::timestamptz else progress_at end,
        worker_id = ${s.workerId}, updated_at = ${s.now},
        lease_deadline = least(${s.leaseDeadline}::timestamptz,
          ${timerEnd(db, db`(case when attempt < ${s.attempt} then ${s.now}::timestamptz else attempt_started_at end)`, "startToCloseMs")},
          ${timerEnd(db, db`(case when attempt < ${s.attempt} then ${s.now}::timestamptz else progress_at end)`, "heartbeatTimeoutMs")})
      where task_id = ${taskId} and status <> all(${TERMINAL})
        ${s.capability !== undefined ? db`and capability is not distinct from ${s.capability}` : db``}
        and ((attempt < ${s.attempt} and (capability is null or capability_spent_by is null)
            and (status <> 'LEASED' or lease_deadline is null or lease_deadline <= ${s.liveLeaseCutoff}))
          or (attempt = ${s.attempt} and lease_token = ${s.leaseToken} and status = 'LEASED'))
      returning *`,
    );
    if (rows[0]) return { accepted: true, task: toTask(rows[0]) };
    return { accepted: false, task: await this.getTask(taskId) };
  }

  async recordHeartbeat(
    taskId: string,
    b: { attempt: number; leaseToken: string; details?: unknown; leaseDeadline: Date; now: Date; release?: boolean },
  ): Promise<{ accepted: boolean; cancelled: boolean; timedOut?: AttemptTimeout }> {
    const { sql, t } = this;
    const progress = b.details !== undefined;
    const rows = await this.writes.run(
      taskId,
      (db) => db`
      update ${t.activityTasks} set ${progress ? db`heartbeat_details = ${json(sql, b.details)},` : db``}
        heartbeat_at = ${b.now}, updated_at = ${b.now}, ${b.release ? db`capability_spent_by = null,` : db``}
        progress_at = ${progress ? db`case when timeouts is null then null else ${b.now}::timestamptz end` : db`progress_at`},
        lease_deadline = least(${b.leaseDeadline}::timestamptz, ${timerEnd(db, db`attempt_started_at`, "startToCloseMs")},
          ${timerEnd(db, progress ? db`${b.now}::timestamptz` : db`progress_at`, "heartbeatTimeoutMs")})
      where task_id = ${taskId} and status = 'LEASED' and attempt = ${b.attempt} and lease_token = ${b.leaseToken}
        and ${timersRunning(db, b.now)}
      returning task_id`,
    );
    if (rows.length > 0) return { accepted: true, cancelled: false };
    // Any holder of a cancelled task is told to stop, whichever attempt it runs; the current
    // attempt's beat was refused because one of its timers fired.
    const cur = await sql`select * from ${t.activityTasks} where task_id = ${taskId}`;
    const task = cur[0] ? toTask(cur[0]) : null;
    const own = task?.status === "LEASED" && task.attempt === b.attempt && task.leaseToken === b.leaseToken;
    const fired = own ? firedTimeout(task, b.now) : null;
    return { accepted: false, cancelled: task?.status === "CANCELLED", ...(fired ? { timedOut: fired } : {}) };
  }

  async refreshLeases(beats: LeaseRefresh[], b: { leaseDeadline: Date; now: Date }): Promise<Set<number>> {
    if (beats.length === 0) return new Set();
    const { sql, t } = this;
    // One statement, one commit, outside the group commit. Rows are locked in task-id order first
    // (as group commits lock theirs), so this and a concurrent group cannot deadlock each other.
    const rows = await sql`
      with b as (
        select * from unnest(${beats.map((x) => x.taskId)}::text[], ${beats.map((x) => x.attempt)}::int[],
          ${beats.map((x) => x.leaseToken)}::text[]) with ordinality as b(task_id, attempt, lease_token, i)
      ), locked as (
        select a.task_id from ${t.activityTasks} a where a.task_id in (select task_id from b) order by a.task_id for update
      )
      update ${t.activityTasks} a set heartbeat_at = ${b.now}, updated_at = ${b.now},
        lease_deadline = least(${b.leaseDeadline}::timestamptz, ${timerEnd(sql, sql`attempt_started_at`, "startToCloseMs")},
          ${timerEnd(sql, sql`progress_at`, "heartbeatTimeoutMs")})
      from b
      where a.task_id in (select task_id from locked) and a.task_id = b.task_id and a.status = 'LEASED'
        and a.attempt = b.attempt and a.lease_token = b.lease_token and ${timersRunning(sql, b.now)}
      returning b.i`;
    return new Set(rows.map((r) => Number(r.i) - 1));
  }

  async recordReport(taskId: string, r: ActivityReport, now: Date): Promise<ReportVerdict> {
    const { sql, t } = this;
    const rows = await this.writes.run(
      taskId,
      (db) => db`
      update ${t.activityTasks} set status = ${STATUS_OF[r.outcome]}, outcome = ${r.outcome}, output = ${json(sql, r.output)},
        error = ${r.error ?? null}, report = ${json(sql, r.raw)}, reported_at = ${now}, updated_at = ${now}
      where task_id = ${taskId} and status = 'LEASED' and attempt = ${r.attempt} and lease_token = ${r.leaseToken}
        and ${timersRunning(db, now)}
      returning *`,
    );
    if (rows[0]) return { accepted: true, task: toTask(rows[0]) };
    const task = await this.getTask(taskId);
    const reason: Reason = !task
      ? "unknown_task"
      : task.status === "CANCELLED"
        ? "run_cancelled"
        : TERMINAL.includes(task.status)
          ? "already_terminal"
          : "stale_attempt";
    // Kept for audit: who reported what, too late or with a stale lease.
    await sql`
      insert into ${t.rejectedReports} (task_id, attempt, lease_token, reason, report, received_at)
      values (${taskId}, ${r.attempt}, ${r.leaseToken}, ${reason}, ${json(sql, r.raw)}, ${now})`;
    return { accepted: false, reason, task };
  }

  /** Refused reports of a task, oldest first (audit). */
  async rejectedReports(
    taskId: string,
  ): Promise<Array<{ attempt: number; leaseToken: string; reason: string; report: unknown; at: Date }>> {
    const rows = await this.sql`select * from ${this.t.rejectedReports} where task_id = ${taskId} order by id`;
    return rows.map((x) => ({
      attempt: x.attempt as number,
      leaseToken: x.lease_token as string,
      reason: x.reason as string,
      report: jn(x.report),
      at: x.received_at as Date,
    }));
  }

  async cancelTasksForRun(workflowRunId: string, now: Date): Promise<string[]> {
    const { sql, t } = this;
    const rows = await sql`
      update ${t.activityTasks} set status = 'CANCELLED', outcome = 'cancelled', error = 'run cancelled', updated_at = ${now}
      where run_id = ${workflowRunId} and status <> all(${TERMINAL})
      returning task_id, seq`;
    return rows.sort((a, b) => Number(a.seq) - Number(b.seq)).map((x) => x.task_id as string);
  }

  /** Returns the failed task, or null when it is unknown or already terminal (nothing changed). */
  async failTask(taskId: string, error: string, now: Date): Promise<ActivityTaskRecord | null> {
    const { sql, t } = this;
    const rows = await sql`
      update ${t.activityTasks} set status = 'FAILED', outcome = 'failed', error = ${error}, updated_at = ${now}
      where task_id = ${taskId} and status <> all(${TERMINAL})
      returning *`;
    return rows[0] ? toTask(rows[0]) : null;
  }

  async findExpired(now: Date, limit: number): Promise<ActivityTaskRecord[]> {
    const { sql, t } = this;
    const scheduleToStartEnd = sql`(created_at + (timeouts->>'scheduleToStartMs')::bigint * interval '1 millisecond')`;
    const rows = await sql`
      select *, least(
          case when status = 'LEASED' and lease_deadline < ${now} then lease_deadline end,
          case when deadline < ${now} then deadline end,
          case when status = 'PENDING' and ${scheduleToStartEnd} < ${now} then ${scheduleToStartEnd} end) as expired_at
      from ${t.activityTasks}
      where status in ('PENDING', 'LEASED')
        and ((status = 'LEASED' and lease_deadline < ${now}) or deadline < ${now}
          or (status = 'PENDING' and ${scheduleToStartEnd} < ${now}))
      order by expired_at, seq limit ${Math.max(0, limit)}`;
    return rows.map(toTask);
  }

  async reissueCapability(
    taskId: string,
    r: { capability: string; newCapability: string; lapsedBefore: Date; now: Date },
  ): Promise<ActivityTaskRecord | null> {
    const { t } = this;
    const rows = await this.writes.run(
      taskId,
      (db) => db`
      update ${t.activityTasks} set capability = ${r.newCapability}, capability_spent_by = null, updated_at = ${r.now}
      where task_id = ${taskId} and status = 'LEASED' and capability = ${r.capability} and capability_spent_by is not null
        and (lease_deadline is null or lease_deadline <= ${r.lapsedBefore})
      returning *`,
    );
    return rows[0] ? toTask(rows[0]) : null;
  }

  async claimStranded(now: Date, cutoff: Date, limit: number): Promise<ActivityTaskRecord[]> {
    const { sql, t } = this;
    // Skip locked: two orchestrators' reapers claim disjoint tasks, and neither waits on a task a
    // worker is starting or reporting at this moment. A spent capability is replaced in the same
    // statement; the new one is two random UUIDs (gen_random_uuid draws from the server's strong
    // random source), 244 random bits, distinct per task.
    const rows = await sql`
      update ${t.activityTasks} set updated_at = ${now},
        capability = case when capability is not null and capability_spent_by is not null
          then replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '') else capability end,
        capability_spent_by = null
      where task_id in (
        select task_id from ${t.activityTasks}
        where status in ('PENDING', 'LEASED') and updated_at < ${cutoff}
          and coalesce(jsonb_array_length(attempts), attempt) < max_attempts
          and (status = 'PENDING' or lease_deadline < ${cutoff})
          and (deadline is null or deadline > ${now})
        order by updated_at, seq limit ${Math.max(0, limit)}
        for update skip locked)
      returning *`;
    return rows.map(toTask).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }
}

/** ActivityTaskStore on postgres.js (run `migrate(sql, { schema })` first). */
export function createPostgresActivityTaskStore(sql: postgres.Sql, opts: PostgresActivityTaskStoreOptions = {}): PostgresActivityTaskStore {
  return new PostgresActivityTaskStore(sql, parseSchemaOnlyOptions("Postgres activity task store", opts).schema);
}
