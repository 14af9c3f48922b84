// test-file-timeout-ms: 600000
// Fuzz: hostile messages at every API endpoint and every worker-facing subject of a real
// orchestrator PROCESS (NATS with the repository's users, Postgres, S3) while a real worker
// process holds a task. Seeded (JETFLOW_FUZZ_SEED) so a failure replays; JETFLOW_FUZZ_MESSAGES
// scales it (default 10,000). Asserts: every request is answered within its timeout, the
// orchestrator and worker PIDs never change, the orchestrator's RSS stays bounded, a sentinel run
// that forged messages aim at is unchanged row for row, the held task completes with its genuine
// outcome, the report consumer drains (nothing retried without bound), and runs submitted
// between bursts complete.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import fc from "fast-check";
import postgres from "postgres";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { REPO_NATS_PASSWORDS, services, useRepoNats, type NatsService, type Services } from "../harness/index.js";
import { createJetflowClient, type JetflowClient } from "../../adapters/jetstream/api/client.js";
import { watchRun } from "../../adapters/jetstream/api/watch-run.js";
import { API_ENDPOINTS, apiSubject } from "../../src/contract/api-messages.js";
import { startOrchestratorProcess, until, type OrchestratorProcess, type TestDeployment } from "../orchestrator/support.js";
import { startWorkerProcess, type WorkerProcess } from "../remote/worker-process.js";
import { describe, hostileBody, hostileHeaders } from "./hostile-messages.js";
import { remoteDeployment, remoteWorkerArgs } from "./remote-deployment.js";

const TOTAL = Number(process.env.JETFLOW_FUZZ_MESSAGES ?? 10_000);
const SEED = Number(process.env.JETFLOW_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const BURSTS = 4;
const IN_FLIGHT = 48;
const REQUEST_TIMEOUT_MS = 20_000;
const RSS_LIMIT_MB = Number(process.env.JETFLOW_FUZZ_RSS_MB ?? 1_024);
const P = REPO_NATS_PASSWORDS;

const nats: NatsService | null = await useRepoNats("integration/fuzz");
let svc: Services<"postgres" | "s3"> | null = null;
if (nats) svc = await services(["postgres", "s3"]);
const t = nats && svc ? test : test.skip;

let d: TestDeployment;
let orchestrator: OrchestratorProcess;
let worker: WorkerProcess;
let orch: NatsConnection; // checks: streams, consumers, run events
let operator: NatsConnection; // the API, as a client would call it
let attacker: NatsConnection; // the worker credential, as a stolen one would be used
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
  console.log(`fuzz seed ${SEED} (replay with JETFLOW_FUZZ_SEED=${SEED})`);
  d = remoteDeployment({ nats, databaseUrl: svc.postgres.url, s3: svc.s3 });
  orchestrator = await startOrchestratorProcess(d);
  // The id the shipped config's worker-default user is scoped to (registry entry, control subject).
  worker = await startWorkerProcess("worker-default", remoteWorkerArgs(nats), d.env);
  orch = await connect({ servers: nats.url, user: "orchestrator", pass: P.JETFLOW_ORCHESTRATOR_PASSWORD });
  operator = await connect({ servers: nats.url, user: "operator", pass: P.JETFLOW_OPERATOR_PASSWORD });
  attacker = await connect({
    servers: nats.url,
    user: "worker-default",
    pass: P.JETFLOW_WORKER_DEFAULT_PASSWORD,
    inboxPrefix: "_INBOX_worker-default",
  });
  client = createJetflowClient(orch, { timeoutMs: 15_000 });
  sql = postgres(svc.postgres.url, { max: 2, onnotice: () => {} });
}

test.after(async () => {
  await worker?.kill9();
  await orchestrator?.kill9();
  await sql?.end({ timeout: 5 });
  for (const nc of [orch, operator, attacker]) await nc?.close();
  await svc?.stop();
  await nats?.stop();
  if (d) rmSync(d.dir, { recursive: true, force: true });
});

const RELEASE = () => `${d.markers}.release`;

/** A run whose remote task the worker holds (leased) until the test releases it. */
async function heldRun(key: string): Promise<{ runId: string; taskId: string }> {
  rmSync(RELEASE(), { force: true });
  const { workflowRunId } = await client.createRun({
    workflowId: "artifact-roundtrip",
    input: { inputBytes: 512, outputBytes: 512, holdUntilReleased: true },
    idempotencyKey: key,
  });
  const task = await until(
    `the task of ${workflowRunId} to be leased by the worker`,
    async () => (await sql`select task_id from jetflow.activity_tasks where run_id = ${workflowRunId} and status = 'LEASED'`)[0],
    60_000,
    50,
  );
  return { runId: workflowRunId, taskId: task.task_id as string };
}

