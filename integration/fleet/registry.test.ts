// listWorkers while every worker rewrites its entry every few milliseconds: each listing names
// every worker exactly once (a rewrite during the walk moves an entry past the cursor); a worker
// whose poll loop crashed leaves a `failed` entry that says why (also in `jetflow workers list`).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { connect } from "@nats-io/transport-node";
import { listWorkers } from "../../adapters/jetstream/fleet/index.js";
import { createActivityWorker, createNatsFleetMember } from "../../worker-sdk/index.js";
import type { LeasedTask, WorkerTransport } from "../../worker-sdk/transport.js";
import { workersTable } from "../../cli/commands/workers.js";
import { stage } from "../../test/remote/helpers/fixture.js";
import { until } from "../remote/helpers.js";
import { startFleet, type Fleet } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
let fleet: Fleet | null = null;

test.after(async () => {
  await fleet?.close();
  await svc?.stop();
});

t("a listing taken during heavy heartbeat traffic holds each worker once", async () => {
  fleet = await startFleet({ url: svc!.nats.url });
  const { orch, topology } = fleet;
  const ids = ["r1", "r2", "r3", "r4", "r5"];
  for (const id of ids) await fleet.worker(id, { stages: { heavy: stage("heavy", async () => ({ output: { r: 1 } })) }, heartbeatMs: 2 });
  await until(
    async () => (await listWorkers(orch.nc, { prefix: topology.prefix })).length === ids.length,
    5_000,
    "five workers registered",
  );
  for (let i = 0; i < 40; i++) {
    const listed = (await listWorkers(orch.nc, { prefix: topology.prefix })).map((w) => w.id);
    assert.equal(listed, ids, `listing ${i}`);
  }
});

t("a worker whose poll loop crashed leaves a failed entry with the error and stack", async () => {
  fleet ??= await startFleet({ url: svc!.nats.url });
  const { orch, topology } = fleet;
  const nc = await connect({ servers: svc!.nats.url });
  // A lease without a task kills the poll loop (the loop itself, not a task): what a bug there would do.
  const fail = () => Promise.reject(new Error("not used"));
  const broken: WorkerTransport = {
    next: async () => ({}) as LeasedTask,
    heartbeat: fail,
    report: fail,
    release: fail,
    presign: fail,
  };
  const worker = createActivityWorker({
    transport: broken,
    queue: "crashing",
    stageCodeVersion: "v1",
    registry: { heavy: stage("heavy", async () => ({ output: { r: 1 } })) },
    workerId: "crasher",
    fleet: createNatsFleetMember(nc, { topology, heartbeatIntervalMs: 200 }),
  });
  worker.start();
  await worker.done();
  let entry = null as Awaited<ReturnType<typeof listWorkers>>[number] | null;
  await until(
    async () => (entry = (await listWorkers(orch.nc, { prefix: topology.prefix, queue: "crashing" }))[0] ?? null)?.status === "failed",
    10_000,
    "the failed entry",
  );
  assert.match(entry!.error!.message, /Cannot read properties of undefined/);
  assert.match(entry!.error!.stack!, /worker\.[jt]s/); // .js when the suite runs its compiled build
  assert.match(workersTable([entry!]), /failed\s.*Cannot read properties of undefined/);
  await nc.close();
});

test.run();
