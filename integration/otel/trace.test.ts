// One trace from submitter to workers and back, exported over real OTLP/HTTP (JSON) to a receiver
// in this test. Four processes, each with its own SDK: `jetflow runs create` (service
// `jetflow-cli`), this process as the orchestrator (API service, kernel, node host on the
// JetStream job transport, broker with its NATS dispatcher/responders/report consumer; service
// `jetflow-orchestrator`) and two activity workers (service `jetflow-worker`). Then a scripted
// workload and the metrics it must produce, and a run that outlives an orchestrator restart.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { randomUUID } from "node:crypto";
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SpanKind, trace } from "@opentelemetry/api";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { z } from "zod";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { OtlpReceiver, type ReceivedSpan } from "./otlp-receiver.js";
import { QUEUE, VERSION, heavy } from "./fixtures/activity.js";
import { startTelemetry, type Telemetry } from "../../otel/index.js";
import {
  WorkflowBuilder,
  createBroker,
  createKernel,
  createNodeHost,
  defineRemoteStage,
  defineStage,
  type NodeHost,
} from "../../src/index.js";
import type { Topology } from "../../src/contract/topology.js";
import { systemClock } from "../../src/ports/clock.js";
import { InMemoryActivityTaskStore, InMemoryBlobStore, InMemoryPersistence, NoopScheduler } from "../../src/testing/index.js";
import { LocalObjectServer } from "../../test/remote/helpers/fixture.js";
import { createJetStreamJobTransport, type JetStreamJobTransport } from "../../adapters/jetstream/job-transport.js";
import { createJetStreamEventSink } from "../../adapters/jetstream/event-sink.js";
import { startApiService, type ApiService } from "../../adapters/jetstream/api/service.js";
import { createJetflowClient, type JetflowClient } from "../../adapters/jetstream/api/client.js";
import {
  createJetStreamTaskDispatcher,
  ensureTaskConsumer,
  startBrokerResponders,
  startReportConsumer,
} from "../../adapters/jetstream/remote/index.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const WORKER_SCRIPT = fileURLToPath(new URL("./fixtures/worker-process.ts", import.meta.url));
const WORKER_IDS = ["w-otel-1", "w-otel-2"];
const CLI = fileURLToPath(new URL("../../bin/jetflow.js", import.meta.url));

const receiver = new OtlpReceiver();
let telemetry: Telemetry | null = null;
let nc: NatsConnection;
let client: JetflowClient;
let workers: ChildProcess[] = [];
let workerStderr = "";
let topology: Topology;
let stopOrchestrator: (() => Promise<void>) | null = null;
/** What survives an orchestrator restart (the database, in production). */
const persistence = new InMemoryPersistence();
const taskStore = new InMemoryActivityTaskStore();
const workerEnv = (id: string) => ({
  NATS_URL: svc!.nats.url,
  TOPOLOGY: JSON.stringify({ prefix: topology.prefix, streamPrefix: topology.streamPrefix }),
  WORKER_ID: id,
});
const startWorkers = async () => {
  workers = await Promise.all(WORKER_IDS.map((id) => spawnWorker(workerEnv(id))));
};

/**
 * One orchestrator: job transport, broker with NATS dispatcher/responders/report consumer,
 * kernel, node host and API service over the shared stores. Resolves with its stop function.
 */
