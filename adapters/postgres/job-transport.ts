/**
 * `createPostgresJobTransport`: the kernel's JobTransport on a Postgres table (pg-boss style), so
 * several hosts in separate processes can share one database without NATS. A delivery is one
 * UPDATE over a `FOR UPDATE SKIP LOCKED` pick; every later operation is fenced by the delivery's
 * lease token; waiting dequeues sleep on LISTEN/NOTIFY with a bounded wait.
 */
import { randomUUID } from "node:crypto";
import postgres from "postgres";
import type { Clock } from "../../src/ports/clock.js";
import type { DeadLetteredJob, DequeueOptions, JobSpec, JobTransport, LeasedJob } from "../../src/ports/job-transport.js";
import type { Logger } from "../../src/ports/logger.js";
import type { TraceCarrier } from "../../src/ports/records.js";
import { JobWaiters } from "./job-waiters.js";
import { isConnectionError } from "./safe-begin.js";
import { json } from "./rows.js";
import { type Tables, tables } from "./tables.js";
import { parseJobTransportOptions } from "./options.js";

/** Options of {@link createPostgresJobTransport}. */
export interface PostgresJobTransportOptions {
  /** Schema holding jetflow's tables (created by `migrate`). Default "jetflow". */
  schema?: string;
  /** How long a delivery is leased before releaseStale may redeliver it. Default 30 s. */
  leaseMs?: number;
  /** Deliveries after which a job is dead-lettered instead of redelivered. Default 5. */
  maxDeliveries?: number;
  /**
   * Longest sleep of a waiting dequeue between checks. With LISTEN working it only bounds the
   * cost of a lost notification (default 1000 ms); if LISTEN fails it is the polling period
   * (then 100 ms unless given).
   */
  pollIntervalMs?: number;
  /** Time source for availableAt and leases. Default: system clock. */
  clock?: Clock;
  logger?: Logger;
}

type Row = Record<string, unknown>;

/** Pause before a waiting dequeue retries after a lost connection. */
const RECONNECT_RETRY_MS = 100;

function toLeased(r: Row): LeasedJob {
  const job: LeasedJob = {
    jobId: r.job_id as string,
    workflowRunId: r.run_id as string,
    workflowId: r.workflow_id as string,
    stageId: r.stage_id as string,
    attempt: r.attempt as number,
    maxAttempts: r.max_attempts as number,
    priority: r.priority as number,
    payload: r.payload as Record<string, unknown>,
    deliveryCount: r.delivery_count as number,
    leaseToken: r.lease_token as string,
    leaseExpiresAt: r.lease_expires_at as Date,
  };
  if (r.spec_available_at) job.availableAt = r.spec_available_at as Date;
  if (r.trace_context) job.traceContext = r.trace_context as TraceCarrier;
  return job;
}

function toSpec(r: Row): JobSpec {
  const { deliveryCount: _d, leaseToken: _l, leaseExpiresAt: _e, ...spec } = toLeased(r);
  return spec;
}

