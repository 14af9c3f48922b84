// `jetflow.api.workers.list`: the API service answers with the registry it reads over its own connection.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { startApiService, type ApiService } from "../../adapters/jetstream/api/service.js";
import { createJetflowClient } from "../../adapters/jetstream/api/client.js";
import { createKernel } from "../../src/index.js";
import {
  CollectingEventSink,
  FakeClock,
  InMemoryBlobStore,
  InMemoryJobQueue,
  InMemoryPersistence,
  NoopScheduler,
} from "../../src/testing/index.js";
import { stage } from "../../test/remote/helpers/fixture.js";
import { until } from "../remote/helpers.js";
import { startFleet, type Fleet } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
let fleet: Fleet | null = null;
let api: ApiService | null = null;

test.after(async () => {
  await api?.stop();
  await fleet?.close();
  await svc?.stop();
});

t("workers.list returns every registered worker with its health; a queue filter narrows it", async () => {
  fleet = await startFleet({ url: svc!.nats.url });
  const { orch, topology } = fleet;
  const kernel = createKernel({
    persistence: new InMemoryPersistence(),
    blobStore: new InMemoryBlobStore(),
    jobTransport: new InMemoryJobQueue(),
    eventSink: new CollectingEventSink(),
    scheduler: new NoopScheduler(),
    clock: new FakeClock(),
    registry: { getWorkflow: () => undefined },
  });
  api = await startApiService(orch.nc, { kernel, prefix: topology.prefix });
  const heavy = stage("heavy", async () => ({ output: { r: 1 } }));
  await fleet.worker("api-a", { stages: { heavy }, labels: { zone: "eu" }, max: 3 });
  await fleet.worker("api-b", { stages: { heavy } });

  const client = createJetflowClient(orch.nc, { prefix: topology.prefix, timeoutMs: 5_000 });
  let reply = await client.listWorkers();
  await until(
    async () => {
      reply = await client.listWorkers();
      return reply.workers.filter((w) => w.status === "running").length === 2;
    },
    5_000,
    "two running workers through the API",
  );
  assert.equal(
    reply.workers.map((w) => w.id),
    ["api-a", "api-b"],
  );
  const a = reply.workers[0]!;
  assert.equal(a.labels, { zone: "eu" });
  assert.is(a.maxConcurrentTasks, 3);
  assert.is(a.healthy, true);
  assert.equal((await client.listWorkers({ queue: "elsewhere" })).workers, []);
});

test.run();