async function startOrchestrator(): Promise<() => Promise<void>> {
  const stops: (() => Promise<void>)[] = [];
  const jobTransport: JetStreamJobTransport = await createJetStreamJobTransport(nc, {
    topology,
    leaseMs: 10_000,
    maxDeliveries: 5,
    ensure: { storage: "memory" },
  });
  stops.push(() => jobTransport.close());
  const broker = createBroker({
    store: taskStore,
    presigner: new LocalObjectServer(new InMemoryBlobStore()),
    clock: systemClock,
    leaseMs: 5_000,
  });
  broker.attachDispatcher(createJetStreamTaskDispatcher(nc, { topology }));
  await ensureTaskConsumer(await jetstreamManager(nc), { topology, queue: QUEUE, codeVersion: VERSION, leaseMs: 5_000, maxDeliver: 5 });
  const responders = await startBrokerResponders(nc, broker, { topology, queues: [QUEUE] });
  stops.push(() => responders.stop());
  const reports = await startReportConsumer(nc, broker, { topology, queue: QUEUE, pollMs: 200 });
  stops.push(() => reports.stop());

  const input = z.object({ n: z.number(), mode: z.enum(["ok", "flaky", "fail"]) });
  const remote = defineRemoteStage(heavy, broker, { queue: QUEUE, stageCodeVersion: VERSION, pollIntervalMs: 100, maxAttempts: 2 });
  const finish = defineStage({
    id: "finish",
    name: "Finish",
    dependencies: ["heavy"],
    schemas: { input: z.object({ r: z.number() }), output: z.object({ r: z.number() }), config: z.object({}).default({}) },
    async execute(ctx) {
      return { output: { r: ctx.input.r + 1 } };
    },
  });
  const workflows = [
    new WorkflowBuilder("otel-wf", "OTel", "one remote activity", input, z.object({ r: z.number() })).pipe(remote).build(),
    new WorkflowBuilder("otel-wf2", "OTel 2", "a remote activity, then a local stage", input, z.object({ r: z.number() }))
      .pipe(remote)
      .pipe(finish)
      .build(),
  ];
  const kernel = createKernel({
    persistence,
    blobStore: new InMemoryBlobStore(),
    jobTransport,
    eventSink: createJetStreamEventSink(nc, { topology }),
    scheduler: new NoopScheduler(),
    clock: systemClock,
    registry: { getWorkflow: (id) => workflows.find((w) => w.id === id) },
  });
  const host: NodeHost = createNodeHost({
    kernel,
    jobTransport,
    workerId: `orch-${randomUUID().slice(0, 6)}`,
    handleSignals: false,
    orchestrationIntervalMs: 100,
    jobPollIntervalMs: 200,
  });
  await host.start();
  stops.push(() => host.stop());
  const api: ApiService = await startApiService(nc, { kernel, jobTransport, prefix: topology.prefix });
  stops.push(() => api.stop());
  return async () => {
    while (stops.length > 0) await stops.pop()!();
  };
}

