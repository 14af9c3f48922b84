/**
 * A real orchestrator in this process (Postgres, S3, JetStream job transport, broker, the API) for
 * one fixture workflow module, its API client, and worker-SDK workers on their own connections;
 * shared by the remote tests that ask `runs.get` why a stage waits (wait-reasons, limits).
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { orchestratorS3Config, type Services } from "../harness/index.js";
import { OrchestratorConfig } from "../../orchestrator/config.js";
import { startOrchestrator, type Orchestrator } from "../../orchestrator/start.js";
import { createJetflowClient, type JetflowClient } from "../../adapters/jetstream/api/client.js";
import type { Topology } from "../../src/contract/topology.js";
import type { StageWaitJson } from "../../src/contract/api-messages.js";
import { until } from "./helpers.js";
import { createActivityWorker, createNatsFleetMember, type ActivityWorkerOptions } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";

/** The orchestrator (fast host ticks, 30 s leases) and an API client on its own connection. */
export async function startInProcessOrchestrator(
  svc: Services<"nats" | "postgres" | "s3">,
  o: { topology: Topology; workflows: URL; queue: string; codeVersion: string },
): Promise<{ orchestrator: Orchestrator; nc: NatsConnection; client: JetflowClient; stop(): Promise<void> }> {
  const config = OrchestratorConfig.parse({
    workflows: o.workflows.pathname,
    database: { url: svc.postgres.url, migrate: true },
    nats: { servers: svc.nats.url, prefix: o.topology.prefix, streamPrefix: o.topology.streamPrefix },
    host: { orchestrationIntervalMs: 200, jobPollIntervalMs: 200 },
    s3: orchestratorS3Config(svc.s3),
    remote: { leaseMs: 30_000, queues: [{ queue: o.queue, codeVersion: o.codeVersion }], reapIntervalMs: 1_000, reportPollMs: 200 },
    logLevel: "error",
  });
  const orchestrator = await startOrchestrator(config);
  const nc = await connect({ servers: svc.nats.url });
  const client = createJetflowClient(nc, { prefix: o.topology.prefix, timeoutMs: 10_000 });
  return {
    orchestrator,
    nc,
    client,
    async stop() {
      await nc.close();
      await orchestrator.stop();
    },
  };
}

/**
 * Starts a worker-SDK worker on its own connection (in the fleet registry when `fleetHeartbeatMs`
 * is given); `cleanups` gets its stop, which first runs `beforeStop` (release held bodies).
 */
export async function startSdkWorker(
  natsUrl: string,
  o: {
    topology: Topology;
    queue: string;
    codeVersion: string;
    cleanups: (() => Promise<void>)[];
    beforeStop(): void;
    fleetHeartbeatMs?: number;
  } & Pick<ActivityWorkerOptions, "registry" | "workerId" | "labels" | "maxConcurrentTasks" | "heartbeatIntervalMs">,
): Promise<void> {
  const wnc = await connect({ servers: natsUrl });
  const transport = createNatsWorkerTransport(wnc, { topology: o.topology, queue: o.queue, codeVersion: o.codeVersion });
  const w = createActivityWorker({
    transport,
    queue: o.queue,
    stageCodeVersion: o.codeVersion,
    registry: o.registry,
    workerId: o.workerId,
    ...(o.labels ? { labels: o.labels } : {}),
    ...(o.maxConcurrentTasks !== undefined ? { maxConcurrentTasks: o.maxConcurrentTasks } : {}),
    ...(o.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: o.heartbeatIntervalMs } : {}),
    pollWaitMs: 500,
    ...(o.fleetHeartbeatMs !== undefined
      ? { fleet: createNatsFleetMember(wnc, { topology: o.topology, heartbeatIntervalMs: o.fleetHeartbeatMs }) }
      : {}),
  });
  o.cleanups.push(async () => {
    o.beforeStop();
    await w.stop({ drain: false });
    await transport.close?.();
    if (!wnc.isClosed()) await wnc.close();
  });
  w.start();
}

/**
 * Waits (30 s at most) until `runs.get` shows the run's `work` stage waiting for `reason` (and,
 * when given, with `detail`; the registry and pending counts catch up within a few heartbeats),
 * and returns that wait. A timeout names the last wait seen.
 */
export async function waitShown(
  client: JetflowClient,
  workflowRunId: string,
  reason: StageWaitJson["reason"],
  detail?: string,
): Promise<StageWaitJson> {
  let last: StageWaitJson | undefined;
  await until(
    async () => {
      last = (await client.getRun({ workflowRunId })).waiting?.find((w) => w.stageId === "work");
      return last?.reason === reason && (detail === undefined || last.detail === detail);
    },
    30_000,
    `${reason} on ${workflowRunId}`,
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; last: ${JSON.stringify(last)}`);
  });
  return last!;
}
