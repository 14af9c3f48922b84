// Three workers with different labels on one queue: a task requiring gpu=true runs only on the gpu
// worker, and the registry shows all three with the in-flight counts of the bodies running now.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { services } from "../harness/index.js";
import { listWorkers } from "../../adapters/jetstream/fleet/index.js";
import { gate, spec, stage } from "../../test/remote/helpers/fixture.js";
import { until } from "../remote/helpers.js";
import { QUEUE, VERSION, startFleet, type Fleet } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
let fleet: Fleet | null = null;
const release = gate();

test.after(async () => {
  release.open();
  await fleet?.close();
  await svc?.stop();
});

t("gpu tasks run only on the gpu worker; workers list shows each worker's live in-flight count", async () => {
  fleet = await startFleet({ url: svc!.nats.url });
  const running = new Map<string, string[]>(); // workerId -> run ids whose body is running now
  const ranOn = new Map<string, string>(); // run id -> worker id
  const body = (workerId: string) =>
    stage("heavy", async (ctx) => {
      const list = running.get(workerId) ?? [];
      running.set(workerId, [...list, ctx.workflowRunId]);
      ranOn.set(ctx.workflowRunId, workerId);
      await release.promise;
      running.set(
        workerId,
        (running.get(workerId) ?? []).filter((r) => r !== ctx.workflowRunId),
      );
      return { output: { r: ctx.input.n } };
    });
  await fleet.worker("gpu-1", { stages: { heavy: body("gpu-1") }, labels: { gpu: "true", os: "linux" }, max: 3 });
  await fleet.worker("cpu-1", { stages: { heavy: body("cpu-1") }, labels: { os: "linux" }, max: 2 });
  await fleet.worker("plain-1", { stages: { heavy: body("plain-1") }, max: 2 });

  // Every worker is registered and running before any task exists.
  await until(
    async () => (await listWorkers(fleet!.orch.nc, { prefix: fleet!.topology.prefix })).filter((w) => w.status === "running").length === 3,
    5_000,
    "three running workers",
  );

  const submit = (runId: string, requiredLabels?: Record<string, string>) =>
    fleet!.orch.broker.submit(
      spec({
        workflowRunId: runId,
        queue: QUEUE,
        codeVersion: VERSION,
        input: { n: 1 },
        maxAttempts: 50,
        ...(requiredLabels ? { requiredLabels } : {}),
      }),
    );
  const gpuTasks = [await submit("gpu-a", { gpu: "true" }), await submit("gpu-b", { gpu: "true" })];
  await until(() => ranOn.has("gpu-a") && ranOn.has("gpu-b"), 30_000, "both gpu tasks to start");
  const plainTasks = [];
  for (const r of ["p1", "p2", "p3", "p4"]) plainTasks.push(await submit(r));
  await until(() => ["p1", "p2", "p3", "p4"].every((r) => ranOn.has(r)), 30_000, "four plain tasks to start");

  assert.is(ranOn.get("gpu-a"), "gpu-1");
  assert.is(ranOn.get("gpu-b"), "gpu-1");

  // While the bodies are parked, the registry reports exactly the bodies running on each worker.
  const expected = () => Object.fromEntries(["cpu-1", "gpu-1", "plain-1"].map((id) => [id, (running.get(id) ?? []).length]));
  let listed = await listWorkers(fleet.orch.nc, { prefix: fleet.topology.prefix });
  await until(
    async () => {
      listed = await listWorkers(fleet!.orch.nc, { prefix: fleet!.topology.prefix });
      return JSON.stringify(Object.fromEntries(listed.map((w) => [w.id, w.inFlight]))) === JSON.stringify(expected());
    },
    5_000,
    `registry in-flight counts ${JSON.stringify(expected())}`,
  );
  assert.equal(
    listed.map((w) => w.id),
    ["cpu-1", "gpu-1", "plain-1"],
  );
  assert.is(
    listed.reduce((n, w) => n + w.inFlight, 0),
    6,
  );
  const gpu = listed.find((w) => w.id === "gpu-1")!;
  assert.equal(gpu.labels, { gpu: "true", os: "linux" });
  assert.is(gpu.maxConcurrentTasks, 3);
  assert.is(gpu.stageCodeVersion, VERSION);
  assert.is(gpu.queue, QUEUE);
  for (const w of listed) {
    assert.is(w.status, "running");
    assert.ok(w.healthy, `${w.id} healthy`);
    assert.ok(w.inFlight <= w.maxConcurrentTasks);
  }

  release.open();
  for (const id of [...gpuTasks, ...plainTasks]) {
    const out = await fleet.orch.broker.waitForOutcome(id, { timeoutMs: 10_000 });
    assert.is(out?.status, "completed", `task ${id}`);
  }
  for (const id of gpuTasks) assert.is((await fleet.orch.broker.getOutcome(id))?.workerId, "gpu-1");
  await until(
    async () => (await listWorkers(fleet!.orch.nc, { prefix: fleet!.topology.prefix })).every((w) => w.inFlight === 0),
    5_000,
    "in-flight back to 0",
  );
});

test.run();
