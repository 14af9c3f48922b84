// test-file-timeout-ms: 600000
// Chaos: two orchestrator PROCESSES and two worker PROCESSES run the local → remote → local
// artifact workflow while the test, in a seeded order, kill -9s orchestrators and workers
// mid-task, restarts nats-server (SIGKILL, same store dir) and restarts Postgres (immediate
// shutdown of a cluster of this file's own). Asserts: every run reaches a terminal state, no
// stage or task has two terminal outcomes, no attempt's body ran twice, and every idempotency
// key maps to one run. Prints the counts and the recovery time per fault kind.
// JETFLOW_CHAOS_RUNS scales the load (default 10), JETFLOW_CHAOS_SEED replays an order.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import fc from "fast-check";
import postgres from "postgres";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { inCI, REPO_NATS_PASSWORDS, services, useRepoNats, type NatsService, type Services } from "../harness/index.js";
import { findClusterTools, startDedicatedCluster, type Cluster } from "../harness/pg-cluster.js";
import { createJetflowClient, type JetflowClient } from "../../adapters/jetstream/api/client.js";
import { readMarkers, startOrchestratorProcess, until, type OrchestratorProcess, type TestDeployment } from "../orchestrator/support.js";
import { startWorkerProcess, type WorkerProcess } from "../remote/worker-process.js";
import { remoteDeployment, remoteWorkerArgs } from "../fuzz/remote-deployment.js";
import { attemptsRunTwice, submitRetrying, terminalEventsTwice } from "./invariants.js";

