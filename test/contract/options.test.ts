/**
 * One way to take options: every component parses its options strictly once, from one defaults
 * literal, and refuses a misspelt option with a ValidationError naming it (`leaseMS` must not
 * silently become "the default lease"). Each case below would have been accepted before.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ValidationError } from "../../src/contract/errors.js";
import { parseOptions, positiveInt } from "../../src/contract/options.js";
import { z } from "zod";
import { createKernel } from "../../src/kernel/create-kernel.js";
import { KERNEL_DEFAULTS } from "../../src/kernel/deps.js";
import { createNodeHost } from "../../src/hosts/node-host.js";
import { createBroker } from "../../src/remote/broker.js";
import { createRemoteExecutor } from "../../src/remote/remote-executor.js";
import { InMemoryActivityTaskStore, InMemoryJobQueue } from "../../src/testing/index.js";
import { createJetflowClient } from "../../adapters/jetstream/api/client.js";
import { createJetStreamEventSink } from "../../adapters/jetstream/event-sink.js";
import { createJetStreamJobTransport } from "../../adapters/jetstream/job-transport.js";
import { startApiService } from "../../adapters/jetstream/api/service.js";
import { startReportConsumer } from "../../adapters/jetstream/remote/report-consumer.js";
import { startBrokerResponders } from "../../adapters/jetstream/remote/responders.js";
import { createJetStreamTaskDispatcher } from "../../adapters/jetstream/remote/dispatcher.js";
import { createTaskWaitExplainer } from "../../adapters/jetstream/remote/task-waits.js";
import { createPostgresJobTransport } from "../../adapters/postgres/job-transport.js";
import { createPostgresPersistence } from "../../adapters/postgres/persistence.js";
import { createPostgresActivityTaskStore } from "../../adapters/postgres/activity-task-store.js";
import { migrate } from "../../adapters/postgres/migrate.js";
import { createS3BlobStore } from "../../adapters/s3/blob-store.js";
import { loadOrchestratorConfig } from "../../orchestrator/config.js";
import { startTelemetry } from "../../otel/start.js";
import { resolveWorkerOptions } from "../../worker-sdk/worker-options.js";
import { WorkerConfigError } from "../../worker-sdk/errors.js";
import { startPlacement } from "../../worker-sdk/placement.js";
import { silentWorkerLogger } from "../../worker-sdk/logger.js";
import { createTopology } from "../../src/contract/topology.js";
import { makeEnv } from "../kernel/support/harness.js";
import { anthropicBatchProvider, openAIBatchProvider } from "../../src/ai/index.js";

/** Asserts `fn` throws (or rejects with) a ValidationError (the worker's WorkerConfigError on its side) whose issues name `key`. */
async function refuses(what: string, key: string, fn: () => unknown): Promise<void> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(
    caught instanceof ValidationError || caught instanceof WorkerConfigError,
    `${what}: expected a ValidationError for "${key}", got ${String(caught)}`,
  );
  const e = caught as ValidationError | WorkerConfigError;
  assert.ok(
    e.issues.some((i) => i.path === key || i.message.includes(`"${key}"`)),
    `${what}: the error names "${key}": ${e.message}`,
  );
}

const nc = {} as never; // never reached: options are parsed before the connection is used
const broker = {} as never;
const topology = createTopology();
const env = makeEnv([]);

test("parseOptions fills defaults, drops explicit undefined, and refuses unknown keys", () => {
  const schema = z.object({ leaseMs: positiveInt.default(30_000), name: z.string().optional() });
  assert.equal(parseOptions("thing", schema, { leaseMs: undefined }), { leaseMs: 30_000 });
  assert.equal(parseOptions("thing", schema, undefined), { leaseMs: 30_000 });
  assert.throws(
    () => parseOptions("thing", schema, { leaseMS: 5 }),
    (e: Error) => e instanceof ValidationError && /^invalid thing options: .*leaseMS/.test(e.message),
  );
  assert.throws(
    () => parseOptions("thing", schema, { leaseMs: -1 }),
    (e: Error) => e instanceof ValidationError && /leaseMs: /.test(e.message),
  );
  assert.throws(
    () => parseOptions("thing", schema, "fast"),
    (e: Error) => e instanceof ValidationError && /must be an object/.test(e.message),
  );
});

test("the kernel refuses a misspelt option and takes its defaults from KERNEL_DEFAULTS", async () => {
  await refuses("kernel", "defaultMaxAttempt", () => makeEnv([], { options: { defaultMaxAttempt: 1 } as never }));
  await refuses("kernel", "outboxMaxAttempts", () => makeEnv([], { options: { outboxMaxAttempts: 0 } }));
  assert.equal(KERNEL_DEFAULTS.defaultMaxAttempts, 3);
  assert.ok(typeof createKernel === "function");
});

