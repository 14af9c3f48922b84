// test-file-timeout-ms: 600000
// A user's own TypeScript workflow module, importing "jetflow" as the docs show, loads in every
// way the CLI runs: from a clone's sources (no or stale dist/), and from the package installed
// with npm into a project outside the repository (its built CLI, which must still accept `.ts`).
// The installed case runs a remote stage on a worker started from the same installed package.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { services, type Services, orchestratorS3Config } from "../harness/index.js";
import { packedTarball } from "../harness/npm-pack.js";
import { createJetflowClient } from "../../adapters/jetstream/api/client.js";
import { watchRun } from "../../adapters/jetstream/api/watch-run.js";
import { startOrchestratorProcess, writeDeployment, type OrchestratorProcess, type TestDeployment } from "../orchestrator/support.js";
import { startWorkerProcess, type WorkerProcess } from "../remote/worker-process.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "..", "..");

/** What a user writes from docs/getting-started.md: TypeScript, importing the package by name. */
const WORKFLOWS_TS = `
import { z } from "zod";
import { defineStage, WorkflowBuilder } from "jetflow";
import type { WorkflowModuleContext } from "jetflow/orchestrator";
import { appendFileSync } from "node:fs";

// For the test: which copy of the library "jetflow" meant in this process.
appendFileSync(process.env.JETFLOW_TEST_MARKERS!, import.meta.resolve("jetflow") + "\\n");

const Name = z.object({ name: z.string() });
const Greeting = z.object({ greeting: z.string(), workerPid: z.number() });

const normalise = defineStage({
  id: "normalise",
  name: "Normalise",
  schemas: { input: Name, output: Name, config: z.object({}) },
  async execute(ctx) {
    const name: string = ctx.input.name.trim();
    return { output: { name } };
  },
});

/** The orchestrator's view of the remote stage: same id and schemas as the worker's. */
const greet = defineStage({
  id: "greet",
  name: "Greet",
  schemas: { input: Name, output: Greeting, config: z.object({}) },
  async execute(ctx) {
    return { output: { greeting: "hello " + ctx.input.name + " (locally)", workerPid: process.pid } };
  },
});

export function createWorkflows({ remote }: WorkflowModuleContext) {
  const local = new WorkflowBuilder("hello-local", "Hello", "both stages in the orchestrator", Name, Greeting)
    .pipe(normalise)
    .pipe(greet)
    .build();
  const remoteWf = new WorkflowBuilder("hello-remote", "Hello", "greet on a worker", Name, Greeting)
    .pipe(normalise)
    .pipe(remote.stage(greet, { queue: "default", stageCodeVersion: "v1", maxWaitMs: 120_000 }))
    .build();
  return [local, remoteWf];
}
`;

/** The worker's activity module, importing the worker API from the installed package. */
const ACTIVITIES_MJS = `
import { z } from "zod";
import { defineStage } from "jetflow/worker";
export const stages = [
  defineStage({
    id: "greet",
    name: "Greet",
    schemas: { input: z.object({ name: z.string() }), output: z.object({ greeting: z.string(), workerPid: z.number() }), config: z.object({}) },
    async execute(ctx) {
      return { output: { greeting: "hello " + ctx.input.name, workerPid: process.pid } };
    },
  }),
];
`;

const svc: Services<"nats" | "postgres" | "s3"> | null = await services(["nats", "postgres", "s3"]);
const t = svc ? test : test.skip;
const cleanups: (() => Promise<void> | void)[] = [];
let nc: NatsConnection | undefined;

test.after(async () => {
  for (const c of cleanups.reverse()) await c();
  await nc?.close();
  await svc?.stop();
});

/** An orchestrator config for `workflows`, in a fresh temp dir. */
function deploymentFor(workflows: string, schema: string): TestDeployment {
  return writeDeployment("jetflow-user-wf-", {
    workflows,
    database: { url: svc!.postgres.url, schema, migrate: true },
    nats: { servers: svc!.nats.url },
    host: { orchestrationIntervalMs: 200, jobPollIntervalMs: 200 },
    s3: orchestratorS3Config(svc!.s3),
    remote: { leaseMs: 5_000, queues: [{ queue: "default", codeVersion: "v1", maxDeliver: 3 }], reapIntervalMs: 500, reportPollMs: 200 },
    logLevel: "info",
  });
}

