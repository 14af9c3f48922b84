// A worker process killed with SIGKILL (no goodbye) shows unhealthy, then disappears from the
// registry within the bucket TTL; the task it held is leased again and completed by another worker.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { services } from "../harness/index.js";
import { listWorkers } from "../../adapters/jetstream/fleet/index.js";
import { spec, stage } from "../../test/remote/helpers/fixture.js";
import { until } from "../remote/helpers.js";
import { QUEUE, VERSION, startFleet, type Fleet } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;
let fleet: Fleet | null = null;
let child: ChildProcess | null = null;

test.after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await fleet?.close();
  await svc?.stop();
});

const TTL_MS = 2_000;
const UNHEALTHY_AFTER_MS = 600;

t("a SIGKILLed worker turns unhealthy, then expires within the TTL; its task is re-leased", async () => {
  fleet = await startFleet({ url: svc!.nats.url, ttlMs: TTL_MS, leaseMs: 1_000 });
  const { orch, topology } = fleet;
  const list = () => listWorkers(orch.nc, { prefix: topology.prefix, unhealthyAfterMs: UNHEALTHY_AFTER_MS });

  const script = fileURLToPath(new URL("./fixtures/fleet-worker.ts", import.meta.url));
  child = spawn(process.execPath, ["--import", "tsx", script, svc!.nats.url, topology.prefix, topology.streamPrefix, "doomed"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((r) => child!.once("exit", () => r()));

  const taskId = await orch.broker.submit(
    spec({ workflowRunId: "run-held", queue: QUEUE, codeVersion: VERSION, input: { n: 4 }, maxAttempts: 5 }),
  );
  await until(() => out.includes("entered run-held"), 20_000, "the child worker to start the task");
  await until(
    async () => (await list()).some((w) => w.id === "doomed" && w.healthy && w.inFlight === 1),
    5_000,
    "the child worker registered with 1 in flight",
  );

  child.kill("SIGKILL");
  await exited;
  const killedAt = Date.now();
  let sawUnhealthy = false;
  await until(
    async () => {
      const w = (await list()).find((x) => x.id === "doomed");
      if (w && !w.healthy) sawUnhealthy = true;
      return w === undefined;
    },
    TTL_MS + 3_000,
    "the dead worker's entry to expire",
  );
  const goneAfter = Date.now() - killedAt;
  assert.ok(sawUnhealthy, "it was reported unhealthy before it expired");
  // max_age counts from the last heartbeat (<= 200 ms before the kill); the server checks expiry at about 1 s granularity.
  assert.ok(goneAfter <= TTL_MS + 1_500, `expired ${goneAfter} ms after the kill (TTL ${TTL_MS} ms)`);

  await fleet.worker("survivor", { stages: { heavy: stage("heavy", async (ctx) => ({ output: { r: ctx.input.n * 10 } })) } });
  const outcome = await orch.broker.waitForOutcome(taskId, { timeoutMs: 10_000 });
  assert.is(outcome?.status, "completed");
  assert.is(outcome?.workerId, "survivor");
  assert.ok((outcome?.attempt ?? 0) >= 2, "the held task was leased again");
});

test.run();
