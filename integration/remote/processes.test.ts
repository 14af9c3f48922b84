// Remote activities as deployed: one `jetflow orchestrator` PROCESS (config section `remote`)
// and two `jetflow worker` PROCESSES on a nats-server running the repository's nats-server.conf,
// the workers connected as the scoped `worker-default` user, with Postgres and S3 from the
// harness. The remote stage downloads its input by presigned GET and uploads a 20 MiB output by
// presigned PUT; a SIGKILLed worker's task goes to the other worker after the lease.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  REPO_NATS_PASSWORDS,
  s3ClientConfig,
  services,
  useRepoNats,
  type NatsService,
  type Services,
  orchestratorS3Config,
} from "../harness/index.js";
import { createJetflowClient, type JetflowClient } from "../../adapters/jetstream/api/client.js";
import { watchRun } from "../../adapters/jetstream/api/watch-run.js";
import { startOrchestratorProcess, until, type OrchestratorProcess, type TestDeployment } from "../orchestrator/support.js";
import { deriveOutput, sha256 } from "./fixtures/artifact-stages.js";
import { startWorkerProcess, type WorkerProcess } from "./worker-process.js";
import { remoteWorkerArgs } from "../fuzz/remote-deployment.js";
import { execFile } from "node:child_process";
import { freePort } from "../harness/index.js";

const PASSWORDS = REPO_NATS_PASSWORDS;
const LEASE_MS = 1_500;
const MiB = 1024 * 1024;

const nats: NatsService | null = await useRepoNats("integration/remote/processes");
let svc: Services<"postgres" | "s3"> | null = null;
if (nats) svc = await services(["postgres", "s3"]);
const t = nats && svc ? test : test.skip;

let d: TestDeployment;
let orchestratorHealthPort = 0;
let orchestrator: OrchestratorProcess | undefined;
let nc: NatsConnection;
let client: JetflowClient;
let s3: S3Client;
const workers: WorkerProcess[] = [];

test.before(async () => {
  if (!nats || !svc) return;
  const dir = mkdtempSync(join(tmpdir(), "jetflow-remote-"));
  const markers = join(dir, "markers.jsonl");
  writeFileSync(markers, "");
  const configFile = join(dir, "orchestrator.json");
  orchestratorHealthPort = await freePort();
  writeFileSync(
    configFile,
    JSON.stringify({
      workflows: new URL("./fixtures/artifact-workflows.ts", import.meta.url).pathname,
      database: { url: svc.postgres.url, migrate: true },
      nats: { servers: nats.url, user: "orchestrator", password: PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD },
      host: { orchestrationIntervalMs: 200, jobPollIntervalMs: 200 },
      s3: orchestratorS3Config(svc.s3),
      remote: {
        leaseMs: LEASE_MS,
        queues: [{ queue: "default", codeVersion: "v1", maxDeliver: 5 }],
        reapIntervalMs: 500,
        reportPollMs: 200,
        unservedAfterMs: 300,
        unservedCheckMs: 100,
      },
      logLevel: "info",
      healthPort: orchestratorHealthPort,
    }),
  );
  d = { dir, markers, configFile, env: { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1", JETFLOW_TEST_MARKERS: markers } };
  orchestrator = await startOrchestratorProcess(d);
  // The test's own client needs core subscriptions to run events, which only the orchestrator user has.
  nc = await connect({ servers: nats.url, user: "orchestrator", pass: PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD });
  client = createJetflowClient(nc, { timeoutMs: 10_000 });
  s3 = new S3Client(s3ClientConfig(svc.s3));
});

test.after.each(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill9()));
});

test.after(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill9()));
  await orchestrator?.kill9();
  s3?.destroy();
  await nc?.close();
  await svc?.stop();
  await nats?.stop();
  if (d) rmSync(d.dir, { recursive: true, force: true });
});

/** `jetflow worker` flags of the scoped worker user, exactly as an operator would pass them. */
function workerArgs(): string[] {
  return remoteWorkerArgs(nats!, 250);
}

/** Two worker processes as the scoped worker user. */
async function startWorkers(): Promise<WorkerProcess[]> {
  const args = workerArgs();
  const started = await Promise.all(["w-a", "w-b"].map((id) => startWorkerProcess(id, args, d.env)));
  workers.push(...started);
  return started;
}

