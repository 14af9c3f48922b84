// Fleet metrics on a real nats-server, read back through an in-memory OpenTelemetry reader: the
// orchestrator's jetflow.fleet.* gauges follow the registry (workers by status, in-flight,
// capacity), each worker's jetflow.worker.tasks.inflight follows its running tasks, and the worker
// service counts restarts (crash, request) and records code load time, which the registry and
// `jetflow workers list` show.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { installTestMetrics } from "../otel/metric-reader.js";
import { gate, spec, stage } from "../../test/remote/helpers/fixture.js";
import { until } from "../remote/helpers.js";
import { QUEUE, VERSION, startFleet, type Fleet } from "./helpers.js";
import { listWorkers, observeFleetMetrics } from "../../adapters/jetstream/fleet/index.js";
import { startWorkerService, type WorkerService } from "../../worker-sdk/worker-service.js";
import { workerServiceSubject, type WsOp } from "../../src/contract/worker-service.js";
import { workersTable } from "../../cli/commands/workers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const m = installTestMetrics();
const fixtureUrl = new URL("../../test/remote/helpers/fixture.ts", import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), "jetflow-fleet-metrics-"));
let fleet: Fleet | null = null;
let nc: NatsConnection | null = null;
let ws: WorkerService | null = null;
let stopGauges = () => {};
const release = gate();

