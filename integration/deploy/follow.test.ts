// A worker service project started with `fromStore: true, follow: true` follows its queue's current
// version without a process restart: deploy v2 → the service starts v2's worker and drains v1's (a
// v1 task in flight finishes on v1, a new task runs on v2); rollback → back to v1.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { startOrchestrator, until, type Orchestrator } from "../remote/helpers.js";
import { spec } from "../../test/remote/helpers/fixture.js";
import { startWorkerService, type WorkerService } from "../../worker-sdk/worker-service.js";
import { workerServiceSubject, type WsOp } from "../../src/contract/worker-service.js";
import { ensureTaskConsumer } from "../../adapters/jetstream/remote/index.js";
import { openDeployStore, rollbackTo } from "../../adapters/jetstream/deploy/bundle-store.js";
import { deployInProcess, signingKey } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const topology = freshTopology();
const QUEUE = "followq";
const cleanups: (() => Promise<unknown>)[] = [];
let orch: Orchestrator;
let nc: NatsConnection;
let ws: WorkerService;

test.after(async () => {
  await ws?.stop();
  await nc?.close();
  await orch?.close();
  while (cleanups.length > 0) await cleanups.pop()!();
  await svc?.stop();
});

async function call(op: WsOp, body: unknown): Promise<{ status: number; body: any }> {
  const m = await nc.request(workerServiceSubject(topology.prefix, "svc-follow", op), JSON.stringify(body), { timeout: 15_000 });
  const code = m.headers?.get("Nats-Service-Error-Code");
  return { status: code ? Number(code) : 200, body: JSON.parse(m.string()) };
}

const status = async () => (await call("status", { project: "p" })).body as { codeVersion: string; generation: number };

t("follow: deploy v2 switches the running project to v2 while a v1 task finishes on v1; rollback switches back", async () => {
  const url = svc!.nats.url;
  const key = await signingKey();
  cleanups.push(() => key.close());
  orch = await startOrchestrator({ url, topology, queue: QUEUE, codeVersion: "v1", leaseMs: 5_000 });
  await ensureTaskConsumer(await jetstreamManager(orch.nc), { topology, queue: QUEUE, codeVersion: "v2", leaseMs: 5_000, maxDeliver: 5 });
  nc = await connect({ servers: url });
  ws = await startWorkerService({
    nc,
    serviceId: "svc-follow",
    topology,
    pollWaitMs: 300,
    heartbeatIntervalMs: 500,
    isolation: "inline",
    fleet: false,
    followIntervalMs: 100,
    bundles: { trustedKeys: [key.publicKey], bundleDir: join(key.dir, "bundles") },
  });
  const target = { prefix: topology.prefix, seedFile: key.seedFile };
  await deployInProcess(orch.nc, target, "activities-v1.ts", QUEUE, "v1");

  const refused = await call("start", { project: "p", queue: QUEUE, module: "./x.mjs", follow: true });
  assert.is(refused.status, 400);
  assert.match(refused.body.error.message, /follow needs fromStore: true and no codeVersion/);

  const started = await call("start", { project: "p", queue: QUEUE, fromStore: true, follow: true });
  assert.is(started.status, 200, JSON.stringify(started.body));
  assert.is(started.body.codeVersion, "v1");
  const run = async (id: string, codeVersion: string, input: Record<string, unknown>) => {
    const taskId = await orch.broker.submit(spec({ workflowRunId: id, queue: QUEUE, codeVersion, input }));
    return () => orch.broker.waitForOutcome(taskId, { timeoutMs: 30_000 });
  };
  assert.equal((await (await run("run-1", "v1", { n: 4 }))())?.output, { r: 8, ranOn: "v1" });

  // A v1 task held in flight across the deploy of v2.
  const gateFile = join(key.dir, "gate");
  const held = await run("run-held", "v1", { n: 1, gate: gateFile });
  await until(async () => ws.list()[0]!.inFlight === 1, 15_000, "the v1 task in flight");

  await deployInProcess(orch.nc, target, "activities-v2.ts", QUEUE, "v2");
  await until(async () => (await status()).codeVersion === "v2", 20_000, "the project to follow v2");
  assert.equal((await (await run("run-2", "v2", { n: 5 }))())?.output, { r: 15, ranOn: "v2" }, "a new task runs on v2");
  writeFileSync(gateFile, "");
  assert.equal((await held())?.output, { r: 2, ranOn: "v1" }, "the in-flight v1 task finished on v1");

  const store = await openDeployStore(orch.nc, { prefix: topology.prefix, storage: "memory" });
  const before = (await status()).generation;
  await rollbackTo(store, QUEUE, "v1");
  await until(async () => (await status()).codeVersion === "v1", 20_000, "the project to follow the rollback to v1");
  assert.ok((await status()).generation > before, "a new worker generation, same process");
  assert.equal((await (await run("run-3", "v1", { n: 6 }))())?.output, { r: 12, ranOn: "v1" });
  assert.equal(
    ws.list().map((p) => p.project),
    ["p"],
  );
});

test.run();