function markers(): Record<string, any>[] {
  return readFileSync(d.markers, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

async function objectBytes(key: string): Promise<Uint8Array> {
  const res = await s3.send(new GetObjectCommand({ Bucket: svc!.s3.bucket, Key: key }));
  return res.Body!.transformToByteArray();
}

t("a remote stage in a worker process GETs its input and PUTs a 20 MiB output by presigned URL; the bytes round-trip", async () => {
  const pool = await startWorkers();
  const { workflowRunId } = await client.createRun({
    workflowId: "artifact-roundtrip",
    input: { inputBytes: 256 * 1024, outputBytes: 20 * MiB },
    idempotencyKey: "roundtrip-1",
  });
  const result = await watchRun(nc, client, workflowRunId, { prefix: "jetflow", timeoutMs: 60_000 });
  assert.is(result.status, "COMPLETED", `${result.error ?? ""}\n${orchestrator!.log().slice(-3000)}`);
  const out = result.output as {
    outputKey: string;
    size: number;
    sha256: string;
    verifiedSha256: string;
    verifiedSize: number;
    attempt: number;
    workerPid: number;
  };

  // Expected bytes computed here, from the input artifact as stored, independently of both sides.
  const input = await objectBytes(`runs/${workflowRunId}/prepare/input.bin`);
  const expected = sha256(deriveOutput(input, 20 * MiB));
  const stored = await objectBytes(out.outputKey);
  assert.is(stored.byteLength, 20 * MiB);
  assert.is(sha256(stored), expected, "the object in S3 is what the worker computed");
  assert.is(out.sha256, expected, "the worker's hash of what it uploaded");
  assert.is(out.verifiedSha256, expected, "the orchestrator read the same bytes back");
  assert.is(out.verifiedSize, 20 * MiB);
  assert.ok(out.outputKey.startsWith(`runs/${workflowRunId}/transform/1/`), out.outputKey);
  assert.ok(
    pool.some((w) => w.pid === out.workerPid),
    "the stage ran in a worker process",
  );
  assert.is.not(out.workerPid, orchestrator!.pid);

  // SIGTERM drains: both workers exit 0 and say so.
  const codes = await Promise.all(pool.map((w) => w.stop()));
  assert.equal(codes, [0, 0], pool.map((w) => w.log()).join("\n"));
  assert.ok(pool.every((w) => w.log().includes('"worker stopped"')));
});

t(
  "a worker paused past its lease: the task is redelivered and completes; the paused attempt finishes late and its report is refused",
  async () => {
    const pool = await startWorkers();
    const { workflowRunId } = await client.createRun({
      workflowId: "artifact-roundtrip",
      input: { inputBytes: 64 * 1024, outputBytes: MiB, hangFirstAttempt: true },
      idempotencyKey: "pause-1",
    });
    const first = await until(
      "attempt 1 to start on a worker",
      async () => markers().find((m) => m.runId === workflowRunId && m.attempt === 1 && m.event === "start"),
      30_000,
      20,
    );
    const victim = pool.find((w) => w.pid === first.pid);
    assert.ok(victim, `attempt 1 ran in an unknown process ${first.pid}`);
    const survivor = pool.find((w) => w !== victim)!;
    const pausedAt = Date.now();
    victim.pause(); // no heartbeats: the lease lapses and the task is redelivered
    let result;
    try {
      result = await watchRun(nc, client, workflowRunId, { prefix: "jetflow", timeoutMs: 30_000 });
    } finally {
      // The paused attempt resumes and finishes: its completed report must not count.
      writeFileSync(`${d.markers}.release-first`, "");
      victim.resume();
    }
    assert.is(result.status, "COMPLETED", `${result.error ?? ""}\n${orchestrator!.log().slice(-3000)}`);
    const out = result.output as { attempt: number; workerPid: number; sha256: string; verifiedSha256: string; outputKey: string };
    assert.is(out.attempt, 2);
    assert.is(out.workerPid, survivor.pid, "the surviving worker finished the task");
    assert.is(out.verifiedSha256, out.sha256);
    assert.ok(out.outputKey.startsWith(`runs/${workflowRunId}/transform/2/`), out.outputKey);
    const second = markers().find((m) => m.runId === workflowRunId && m.attempt === 2 && m.event === "start");
    assert.ok(second, "attempt 2 started");
    assert.ok(second.at - pausedAt >= LEASE_MS / 2, `redelivered only after the lease (after ${second.at - pausedAt} ms)`);

    await until(
      "the late attempt 1 to finish",
      async () => markers().find((m) => m.runId === workflowRunId && m.attempt === 1 && m.event === "end"),
      30_000,
      20,
    );
    const refusedLines = () =>
      orchestrator!
        .log()
        .split("\n")
        .filter((l) => l.includes("remote report refused") && l.includes('"attempt":1'));
    await until("the broker to refuse attempt 1's late report", async () => refusedLines().length > 0 || undefined, 30_000, 50).catch(
      () => undefined, // asserted below, with the log
    );
    const refused = refusedLines();
    assert.ok(refused.length >= 1, `the late report was refused:\n${orchestrator!.log().slice(-3000)}`);
    const after = await client.getRun({ workflowRunId });
    assert.is(after.run.status, "COMPLETED");
    assert.equal(after.run.output, result.output, "only the redelivered attempt's outcome counts");
    assert.equal(
      markers()
        .filter((m) => m.runId === workflowRunId && m.event === "end")
        .map((m) => m.attempt)
        .sort(),
      [1, 2],
      "both attempts finished",
    );
  },
);

t("SIGTERM on a worker mid-activity drains: the task finishes and reports on that worker, which then exits 0", async () => {
  const pool = await startWorkers();
  const { workflowRunId } = await client.createRun({
    workflowId: "artifact-roundtrip",
    input: { inputBytes: 1024, outputBytes: 1024, holdMs: 1_500 },
    idempotencyKey: "drain-1",
  });
  const first = await until(
    "the task to start on a worker",
    async () => markers().find((m) => m.runId === workflowRunId && m.event === "start"),
    30_000,
    20,
  );
  const busy = pool.find((w) => w.pid === first.pid)!;
  const code = await busy.stop();
  assert.is(code, 0, busy.log());
  assert.ok(
    markers().some((m) => m.runId === workflowRunId && m.event === "end" && m.pid === busy.pid),
    "the in-flight task finished before the exit",
  );
  const result = await watchRun(nc, client, workflowRunId, { prefix: "jetflow", timeoutMs: 30_000 });
  assert.is(result.status, "COMPLETED", result.error ?? "");
  const out = result.output as { attempt: number; workerPid: number };
  assert.is(out.attempt, 1, "no redelivery: the draining worker reported it");
  assert.is(out.workerPid, busy.pid);
});

t("runs cancel over the API interrupts the activity in its worker process within a heartbeat; the run ends CANCELLED", async () => {
  await startWorkers();
  const { workflowRunId } = await client.createRun({
    workflowId: "artifact-roundtrip",
    input: { inputBytes: 1024, outputBytes: 1024, holdMs: 60_000 },
    idempotencyKey: "cancel-1",
  });
  await until(
    "the 60 s activity to start",
    async () => markers().find((m) => m.runId === workflowRunId && m.event === "start"),
    30_000,
    20,
  );
  const cancelledAt = Date.now();
  const reply = await client.cancelRun({ workflowRunId, reason: "operator pressed stop" });
  assert.is(reply.status, "CANCELLED");
  const aborted = await until(
    "ctx.signal to fire in the worker",
    async () => markers().find((m) => m.runId === workflowRunId && m.event === "aborted"),
    10_000,
    20,
  );
  // Heartbeats every 250 ms carry the cancellation; the bound leaves room for a loaded CI machine.
  assert.ok(aborted.at - cancelledAt < 2_500, `aborted ${aborted.at - cancelledAt} ms after the cancel`);
  assert.match(aborted.reason, /cancel/i);
  const run = await client.getRun({ workflowRunId });
  assert.is(run.run.status, "CANCELLED", "no late report overwrote the cancellation");
  assert.not.ok(
    markers().some((m) => m.runId === workflowRunId && m.event === "end"),
    "the activity never finished its work",
  );
});

t(
  "`jetflow workers drain <id>` during 5 running tasks: all 5 report, nothing new is pulled, the process exits 0; /healthz tracks it",
  async () => {
    const port = await freePort();
    // The worker id the shipped config's worker-default user is scoped to: only it may answer its control subject.
    const w = await startWorkerProcess(
      "worker-default",
      [...workerArgs(), "--concurrency", "5", "--health-port", String(port), "--fleet-heartbeat-ms", "500"],
      d.env,
    );
    workers.push(w);
    // The five tasks stay in flight until the drain request was answered, however slow the machine.
    const input = { inputBytes: 1024, outputBytes: 1024, holdUntilReleased: true };
    const ids = (
      await Promise.all(
        [1, 2, 3, 4, 5].map((i) => client.createRun({ workflowId: "artifact-roundtrip", input, idempotencyKey: `fleet-drain-${i}` })),
      )
    ).map((r) => r.workflowRunId);
    await until(
      "5 tasks running on worker-default",
      async () => ids.every((id) => markers().some((m) => m.runId === id && m.event === "start" && m.pid === w.pid)) || null,
      30_000,
      20,
    );
    // A sixth task waits in the stream: the worker is at capacity, and after the drain it must not take it.
    const extra = (
      await client.createRun({
        workflowId: "artifact-roundtrip",
        input: { ...input, holdUntilReleased: false },
        idempotencyKey: "fleet-drain-6",
      })
    ).workflowRunId;
    await until(
      "the sixth task to be dispatched",
      async () =>
        (await client.getRun({ workflowRunId: extra })).stages.some((s) => s.stageId === "transform" && s.status === "SUSPENDED") || null,
      30_000,
      20,
    );
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5_000) })).json()) as Record<
      string,
      unknown
    >;
    assert.equal([health.healthy, health.status, health.inFlight, health.capacity], [true, "running", 5, 5]);
    // The operator user (not the worker's) may send control requests.
    const drain = await new Promise<{ code: number; out: string }>((done) =>
      execFile(
        process.execPath,
        [
          "bin/jetflow.js",
          "workers",
          "drain",
          "worker-default",
          "--servers",
          nats!.url,
          "--user",
          "operator",
          "--password",
          PASSWORDS.JETFLOW_OPERATOR_PASSWORD,
        ],
        { cwd: new URL("../..", import.meta.url).pathname, env: d.env, timeout: 60_000 },
        (err, stdout, stderr) => done({ code: err ? 1 : 0, out: stdout + stderr }),
      ),
    );
    assert.is(drain.code, 0, drain.out);
    writeFileSync(`${d.markers}.release`, "");
    assert.is(await w.exited(), 0, w.log());
    for (const id of ids)
      assert.ok(
        markers().some((m) => m.runId === id && m.event === "end" && m.pid === w.pid),
        `task of ${id} finished before the exit`,
      );
    assert.not.ok(
      markers().some((m) => m.runId === extra && m.pid === w.pid),
      "the drained worker pulled nothing new",
    );
    const results = await Promise.all(ids.map((id) => watchRun(nc, client, id, { prefix: "jetflow", timeoutMs: 30_000 })));
    assert.equal(
      results.map((r) => [r.status, (r.output as { attempt: number } | undefined)?.attempt]),
      ids.map(() => ["COMPLETED", 1]),
      "reported by the drained worker, not redelivered",
    );
    await client.cancelRun({ workflowRunId: extra, reason: "test cleanup" });
  },
);

