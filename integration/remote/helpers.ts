/** The orchestrator side of remote activities on a real nats-server, for integration/remote tests. */
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { InMemoryActivityTaskStore } from "../../src/testing/index.js";
import { InMemoryBlobStore } from "../../src/testing/in-memory-blob-store.js";
import { createBroker, type Broker, type ReportResult } from "../../src/remote/index.js";
import type { Topology } from "../../src/protocol/topology.js";
import { ensureTopology } from "../../adapters/jetstream/topology.js";
import { createJetStreamTaskDispatcher, ensureTaskConsumer, startBrokerResponders, startReportConsumer, type ReportDeadLetter } from "../../adapters/jetstream/remote/index.js";
import { LocalObjectServer } from "../../test/remote/helpers/fixture.js";

export interface Orchestrator {
  nc: NatsConnection;
  broker: Broker;
  store: InMemoryActivityTaskStore;
  reports: ReportResult[];
  deadLetters: ReportDeadLetter[];
  close(): Promise<void>;
}

/** Broker + dispatcher + task consumer + responders + report consumer for (queue, codeVersion). */
export async function startOrchestrator(o: {
  url: string;
  topology: Topology;
  queue: string;
  codeVersion: string;
  leaseMs: number;
  maxDeliver?: number;
  connect?: Partial<ConnectionOptions>;
}): Promise<Orchestrator> {
  const nc = await connect({ servers: o.url, ...o.connect });
  const store = new InMemoryActivityTaskStore();
  const blobs = new InMemoryBlobStore();
  const objects = new LocalObjectServer(blobs);
  await objects.start();
  const broker = createBroker({ store, presigner: objects, blobStore: blobs, clock: { now: () => new Date() }, leaseMs: o.leaseMs, defaultMaxAttempts: 3 });
  broker.attachDispatcher(createJetStreamTaskDispatcher(nc, { topology: o.topology }));
  const jsm = await jetstreamManager(nc);
  await ensureTopology(jsm, { topology: o.topology, storage: "memory" });
  await ensureTaskConsumer(jsm, { topology: o.topology, queue: o.queue, codeVersion: o.codeVersion, leaseMs: o.leaseMs, maxDeliver: o.maxDeliver ?? 5 });
  const responders = await startBrokerResponders(nc, broker, { topology: o.topology, queues: [o.queue] });
  const reports: ReportResult[] = [];
  const deadLetters: ReportDeadLetter[] = [];
  const rc = await startReportConsumer(nc, broker, {
    topology: o.topology,
    queue: o.queue,
    pollMs: 200,
    onReport: (r) => reports.push(r),
    onDeadLetter: (d) => deadLetters.push(d),
  });
  return {
    nc,
    broker,
    store,
    reports,
    deadLetters,
    async close() {
      await rc.stop();
      await responders.stop();
      await objects.close();
      await nc.close();
    },
  };
}

/** Polls `cond` on the event loop until it holds; throws after `ms` (a bound, not a sleep). */
export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
