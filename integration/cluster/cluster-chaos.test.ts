// test-file-timeout-ms: 300000
// Cluster chaos: two orchestrator PROCESSES and three worker PROCESSES run the local → remote → local
// artifact workflow on a 3-node JetStream cluster with every asset R3, so reapers and report
// consumers of both orchestrators race on the same tasks. While tasks are in flight the test
// kill -9s the node leading the tasks stream, then (once a run submitted after the kill completed)
// restarts it; then the same for the node leading the report consumer. Asserts: every run
// COMPLETES, no attempt's body ran twice, no stage or run has two terminal outcomes, one terminal
// task per remote stage. Prints the time to a new leader and to the first completed run per fault.
// JETFLOW_CLUSTER_CHAOS_RUNS scales the load (default 8).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { REPO_NATS_PASSWORDS, services, type Services } from "../harness/index.js";
import { useRepoNatsCluster, type NatsCluster } from "../harness/nats-cluster.js";
import { createJetflowClient, type JetflowClient } from "../../adapters/jetstream/api/client.js";
import { readMarkers, startOrchestratorProcess, until, type OrchestratorProcess, type TestDeployment } from "../orchestrator/support.js";
import { startWorkerProcess, type WorkerProcess } from "../remote/worker-process.js";
import { remoteDeployment, remoteWorkerArgs } from "../fuzz/remote-deployment.js";
import { attemptsRunTwice, submitRetrying, terminalEventsTwice } from "../chaos/invariants.js";

const RUNS = Number(process.env.JETFLOW_CLUSTER_CHAOS_RUNS ?? 8);
/** 1 (CI): kill the tasks-stream leader; 2 also kills the report-consumer leader afterwards. */
const FAULTS = Number(process.env.JETFLOW_CLUSTER_CHAOS_FAULTS ?? 1);
const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

const cluster: NatsCluster | null = await useRepoNatsCluster("integration/cluster/cluster-chaos");
const svc: Services<"postgres" | "s3"> | null = cluster ? await services(["postgres", "s3"]) : null;
const t = cluster && svc ? test : test.skip;

let d: TestDeployment | undefined;
const orchestrators: OrchestratorProcess[] = [];
const workers: WorkerProcess[] = [];
let nc: NatsConnection | undefined;
let client: JetflowClient;
let sql: postgres.Sql | undefined;

test.after(async () => {
  await Promise.all([...workers, ...orchestrators].map((p) => p.kill9()));
  // JETFLOW_CLUSTER_CHAOS_LOGS=<dir> keeps every process's log for a post-mortem.
  const keep = process.env.JETFLOW_CLUSTER_CHAOS_LOGS;
  if (keep) {
    mkdirSync(keep, { recursive: true });
    orchestrators.forEach((p, i) => writeFileSync(join(keep, `orchestrator-${i + 1}.log`), p.log()));
    workers.forEach((p) => writeFileSync(join(keep, `${p.workerId}.log`), p.log()));
  }
  await sql?.end({ timeout: 5 });
  await nc?.close();
  await Promise.all([svc?.stop(), cluster?.stop()]);
  if (d) rmSync(d.dir, { recursive: true, force: true });
});

/** runs.create retried through faults (see submitRetrying). */
function submit(key: string, holdMs: number): Promise<string> {
  return submitRetrying(client, key, holdMs, 60_000);
}

