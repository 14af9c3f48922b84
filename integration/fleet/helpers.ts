/** A fleet on a real nats-server: an in-process orchestrator, the registry bucket, and NATS workers that join it. */
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import type { Topology } from "../../src/contract/topology.js";
import type { AnyStage } from "../../src/contract/stage-types.js";
import { createActivityWorker, createNatsFleetMember, type ActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";
import { ensureWorkerRegistry } from "../../adapters/jetstream/fleet/index.js";
import { freshTopology } from "../jetstream/helpers.js";
import { startOrchestrator, type Orchestrator } from "../remote/helpers.js";

export const QUEUE = "default";
export const VERSION = "v1";

export interface FleetWorker {
  nc: NatsConnection;
  w: ActivityWorker;
}

export interface Fleet {
  topology: Topology;
  orch: Orchestrator;
  worker(
    id: string,
    o: {
      stages: Record<string, AnyStage>;
      labels?: Record<string, string>;
      max?: number;
      heartbeatMs?: number;
      connect?: Partial<ConnectionOptions>;
    },
  ): Promise<FleetWorker>;
  /** Stops workers, then the orchestrator (last in, first out). */
  close(): Promise<void>;
}

/** A fresh topology, orchestrator and (unless `registry: false`) registry bucket (memory storage, TTL `ttlMs`). */
export async function startFleet(o: {
  url: string;
  leaseMs?: number;
  ttlMs?: number;
  maxDeliver?: number;
  topology?: Topology;
  connect?: Partial<ConnectionOptions>;
  registry?: boolean;
}): Promise<Fleet> {
  const topology = o.topology ?? freshTopology();
  const orch = await startOrchestrator({
    url: o.url,
    topology,
    queue: QUEUE,
    codeVersion: VERSION,
    leaseMs: o.leaseMs ?? 5_000,
    maxDeliver: o.maxDeliver ?? 50,
    connect: o.connect,
  });
  const cleanups: (() => Promise<void>)[] = [() => orch.close()];
  if (o.registry !== false) await ensureWorkerRegistry(orch.nc, { prefix: topology.prefix, ttlMs: o.ttlMs ?? 10_000, storage: "memory" });
  return {
    topology,
    orch,
    async worker(id, w) {
      const nc = await connect({ servers: o.url, ...w.connect });
      // Mismatched labels cost a delivery each (docs/fleet.md): redeliver fast so the test stays short.
      const transport = createNatsWorkerTransport(nc, { topology, queue: QUEUE, codeVersion: VERSION, labelMismatchDelayMs: 20 });
      const worker = createActivityWorker({
        transport,
        queue: QUEUE,
        stageCodeVersion: VERSION,
        registry: w.stages,
        workerId: id,
        labels: w.labels,
        maxConcurrentTasks: w.max ?? 1,
        pollWaitMs: 500,
        heartbeatIntervalMs: 200,
        fleet: createNatsFleetMember(nc, { topology, heartbeatIntervalMs: w.heartbeatMs ?? 200 }),
      });
      cleanups.push(async () => {
        await worker.stop({ drain: false }); // also when its connection was killed: the loop must end
        await transport.close?.();
        if (!nc.isClosed()) await nc.close();
      });
      worker.start();
      return { nc, w: worker };
    },
    async close() {
      while (cleanups.length > 0) await cleanups.pop()!();
    },
  };
}