/** Polls `cond` until it holds; throws after `ms` (a bound, not a sleep). */
async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${workerStderr ? `; worker stderr:\n${workerStderr}` : ""}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function spawnWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", WORKER_SCRIPT], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr!.on("data", (b: Buffer) => (workerStderr = (workerStderr + b.toString()).slice(-20_000)));
  await new Promise<void>((resolve, reject) => {
    // A tsx start-up on a loaded 2-core machine has taken over 20 s: a generous outer bound.
    const timer = setTimeout(() => reject(new Error(`worker not ready in 60 s; stderr:\n${workerStderr}`)), 60_000);
    let out = "";
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("ready\n")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited before ready (code ${code}); stderr:\n${workerStderr}`));
    });
  });
  return child;
}

async function stopWorkers(): Promise<void> {
  const all = workers;
  workers = [];
  await Promise.all(all.map(stopWorker));
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

test.before(async () => {
  if (!svc) return;
  const endpoint = await receiver.start();
  // The standard variables are the only configuration: exactly what an operator would set.
  Object.assign(process.env, {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_METRIC_EXPORT_INTERVAL: "500",
    OTEL_METRIC_EXPORT_TIMEOUT: "500",
    OTEL_LOGS_EXPORTER: "none",
  });
  telemetry = startTelemetry({ serviceName: "jetflow-orchestrator" });

  topology = freshTopology();
  nc = await connect({ servers: svc.nats.url });
  client = createJetflowClient(nc, { prefix: topology.prefix, timeoutMs: 5_000 });
  stopOrchestrator = await startOrchestrator();
  await startWorkers();
});

test.after(async () => {
  await stopWorkers();
  await stopOrchestrator?.();
  if (nc && !nc.isClosed()) await nc.close();
  await telemetry?.shutdown();
  await receiver.close();
  await svc?.stop();
});

/** Submits a run the way the CLI would, inside the submitter's own span; returns the run id and trace id. */
async function submit(n: number, mode: "ok" | "flaky" | "fail", workflowId = "otel-wf"): Promise<{ runId: string; traceId: string }> {
  return trace.getTracer("otel-test").startActiveSpan("submit", { kind: SpanKind.PRODUCER }, async (span) => {
    try {
      const r = await client.createRun({ workflowId, input: { n, mode }, idempotencyKey: randomUUID() });
      return { runId: r.workflowRunId, traceId: span.spanContext().traceId };
    } finally {
      span.end();
    }
  });
}

async function finalStatus(runId: string): Promise<string> {
  let status = "";
  await until(
    async () => {
      status = (await client.getRun({ workflowRunId: runId })).run.status;
      return status === "COMPLETED" || status === "FAILED";
    },
    60_000,
    `run ${runId} to finish`,
  );
  return status;
}

/** `jetflow runs create` in its own process (its SDK flushes when the command ends); returns the run id. */
async function cliSubmit(input: unknown): Promise<string> {
  const child = spawn(
    process.execPath,
    [CLI, "runs", "create", "otel-wf", "--input", JSON.stringify(input), "--json", "--servers", svc!.nats.url, "--prefix", topology.prefix],
    {
      env: { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`jetflow runs create did not finish in 30 s; stderr:\n${err}`));
    }, 30_000);
    child.once("exit", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.is(code, 0, `jetflow runs create failed: ${err}`);
  return (JSON.parse(out) as { workflowRunId: string }).workflowRunId;
}

t("every span of a run, from four processes, shares one trace id with correct parent links", async () => {
  const runId = await cliSubmit({ n: 21, mode: "ok" });
  assert.is(await finalStatus(runId), "COMPLETED");
  // The CLI's request span is the root; the run span names the run.
  await until(() => receiver.spans.some((s) => s.name === "run" && s.attributes["jetflow.run.id"] === runId), 10_000, "the run span");
  const traceId = receiver.spans.find((s) => s.name === "run" && s.attributes["jetflow.run.id"] === runId)!.traceId;
  const inTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
  const one = (name: string): ReceivedSpan | undefined => inTrace().find((s) => s.name === name);
  const apiClientOf = () => inTrace().find((s) => s.name === "jetflow.api runs.create" && s.kind === SpanKind.CLIENT + 1);
  await until(
    () => ["activity.execute", "activity.report.apply", "stage heavy"].every((n) => one(n)) && apiClientOf() !== undefined,
    10_000,
    "the run's spans at the receiver",
  );
  assert.equal(receiver.errors, []);

  const spans = inTrace();
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const parentName = (s: ReceivedSpan | undefined) => (s ? byId.get(s.parentSpanId)?.name : undefined);
  const apiClient = apiClientOf();
  const apiServer = spans.find((s) => s.name === "jetflow.api runs.create" && s.kind === SpanKind.SERVER + 1);
  const run = one("run")!;
  const stage = one("stage heavy")!;
  const dispatch = one("activity.dispatch")!;
  const exec = one("activity.execute")!;
  const apply = one("activity.report.apply")!;
  for (const [s, what] of [
    [apiClient, "api client"],
    [apiServer, "api server"],
    [run, "run"],
    [dispatch, "dispatch"],
  ] as const)
    assert.ok(s, `${what} span in the trace`);

  // Parent chain: CLI request → API server → run → stage attempt → dispatch → worker execute → report apply.
  assert.is(apiClient!.parentSpanId, "", "the CLI's request span is the root");
  assert.is(apiClient!.service, "jetflow-cli");
  assert.is(apiServer!.parentSpanId, apiClient!.spanId, "request headers carried the client span");
  assert.is(run.parentSpanId, apiServer!.spanId);
  assert.is(parentName(stage), "run", "the stage attempt descends from the persisted run context");
  assert.is(dispatch.parentSpanId, stage.spanId);
  assert.is(exec.parentSpanId, dispatch.spanId, "the worker's span is a child of the dispatch span");
  assert.is(apply.parentSpanId, exec.spanId, "the report's headers carried the worker's span");

  // Three services, one trace.
  assert.is(exec.service, "jetflow-worker");
  for (const s of [apiServer!, run, stage, dispatch, apply]) assert.is(s.service, "jetflow-orchestrator", s.name);
  assert.is(exec.attributes["jetflow.activity.attempt"], 1);
  assert.is(exec.attributes["jetflow.queue"], QUEUE);
  assert.ok(WORKER_IDS.includes(String(exec.attributes["jetflow.worker.id"])), "one of the two workers ran it");
  assert.is(exec.attributes["jetflow.run.id"], runId);
  assert.is(run.attributes["jetflow.run.id"], runId);
  assert.is(exec.kind, SpanKind.CONSUMER + 1, "OTLP kinds are the API's + 1");
  assert.is(dispatch.kind, SpanKind.PRODUCER + 1);
});

t("a scripted workload exports run, task, redelivery and duration metrics with their names, units and values", async () => {
  // Plus the run of the previous test: 4 ok (one after a redelivery), 1 failed after a redelivery.
  const runs = await Promise.all([submit(1, "ok"), submit(2, "ok"), submit(3, "flaky"), submit(4, "fail")]);
  const statuses = await Promise.all(runs.map((r) => finalStatus(r.runId)));
  assert.equal(statuses, ["COMPLETED", "COMPLETED", "COMPLETED", "FAILED"]);

  const value = (name: string, match: Record<string, unknown>, service = "jetflow-orchestrator") =>
    receiver
      .metric(name)
      .filter((p) => p.service === service && Object.entries(match).every(([k, v]) => p.attributes[k] === v))
      .reduce((a, p) => a + p.value, 0);
  const expected: [string, Record<string, unknown>, number, string?][] = [
    ["jetflow.run.transitions", { "jetflow.run.status": "created", "jetflow.workflow.id": "otel-wf" }, 5],
    ["jetflow.run.transitions", { "jetflow.run.status": "completed" }, 4],
    ["jetflow.run.transitions", { "jetflow.run.status": "failed" }, 1],
    ["jetflow.activity.tasks", { "jetflow.task.outcome": "completed", "jetflow.queue": QUEUE }, 4],
    ["jetflow.activity.tasks", { "jetflow.task.outcome": "failed" }, 1],
    ["jetflow.activity.redeliveries", { "jetflow.queue": QUEUE }, 2],
    ["jetflow.activity.duration", { "jetflow.task.outcome": "completed" }, 4, "jetflow-worker"],
    ["jetflow.activity.duration", { "jetflow.task.outcome": "released" }, 2, "jetflow-worker"],
    ["jetflow.activity.duration", { "jetflow.task.outcome": "failed" }, 1, "jetflow-worker"],
  ];
  const seen = () => expected.map(([name, match, , service]) => value(name, match, service));
  await until(
    () => seen().every((v, i) => v >= expected[i]![2]),
    10_000,
    `metrics ${JSON.stringify(expected.map((e, i) => [e[0], e[1], e[2]]))}`,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}; last seen ${JSON.stringify(seen())}`);
  });
  assert.equal(
    seen(),
    expected.map((e) => e[2]),
    "exact counts once exported",
  );
  assert.equal([...new Set(receiver.metric("jetflow.activity.duration").map((p) => p.unit))], ["s"]);
  assert.equal([...new Set(receiver.metric("jetflow.activity.tasks").map((p) => p.unit))], ["{task}"]);
  const durations = receiver.metric("jetflow.activity.duration").filter((p) => p.service === "jetflow-worker");
  assert.ok(
    durations.every((p) => p.sum !== undefined && p.sum >= 0 && p.sum < 60),
    "durations are in seconds",
  );
  // Exports run every 500 ms: the latest one after the workload sees an empty queue.
  await until(
    () => receiver.metric("jetflow.jobs.queued").some((p) => p.value === 0),
    5_000,
    "the queue depth gauge at 0 once every job was consumed",
  );
  const depth = receiver.metric("jetflow.jobs.queued").find((p) => p.value === 0)!;
  assert.is(depth.unit, "{job}");
  assert.ok(String(depth.attributes["jetflow.host.id"]).startsWith("orch-"));
  const lag = receiver.metric("jetflow.outbox.lag").filter((p) => p.service === "jetflow-orchestrator");
  assert.ok(lag.length > 0 && lag.every((p) => p.unit === "s"), "outbox lag is exported in seconds");
  assert.ok(lag.reduce((n, p) => n + p.value, 0) >= 5, "one observation per published outbox row (at least the 5 created events)");
  const failedExec = receiver.spans.find((s) => s.name === "activity.execute" && s.attributes["jetflow.task.outcome"] === "failed");
  assert.is(failedExec?.statusCode, 2, "a failed activity's span has ERROR status");
});

