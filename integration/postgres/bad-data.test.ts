// Rows whose stored JSON no longer fits the code (edited by hand, written by an older version)
// and runs of workflows this deployment does not register: each such run fails with an error
// that says what is wrong, while the hosts keep completing every other run untouched.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { createPostgresPersistence } from "../../adapters/postgres/persistence.js";
import { type Cluster, SCHEMA, startCluster } from "./fixtures/cluster.js";

const svc = await services(["postgres"]);
const t = svc ? test : test.skip;
let cluster: Cluster | null = null;

const TUNING = {
  orchestrationIntervalMs: 100,
  jobPollIntervalMs: 500,
  maxConcurrentJobs: 4,
  heartbeatIntervalMs: 1_000,
  leaseMs: 5_000,
  stuckRunThresholdMs: 1_000,
};

t("bad stored JSON and unregistered workflows fail their own runs with clear errors; the rest complete", async () => {
  cluster = await startCluster(svc!.postgres.url, TUNING);
  const p = createPostgresPersistence(cluster.sql, { schema: SCHEMA });
  const now = new Date();
  const base = { priority: 0, traceContext: null, now, config: {} };

  // Written straight to the store, as an older version or a hand edit would have.
  await p.createRun({ ...base, id: "bad-workflow", workflowId: "no-such-workflow", input: { n: 1 } });
  await p.createRun({ ...base, id: "bad-input", workflowId: "single", input: { n: "not a number" } });
  // A triple run whose first stage completed with an output that no longer fits the schema;
  // its host died before the transition, so run.reapStuck picks it up.
  await p.createRun({ ...base, id: "bad-stage-output", workflowId: "triple", input: { n: 1 } });
  const longAgo = new Date(now.getTime() - 3_600_000);
  await p.updateRun(
    "bad-stage-output",
    { status: "RUNNING", currentGroupIndex: 0, claimedBy: "gone", startedAt: longAgo, lastActivityAt: longAgo },
    longAgo,
  );
  await p.upsertStage({
    id: "bad-stage-output-a",
    workflowRunId: "bad-stage-output",
    stageId: "a",
    stageName: "Step a",
    groupIndex: 0,
    maxAttempts: 3,
    traceContext: null,
    now: longAgo,
  });
  await p.updateStage(
    "bad-stage-output",
    "a",
    { status: "COMPLETED", attempt: 1, output: { n: "corrupt" }, startedAt: longAgo, completedAt: longAgo },
    longAgo,
  );

  const [singles, triples] = await Promise.all([cluster.createRuns("single", 40), cluster.createRuns("triple", 10), cluster.startHosts(2)]);
  const counts = await cluster.waitSettled(45_000).catch((err: Error) => {
    throw new Error(`${err.message}\nhost stderr:\n${cluster!.hosts.map((h) => h.stderr().slice(-3000)).join("\n")}`);
  });
  assert.equal(counts, { COMPLETED: 50, FAILED: 3 }, `runs by status: ${JSON.stringify(counts)}`);

  const error = async (id: string) => (await p.getRun(id))!.error ?? "";
  assert.match(await error("bad-workflow"), /workflow "no-such-workflow" is not registered/);
  assert.match(await error("bad-input"), /invalid stage input/);
  assert.match(await error("bad-input"), /\bn\b/, "the failing field is named");
  assert.match(await error("bad-stage-output"), /invalid stage (input|output)/);
  for (const id of ["bad-workflow", "bad-input", "bad-stage-output"]) assert.is((await p.getRun(id))!.status, "FAILED", id);

  const { sql } = cluster;
  const badBodies = await sql`select run_id, stage_id from public.test_executions where run_id like 'bad-%'`;
  assert.equal([...badBodies], [], "no stage body ran on bad data");
  const good = await sql<{ n: number }[]>`select count(*)::int as n from public.test_executions where run_id not like 'bad-%'`;
  assert.is(good[0]!.n, 40 + 3 * 10, "every good stage body ran once");
  assert.equal(await cluster.duplicateExecutions(), []);
  for (const id of [...singles, ...triples]) assert.is((await p.getRun(id))!.status, "COMPLETED");
  for (const h of cluster.hosts) assert.is(h.child.exitCode, null, `host ${h.id} kept running`);
});

test.after(async () => {
  await cluster?.stop();
  await svc?.stop();
});
test.run();