const RUNS = Number(process.env.JETFLOW_CHAOS_RUNS ?? 10);
const SEED = Number(process.env.JETFLOW_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const FAULTS = ["orchestrator-kill9", "worker-kill9", "nats-restart", "postgres-restart"] as const;
type Fault = (typeof FAULTS)[number];
/** The kernel's JobTransport under test (orchestrator `jobs.transport`); chaos-postgres-transport.test.ts sets postgres. */
const TRANSPORT = process.env.JETFLOW_CHAOS_TRANSPORT === "postgres" ? "postgres" : "jetstream";
const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

const tools = findClusterTools();
if (tools.unavailable && inCI()) throw new Error(`chaos needs a restartable Postgres: ${tools.unavailable}`);
const nats: NatsService | null = tools.unavailable ? null : await useRepoNats("integration/chaos");
let svc: Services<"s3"> | null = null;
if (nats) svc = await services(["s3"]);
const t = nats && svc ? test : test.skip;
if (tools.unavailable) console.warn(`SKIP integration/chaos: ${tools.unavailable}`);

let pg: Cluster;
let databaseUrl: string;
let d: TestDeployment;
const orchestrators: OrchestratorProcess[] = [];
const workers: WorkerProcess[] = [];
/** Logs of killed processes, for a failure's diagnosis. */
const deadLogs: string[] = [];
let nc: NatsConnection;
let client: JetflowClient;
let sql: postgres.Sql;

test.before(async () => {
  if (!nats || !svc) return;
  await setUp().catch((e: unknown) => {
    console.error("set-up failed:", e); // uvu reports a failing hook without its error
    throw e;
  });
});

async function setUp(): Promise<void> {
  if (!nats || !svc) return;
  console.log(`chaos seed ${SEED} (replay with JETFLOW_CHAOS_SEED=${SEED}), ${RUNS} runs, ${TRANSPORT} job transport`);
  pg = await startDedicatedCluster(tools as { binDir: string });
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin`create database jetflow_chaos`;
  await admin.end();
  databaseUrl = pg.adminUrl.replace(/\/postgres$/, "/jetflow_chaos");
  // A lease that outlives a nats-server restart, so most in-flight attempts survive one.
  d = remoteDeployment({ nats, databaseUrl, s3: svc.s3, leaseMs: 5_000, transport: TRANSPORT });
  // Side by side: concurrent start-ups migrate under one advisory lock and create the streams
  // idempotently, as a deployment's replicas do. Workers after, once the task consumers exist.
  orchestrators.push(...(await Promise.all([startOrchestratorProcess(d), startOrchestratorProcess(d)])));
  workers.push(...(await Promise.all(["w-1", "w-2"].map((id) => startWorkerProcess(id, remoteWorkerArgs(nats), d.env)))));
  nc = await connect({
    servers: nats.url,
    user: "orchestrator",
    pass: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  client = createJetflowClient(nc, { timeoutMs: 5_000 });
  sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
}

test.after(async () => {
  await Promise.all([...workers, ...orchestrators].map((p) => p.kill9()));
  await sql?.end({ timeout: 5 });
  await nc?.close();
  await Promise.all([svc?.stop(), nats?.stop(), pg?.stop()]);
  if (d) rmSync(d.dir, { recursive: true, force: true });
});

/** runs.create retried through faults (see submitRetrying). */
function submit(key: string, holdMs: number): Promise<string> {
  return submitRetrying(client, key, holdMs, 120_000);
}

async function statusOf(runId: string): Promise<string | null> {
  try {
    return (await client.getRun({ workflowRunId: runId })).run.status;
  } catch {
    return null; // an outage: ask again
  }
}

async function terminal(runId: string, timeoutMs = 180_000): Promise<string> {
  try {
    return await until(
      `run ${runId} to end`,
      async () => {
        const s = await statusOf(runId);
        return s && TERMINAL.has(s) ? s : null;
      },
      timeoutMs,
      200,
    );
  } catch (e) {
    // What the run was stuck on, for the failure message.
    const stages = await sql`select stage_id, status, attempt, next_poll_at, updated_at from jetflow.stages where run_id = ${runId}`;
    const tasks =
      await sql`select task_id, status, attempt, worker_id, lease_deadline, updated_at from jetflow.activity_tasks where run_id = ${runId}`;
    const [run] = await sql`select status, claimed_by, updated_at, last_activity_at from jetflow.runs where id = ${runId}`;
    throw new Error(
      `${(e as Error).message} (seed ${SEED})\nrun ${JSON.stringify(run)}\nstages ${JSON.stringify(stages)}\ntasks ${JSON.stringify(tasks)}\nmarkers ${JSON.stringify(readMarkers(d).filter((m) => m.runId === runId))}`,
    );
  }
}

/** Injects a fault; a killed process is restarted in the background (the returned promise), so recovery measures the survivors. */
async function inject(fault: Fault, rng: () => number): Promise<Promise<void>> {
  if (fault === "orchestrator-kill9") {
    const i = Math.floor(rng() * orchestrators.length);
    await orchestrators[i]!.kill9();
    deadLogs.push(orchestrators[i]!.log());
    return startOrchestratorProcess(d, 120_000).then((p) => void (orchestrators[i] = p));
  }
  if (fault === "worker-kill9") {
    const i = Math.floor(rng() * workers.length);
    const id = workers[i]!.workerId;
    await workers[i]!.kill9();
    deadLogs.push(workers[i]!.log());
    return startWorkerProcess(id, remoteWorkerArgs(nats!), d.env, { timeoutMs: 120_000 }).then((w) => void (workers[i] = w));
  }
  if (fault === "nats-restart") await nats!.restart!();
  else await pg.restart();
  return Promise.resolve();
}

t("runs under orchestrator/worker kill -9, nats-server and Postgres restarts: all end, none doubled", async () => {
  // Uniform draws in [0, 1). Not fc.double: it can draw NaN (an undefined orchestrator to kill, a NaN
  // hold time) and it clusters at 0 and at its bounds, so most seeds replayed the same order.
  const rng = fc.sample(fc.noBias(fc.integer({ min: 0, max: 999_999 })), { seed: SEED, numRuns: 1_000 }).map((n) => n / 1_000_000);
  let r = 0;
  const next = () => rng[r++ % rng.length]!;
  // Every fault kind once (the CI variant), plus one more random fault per 10 runs beyond the first 10.
  const extra = Array.from({ length: Math.max(0, Math.floor(RUNS / 10) - 1) }, () => FAULTS[Math.floor(next() * FAULTS.length)]!);
  const order: Fault[] = [...FAULTS, ...extra];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1)); // seeded Fisher-Yates: the order replays with its seed
    [order[i], order[j]] = [order[j]!, order[i]!];
  }

  const keys = Array.from({ length: RUNS }, (_, i) => `chaos-${i}`);
  const runIds = await Promise.all(keys.map((k) => submit(k, Math.floor(next() * 3_000))));
  const recovery: Record<string, number[]> = {};
  let probes = 0;
  for (const fault of order) {
    // Fault while tasks are in flight: wait for some transform attempt to have started.
    await until(
      "a remote task in flight",
      async () => (await sql`select 1 from jetflow.activity_tasks where status = 'LEASED' limit 1`.catch(() => [])).length > 0,
      120_000,
      50,
    );
    const at = Date.now();
    const restarted = await inject(fault, next);
    // Recovery: the time until a run submitted at the fault completes end to end.
    const key = `probe-${probes++}`;
    keys.push(key);
    const probe = await submit(key, 0);
    runIds.push(probe);
    const probeStatus = await terminal(probe);
    if (probeStatus !== "COMPLETED") writeDiagnosis(await diagnose([probe]));
    assert.is(probeStatus, "COMPLETED", `probe after ${fault} (seed ${SEED})`);
    (recovery[fault] ??= []).push(Date.now() - at);
    console.log(`  ${fault}: recovered in ${((Date.now() - at) / 1000).toFixed(1)} s`);
    await restarted;
    // More load for the next fault.
    const more = `chaos-more-${probes}`;
    keys.push(more);
    runIds.push(await submit(more, Math.floor(next() * 3_000)));
  }

  const statuses = await Promise.all(runIds.map((id) => terminal(id)));
  // Every run ends. A run may fail only by running out of attempts (the faults can take several
  // attempts of one long task); anything else is a defect.
  const failed = await sql<{ id: string; error: string }[]>`select id, error from jetflow.runs where status <> 'COMPLETED'`;
  const unexplained = failed.filter((f) => !/attempts exhausted/.test(f.error ?? ""));
  if (unexplained.length > 0) writeDiagnosis(await diagnose(unexplained.map((f) => f.id)));
  assert.equal(unexplained, [], `a run ended for another reason than exhausted attempts (seed ${SEED})`);
  const byStatus = statuses.reduce<Record<string, number>>((acc, s) => ((acc[s] = (acc[s] ?? 0) + 1), acc), {});

  // No attempt's body ran twice: per run and delivery attempt, at most one start per remote task of
  // the run (a stage retried by the kernel gets a new task, whose deliveries count from 1 again).
  const { twice, taskCounts } = await attemptsRunTwice(sql, d);
  if (twice.length) {
    const tasks =
      await sql`select task_id, status, attempt, worker_id, outcome, created_at, updated_at from jetflow.activity_tasks where run_id = any(${twice})`;
    const marks = readMarkers(d).filter((m) => twice.includes(m.runId));
    assert.unreachable(`an attempt's body ran twice (seed ${SEED}):\ntasks ${JSON.stringify(tasks)}\nmarkers ${JSON.stringify(marks)}`);
  }

  // One terminal outcome per task and per stage, in Postgres and in the events stream.
  // A stage the kernel re-executed after a crash gets a new task; the earlier one may still run to
  // its end, but only one outcome may count: checked on the events below. Reported, not failed.
  const superseded = [...taskCounts.values()].filter((n) => n > 1).length;
  const doubled = await terminalEventsTwice(nc, runIds);
  assert.equal(doubled, [], "a stage or run with two different terminal events");

  // Idempotency: each key names one run, that run is the one its submitter got, and no run exists without a key.
  const mapped = await sql<{ key: string; run: string }[]>`select key, result->>'workflowRunId' as run
    from jetflow.idempotency_keys where command = 'run.create' and status = 'COMPLETED' order by key`;
  const expected = keys.map((k, i) => ({ key: k, run: runIds[i]! })).sort((a, b) => (a.key < b.key ? -1 : 1));
  assert.equal(
    mapped.map((m) => ({ key: m.key, run: m.run })),
    expected,
    "each idempotency key maps to the run its submitter got",
  );
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from jetflow.runs`;
  const runs = row!.n;
  assert.is(runs, keys.length, "no run beyond the submitted ones (a create retried through a fault made no orphan)");

  const lines = Object.entries(recovery).map(([k, ms]) => `${k}: ${ms.map((x) => (x / 1000).toFixed(1)).join(", ")} s`);
  console.log(
    `chaos: ${runIds.length} runs, ${order.length} faults (${order.join(", ")}), all COMPLETED, none doubled; recovery ${lines.join("; ")}`,
  );
});

/** The tasks of `runIds` and every process log line naming them. */
async function diagnose(runIds: string[]): Promise<string> {
  const tasks = await sql`select task_id, status, attempt, attempts, worker_id, lease_deadline, created_at, updated_at, error
    from jetflow.activity_tasks where run_id = any(${runIds}) order by created_at`;
  const runs = await sql`select id, status, error from jetflow.runs where id = any(${runIds})`;
  const ids = tasks.map((t) => String(t.task_id));
  const logs = [...deadLogs, ...orchestrators.map((p) => p.log()), ...workers.map((w) => w.log())];
  const lines = logs.flatMap((l) => l.split("\n")).filter((l) => ids.some((id) => l.includes(id)) || /nats|reconnect|restart/i.test(l));
  return `seed ${SEED}\nruns ${JSON.stringify(runs)}\ntasks ${JSON.stringify(tasks, null, 1)}\nmarkers ${JSON.stringify(readMarkers(d).filter((m) => runIds.includes(m.runId)))}\n${lines.join("\n")}`;
}

/** Keeps a failure's diagnosis where CI and a developer can read it (the test dir is removed). */
function writeDiagnosis(text: string): void {
  const file = `${tmpdir()}/jetflow-chaos-${SEED}.txt`;
  writeFileSync(file, text);
  console.error(`chaos diagnosis written to ${file}:\n${text.slice(0, 20_000)}`);
}

test.run();
