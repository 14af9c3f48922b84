// The worker package on its own: `npm pack` of worker-sdk/, installed with npm into an empty
// directory outside the repository, runs a real worker process (its `jetflow-worker`
// executable, an activity module importing only @jetflow/worker and zod) against an
// orchestrator process on the shipped nats-server.conf, with Postgres and S3. The installed
// tree holds no postgres, @aws-sdk or OpenTelemetry SDK package.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
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
import { packedTarball } from "../harness/npm-pack.js";
import { createJetflowClient, type JetflowClient } from "../../adapters/jetstream/api/client.js";
import { watchRun } from "../../adapters/jetstream/api/watch-run.js";
import { startOrchestratorProcess, type OrchestratorProcess } from "../orchestrator/support.js";
import { startWorkerProcess, type WorkerProcess } from "../remote/worker-process.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "..", "..");
const PASSWORDS = REPO_NATS_PASSWORDS;
/** Packages a worker machine must never receive. */
const FORBIDDEN = /(^|\/)node_modules\/(postgres|@aws-sdk\/[^/]+|@opentelemetry\/sdk-[^/]+|pino|commander)$/;

const nats: NatsService | null = await useRepoNats("integration/worker-package");
let svc: Services<"postgres" | "s3"> | null = null;
if (nats) svc = await services(["postgres", "s3"]);
const t = nats && svc ? test : test.skip;

let dir = "";
let app = "";
let orchestrator: OrchestratorProcess | undefined;
let worker: WorkerProcess | undefined;
let nc: NatsConnection | undefined;
let client: JetflowClient;
let s3: S3Client | undefined;

test.before(async () => {
  if (!nats || !svc) return;
  dir = mkdtempSync(join(tmpdir(), "jetflow-worker-package-"));
  writeFileSync(join(dir, "markers"), "");
  // Outside the repository, so nothing resolves from the repo's node_modules by accident.
  app = join(dir, "worker-machine");
  // prepack builds the package's dist/; an earlier run's tarball of the same sources is reused
  // (harness/npm-pack.ts keys it by content).
  const { path: tarball } = await packedTarball({
    packageDir: join(root, "worker-sdk"),
    packArgs: ["-w", "@jetflow/worker"],
    destDir: dir,
  });
  await run("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "worker-machine", version: "1.0.0", private: true, type: "module" }));
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball], {
    cwd: app,
    maxBuffer: 64 * 1024 * 1024,
  });
  copyFileSync(join(import.meta.dirname, "fixtures", "activities.mjs"), join(app, "activities.mjs"));

  const configFile = join(dir, "orchestrator.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      workflows: join(import.meta.dirname, "fixtures", "workflows.ts"),
      database: { url: svc.postgres.url, migrate: true },
      nats: { servers: nats.url, user: "orchestrator", password: PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD },
      host: { orchestrationIntervalMs: 200, jobPollIntervalMs: 200 },
      s3: orchestratorS3Config(svc.s3),
      remote: { leaseMs: 5_000, queues: [{ queue: "default", codeVersion: "v1", maxDeliver: 3 }], reapIntervalMs: 500, reportPollMs: 200 },
      logLevel: "info",
    }),
  );
  const env = { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1" };
  orchestrator = await startOrchestratorProcess({ dir, markers: join(dir, "markers"), configFile, env });
  nc = await connect({ servers: nats.url, user: "orchestrator", pass: PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD });
  client = createJetflowClient(nc, { timeoutMs: 10_000 });
  s3 = new S3Client(s3ClientConfig(svc.s3));
});

test.after(async () => {
  await worker?.kill9();
  await orchestrator?.kill9();
  s3?.destroy();
  await nc?.close();
  await svc?.stop();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

t("the packed worker package depends on NATS, zod, the OpenTelemetry API and smol-toml only", async () => {
  const manifest = JSON.parse(readFileSync(join(app, "node_modules", "@jetflow", "worker", "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  for (const name of Object.keys(manifest.dependencies)) {
    assert.ok(/^(@nats-io\/|zod$|@opentelemetry\/api$|smol-toml$)/.test(name), `unexpected dependency ${name}`);
  }
  const { stdout } = await run("npm", ["ls", "--all", "--omit=dev", "--parseable"], { cwd: app, maxBuffer: 16 * 1024 * 1024 });
  const installed = stdout.split("\n").filter(Boolean).slice(1);
  assert.ok(installed.length > 0 && installed.length <= 30, `${installed.length} packages installed`);
  assert.equal(
    installed.filter((p) => FORBIDDEN.test(p)),
    [],
  );
});

t("a worker installed from the package alone runs a remote stage: presigned upload, report, run completed", async () => {
  worker = await startWorkerProcess(
    "w-package",
    [
      "--queue",
      "default",
      "--code-version",
      "v1",
      "--module",
      "./activities.mjs",
      "--servers",
      nats!.url,
      "--user",
      "worker-default",
      "--password",
      PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD,
      "--heartbeat-ms",
      "500",
      "--poll-ms",
      "500",
    ],
    { ...process.env, JETFLOW_TEST_MARKERS: join(dir, "markers") },
    {
      command: [process.execPath, join(app, "node_modules", "@jetflow", "worker", "bin", "jetflow-worker.js")],
      cwd: app,
      timeoutMs: 60_000,
    },
  );
  const { workflowRunId } = await client.createRun({ workflowId: "shout", input: { text: "  hello " }, idempotencyKey: "package-hello" });
  const result = await watchRun(nc!, client, workflowRunId, { prefix: "jetflow", timeoutMs: 60_000 });
  assert.is(result.status, "COMPLETED", `${result.error ?? ""}\n${worker.log().slice(-2000)}\n${orchestrator!.log().slice(-2000)}`);
  const out = result.output as { text: string; reportKey: string; workerPid: number };
  assert.is(out.text, "HELLO!");
  assert.is(out.workerPid, worker.pid, "the installed worker process ran the stage");
  assert.ok(out.reportKey.startsWith(`runs/${workflowRunId}/shout/1/`), out.reportKey);
  const obj = await s3!.send(new GetObjectCommand({ Bucket: svc!.s3.bucket, Key: out.reportKey }));
  assert.is(await obj.Body!.transformToString(), "HELLO!");
});

t("NonRetryableStageError from the package's defineStage fails the run at attempt 1", async () => {
  assert.ok(worker, "the previous test started the worker");
  const { workflowRunId } = await client.createRun({ workflowId: "shout", input: { text: "   " }, idempotencyKey: "package-empty" });
  const result = await watchRun(nc!, client, workflowRunId, { prefix: "jetflow", timeoutMs: 60_000 });
  assert.is(result.status, "FAILED");
  assert.match(result.error ?? "", /nothing to shout/);
  const executions = readFileSync(join(dir, "markers"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { text: string; attempt: number });
  assert.equal(
    executions.filter((e) => e.text === ""),
    [{ text: "", attempt: 1 }],
    "ran once, not retried",
  );
});

test.run();
