// The worker service starts a project from the bundle store (`fromStore: true`): it fetches the
// queue's current bundle, verifies it against the service's own trusted keys and runs it; a bundle
// of an untrusted signer is refused with a 400 naming the signer, and the service keeps serving.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { startOrchestrator, type Orchestrator } from "../remote/helpers.js";
import { spec } from "../../test/remote/helpers/fixture.js";
import { startWorkerService, type WorkerService } from "../../worker-sdk/worker-service.js";
import { workerServiceSubject, type WsOp } from "../../src/contract/worker-service.js";
import { deployInProcess, signingKey } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
const topology = freshTopology();
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
  const m = await nc.request(workerServiceSubject(topology.prefix, "svc-store", op), JSON.stringify(body), { timeout: 15_000 });
  const code = m.headers?.get("Nats-Service-Error-Code");
  return { status: code ? Number(code) : 200, body: JSON.parse(m.string()) };
}

t("start fromStore runs the queue's current bundle; an untrusted signer's bundle is refused with 400", async () => {
  const url = svc!.nats.url;
  const trusted = await signingKey();
  const stranger = await signingKey();
  cleanups.push(
    () => trusted.close(),
    () => stranger.close(),
  );
  orch = await startOrchestrator({ url, topology, queue: "svcq", codeVersion: "v1", leaseMs: 5_000 });
  nc = await connect({ servers: url });
  ws = await startWorkerService({
    nc,
    serviceId: "svc-store",
    topology,
    pollWaitMs: 300,
    heartbeatIntervalMs: 500,
    isolation: "inline",
    fleet: false,
    bundles: { trustedKeys: [trusted.publicKey], bundleDir: join(trusted.dir, "bundles") },
  });
  await deployInProcess(orch.nc, { prefix: topology.prefix, seedFile: trusted.seedFile }, "activities-v1.ts", "svcq", "v1");
  await deployInProcess(orch.nc, { prefix: topology.prefix, seedFile: stranger.seedFile }, "activities-v1.ts", "otherq", "v1");

  const started = await call("start", { project: "p1", queue: "svcq", fromStore: true });
  assert.is(started.status, 200, JSON.stringify(started.body));
  assert.is(started.body.codeVersion, "v1");
  assert.match(started.body.module, /svcq\/v1-[0-9a-f]{16}\.mjs$/);
  const taskId = await orch.broker.submit(spec({ workflowRunId: "run-ws", queue: "svcq", codeVersion: "v1", input: { n: 4 } }));
  const out = await orch.broker.waitForOutcome(taskId, { timeoutMs: 15_000 });
  assert.equal(out?.output, { r: 8, ranOn: "v1" });

  const refused = await call("start", { project: "p2", queue: "otherq", fromStore: true });
  assert.is(refused.status, 400);
  assert.match(refused.body.error.message, /bundle otherq\/v1: signed by O[A-Z0-9]+, which is not a trusted key/);
  const neither = await call("start", { project: "p3", queue: "svcq" });
  assert.is(neither.status, 400);
  assert.match(neither.body.error.message, /exactly one of module and fromStore/);
  assert.equal(
    (await call("list", {})).body.projects.map((p: { project: string }) => p.project),
    ["p1"],
  );
});

test.run();