async function runToEnd(workflowId: string, name: string, orchestrator: OrchestratorProcess) {
  nc ??= await connect({ servers: svc!.nats.url });
  const client = createJetflowClient(nc, { timeoutMs: 10_000 });
  const { workflowRunId } = await client.createRun({ workflowId, input: { name: `  ${name} ` }, idempotencyKey: `${workflowId}-${name}` });
  const result = await watchRun(nc, client, workflowRunId, { prefix: "jetflow", timeoutMs: 120_000 });
  assert.is(result.status, "COMPLETED", `${result.error ?? ""}\n${orchestrator.log().slice(-3000)}`);
  return result.output as { greeting: string; workerPid: number };
}

t("from a clone's sources: the CLI loads a .ts workflow importing 'jetflow', with or without dist/", async () => {
  // Inside the repository (where "zod" resolves), in the git-ignored .tmp/.
  const dir = join(root, ".tmp", `user-workflow-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "my-workflows.ts"), WORKFLOWS_TS);
  const d = deploymentFor(join(dir, "my-workflows.ts"), "user_wf_source");
  cleanups.push(() => rmSync(d.dir, { recursive: true, force: true }));
  const orchestrator = await startOrchestratorProcess(d, 60_000);
  cleanups.push(() => orchestrator.kill9());
  const out = await runToEnd("hello-local", "ada", orchestrator);
  assert.is(out.greeting, "hello ada (locally)");
  assert.is(out.workerPid, orchestrator.pid);
  // The sources the CLI runs, not a dist/ that may be missing or stale.
  assert.equal(readFileSync(d.markers, "utf8").trim().split("\n"), [`file://${root}/src/index.ts`]);
  assert.is(await orchestrator.stop(), 0);
});

t("installed from `npm pack`: the package's own CLI runs the user's .ts workflow with a remote stage on its worker", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jetflow-user-project-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  // prepack builds dist/, so the tarball holds the compiled library and CLI. The same sources
  // make the same tarball: an earlier run's is reused (harness/npm-pack.ts keys it by content).
  const { path: tarball, reused } = await packedTarball({ packageDir: root, destDir: dir });
  console.log(`npm pack: ${reused ? "reused the tarball of unchanged sources" : "packed afresh"}`);
  const app = join(dir, "my-app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "my-app", version: "1.0.0", private: true, type: "module" }));
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball], {
    cwd: app,
    maxBuffer: 64 * 1024 * 1024,
  });
  writeFileSync(join(app, "my-workflows.ts"), WORKFLOWS_TS);
  writeFileSync(join(app, "activities.mjs"), ACTIVITIES_MJS);
  const bin = join(app, "node_modules", "jetflow", "bin", "jetflow.js");

  const d = deploymentFor(join(app, "my-workflows.ts"), "user_wf_installed");
  // The installed package's CLI, built: no JETFLOW_CLI_FROM_SOURCE.
  const env = { ...d.env };
  delete env.JETFLOW_CLI_FROM_SOURCE;
  const orchestrator = await startOrchestratorProcess({ ...d, env }, 60_000, { bin, cwd: app });
  cleanups.push(() => orchestrator.kill9());
  const worker: WorkerProcess = await startWorkerProcess(
    "w-user-project",
    ["--queue", "default", "--code-version", "v1", "--module", "./activities.mjs", "--servers", svc!.nats.url, "--poll-ms", "500"],
    env,
    { command: [process.execPath, bin, "worker"], cwd: app, timeoutMs: 60_000, fromSource: false },
  );
  cleanups.push(() => worker.kill9());
  const out = await runToEnd("hello-remote", "grace", orchestrator);
  assert.is(out.greeting, "hello grace");
  assert.is(out.workerPid, worker.pid, "the installed package's worker ran the remote stage");
  assert.equal(readFileSync(d.markers, "utf8").trim().split("\n"), [`file://${app}/node_modules/jetflow/dist/src/index.js`]);
  assert.is(await worker.stop(), 0);
  assert.is(await orchestrator.stop(), 0);
});

test.run();