t("a task no live worker can serve is reported in stats and the stage's logs, and runs once a matching worker joins", async () => {
  // No worker with gpu=true is running (those of earlier tests lack the label).
  const { workflowRunId } = await client.createRun({
    workflowId: "gpu-roundtrip",
    input: { inputBytes: 1024, outputBytes: 1024 },
    idempotencyKey: "gpu-1",
  });
  const stuck = await until(
    "the task to be reported unserved",
    async () => (await client.stats()).unservedTasks?.find((u) => u.workflowRunId === workflowRunId),
    30_000,
    50,
  );
  assert.is(stuck.stageId, "transform");
  assert.equal(stuck.requiredLabels, { gpu: "true" });
  assert.match(stuck.reason, /has the labels gpu=true|serves queue "default"/);
  // The stage log is written by the same watch, right after the stats entry: wait for it (bounded).
  await until(
    "the stage's log to say it waits for a worker",
    async () =>
      (await client.getRun({ workflowRunId, logs: 100 })).logs?.some((l) => l.level === "WARN" && /waiting for a worker/.test(l.message)),
    30_000,
    50,
  );

  // It must register in the fleet registry as the id its user is scoped to (nats-server.conf).
  const gpu = await startWorkerProcess("worker-default", [...workerArgs(), "--labels", "gpu=true"], d.env);
  workers.push(gpu);
  const result = await watchRun(nc, client, workflowRunId, { prefix: "jetflow", timeoutMs: 30_000 });
  assert.is(result.status, "COMPLETED", result.error ?? "");
  assert.is((result.output as { workerPid: number }).workerPid, gpu.pid);
  await until(
    "the task to leave the unserved list",
    async () => !(await client.stats()).unservedTasks?.some((u) => u.workflowRunId === workflowRunId),
    10_000,
    50,
  );
});

t("the orchestrator's /healthz reports NATS, Postgres and its host", async () => {
  const res = await fetch(`http://127.0.0.1:${orchestratorHealthPort}/healthz`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as Record<string, unknown>;
  assert.is(res.status, 200, JSON.stringify(body));
  assert.equal([body.healthy, body.nats, body.database, body.consecutiveTickFailures], [true, "connected", "ok", 0]);
});

t("SIGTERM stops the orchestrator with its remote side (responders, report consumer, reaper) cleanly", async () => {
  const code = await orchestrator!.stop();
  const log = orchestrator!.log();
  assert.is(code, 0, log.slice(-3000));
  assert.match(log, /"orchestrator stopped"/);
  assert.not.match(log, /error while stopping remote activities|error while shutting down/);
});

test.run();
