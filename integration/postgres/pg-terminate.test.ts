// Postgres kills every connection of the host processes while runs are in flight: the hosts
// keep running (their ticks back off and recover, postgres.js reconnects, LISTEN resumes),
// every run completes, and no stage body runs again after its stage committed.
import postgres from "postgres";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { type Cluster, SCHEMA, startCluster } from "./fixtures/cluster.js";
import { waitFor } from "./helpers.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
let cluster: Cluster | null = null;

const TUNING = {
  orchestrationIntervalMs: 100,
  jobPollIntervalMs: 500,
  maxConcurrentJobs: 6,
  maxClaimsPerTick: 50,
  heartbeatIntervalMs: 500,
  leaseMs: 3_000,
  staleLeaseThresholdMs: 500,
  stuckRunThresholdMs: 5_000,
  maxTickBackoffMs: 1_000,
  jobRetryBaseDelayMs: 100,
  jobRetryMaxDelayMs: 1_000,
};

/** Terminates every backend of the test database (hosts' pools, their LISTEN, our own client). */
async function terminateAll(adminUrl: string, database: string): Promise<number> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const rows =
      await admin`select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = ${database} and pid <> pg_backend_pid()`;
    return rows.filter((r) => r.ok).length;
  } finally {
    await admin.end({ timeout: 2 });
  }
}

t("runs complete across pg_terminate_backend of every host connection; no body re-runs after its commit", async () => {
  cluster = await startCluster(svc!.postgres.url, TUNING);
  const { sql } = cluster;
  // Completion instants on the database's clock (the same clock as test_executions.executed_at).
  await sql
    .unsafe(
      `
    create table public.test_stage_completions (run_id text, stage_id text, at timestamptz not null default clock_timestamp());
    create function public.test_record_completion() returns trigger language plpgsql as $$
    begin
      if new.status = 'COMPLETED' and old.status is distinct from 'COMPLETED' then
        insert into public.test_stage_completions (run_id, stage_id) values (new.run_id, new.stage_id);
      end if;
      return new;
    end $$;
    create trigger test_completion after update on ${SCHEMA}.stages for each row execute function public.test_record_completion();`,
    )
    .simple();
  await Promise.all([cluster.createRuns("single", 200), cluster.createRuns("triple", 40), cluster.startHosts(2)]);

  // Kill connections twice while stages are executing.
  let killed = 0;
  for (const fraction of [0.25, 0.6]) {
    await waitFor(
      `${fraction * 100}% of stage bodies to have run`,
      async () => {
        try {
          const r = await sql`select count(*)::int as n from public.test_executions`;
          return r[0]!.n >= fraction * 320;
        } catch (err) {
          // Our own connection was terminated too; the next probe reconnects.
          process.stderr.write(`probe: ${(err as Error).message}\n`);
          return false;
        }
      },
      30_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nhost stderr:\n${cluster!.hosts.map((h) => h.stderr().slice(-4000)).join("\n")}`);
    });
    killed += await terminateAll(svc!.postgres.adminUrl, svc!.postgres.database);
  }
  assert.ok(killed >= 2, `terminated ${killed} backends`);

  const counts = await waitSettledTolerant(cluster, 60_000);
  assert.equal(counts, { COMPLETED: 240 }, `runs by status: ${JSON.stringify(counts)}`);
  for (const h of cluster.hosts) assert.is(h.child.exitCode, null, `host ${h.id} is still running`);

  // At-least-once execution may repeat a body whose completion never committed, but never one
  // whose stage had already committed as COMPLETED.
  const late = await sql`
    select e.run_id, e.stage_id, e.executed_at, c.at as completed_at
    from public.test_executions e join public.test_stage_completions c on c.run_id = e.run_id and c.stage_id = e.stage_id
    where e.executed_at > c.at`;
  assert.equal([...late], [], "no stage body ran after its stage committed");
  const missing = await sql`
    select s.run_id, s.stage_id from ${sql(`${SCHEMA}.stages`)} s
    where not exists (select 1 from public.test_executions e where e.run_id = s.run_id and e.stage_id = s.stage_id)`;
  assert.equal([...missing], [], "every completed stage's body ran");
  // A job is settled AFTER its stage committed (job-runner: complete, then run.transition). When the
  // termination hits that `complete`, it fails and is logged; the job stays leased until its lease
  // expires (leaseMs + staleLeaseThresholdMs), is released, redelivered and completed as a no-op
  // (its stage is already COMPLETED). So every run can be COMPLETED while a job is still leased for
  // a few seconds: wait for the jobs to settle (bounded) instead of reading once.
  const unsettled = () =>
    sql`select state, count(*)::int as n from ${sql(`${SCHEMA}.jobs`)} where state in ('queued', 'leased') group by state`;
  let jobs = await unsettled();
  await waitFor(
    "every job to be settled after the runs completed",
    async () => {
      try {
        jobs = await unsettled();
        return jobs.length === 0;
      } catch {
        return false; // a terminated probe connection: try again
      }
    },
    TUNING.leaseMs + TUNING.staleLeaseThresholdMs + 30_000,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}: ${JSON.stringify([...jobs])}\nhost stderr:\n${cluster!.hosts.map((h) => h.stderr().slice(-3000)).join("\n")}`,
    );
  });
  assert.equal([...(await unsettled())], [], "no job left queued or leased");
  const dead = await sql`select job_id, dead_reason from ${sql(`${SCHEMA}.jobs`)} where state = 'dead'`;
  assert.equal([...dead], [], "no job dead-lettered on the way");
});

/** waitSettled, but a probe that hits a terminated connection just tries again. */
async function waitSettledTolerant(c: Cluster, timeoutMs: number): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await c.waitSettled(Math.max(1, deadline - Date.now()));
    } catch (err) {
      if (Date.now() >= deadline || !/terminat|connection|ECONNRESET/i.test((err as Error).message)) {
        const stuck = await stuckRuns(c).catch((e: Error) => `(could not read: ${e.message})`);
        throw new Error(
          `${(err as Error).message}\nunsettled runs:\n${stuck}\nhost stderr:\n${c.hosts.map((h) => h.stderr().slice(-3000)).join("\n")}`,
        );
      }
    }
  }
}

/** Up to 5 non-terminal runs with their stages and jobs, so a timeout says where they stopped. */
async function stuckRuns(c: Cluster): Promise<string> {
  const { sql } = c;
  const runs = await sql`select id, status, current_group_index, claimed_by, updated_at from ${sql(`${SCHEMA}.runs`)}
    where status in ('PENDING', 'RUNNING') order by updated_at limit 5`;
  const out: string[] = [];
  for (const r of runs) {
    const stages = await sql`select stage_id, status, attempt, updated_at from ${sql(`${SCHEMA}.stages`)} where run_id = ${r.id}`;
    const jobs =
      await sql`select job_id, state, attempt, delivery_count, worker_id, lease_expires_at, available_at, now() as db_now from ${sql(`${SCHEMA}.jobs`)} where run_id = ${r.id}`;
    const said = c.hosts.flatMap((h) =>
      h
        .stderr()
        .split("\n")
        .filter((l) => l.includes(r.id as string)),
    );
    out.push(JSON.stringify({ run: r, stages: [...stages], jobs: [...jobs] }), ...said.slice(-10));
  }
  return out.join("\n");
}

test.after(async () => {
  await cluster?.stop();
  await svc?.stop();
});
test.run();
