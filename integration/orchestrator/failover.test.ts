// Two real orchestrator processes (`jetflow orchestrator`) on one Postgres and one NATS.
// A SIGKILL inside a long job.execute: the job is redelivered after its lease to the survivor,
// which completes the run. Plus the CLI's `runs create --wait`, `runs get` and `runs watch`.
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

t("SIGKILL inside a long job.execute: the job is redelivered to the other orchestrator and the run completes", async () => {
  const client = createJetflowClient(nc, { timeoutMs: 10_000 });
  const { workflowRunId } = await client.createRun({ workflowId: "marathon", input: { tag: "x" }, idempotencyKey: "marathon-1" });

  const first = await until("attempt 1 to start", async () =>
    readMarkers(d).find((m) => m.runId === workflowRunId && m.attempt === 1 && m.event === "start"),
  );
  const victim = procs.find((p) => p.pid === first.pid);
  assert.ok(victim, `attempt 1 ran in an unknown process ${first.pid}`);
  const survivor = procs.find((p) => p !== victim)!;
  const killedAt = Date.now();
  await victim.kill9();

  const result = await watchRun(nc, client, workflowRunId, { prefix: "jetflow", timeoutMs: 30_000 });
  assert.is(result.status, "COMPLETED", result.error ?? "");
  const output = result.output as { finishedBy: number; attempt: number };
  assert.is(output.finishedBy, survivor.pid, "the survivor finished the run");
  assert.is(output.attempt, 2);
  // Redelivery waits for the lease (1.5 s) to lapse; it does not happen instantly.
  const second = readMarkers(d).find((m) => m.runId === workflowRunId && m.attempt === 2 && m.event === "start");
  assert.ok(second, "attempt 2 started");
  const view = await client.getRun({ workflowRunId });
  assert.is(view.stages[0]!.status, "COMPLETED");
  assert.is(view.stages[0]!.attempt, 2);
  assert.ok(Date.now() - killedAt >= 1000, "redelivered only after the lease");
  // Exactly one execution finished: the killed attempt left no "end" marker and no other outcome.
  assert.is(readMarkers(d).filter((m) => m.runId === workflowRunId && m.event === "end").length, 1);
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