/** JobTransport on the `<schema>.jobs` table. */
export class PostgresJobTransport implements JobTransport {
  private readonly t: Tables;
  private readonly leaseMs: number;
  private readonly maxDeliveries: number;
  private readonly clock: Clock;
  private readonly channel: string;
  private readonly waiters: JobWaiters;
  private readonly logger: Logger;
  private closed = false;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly owned: boolean,
    options: PostgresJobTransportOptions,
  ) {
    const opts = parseJobTransportOptions(options);
    const schema = opts.schema;
    this.t = tables(sql, schema);
    this.leaseMs = opts.leaseMs;
    this.maxDeliveries = opts.maxDeliveries;
    this.clock = opts.clock;
    this.channel = `jetflow_jobs_${schema}`;
    this.logger = opts.logger;
    this.waiters = new JobWaiters(sql, this.channel, opts.pollIntervalMs, this.logger);
  }

  async enqueue(jobs: JobSpec[]): Promise<void> {
    if (this.closed) throw new Error("PostgresJobTransport is closed");
    if (jobs.length === 0) return;
    const now = this.clock.now();
    const { sql, t } = this;
    const rows = jobs.map((j) => {
      if (typeof j.jobId !== "string" || j.jobId === "")
        throw new TypeError("PostgresJobTransport.enqueue: jobId must be a non-empty string");
      return {
        job_id: j.jobId,
        run_id: j.workflowRunId,
        workflow_id: j.workflowId,
        stage_id: j.stageId,
        attempt: j.attempt,
        max_attempts: j.maxAttempts,
        priority: j.priority ?? 0,
        payload: json(sql, j.payload ?? {}),
        trace_context: json(sql, j.traceContext),
        state: "queued",
        available_at: j.availableAt ?? now,
        spec_available_at: j.availableAt ?? null,
        created_at: now,
      };
    });
    // Duplicate ids (queued, leased or finished) are dropped; seq keeps FIFO within a priority.
    const res = await sql`
      insert into ${t.jobs} ${sql(rows)} on conflict (job_id) do nothing returning job_id`;
    if (res.length > 0) await this.notify();
  }

  async dequeue(opts: DequeueOptions): Promise<LeasedJob | null> {
    // waitMs is wall time (a caller's poll budget), independent of the injected clock.
    const deadline = Date.now() + Math.max(0, opts.waitMs ?? 0);
    for (;;) {
      if (this.closed) return null;
      const epoch = this.waiters.epoch();
      let due: number | null;
      try {
        const job = await this.take(opts.workerId);
        if (job) return job;
        if (deadline - Date.now() <= 0) return null;
        due = await this.msUntilNextDue();
      } catch (err) {
        // A dropped connection inside a waiting dequeue is the caller's poll budget to ride out:
        // the pool reconnects on the next query. Outside that budget (or other errors) it surfaces.
        if (!isConnectionError(err) || deadline - Date.now() <= 0) throw err;
        this.logger.warn({ error: String(err) }, "postgres job transport: connection lost while dequeuing; retrying");
        this.waiters.connectionLost();
        due = RECONNECT_RETRY_MS;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) return null;
      await this.waiters.wait(Math.min(remaining, due ?? Infinity), epoch);
    }
  }

  async heartbeat(job: LeasedJob): Promise<void> {
    const { sql, t } = this;
    const until = new Date(this.clock.now().getTime() + this.leaseMs);
    await sql`update ${t.jobs} set lease_expires_at = ${until}
      where job_id = ${job.jobId} and state = 'leased' and lease_token = ${job.leaseToken}`;
  }

  async complete(job: LeasedJob): Promise<void> {
    await this.finish(job);
  }

  async suspend(job: LeasedJob, _nextPollAt: Date): Promise<void> {
    await this.finish(job);
  }

  async fail(job: LeasedJob, opts: { error: string; retry: boolean; delayMs?: number }): Promise<void> {
    if (!opts.retry) return this.finish(job, opts.error);
    const { sql, t } = this;
    const now = this.clock.now();
    const availableAt = new Date(now.getTime() + Math.max(0, opts.delayMs ?? 0));
    const reason = `exhausted ${this.maxDeliveries} deliveries; last error: ${opts.error}`;
    const rows = await sql`
      update ${t.jobs} set
        state = case when delivery_count >= ${this.maxDeliveries} then 'dead' else 'queued' end,
        dead_reason = case when delivery_count >= ${this.maxDeliveries} then ${reason}::text end,
        finished_at = case when delivery_count >= ${this.maxDeliveries} then ${now}::timestamptz end,
        seq = nextval(${t.jobsSeq}::regclass), available_at = ${availableAt},
        lease_token = null, lease_expires_at = null, worker_id = null, last_error = ${opts.error}
      where job_id = ${job.jobId} and state = 'leased' and lease_token = ${job.leaseToken}
      returning state`;
    if (rows[0]?.state === "queued") await this.notify();
  }

  async releaseStale(now: Date, thresholdMs: number): Promise<{ released: number; deadLettered: DeadLetteredJob[] }> {
    const { sql, t } = this;
    const cutoff = new Date(now.getTime() - thresholdMs);
    const moved = await sql`
      update ${t.jobs} set
        state = case when delivery_count >= ${this.maxDeliveries} then 'dead' else 'queued' end,
        dead_reason = case when delivery_count >= ${this.maxDeliveries}
          then 'lease expired on delivery ' || delivery_count || ' of ' || ${this.maxDeliveries}::int || ' (last worker ' || coalesce(worker_id, 'unknown') || ')' end,
        finished_at = case when delivery_count >= ${this.maxDeliveries} then ${now}::timestamptz end,
        seq = nextval(${t.jobsSeq}::regclass), available_at = least(available_at, ${now}::timestamptz),
        lease_token = null, lease_expires_at = null, worker_id = null
      where state = 'leased' and lease_expires_at <= ${cutoff}
      returning state`;
    const released = moved.filter((r) => r.state === "queued").length;
    // Each dead letter is reported exactly once, whichever process asks first.
    const dead = await sql`
      update ${t.jobs} set dead_reported = true
      where state = 'dead' and not dead_reported
      returning *`;
    if (released > 0) await this.notify();
    return {
      released,
      deadLettered: dead
        .sort((a, b) => Number(a.seq) - Number(b.seq))
        .map((r) => ({ job: toSpec(r), reason: (r.dead_reason as string | null) ?? "dead-lettered" })),
    };
  }

  async depth(): Promise<number> {
    const rows = await this.sql`select count(*)::int as n from ${this.t.jobs} where state = 'queued'`;
    return rows[0]!.n as number;
  }

  /** Deletes finished jobs (done, or dead and already reported) that finished before `before`; their ids may then be enqueued again. */
  async purgeFinished(before: Date): Promise<number> {
    const res = await this.sql`
      delete from ${this.t.jobs}
      where finished_at < ${before} and (state = 'done' or (state = 'dead' and dead_reported))`;
    return res.count;
  }

  /** Wakes waiting dequeues (which then return null), stops listening, and ends an owned client. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.waiters.close();
    if (this.owned) await this.sql.end({ timeout: 5 });
  }

  private async take(workerId: string): Promise<LeasedJob | null> {
    const { sql, t } = this;
    const now = this.clock.now();
    const rows = await sql`
      update ${t.jobs} set state = 'leased', delivery_count = delivery_count + 1, lease_token = ${randomUUID()},
        lease_expires_at = ${new Date(now.getTime() + this.leaseMs)}, worker_id = ${workerId}
      where job_id = (
        select job_id from ${t.jobs}
        where state = 'queued' and available_at <= ${now}
        order by priority desc, seq
        for update skip locked limit 1)
      returning *`;
    return rows[0] ? toLeased(rows[0]) : null;
  }

  private async finish(job: LeasedJob, error?: string): Promise<void> {
    const { sql, t } = this;
    await sql`update ${t.jobs} set state = 'done', finished_at = ${this.clock.now()}, lease_token = null,
        lease_expires_at = null, last_error = coalesce(${error ?? null}::text, last_error)
      where job_id = ${job.jobId} and state = 'leased' and lease_token = ${job.leaseToken}`;
  }

  private async msUntilNextDue(): Promise<number | null> {
    const rows = await this.sql`select min(available_at) as next from ${this.t.jobs} where state = 'queued'`;
    const next = rows[0]?.next as Date | null | undefined;
    return next ? Math.max(1, next.getTime() - this.clock.now().getTime()) : null;
  }

  private async notify(): Promise<void> {
    await this.sql`select pg_notify(${this.channel}, '')`;
  }
}

/**
 * JobTransport on postgres.js. Pass a client you own (never closed here) or a URL (closed by
 * `close()`). Run `migrate(sql, { schema })` first.
 */
export function createPostgresJobTransport(sqlOrUrl: postgres.Sql | string, opts: PostgresJobTransportOptions = {}): PostgresJobTransport {
  parseJobTransportOptions(opts); // refuse bad options before opening a connection
  const owned = typeof sqlOrUrl === "string";
  const sql = typeof sqlOrUrl === "string" ? postgres(sqlOrUrl, { onnotice: () => {} }) : sqlOrUrl;
  return new PostgresJobTransport(sql, owned, opts);
}
