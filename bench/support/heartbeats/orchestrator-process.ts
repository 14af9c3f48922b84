/**
 * The orchestrator side of bench/heartbeats.ts, as its own process: the broker on a Postgres task
 * store with the JetStream dispatcher, responders (start / heartbeat / report requests) and report
 * consumer, as the remote tests run it, on file streams. Submits HB_TASKS tasks, says so, and
 * runs until SIGTERM. The task consumer's max_ack_pending is raised to HB_TASKS (its default,
 * 1,000, would cap how many tasks one queue can have leased).
 */
import { once } from "node:events";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "../../../worker-sdk/connect.js";
import { ensureTaskConsumer } from "../../../adapters/jetstream/remote/consumers.js";
import { ensureTopology } from "../../../adapters/jetstream/topology.js";
import { DEFAULT_TASK_LEASE_MS } from "../../../src/contract/defaults.js";
import { postgresTaskStore, startOrchestrator } from "../../../integration/remote/helpers.js";
import { spec } from "../../../test/remote/helpers/fixture.js";
import { lanes } from "../stats.js";
import { ChildEnv, QUEUE, VERSION, tell, topologyFor } from "./shared.js";
import { profileOnSignal } from "../cpu-profile.js";

profileOnSignal("orchestrator");

const env = ChildEnv.parse(process.env);
if (!env.HB_PG_URL) throw new Error("HB_PG_URL is required");
const topology = topologyFor(env.HB_TOPOLOGY_ID);
const nc = await connectNats({ servers: env.HB_NATS_URL, name: "hb-orchestrator" }); // as a real process connects
const jsm = await jetstreamManager(nc);
await ensureTopology(jsm, { topology, storage: "file" });
const pg = await postgresTaskStore(env.HB_PG_URL);
const orch = await startOrchestrator({
  url: env.HB_NATS_URL,
  topology,
  queue: QUEUE,
  codeVersion: VERSION,
  leaseMs: DEFAULT_TASK_LEASE_MS,
  taskStore: pg.store,
});
await ensureTaskConsumer(jsm, {
  topology,
  queue: QUEUE,
  codeVersion: VERSION,
  leaseMs: DEFAULT_TASK_LEASE_MS,
  maxDeliver: 5,
  maxAckPending: env.HB_TASKS + 100,
});
tell({ ready: true, leaseMs: DEFAULT_TASK_LEASE_MS });
await lanes(env.HB_TASKS, 32, async (i) => {
  await orch.broker.submit(spec({ workflowRunId: `hb${i}`, stageId: "hold", queue: QUEUE, codeVersion: VERSION, input: { n: i } }));
});
tell({ submitted: env.HB_TASKS });
await once(process, "SIGTERM");
await orch.close();
await pg.close();
await nc.close();
process.exit(0);
