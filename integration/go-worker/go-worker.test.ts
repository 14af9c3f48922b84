// The worker protocol is complete enough for another language: examples/go-worker (Go + nats.go,
// written from docs/protocol.md and docs/schemas only) runs a remote stage of a real `jetflow
// orchestrator` PROCESS, connected as the shipped nats-server.conf's scoped `worker-default` user,
// with Postgres and S3 from the harness. Covered: presigned input download and output upload
// (hashed on the orchestrator side), an output above the inline limit (reported by reference), a
// final failure carrying the worker's error, a retry by -NAK, and a redelivery after a kill -9.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  REPO_NATS_PASSWORDS,
  freePort,
  s3ClientConfig,
  services,
  useRepoNats,
  type NatsService,
  type Services,
  orchestratorS3Config,
} from "../harness/index.js";
import { createJetflowClient, type JetflowClient } from "../../adapters/jetstream/api/client.js";
import { watchRun, type WatchResult } from "../../adapters/jetstream/api/watch-run.js";
import { listWorkers, sendWorkerControl } from "../../adapters/jetstream/fleet/index.js";
import { startOrchestratorProcess, until, type OrchestratorProcess } from "../orchestrator/support.js";
import { buildGoWorker, startGoWorker, type GoWorker } from "./go-process.js";
import { reversed, sha256 } from "./fixtures/workflows.js";

const WHO = "integration/go-worker";
const LEASE_MS = 1_500;
/** The worker id the shipped config's worker-default user is scoped to (its registry key and control subject). */
const WORKER_ID = "worker-default";

const dir = mkdtempSync(join(tmpdir(), "jetflow-go-worker-"));
const binary = await buildGoWorker(join(dir, "go-worker"), WHO);
const nats: NatsService | null = binary ? await useRepoNats(WHO) : null;
const svc: Services<"postgres" | "s3"> | null = nats ? await services(["postgres", "s3"]) : null;
const t = binary && nats && svc ? test : test.skip;

let orchestrator: OrchestratorProcess | undefined;
let nc: NatsConnection;
let client: JetflowClient;
let s3: S3Client;
const workers: GoWorker[] = [];

test.before(async () => {
  if (!nats || !svc) return;
  const configFile = join(dir, "orchestrator.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      workflows: new URL("./fixtures/workflows.ts", import.meta.url).pathname,
      database: { url: svc.postgres.url, migrate: true },
      nats: { servers: nats.url, user: "orchestrator", password: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD },
      host: { orchestrationIntervalMs: 200, jobPollIntervalMs: 200 },
      s3: orchestratorS3Config(svc.s3),
      remote: {
        leaseMs: LEASE_MS,
        queues: [{ queue: "default", codeVersion: "v1", maxDeliver: 5 }],
        reapIntervalMs: 500,
        reportPollMs: 200,
      },
      logLevel: "info",
      healthPort: await freePort(),
    }),
  );
  orchestrator = await startOrchestratorProcess({
    dir,
    markers: join(dir, "markers.jsonl"),
    configFile,
    env: { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1" },
  });
  nc = await connect({ servers: nats.url, user: "orchestrator", pass: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD });
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
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A Go worker process as the scoped user of the shipped config (password in its environment),
 * under the one worker id that user may register (`worker-default`): with any other id each
 * registry put is denied and waits out its 5 s request timeout, on start and around every task.
 */
async function goWorker(): Promise<GoWorker> {
  const w = await startGoWorker(binary!, [
    "-servers",
    nats!.url,
    "-user",
    "worker-default",
    "-password",
    REPO_NATS_PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD,
    "-queue",
    "default",
    "-code-version",
    "v1",
    "-worker-id",
    WORKER_ID,
    "-heartbeat",
    "300ms",
    "-retry-backoff",
    "100ms",
    "-fleet-heartbeat",
    "500ms",
  ]);
  workers.push(w);
  return w;
}

async function run(key: string, input: Record<string, unknown>): Promise<{ id: string; result: WatchResult }> {
  const { workflowRunId } = await client.createRun({
    workflowId: "go-roundtrip",
    input: { inputBytes: 256 * 1024, ...input },
    idempotencyKey: key,
  });
  const result = await watchRun(nc, client, workflowRunId, { prefix: "jetflow", timeoutMs: 60_000 });
  return { id: workflowRunId, result };
}

async function objectBytes(key: string): Promise<Uint8Array | null> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: svc!.s3.bucket, Key: key }));
    return await res.Body!.transformToByteArray();
  } catch (err) {
    if ((err as { name?: string }).name === "NoSuchKey") return null;
    throw err;
  }
}

interface Out {
  outputKey: string;
  size: number;
  sha256: string;
  inputSha256: string;
  attempt: number;
  padding?: string;
  verifiedSha256: string;
  expectedSha256: string;
  verifiedSize: number;
}

