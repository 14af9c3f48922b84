// A worker started before the registry bucket exists still answers control requests, and shows up
// in the registry as soon as `jetflow streams init` creates the bucket.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { services } from "../harness/index.js";
import { listWorkers, sendWorkerControl } from "../../adapters/jetstream/fleet/index.js";
import { stage } from "../../test/remote/helpers/fixture.js";
import { until } from "../remote/helpers.js";
import { startFleet, type Fleet } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
let fleet: Fleet | null = null;
const bin = fileURLToPath(new URL("../../bin/jetflow.js", import.meta.url));

test.after(async () => {
  await fleet?.close();
  await svc?.stop();
});

function jetflow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1", NO_COLOR: "1" }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

t("no bucket yet: control works and the list is empty; after `streams init` the worker is listed", async () => {
  fleet = await startFleet({ url: svc!.nats.url, registry: false });
  const { orch, topology } = fleet;
  await fleet.worker("early", { stages: { heavy: stage("heavy", async () => ({ output: { r: 1 } })) } });
  await until(
    async () =>
      (await sendWorkerControl(orch.nc, "early", "status", { prefix: topology.prefix }).catch(() => null))?.worker.status === "running",
    5_000,
    "the worker to answer status",
  );
  assert.equal(await listWorkers(orch.nc, { prefix: topology.prefix }), [], "an absent bucket lists no worker");

  const init = await jetflow(
    "streams",
    "init",
    "--servers",
    svc!.nats.url,
    "--prefix",
    topology.prefix,
    "--stream-prefix",
    topology.streamPrefix,
    "--storage",
    "memory",
    "--registry-ttl-ms",
    "5000",
  );
  assert.is(init.code, 0, init.stderr);
  assert.match(init.stdout, new RegExp(`worker registry: KV bucket ${topology.prefix}_workers`));
  await until(
    async () => (await listWorkers(orch.nc, { prefix: topology.prefix })).some((w) => w.id === "early" && w.status === "running"),
    5_000,
    "the worker to register once the bucket exists",
  );
});

test.run();