async function terminal(runId: string, timeoutMs = 90_000): Promise<string> {
  try {
    return await until(
      `run ${runId} to end`,
      async () => {
        const s = await client.getRun({ workflowRunId: runId }).then(
          (r) => r.run.status,
          () => null, // an election: ask again
        );
        return s && TERMINAL.has(s) ? s : null;
      },
      timeoutMs,
      200,
    );
  } catch (e) {
    const tasks =
      await sql!`select task_id, status, attempt, worker_id, lease_deadline, updated_at from jetflow.activity_tasks where run_id = ${runId}`;
    const stages = await sql!`select stage_id, status, attempt, updated_at from jetflow.stages where run_id = ${runId}`;
    // What JetStream holds for the queue: a task stuck PENDING is either not in the stream or not delivered.
    const jsm = await jetstreamManager(nc!);
    const consumer = await jsm.consumers.info("JETFLOW_TASKS", "tasks-default~~v1").catch((err: unknown) => String(err));
    const stream = await jsm.streams.info("JETFLOW_TASKS").catch((err: unknown) => String(err));
    throw new Error(
      `${(e as Error).message}\nconsumer ${JSON.stringify(consumer)}\nstream ${JSON.stringify(stream)}\nstages ${JSON.stringify(stages)}\ntasks ${JSON.stringify(tasks)}\nmarkers ${JSON.stringify(readMarkers(d!).filter((m) => m.runId === runId))}\nlast markers of all runs ${JSON.stringify(readMarkers(d!).slice(-12))}`,
    );
  }
}

/** The leader of a stream (or of one of its consumers), asked until one is elected. */
function leaderOf(jsm: JetStreamManager, stream: string, consumer?: string, not?: string): Promise<string> {
  return until(
    `a leader of ${stream}${consumer ? `/${consumer}` : ""}${not ? ` other than ${not}` : ""}`,
    async () => {
      const info = await (consumer ? jsm.consumers.info(stream, consumer) : jsm.streams.info(stream)).catch(() => null);
      const leader = info?.cluster?.leader;
      return leader && leader !== not ? leader : null;
    },
    60_000,
    100,
  );
}

