/**
 * The worker side of bench/heartbeats.ts, as its own process: one SDK worker that leases up to
 * HB_TASKS tasks at once and holds each (stage "hold" waits) while the SDK heartbeats it at its
 * interval (the default unless HB_HEARTBEAT_MS). Stages run inline: a thread per held task would
 * measure threads, not heartbeats (`jetflow worker --concurrency` now goes to 100,000), hence this
 * script. Reports its counts of started and aborted (lease lost) stages every second while they change.
 * The parent SIGKILLs it after the window (a drain would complete thousands of tasks first).
 */
import { connectNats } from "../../../worker-sdk/connect.js";
import { stage } from "../../../test/remote/helpers/fixture.js";
import { createActivityWorker } from "../../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../../worker-sdk/nats-transport.js";
import { ChildEnv, QUEUE, VERSION, tell, topologyFor } from "./shared.js";
import { profileOnSignal } from "../cpu-profile.js";

profileOnSignal("worker");

const env = ChildEnv.parse(process.env);
const topology = topologyFor(env.HB_TOPOLOGY_ID);
const nc = await connectNats({ servers: env.HB_NATS_URL, name: "hb-worker" }); // as a real process connects
let started = 0;
let aborted = 0;
const hold = stage("hold", async (ctx) => {
  started++;
  // Held until the lease is lost (the worker aborts the signal) or the process is killed.
  await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
  aborted++;
  throw ctx.signal.reason;
});
let told = "";
setInterval(() => {
  const now = JSON.stringify({ started, aborted });
  if (now !== told) tell({ started, aborted });
  told = now;
}, 1_000);
const worker = createActivityWorker({
  transport: createNatsWorkerTransport(nc, { topology, queue: QUEUE, codeVersion: VERSION }),
  queue: QUEUE,
  stageCodeVersion: VERSION,
  workerId: "hb-worker",
  registry: { hold },
  isolation: "inline",
  maxConcurrentTasks: env.HB_TASKS,
  pollWaitMs: 1_000,
  ...(env.HB_HEARTBEAT_MS ? { heartbeatIntervalMs: env.HB_HEARTBEAT_MS } : {}),
});
worker.start();
tell({ ready: true });