async function completedRun(key: string): Promise<{ runId: string; taskId: string }> {
  const { workflowRunId } = await client.createRun({
    workflowId: "artifact-roundtrip",
    input: { inputBytes: 256, outputBytes: 256 },
    idempotencyKey: key,
  });
  const r = await watchRun(orch, client, workflowRunId, { prefix: "jetflow", timeoutMs: 60_000 });
  assert.is(r.status, "COMPLETED", `${r.error ?? ""}\n${orchestrator.log().slice(-3000)}`);
  const [task] = await sql`select task_id from jetflow.activity_tasks where run_id = ${workflowRunId}`;
  return { runId: workflowRunId, taskId: task!.task_id as string };
}

/** Every row of a run, in a stable text form: what "unchanged" means for the sentinel. */
async function rowsOf(runId: string): Promise<string> {
  const parts = await Promise.all([
    sql`select * from jetflow.runs where id = ${runId}`,
    sql`select * from jetflow.stages where run_id = ${runId} order by stage_id`,
    sql`select * from jetflow.activity_tasks where run_id = ${runId} order by task_id`,
    sql`select * from jetflow.annotations where run_id = ${runId} order by 1`,
    sql`select * from jetflow.logs where run_id = ${runId} order by 1`,
    sql`select * from jetflow.artifacts where run_id = ${runId} order by 1`,
  ]);
  return JSON.stringify(parts);
}

