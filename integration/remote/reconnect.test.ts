// A `jetflow worker` process whose NATS server goes away reconnects with a bounded, logged
// backoff (docs/remote-workers.md): back within the budget, it keeps running; past it, it exits 1
// with a message saying it gave up and after how many attempts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { useNats, type NatsService } from "../harness/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { startOrchestrator, until, type Orchestrator } from "./helpers.js";
import { startWorkerProcess, type WorkerProcess } from "./worker-process.js";

const nats: NatsService | null = await useNats().catch(() => null);
const t = nats?.restart ? test : test.skip;
const topology = freshTopology();
let orch: Orchestrator | null = null;
const workers: WorkerProcess[] = [];

test.after(async () => {
  for (const w of workers) await w.kill9();
  await orch?.close().catch(() => {});
  await nats?.stop();
});

function args(attempts: number): string[] {
  return [
    "--queue",
    "default",
    "--code-version",
    "v1",
    "--module",
    new URL("./fixtures/artifact-stages.ts", import.meta.url).pathname,
    "--servers",
    nats!.url,
    "--no-fleet",
    "--poll-ms",
    "200",
    "--reconnect-attempts",
    String(attempts),
    "--reconnect-wait-ms",
    "100",
  ];
}

t("a worker reconnects when its server comes back within the budget, and exits 1 naming the give-up when it does not", async () => {
  orch = await startOrchestrator({
    url: nats!.url,
    topology,
    queue: "default",
    codeVersion: "v1",
    leaseMs: 5_000,
    connect: { maxReconnectAttempts: -1, reconnectTimeWait: 100 },
  });
  const env = { ...process.env, JETFLOW_PREFIX: topology.prefix, JETFLOW_STREAM_PREFIX: topology.streamPrefix };
  const patient = await startWorkerProcess("w-patient", args(10_000), env);
  workers.push(patient);

  await nats!.restart!();
  await until(() => patient.log().includes("NATS connection re-established"), 30_000, "the patient worker's reconnect");
  assert.match(patient.log(), /NATS connection lost; reconnecting \(up to 10000 attempts, 100 ms apart, then exit 1\)/);
  assert.is(patient.child.exitCode, null, "still running after the reconnect");

  const brief = await startWorkerProcess("w-brief", args(3), env);
  workers.push(brief);
  const started = Date.now();
  await nats!.stop();
  const code = await Promise.race([brief.exited(), new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 30_000).unref())]);
  assert.is(code, 1, `exit code; log:\n${brief.log().slice(-2000)}`);
  assert.match(brief.log(), /gave up reconnecting after 3 attempts/);
  assert.ok(Date.now() - started < 30_000);
});

test.run();
