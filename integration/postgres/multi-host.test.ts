// Four node hosts, each in its own process, share one database through the Postgres
// persistence and the Postgres job transport: every stage body runs exactly once, every run
// completes, and no job is left queued or leased.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { type Cluster, SCHEMA, startCluster } from "./fixtures/cluster.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
let cluster: Cluster | null = null;

const TUNING = {
  orchestrationIntervalMs: 100,
  jobPollIntervalMs: 500,
  maxConcurrentJobs: 8,
  maxClaimsPerTick: 50,
  maxOutboxFlushPerTick: 500,
  heartbeatIntervalMs: 2_000,
  leaseMs: 10_000,
};

t("4 host processes run 500 single-stage and 100 three-stage runs: each body once, all complete, no job stuck", async () => {
  const started = Date.now();
  cluster = await startCluster(svc!.postgres.url, TUNING);
  const { sql } = cluster;
  // Hosts boot while the runs are created: both take seconds, neither needs the other.
  const [singles, triples] = await Promise.all([
    cluster.createRuns("single", 500),
    cluster.createRuns("triple", 100),
    cluster.startHosts(4),
  ]);
  const created = Date.now();
  process.stderr.write(`hosts up + runs created in ${created - started} ms\n`);
  let counts: Record<string, number>;
  try {
    counts = await cluster.waitSettled(60_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nhost stderr:\n${cluster.hosts.map((h) => h.stderr().slice(-3000)).join("\n")}`);
  }
  assert.equal(counts, { COMPLETED: 600 }, `runs by status: ${JSON.stringify(counts)}`);

  const execs = await sql<{ n: number }[]>`select count(*)::int as n from public.test_executions`;
  assert.equal(execs[0]!.n, 500 + 3 * 100, "one body execution per stage");
  assert.equal(await cluster.duplicateExecutions(), []);
  const perRun = await sql<{ run_id: string; stages: string }[]>`
    select run_id, string_agg(stage_id, ',' order by executed_at) as stages from public.test_executions group by run_id`;
  const byRun = new Map(perRun.map((r) => [r.run_id, r.stages]));
  for (const id of singles) assert.is(byRun.get(id), "work");
  for (const id of triples) assert.is(byRun.get(id), "a,b,c", `stages of ${id} ran in order`);

  const view = await cluster.kernel.runs.get(triples[7]!);
  assert.equal(view!.run.output, { n: 10 }, "input n=7 went through a, b and c");

  const jobs = await sql<{ state: string; n: number }[]>`select state, count(*)::int as n from ${sql(`${SCHEMA}.jobs`)} group by state`;
  const jobCounts = Object.fromEntries(jobs.map((j) => [j.state, j.n]));
  assert.equal(jobCounts, { done: 800 }, `jobs by state: ${JSON.stringify(jobCounts)}`);
  const hostsUsed = await sql<{ host: string }[]>`select distinct host from public.test_executions order by host`;
  assert.equal(
    hostsUsed.map((h) => h.host),
    ["h0", "h1", "h2", "h3"],
    "the work was shared",
  );
  process.stderr.write(`multi-host: 600 runs / 800 stages on 4 processes in ${Date.now() - started} ms\n`);
});

test.after(async () => {
  await cluster?.stop();
  await svc?.stop();
});
test.run();