async function runCount(): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from jetflow.runs`;
  return row!.n;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Target {
  name: string;
  /** Sends one body; resolves when answered (any answer), rejects on timeout. */
  send(body: Uint8Array, hdrs: Record<string, string>): Promise<unknown>;
  template: Record<string, unknown>;
}

function headersOf(h: Record<string, string>) {
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.append(k, v);
  return out;
}

/** Every endpoint and worker-facing subject, each with a valid-looking template aimed at real ids. */
function targets(ids: { held: { runId: string; taskId: string }; sentinel: { runId: string; taskId: string }; done: string }): Target[] {
  const request = (nc: NatsConnection, subject: string) => (body: Uint8Array, h: Record<string, string>) =>
    nc.request(subject, body, { timeout: REQUEST_TIMEOUT_MS, headers: headersOf(h) });
  const now = new Date().toISOString();
  const apiTemplates: Record<string, Record<string, unknown>> = {
    "runs.create": { workflowId: "artifact-roundtrip", input: { inputBytes: 16, outputBytes: 16 }, idempotencyKey: "fuzz", priority: 0 },
    "runs.get": { workflowRunId: ids.sentinel.runId, logs: 10 },
    "runs.list": { workflowId: "artifact-roundtrip", status: "COMPLETED", limit: 5 },
    "runs.cancel": { workflowRunId: ids.done, reason: "fuzz" },
    "runs.rerun": { workflowRunId: ids.done, fromStageId: "verify" },
    "runs.annotate": { workflowRunId: ids.done, actor: "fuzz", attributes: { k: "v" } },
    "workers.list": { queue: "default" },
    stats: {},
  };
  const list: Target[] = API_ENDPOINTS.map((e) => ({
    name: `api ${e}`,
    send: request(operator, apiSubject(e)),
    template: apiTemplates[e] ?? {},
  }));
  const js = jetstream(attacker);
  for (const task of [ids.held, ids.sentinel]) {
    const which = task === ids.held ? "held" : "sentinel";
    list.push(
      {
        name: `broker start (${which})`,
        send: request(attacker, "jetflow.broker.default.heartbeat"),
        template: { start: true, taskId: task.taskId, attempt: 2, workerId: "w-evil", codeVersion: "v1", capability: "c".repeat(32) },
      },
      {
        name: `broker heartbeat (${which})`,
        send: request(attacker, "jetflow.broker.default.heartbeat"),
        template: { taskId: task.taskId, attempt: 1, leaseToken: "forged-token", workerId: "w-evil", details: { p: 1 } },
      },
      {
        name: `broker presign (${which})`,
        send: request(attacker, "jetflow.broker.default.presign"),
        template: { taskId: task.taskId, attempt: 1, leaseToken: "forged-token", op: "put", key: "out.bin", size: 10 },
      },
      {
        name: `report (${which})`,
        // A report's only answer is JetStream's PubAck; the consumer's draining is checked after.
        send: (body, h) => js.publish("jetflow.reports.default", body, { timeout: REQUEST_TIMEOUT_MS, headers: headersOf(h) }),
        template: {
          v: 1,
          taskId: task.taskId,
          attempt: 1,
          leaseToken: "forged-token",
          workerId: "w-evil",
          codeVersion: "v1",
          outcome: "completed",
          output: { outputKey: "forged", size: 1, sha256: "0", attempt: 1, workerPid: 1 },
          logs: [],
          reportedAt: now,
        },
      },
    );
  }
  return list;
}

t(`${TOTAL} hostile messages: every one answered, no process dies, nothing changes that a legitimate request did not`, async () => {
  const sentinel = await completedRun("fuzz-sentinel");
  const done = await completedRun("fuzz-target");
  const sentinelRows = await rowsOf(sentinel.runId);
  const runsBefore = await runCount();
  const rssBefore = rssMb(orchestrator.pid);
  let sent = 0;
  let replied = 0;
  const failures: string[] = [];
  let createdOk = 0;

  for (let burst = 0; burst < BURSTS; burst++) {
    const held = await heldRun(`fuzz-held-${burst}`);
    const all = targets({ held, sentinel, done: done.runId });
    const perBurst = Math.ceil(TOTAL / BURSTS);
    const plan = fc.sample(
      fc
        .tuple(fc.integer({ min: 0, max: all.length - 1 }), fc.nat())
        .chain(([i, n]) => fc.tuple(fc.constant(i), fc.constant(n), hostileBody(all[i]!.template), hostileHeaders)),
      { seed: SEED + burst, numRuns: perBurst },
    );
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < plan.length) {
          const [i, , body, hdrs] = plan[next++]!;
          const target = all[i]!;
          sent++;
          try {
            const reply = await target.send(body, hdrs);
            replied++;
            if (target.name === "api runs.create" && isSuccess(reply)) createdOk++;
          } catch (e) {
            failures.push(`${target.name} ${describe(body)}: ${(e as Error).message}`);
          }
        }
      }),
    );
    assert.ok(
      alive(orchestrator.pid) && orchestrator.child.exitCode === null,
      `orchestrator died in burst ${burst}\n${orchestrator.log().slice(-4000)}`,
    );
    assert.ok(alive(worker.pid) && worker.child.exitCode === null, `worker died in burst ${burst}\n${worker.log().slice(-4000)}`);
    assert.equal(failures.slice(0, 10), [], `unanswered messages (seed ${SEED})`);

    // The held task ends with its genuine outcome: attempt 1, the bytes the worker computed.
    writeFileSync(RELEASE(), "");
    const r = await watchRun(orch, client, held.runId, { prefix: "jetflow", timeoutMs: 120_000 });
    assert.is(r.status, "COMPLETED", `held run of burst ${burst}: ${r.error ?? ""} (seed ${SEED})`);
    const out = r.output as { attempt: number; sha256: string; verifiedSha256: string; workerPid: number };
    assert.is(out.attempt, 1, "no forged start took the task over");
    assert.is(out.verifiedSha256, out.sha256, "the outcome is the worker's own");
    assert.is(out.workerPid, worker.pid);
    // A run submitted after the burst completes.
    await completedRun(`fuzz-after-${burst}`);
  }

  // Control: a worker answers only well-formed control requests (a malformed one could be a
  // delivery steered onto its subject), so hostile ones are published, then a valid one must be answered.
  const controlTemplate = { type: "jetflow.worker.control", v: 1, op: "status", workerId: "worker-default" };
  const control = fc.sample(hostileBody(controlTemplate), { seed: SEED, numRuns: 300 });
  for (const body of control) operator.publish("jetflow.ctl.worker-default.status", body);
  await operator.flush();
  const status = await operator.request("jetflow.ctl.worker-default.status", JSON.stringify(controlTemplate), {
    timeout: REQUEST_TIMEOUT_MS,
  });
  assert.is((status.json() as { op: string }).op, "status", "the worker still answers its control subject");
  assert.ok(alive(worker.pid) && worker.child.exitCode === null, `worker died on control messages\n${worker.log().slice(-4000)}`);

  assert.is(await rowsOf(sentinel.runId), sentinelRows, `the sentinel run's rows changed (seed ${SEED})`);
  // Runs exist only where a create said so: the two fixtures, a held and an "after" run per burst, and the fuzz's own creates.
  assert.is(await runCount(), runsBefore + 2 * BURSTS + createdOk, "runs created that no successful runs.create reported");
  const rssAfter = rssMb(orchestrator.pid);
  assert.ok(
    rssAfter < RSS_LIMIT_MB,
    `orchestrator RSS ${rssAfter.toFixed(0)} MB (was ${rssBefore.toFixed(0)} MB) exceeds ${RSS_LIMIT_MB} MB`,
  );
  // Nothing is retried without bound: the report consumer drains every forged report.
  const jsm = await jetstreamManager(orch);
  await until(
    "the report consumer to drain",
    async () => {
      const info = await jsm.consumers.info("JETFLOW_REPORTS", "reports-default");
      return info.num_pending === 0 && info.num_ack_pending === 0 ? info : null;
    },
    120_000,
    250,
  );
  console.log(
    `${sent} fuzz messages, ${replied} replied, 0 crashes (seed ${SEED}, ${control.length} control messages ignored by design, ${createdOk} runs created, orchestrator RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MB)`,
  );
});

/** A runs.create reply that says a new run exists. */
function isSuccess(reply: unknown): boolean {
  const msg = reply as { headers?: { get(k: string): string }; data: Uint8Array };
  if (msg.headers?.get("Nats-Service-Error-Code")) return false;
  const body = JSON.parse(new TextDecoder().decode(msg.data)) as { created?: boolean };
  return body.created === true;
}

test.run();