t("a run suspended across an orchestrator restart still lands in one trace", async () => {
  await stopWorkers(); // the task will wait in the stream
  const { runId, traceId } = await submit(5, "ok", "otel-wf2");
  await until(
    async () => (await client.getRun({ workflowRunId: runId })).stages.some((s) => s.stageId === "heavy" && s.status === "SUSPENDED"),
    10_000,
    "the remote stage to suspend",
  );
  // Restart: a new kernel, host, broker and API that know the run only from the stores.
  await stopOrchestrator!();
  stopOrchestrator = null;
  stopOrchestrator = await startOrchestrator();
  await startWorkers();
  assert.is(await finalStatus(runId), "COMPLETED");

  const inTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
  const one = (name: string) => inTrace().find((s) => s.name === name);
  await until(
    () => ["run", "activity.dispatch", "activity.execute", "activity.report.apply", "stage finish"].every((n) => one(n)),
    10_000,
    "the resumed run's spans",
  );
  const run = one("run")!;
  const exec = one("activity.execute")!;
  assert.is(one("stage finish")!.parentSpanId, run.spanId, "the stage after the restart descends from the run span created before it");
  assert.is(exec.parentSpanId, one("activity.dispatch")!.spanId);
  assert.is(one("activity.report.apply")!.parentSpanId, exec.spanId);
  assert.is(exec.service, "jetflow-worker");
});

test.run();
