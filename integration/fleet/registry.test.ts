// listWorkers while every worker rewrites its entry every few milliseconds: each listing names
// every worker exactly once (a rewrite during the walk moves an entry past the cursor).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { listWorkers } from "../../adapters/jetstream/fleet/index.js";
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

test.run();
