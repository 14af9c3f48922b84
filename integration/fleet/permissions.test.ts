// Fleet permissions of the repository's nats-server.conf: a worker user registers itself and answers
// control requests but may not send any; the operator user reads the registry and steers workers.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { assertDenied, REPO_NATS_PASSWORDS, useRepoNats, type NatsService } from "../harness/index.js";
import { createTopology } from "../../src/contract/topology.js";
import { controlSubject } from "../../src/contract/fleet.js";
import { listWorkers, sendWorkerControl } from "../../adapters/jetstream/fleet/index.js";
import { stage } from "../../test/remote/helpers/fixture.js";
import { until } from "../remote/helpers.js";
import { startFleet, type Fleet } from "./helpers.js";

const PASSWORDS = REPO_NATS_PASSWORDS;

const nats: NatsService | null = await useRepoNats("integration/fleet/permissions");
const t = nats ? test : test.skip;
const topology = createTopology(); // the conf names the default jetflow/JETFLOW subjects
let fleet: Fleet;
let operator: NatsConnection;
let workerNc: NatsConnection;

test.before(async () => {
  if (!nats) return;
  fleet = await startFleet({ url: nats.url, topology, connect: { user: "orchestrator", pass: PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD } });
  const w = await fleet.worker("worker-default", {
    stages: { heavy: stage("heavy", async () => ({ output: { r: 1 } })) },
    labels: { os: "linux" },
    connect: { user: "worker-default", pass: PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD, inboxPrefix: "_INBOX_worker-default" },
  });
  workerNc = w.nc;
  operator = await connect({ servers: nats.url, user: "operator", pass: PASSWORDS.JETFLOW_OPERATOR_PASSWORD });
});
test.after(async () => {
  await operator?.close();
  await fleet?.close();
  await nats?.stop();
});

t("a worker user registers itself; the operator user lists it and asks its status", async () => {
  await until(
    async () => (await listWorkers(operator, { prefix: topology.prefix })).some((w) => w.id === "worker-default" && w.status === "running"),
    5_000,
    "the worker in the registry, read as operator",
  );
  const reply = await sendWorkerControl(operator, "worker-default", "status", { prefix: topology.prefix });
  assert.is(reply.accepted, true);
  assert.equal(reply.worker.labels, { os: "linux" });
});

t("a worker user is DENIED sending control requests and writing another queue's registry entries", async () => {
  for (const op of ["status", "drain", "stop"] as const) {
    await assertDenied(
      workerNc.request(controlSubject(topology.prefix, "worker-default", op), "", { timeout: 2_000 }),
      `ctl ${op} from a worker`,
    );
  }
  await assertDenied(
    sendWorkerControl(workerNc, "worker-default", "drain", { prefix: topology.prefix, timeoutMs: 2_000 }),
    "sendWorkerControl from a worker",
  );
  await assertDenied(workerNc.request("$KV.jetflow_workers.other.w-evil", "{}", { timeout: 2_000 }), "registry write for queue other");
  assert.ok(!workerNc.isClosed(), "a refusal does not cost the connection");
  const [listed] = await listWorkers(operator, { prefix: topology.prefix });
  assert.is(listed?.status, "running", "no denied request reached the worker");
});

t("the operator user drains a worker", async () => {
  const reply = await sendWorkerControl(operator, "worker-default", "drain", { prefix: topology.prefix });
  assert.is(reply.accepted, true);
  await until(
    async () => (await listWorkers(operator, { prefix: topology.prefix }))[0]?.status === "stopped",
    5_000,
    "the drained worker to report stopped",
  );
});

test.run();