t(
  "R3 cluster: kill -9 of the tasks-stream leader and of the report-consumer leader; 2 orchestrators, 3 workers; every run completes once",
  async () => {
    d = remoteDeployment({
      nats: { url: cluster!.servers },
      databaseUrl: svc!.postgres.url,
      s3: svc!.s3,
      replicas: 3,
      // Outlives a leader election (a few seconds), so most in-flight attempts survive one.
      leaseMs: 5_000,
      republishAfterMs: 3_000,
    });
    // One first, so the two do not race on creating the database schema and the streams.
    orchestrators.push(await startOrchestratorProcess(d, 60_000));
    orchestrators.push(await startOrchestratorProcess(d, 60_000));
    // Workers side by side: each only pulls from the consumers the orchestrators created.
    const workerArgs = [
      ...remoteWorkerArgs({ url: cluster!.servers }),
      // Kept logs say where each delivery is (pulled, started, thread, body, report).
      ...(process.env.JETFLOW_CLUSTER_CHAOS_LOGS ? ["--log-level", "debug"] : []),
    ];
    workers.push(
      ...(await Promise.all(["w-1", "w-2", "w-3"].map((id) => startWorkerProcess(id, workerArgs, d!.env, { timeoutMs: 60_000 })))),
    );
    nc = await connect({
      servers: cluster!.urls,
      user: "orchestrator",
      pass: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    client = createJetflowClient(nc, { timeoutMs: 5_000 });
    sql = postgres(svc!.postgres.url, { max: 2, onnotice: () => {} });
    const jsm = await jetstreamManager(nc);

    const keys: string[] = [];
    const runIds: string[] = [];
    const load = async (n: number, tag: string) => {
      const ks = Array.from({ length: n }, (_, i) => `${tag}-${i}`);
      keys.push(...ks);
      runIds.push(...(await Promise.all(ks.map((k, i) => submit(k, 300 + ((i * 373) % 1_500))))));
    };
    await load(RUNS, "before");

    const faults = [
      { what: "tasks stream leader", leader: () => leaderOf(jsm, "JETFLOW_TASKS") },
      { what: "report consumer leader", leader: () => leaderOf(jsm, "JETFLOW_REPORTS", "reports-default") },
    ];
    const figures: string[] = [];
    for (const [i, fault] of faults.slice(0, FAULTS).entries()) {
      await until(
        "a remote task in flight",
        async () => (await sql!`select 1 from jetflow.activity_tasks where status = 'LEASED' limit 1`).length > 0,
        60_000,
        50,
      );
      const victim = await fault.leader();
      const at = Date.now();
      await cluster!.node(victim).kill();
      const [probe] = await Promise.all([submit(`probe-${i}`, 0), load(RUNS / 2, `during-${i}`)]);
      keys.push(`probe-${i}`);
      runIds.push(probe);
      const newLeader = await (i === 0
        ? leaderOf(jsm, "JETFLOW_TASKS", undefined, victim)
        : leaderOf(jsm, "JETFLOW_REPORTS", "reports-default", victim));
      const electedMs = Date.now() - at;
      assert.is(await terminal(probe), "COMPLETED", `the run submitted after killing ${victim} (${fault.what})`);
      const recoveredMs = Date.now() - at;
      // Where the recovery time went: the probe's stage attempts and remote tasks, relative to the kill.
      const rel = (d: Date) => `${((d.getTime() - at) / 1000).toFixed(1)} s`;
      const probeTasks = await sql<{ task_id: string; status: string; created_at: Date; updated_at: Date }[]>`
      select task_id, status, created_at, updated_at from jetflow.activity_tasks where run_id = ${probe} order by created_at`;
      console.log(
        `  probe ${i}: ${probeTasks.map((r) => `${r.task_id.split(".").slice(1).join(".")} ${r.status} created +${rel(r.created_at)} last change +${rel(r.updated_at)}`).join("; ")}`,
      );
      await cluster!.node(victim).start();
      const rejoinedMs = Date.now() - at;
      const line = `${fault.what} ${victim} kill -9: new leader ${newLeader} in ${(electedMs / 1000).toFixed(1)} s, first run completed in ${(recoveredMs / 1000).toFixed(1)} s, node rejoined ${(rejoinedMs / 1000).toFixed(1)} s after the kill`;
      figures.push(line);
      console.log(`  ${line}`);
    }
    await load(RUNS / 2, "after");

    const statuses = await Promise.all(runIds.map((id) => terminal(id)));
    const notCompleted = runIds.filter((_, i) => statuses[i] !== "COMPLETED");
    if (notCompleted.length > 0) {
      const why = await sql`select id, status, error from jetflow.runs where id = any(${notCompleted})`;
      const tasks =
        await sql`select run_id, task_id, status, attempt, worker_id, outcome from jetflow.activity_tasks where run_id = any(${notCompleted})`;
      assert.unreachable(`runs did not complete: ${JSON.stringify(why)}\ntasks ${JSON.stringify(tasks)}`);
    }

    const { twice, taskCounts } = await attemptsRunTwice(sql, d);
    assert.equal(twice, [], "no attempt's body ran twice");
    // Every run's remote stage has a completed task. A stage whose dispatch failed in the election is
    // retried by the kernel with a new task, and the reaper may still re-publish the first one: it can
    // run too, but only one outcome may count (checked on the events below). Reported, not failed.
    const done = await sql<
      { run_id: string; n: number }[]
    >`select run_id, count(*)::int as n from jetflow.activity_tasks where status = 'COMPLETED' group by run_id`;
    assert.is(done.length, runIds.length, "every run has a completed remote task");
    const ranTwice = done.filter((r) => r.n > 1).length;
    assert.equal(await terminalEventsTwice(nc, runIds), [], "a stage or run with two different terminal events");
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from jetflow.runs`;
    assert.is(row!.n, keys.length, "no run beyond the submitted ones");

    const superseded = [...taskCounts.values()].filter((n) => n > 1).length;
    console.log(`cluster chaos: ${runIds.length} runs, all COMPLETED once, ${superseded} with a superseded task; ${figures.join("; ")}`);
  },
);

test.run();