test.after(async () => {
  release.open();
  stopGauges();
  await ws?.stop();
  await nc?.close();
  await fleet?.close();
  await svc?.stop();
  await m.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

const q = { "jetflow.queue": QUEUE };
const running = { ...q, "jetflow.code_version": VERSION, "jetflow.worker.status": "running" };
const stopped = { ...q, "jetflow.code_version": VERSION, "jetflow.worker.status": "stopped" };

t("fleet gauges follow the registry; the worker's in-flight counter follows its tasks", async () => {
  fleet = await startFleet({ url: svc!.nats.url });
  const errors: unknown[] = [];
  stopGauges = observeFleetMetrics(fleet.orch.nc, { prefix: fleet.topology.prefix, onError: (e) => errors.push(e) });
  const entered = gate();
  const held = stage("heavy", async (ctx) => {
    entered.open();
    await release.promise;
    return { output: { r: ctx.input.n } };
  });
  await fleet.worker("alpha", { stages: { heavy: held }, max: 2 });
  const taskId = await fleet.orch.broker.submit(spec({ workflowRunId: "run-metrics", queue: QUEUE, codeVersion: VERSION }));
  await entered.promise;
  // beta joins once alpha holds the task: a drain waits for the drained worker's tasks, so beta must
  // hold none (with both live at submit, beta took it about one run in three and its drain never ended).
  const beta = await fleet.worker("beta", { stages: { heavy: held }, max: 1 });

  await until(
    async () => (await m.value("jetflow.fleet.inflight", q)) === 1 && (await m.value("jetflow.fleet.workers", running)) === 2,
    20_000,
    "inflight 1 and two running workers in the gauges",
  );
  assert.is(await m.value("jetflow.fleet.capacity", q), 3, "2 + 1 slots of the running workers");
  assert.is(await m.value("jetflow.worker.tasks.inflight", q), 1, "the in-process worker counts its running task");

  // A drained worker leaves the capacity but stays listed as stopped until its entry expires.
  await beta.w.stop({ drain: true });
  await until(
    async () => (await m.value("jetflow.fleet.workers", stopped)) === 1 && (await m.value("jetflow.fleet.workers", running)) === 1,
    20_000,
    "beta stopped in the gauges",
  );
  assert.is(await m.value("jetflow.fleet.capacity", q), 2);
  // alpha's task is still in flight.
  assert.is(
    await m.value("jetflow.fleet.inflight", q),
    (await listWorkers(fleet.orch.nc, { prefix: fleet.topology.prefix })).reduce((n, w) => n + w.inFlight, 0),
  );

  release.open();
  assert.is((await fleet.orch.broker.waitForOutcome(taskId, { timeoutMs: 15_000 }))?.status, "completed");
  await until(async () => (await m.value("jetflow.fleet.inflight", q)) === 0, 20_000, "inflight back to 0");
  assert.is(await m.value("jetflow.worker.tasks.inflight", q), 0);
  assert.equal(errors, []);
});

/** A module whose first import throws (its config is not there yet) and whose later imports work. */
function writeFlakyModule(): string {
  const file = join(dir, "flaky.mjs");
  writeFileSync(
    file,
    `import { stage } from ${JSON.stringify(fixtureUrl)};
globalThis.__flakyLoads = (globalThis.__flakyLoads ?? 0) + 1;
if (globalThis.__flakyLoads === 1) throw new Error("first load fails: config not there yet");
export const version = "v1";
export const stages = [stage("heavy", async (ctx) => ({ output: { r: ctx.input.n + 1 } }))];
`,
  );
  return file;
}

async function call(op: WsOp, body: unknown): Promise<{ status: number; body: any }> {
  const r = await nc!.request(workerServiceSubject(fleet!.topology.prefix, "msvc", op), JSON.stringify(body), { timeout: 20_000 });
  const code = r.headers?.get("Nats-Service-Error-Code");
  return { status: code ? Number(code) : 200, body: JSON.parse(r.string()) };
}

t("the worker service counts a crash restart and a requested one, records the code load, and the registry shows both", async () => {
  nc = await connect({ servers: svc!.nats.url });
  const project = { "jetflow.project": "flaky" };
  ws = await startWorkerService({
    nc,
    serviceId: "msvc",
    topology: fleet!.topology,
    pollWaitMs: 300,
    isolation: "inline",
    fleet: { heartbeatIntervalMs: 200 },
    restart: { baseMs: 50, maxMs: 200, maxCrashes: 5, windowMs: 60_000 },
  });
  const started = await call("start", { project: "flaky", queue: QUEUE, module: writeFlakyModule(), watch: false });
  assert.is(started.status, 200, JSON.stringify(started.body));

  await until(async () => ws!.list()[0]?.status === "running", 20_000, "the project running after its crash restart");
  assert.is(await m.value("jetflow.worker.restarts", { ...project, "jetflow.restart.reason": "crash" }), 1);
  const load = await m.histogram("jetflow.worker.code_load.duration", { ...q, "jetflow.code.source": "path" });
  assert.ok(load && load.count >= 1 && load.sum! > 0, `a code load recorded in seconds: ${JSON.stringify(load)}`);

  // The registry entry of the running generation carries the restart count and its load time.
  const prefix = fleet!.topology.prefix;
  let entry: Awaited<ReturnType<typeof listWorkers>>[number] | undefined;
  await until(
    async () =>
      (entry = (await listWorkers(nc!, { prefix })).find((w) => w.id.startsWith("msvc-flaky") && w.status === "running")) !== undefined,
    20_000,
    "the project's worker in the registry",
  );
  assert.is(entry!.restarts, 1);
  assert.ok(entry!.codeLoadMs !== undefined && entry!.codeLoadMs >= 0 && entry!.codeLoadMs < 60_000, `codeLoadMs ${entry!.codeLoadMs}`);
  assert.match(
    workersTable([entry!]),
    new RegExp(`${entry!.id}\\s+${QUEUE}\\s+-\\s+v1\\s+0/1\\s+running\\s+1\\s+\\d+(ms|\\.\\ds)\\s+\\d+s ago\\s+-`),
  );

  const restarted = await call("restart", { project: "flaky" });
  assert.is(restarted.status, 200, JSON.stringify(restarted.body));
  assert.is(await m.value("jetflow.worker.restarts", { ...project, "jetflow.restart.reason": "request" }), 1);
  assert.is(await m.value("jetflow.worker.restarts", { ...project, "jetflow.restart.reason": "crash" }), 1, "unchanged");
  const after = await m.histogram("jetflow.worker.code_load.duration", { ...q, "jetflow.code.source": "path" });
  assert.ok(after!.count > load!.count, "the restart loaded the code again");
});

test.run();