t("the Go worker downloads its input and uploads its output by presigned URL; the orchestrator hashes the same bytes", async () => {
  const w = await goWorker();
  const { id, result } = await run("roundtrip", {});
  assert.is(result.status, "COMPLETED", `${result.error ?? ""}\n${w.log()}\n${orchestrator!.log().slice(-3000)}`);
  const out = result.output as Out;
  const input = (await objectBytes(`runs/${id}/prepare/input.bin`))!;
  assert.is(out.inputSha256, sha256(input), "the Go worker read the input artifact");
  const expected = sha256(reversed(input));
  assert.is(out.sha256, expected, "the Go worker's hash of what it uploaded");
  assert.is(out.verifiedSha256, expected, "the orchestrator read the same bytes back");
  assert.is(out.expectedSha256, expected);
  assert.is(sha256((await objectBytes(out.outputKey))!), expected, "the object in S3");
  assert.is(out.verifiedSize, input.byteLength);
  assert.is(out.attempt, 1);
  assert.ok(out.outputKey.startsWith(`runs/${id}/go-transform/1/`), out.outputKey);
  assert.is(await w.stop(), 0, `SIGTERM drains and exits 0:\n${w.log()}`);
});

t("an output above 64 KiB of JSON goes to _output.json and is reported by reference", async () => {
  await goWorker();
  const { id, result } = await run("large-output", { padOutput: 70_000 });
  assert.is(result.status, "COMPLETED", result.error ?? "");
  const out = result.output as Out;
  assert.is(out.padding?.length, 70_000);
  assert.is(out.verifiedSha256, out.expectedSha256);
  const stored = await objectBytes(`runs/${id}/go-transform/1/_output.json`);
  assert.ok(stored, "the output object exists");
  assert.is((JSON.parse(new TextDecoder().decode(stored!)) as { padding: string }).padding.length, 70_000);
});

t("a final failure reported by the Go worker fails the stage with the worker's error", async () => {
  const w = await goWorker();
  const { result } = await run("failure", { fail: "the Go worker refuses this input" });
  assert.is(result.status, "FAILED", w.log());
  assert.match(result.error ?? "", /remote activity failed \(task .*attempt 1\): the Go worker refuses this input/);
});

t("a retryable failure is released with -NAK and attempt 2 completes", async () => {
  const w = await goWorker();
  const { id, result } = await run("retry", { retryFirst: true });
  assert.is(result.status, "COMPLETED", `${result.error ?? ""}\n${w.log()}`);
  const out = result.output as Out;
  assert.is(out.attempt, 2);
  assert.ok(out.outputKey.startsWith(`runs/${id}/go-transform/2/`), out.outputKey);
  assert.match(w.log(), /attempt 1 failed \(transient failure on attempt 1\); retrying/);
});

t("kill -9 of the Go worker mid-task: after the lease the task is redelivered and attempt 2 completes on a new process", async () => {
  const first = await goWorker();
  const { workflowRunId } = await client.createRun({
    workflowId: "go-roundtrip",
    input: { inputBytes: 64 * 1024, hangFirstAttempt: true },
    idempotencyKey: "kill9",
  });
  await first.waitFor(/task started task=\S+ attempt=1/, "attempt 1 to start");
  await first.waitFor(/attempt 1 hangs/, "attempt 1 to hang");
  await first.kill9();
  const second = await goWorker();
  const result = await watchRun(nc, client, workflowRunId, { prefix: "jetflow", timeoutMs: 60_000 });
  assert.is(result.status, "COMPLETED", `${result.error ?? ""}\n${second.log()}`);
  const out = result.output as Out;
  assert.is(out.attempt, 2);
  assert.is(out.verifiedSha256, out.expectedSha256);
  assert.match(second.log(), /task reported task=\S+ attempt=2 outcome=completed/);
});

t("the Go worker's registry entry is a valid worker record, and a drain control request stops it with exit 0", async () => {
  // The id the shipped config's worker-default user is scoped to: only it may write its entry and answer its control subject.
  const w = await goWorker();
  const invalid: string[] = [];
  const entry = await until(
    "the Go worker's registry entry",
    async () =>
      (await listWorkers(nc, { prefix: "jetflow", onInvalid: (key, why) => invalid.push(`${key}: ${why}`) })).find(
        (x) => x.id === "worker-default" && x.status === "running",
      ),
    10_000,
    50,
  );
  assert.equal(invalid, [], "every entry parses as a WorkerRecord");
  assert.equal([entry.queue, entry.stageCodeVersion, entry.pid, entry.healthy], ["default", "v1", w.pid, true]);
  const reply = await sendWorkerControl(nc, "worker-default", "drain");
  assert.equal([reply.op, reply.accepted, reply.worker.id, reply.worker.status], ["drain", true, "worker-default", "draining"]);
  assert.is(await w.exited(), 0, `the drain ends the process:\n${w.log()}`);
  assert.match(w.log(), /worker stopped/);
  const last = (await listWorkers(nc, { prefix: "jetflow" })).find((x) => x.id === "worker-default");
  assert.is(last?.status, "stopped", "the final record says goodbye");
});

test.run();
