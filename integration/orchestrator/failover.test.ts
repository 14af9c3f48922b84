// Two real orchestrator processes (`jetflow orchestrator`) on one Postgres and one NATS.
// An orchestrator paused (SIGSTOP) inside a long job.execute: the job is redelivered after its
// lease to the other one; the paused attempt then resumes, finishes late, and its commit is
// fenced, so only the redelivered attempt's outcome counts. Plus the CLI's `runs create --wait`, `runs get` and `runs watch`.
import { writeFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { createJetflowClient } from "../../adapters/jetstream/api/client.js";
import { watchRun } from "../../adapters/jetstream/api/watch-run.js";
import { deployment, readMarkers, runCli, startOrchestratorProcess, until } from "./support.js";
import type { OrchestratorProcess, TestDeployment } from "./support.js";

const svc = await services(["nats", "postgres"]);
const t = svc ? test : test.skip;

let d: TestDeployment;
let nc: NatsConnection;
const procs: OrchestratorProcess[] = [];

test.before(async () => {
  if (!svc) return;
  d = deployment({ natsUrl: svc.nats.url, databaseUrl: svc.postgres.url, leaseMs: 1500 });
  // Sequential starts: both migrate, the second finds nothing to do (advisory lock + version table).
  procs.push(await startOrchestratorProcess(d));
  procs.push(await startOrchestratorProcess(d));
  nc = await connect({ servers: svc.nats.url });
});

test.after(async () => {
  await Promise.all(procs.map((p) => p.kill9()));
  await nc?.close();
  await svc?.stop();
});

t("an attempt paused past its lease finishes late and is fenced: only the redelivered attempt's outcome counts", async () => {
  const client = createJetflowClient(nc, { timeoutMs: 10_000 });
  const { workflowRunId } = await client.createRun({ workflowId: "marathon", input: { tag: "x" }, idempotencyKey: "marathon-1" });
  const release = (attempt: number) => writeFileSync(`${d.markers}.release-${workflowRunId}-${attempt}`, "");
  const marker = (attempt: number, event: string) =>
    readMarkers(d).find((m) => m.runId === workflowRunId && m.attempt === attempt && m.event === event);

  const first = await until("attempt 1 to start", async () => marker(1, "start"));
  const victim = procs.find((p) => p.pid === first.pid);
  assert.ok(victim, `attempt 1 ran in an unknown process ${first.pid}`);
  const survivor = procs.find((p) => p !== victim)!;
  const pausedAt = Date.now();
  victim.pause(); // no heartbeats: the lease (1.5 s) lapses and the job is redelivered
  try {
    const second = await until("attempt 2 to start on the survivor", async () => marker(2, "start"));
    assert.is(second.pid, survivor.pid);
    assert.ok(Date.now() - pausedAt >= 1000, "redelivered only after the lease");
  } finally {
    // Attempt 1 resumes while attempt 2 still owns the stage: it runs to its end and tries to commit.
    release(1);
    victim.resume();
  }
  await until("the late attempt 1 to finish its body", async () => marker(1, "end"));
  // Its commit is fenced (ghost): its outcome is discarded but its log line is kept, so the log
  // proves the commit was attempted and refused.
  await until("the late attempt 1's commit to be processed", async () => {
    const view = await client.getRun({ workflowRunId, logs: 100 });
    return view.logs?.some((l) => l.message === `attempt 1 finished in process ${victim.pid}`) ? view : undefined;
  });
  const during = await client.getRun({ workflowRunId });
  assert.is(during.run.status, "RUNNING", "the late attempt did not complete the run");
  assert.is(during.stages[0]!.status, "RUNNING");
  assert.is(during.stages[0]!.attempt, 2, "attempt 2 still owns the stage");

  release(2);
  const result = await watchRun(nc, client, workflowRunId, { prefix: "jetflow", timeoutMs: 30_000 });
  assert.is(result.status, "COMPLETED", result.error ?? "");
  assert.equal(result.output, { finishedBy: survivor.pid, attempt: 2 }, "only the redelivered attempt's outcome counts");
  const view = await client.getRun({ workflowRunId });
  assert.is(view.stages[0]!.status, "COMPLETED");
  assert.is(view.stages[0]!.attempt, 2);
  // Both bodies finished (the fence was really exercised), one outcome counted.
  const ends = readMarkers(d).filter((m) => m.runId === workflowRunId && m.event === "end");
  assert.equal(ends.map((m) => m.attempt).sort(), [1, 2]);
});

t("`runs create --wait` returns the run's output; `runs get` and `runs watch` show each stage", async () => {
  const env = { ...d.env, JETFLOW_NATS_URL: svc!.nats.url };
  const created = await runCli(
    ["runs", "create", "greet-shout", "--input", '{"name":"ada"}', "--wait", "--json", "--idempotency-key", "cli-1"],
    env,
  );
  assert.is(created.code, 0, created.stderr);
  const reply = JSON.parse(created.stdout);
  assert.is(reply.status, "COMPLETED");
  assert.equal(reply.output, { text: "HELLO ADA" });

  const got = await runCli(["runs", "get", reply.workflowRunId], env);
  assert.is(got.code, 0, got.stderr);
  assert.match(got.stdout, /greet\s+COMPLETED/);
  assert.match(got.stdout, /shout\s+COMPLETED/);

  const watched = await runCli(["runs", "watch", reply.workflowRunId], env);
  assert.is(watched.code, 0, watched.stderr);
  assert.match(watched.stdout, /run COMPLETED/);
});

t("`runs create --wait` of a run whose input fails validation exits non-zero naming the field", async () => {
  const env = { ...d.env, JETFLOW_NATS_URL: svc!.nats.url };
  const r = await runCli(["runs", "create", "greet", "--input", '{"name":""}', "--wait"], env);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /name/);
  assert.match(r.stderr, /VALIDATION/);
});

test.run();