test("hosts, broker and remote executor refuse misspelt options", async () => {
  const base = { kernel: env.kernel, jobTransport: new InMemoryJobQueue(), workerId: "w" };
  await refuses("node host", "orchestrationIntervalMS", () => createNodeHost({ ...base, orchestrationIntervalMS: 5 } as never));
  const ports = {
    store: new InMemoryActivityTaskStore(),
    presigner: { presignGet: async () => ({}) } as never,
    clock: { now: () => new Date() },
  };
  await refuses("broker", "leaseMS", () => createBroker({ ...ports, leaseMS: 10 } as never));
  await refuses("broker", "store", () => createBroker({ ...ports, store: {} as never }));
  const client = { waitForOutcome: async () => null } as never;
  await refuses("remote executor", "timeout", () =>
    createRemoteExecutor(client, { queue: "q", stageCodeVersion: "v", timeout: 5 } as never),
  );
});

test("every JetStream adapter refuses misspelt options before touching the connection", async () => {
  await refuses("job transport", "leaseMS", () =>
    createJetStreamJobTransport(nc, { leaseMs: 1000, maxDeliveries: 3, leaseMS: 5 } as never),
  );
  await refuses("job transport", "maxDeliveries", () => createJetStreamJobTransport(nc, { leaseMs: 1000, maxDeliveries: 0 }));
  await refuses("job transport", "ensure", () =>
    createJetStreamJobTransport(nc, { leaseMs: 1000, maxDeliveries: 3, ensure: { replica: 3 } as never }),
  );
  await refuses("event sink", "ackTimeout", () => createJetStreamEventSink(nc, { ackTimeout: 5 } as never));
  await refuses("task dispatcher", "ackTimeout", () => createJetStreamTaskDispatcher(nc, { topology, ackTimeout: 5 } as never));
  await refuses("broker responders", "queue", () => startBrokerResponders(nc, broker, { topology, queue: "a" } as never));
  await refuses("task wait explainer", "cacheMS", () =>
    createTaskWaitExplainer({ nc, topology, store: new InMemoryActivityTaskStore() }, { cacheMS: 5 } as never),
  );
  await refuses("report consumer", "concurency", () => startReportConsumer(nc, broker, { topology, queue: "a", concurency: 2 } as never));
  await refuses("API service", "prefx", () => startApiService(nc, { kernel: env.kernel, prefx: "x" } as never));
  await refuses("client", "timeout", () => createJetflowClient(nc, { timeout: 5 } as never));
  const host = { start: async () => {}, stop: async () => {}, status: () => null };
  await refuses("placement", "leaseMS", () =>
    startPlacement({ nc, prefix: "p", serviceId: "s", host, logger: silentWorkerLogger, leaseMS: 5 } as never),
  );
});

test("every Postgres adapter refuses misspelt options before connecting", async () => {
  const url = "postgres://nobody@127.0.0.1:1/none"; // never connected: parsing comes first
  await refuses("persistence", "schemaName", () => createPostgresPersistence(url, { schemaName: "x" } as never));
  await refuses("persistence", "schema", () => createPostgresPersistence(url, { schema: "drop table;" }));
  await refuses("job transport", "leaseMS", () => createPostgresJobTransport(url, { leaseMS: 5 } as never));
  await refuses("activity task store", "schemaName", () => createPostgresActivityTaskStore({} as never, { schemaName: "x" } as never));
  await refuses("migrate", "directory", () => migrate({} as never, { directory: "x" } as never));
});

test("S3, telemetry, worker and orchestrator config refuse misspelt options", async () => {
  await refuses("s3", "bucketName", () => createS3BlobStore({ bucket: "b", bucketName: "b" } as never));
  await refuses("telemetry", "serviceNam", () => startTelemetry({ serviceName: "s", serviceNam: "s" } as never));
  const registry = { s: { id: "s", execute: async () => ({}) } } as never;
  await refuses("worker", "heartbeatMS", () => resolveWorkerOptions({ transport: {} as never, registry, heartbeatMS: 5 } as never));
  const cfgEnv = {
    JETFLOW_DATABASE_URL: "postgres://x@127.0.0.1/db",
    JETFLOW_NATS_URL: "nats://127.0.0.1:4222",
    JETFLOW_WORKFLOWS: "./w.js",
  };
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "jetflow-options-"));
  writeFileSync(join(dir, "top.json"), JSON.stringify({ workflow: "./w.js" }));
  writeFileSync(join(dir, "nested.json"), JSON.stringify({ jobs: { leaseMS: 1000 } }));
  await refuses("orchestrator config", "workflow", () => loadOrchestratorConfig(join(dir, "top.json"), cfgEnv));
  await refuses("orchestrator config", "jobs", () => loadOrchestratorConfig(join(dir, "nested.json"), cfgEnv));
});

test("the AI batch clients refuse misspelt options", async () => {
  await refuses("openAIBatchProvider", "timeoutMS", () => openAIBatchProvider({ apiKey: "k", timeoutMS: 5 } as never));
  await refuses("anthropicBatchProvider", "baseUrl", () => anthropicBatchProvider({ apiKey: "k", baseUrl: "http://x" } as never));
});

test.run();
