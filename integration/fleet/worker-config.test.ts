// `jetflow worker --config worker.toml` as a user runs it (real CLI process, real nats-server): the
// file's server, module (relative to the file), labels, work dir and health port take effect, a
// flag overrides the file's concurrency, and the worker runs a task.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, services } from "../harness/index.js";
import { listWorkers } from "../../adapters/jetstream/fleet/index.js";
import { spec } from "../../test/remote/helpers/fixture.js";
import { until } from "../remote/helpers.js";
import { startWorkerProcess, type WorkerProcess } from "../remote/worker-process.js";
import { QUEUE, VERSION, startFleet, type Fleet } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const dir = mkdtempSync(join(tmpdir(), "jetflow-worker-config-"));
let fleet: Fleet | null = null;
let worker: WorkerProcess | null = null;

test.after(async () => {
  await worker?.stop();
  await fleet?.close();
  await svc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

t("a worker configured by worker.toml joins with the file's settings, a flag wins, and it runs a task", async () => {
  fleet = await startFleet({ url: svc!.nats.url });
  const healthPort = await freePort();
  const module = relative(dir, fileURLToPath(new URL("./fixtures/ws-good.ts", import.meta.url)));
  const config = join(dir, "worker.toml");
  writeFileSync(
    config,
    [
      `queue = "${QUEUE}"`,
      `code_version = "${VERSION}"`,
      `module = "./${module}"`,
      `max_concurrent_tasks = 2`,
      `work_dir = "scratch"`,
      `health_port = ${healthPort}`,
      `prefix = "${fleet.topology.prefix}"`,
      `stream_prefix = "${fleet.topology.streamPrefix}"`,
      `fleet_heartbeat_ms = 200`,
      `[nats]`,
      `servers = ["${svc!.nats.url}"]`,
      `[labels]`,
      `gpu = "a100"`,
      "",
    ].join("\n"),
  );
  const env = { ...process.env };
  for (const k of ["JETFLOW_NATS_URL", "NATS_URL", "JETFLOW_PREFIX", "JETFLOW_STREAM_PREFIX", "JETFLOW_NATS_CREDS"]) delete env[k];
  worker = await startWorkerProcess("cfg-worker", ["--config", config, "--concurrency", "3"], env);

  let entry = null as Awaited<ReturnType<typeof listWorkers>>[number] | null;
  await until(
    async () => (entry = (await listWorkers(fleet!.orch.nc, { prefix: fleet!.topology.prefix }))[0] ?? null)?.status === "running",
    20_000,
    "the worker in the registry",
  );
  assert.equal(
    [entry!.id, entry!.labels, entry!.maxConcurrentTasks],
    ["cfg-worker", { gpu: "a100" }, 3],
    "labels from the file, --concurrency wins",
  );
  assert.ok(existsSync(join(dir, "scratch")), "the work dir (relative to the file) was created");

  const taskId = await fleet.orch.broker.submit(spec({ workflowRunId: "run-cfg", queue: QUEUE, codeVersion: VERSION, input: { n: 41 } }));
  const outcome = await fleet.orch.broker.waitForOutcome(taskId, { timeoutMs: 20_000 });
  assert.equal([outcome?.output, outcome?.workerId], [{ r: 42 }, "cfg-worker"]);

  const health = (await (await fetch(`http://127.0.0.1:${healthPort}/healthz`, { signal: AbortSignal.timeout(5_000) })).json()) as {
    capacity: number;
  };
  assert.is(health.capacity, 3, "the health port from the file serves /healthz");
  assert.is(await worker.stop(), 0);
});

test.run();
