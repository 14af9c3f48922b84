/** The orchestrator side of remote activities on a real nats-server, for integration/remote tests. */
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { InMemoryActivityTaskStore } from "../../src/testing/index.js";
import { InMemoryBlobStore } from "../../src/testing/in-memory-blob-store.js";
import { createBroker, type Broker, type BrokerOptions, type ReportResult } from "../../src/remote/index.js";
import type { Topology } from "../../src/contract/topology.js";
import { ensureTopology } from "../../adapters/jetstream/topology.js";
import {
  createJetStreamTaskDispatcher,
  ensureTaskConsumers,
  startBrokerResponders,
  startReportConsumer,
  type ReportDeadLetter,
} from "../../adapters/jetstream/remote/index.js";
import { LocalObjectServer } from "../../test/remote/helpers/fixture.js";
import type { ActivityTaskStore } from "../../src/ports/activity-task-store.js";
import type { Presigner } from "../../src/ports/presigner.js";
import type postgres from "postgres";
import { createPostgresActivityTaskStore, type PostgresActivityTaskStore } from "../../adapters/postgres/activity-task-store.js";
import { client, migratedSchema } from "../postgres/helpers.js";
import { freshTopology } from "../jetstream/helpers.js";
import { type ActivityWorker, type ActivityWorkerOptions, createActivityWorker } from "../../worker-sdk/index.js";
import { createNatsWorkerTransport } from "../../worker-sdk/nats-transport.js";

export interface Orchestrator<S extends ActivityTaskStore = InMemoryActivityTaskStore> {
  nc: NatsConnection;
  broker: Broker;
  store: S;
  reports: ReportResult[];
  deadLetters: ReportDeadLetter[];
  close(): Promise<void>;
}

/**
 * Broker + dispatcher + task consumer + responders + report consumer for (queue, codeVersion).
 * `taskStore` replaces the in-memory store (e.g. a Postgres store shared by several orchestrators);
 * `reportConsumer: false` leaves reports in the stream (an orchestrator whose intake is down).
 */
export async function startOrchestrator<S extends ActivityTaskStore = InMemoryActivityTaskStore>(o: {
  url: string;
  topology: Topology;
  queue: string;
  codeVersion: string;
  leaseMs: number;
  maxDeliver?: number;
  connect?: Partial<ConnectionOptions>;
  taskStore?: S;
  reportConsumer?: boolean;
  /** Replaces the local object server (e.g. an S3 presigner on the harness's S3). */
  presigner?: Presigner;
  /** The broker's default upload limit (tasks whose spec sets none). */
  maxUploadBytes?: number;
  /** More broker options (presign expiry, page size, ticket secret). */
  broker?: Pick<BrokerOptions, "presignExpiresInSec" | "presignPageParts" | "uploadTicketSecret">;
}): Promise<Orchestrator<S>> {
  // As orchestrator/start.ts connects (connectNats): no async stack trace built per request.
  const nc = await connect({ servers: o.url, noAsyncTraces: true, ...o.connect });
  const store = (o.taskStore ?? new InMemoryActivityTaskStore()) as S;
  const blobs = new InMemoryBlobStore();
  const objects = new LocalObjectServer(blobs);
  await objects.start();
  const broker = createBroker({
    store,
    presigner: o.presigner ?? objects,
    ...(o.maxUploadBytes !== undefined ? { maxUploadBytes: o.maxUploadBytes } : {}),
    blobStore: blobs,
    clock: { now: () => new Date() },
    leaseMs: o.leaseMs,
    defaultMaxAttempts: 3,
    ...o.broker,
  });
  broker.attachDispatcher(
    createJetStreamTaskDispatcher(nc, {
      topology: o.topology,
      labelledConsumers: (queue, codeVersion) =>
        queue === o.queue && codeVersion === o.codeVersion ? { leaseMs: o.leaseMs, maxDeliver: o.maxDeliver ?? 5 } : undefined,
    }),
  );
  const jsm = await jetstreamManager(nc);
  await ensureTopology(jsm, { topology: o.topology, storage: "memory" });
  await ensureTaskConsumers(jsm, {
    topology: o.topology,
    queue: o.queue,
    codeVersion: o.codeVersion,
    leaseMs: o.leaseMs,
    maxDeliver: o.maxDeliver ?? 5,
  });
  const responders = await startBrokerResponders(nc, broker, { topology: o.topology, queues: [o.queue] });
  const reports: ReportResult[] = [];
  const deadLetters: ReportDeadLetter[] = [];
  const rc =
    o.reportConsumer === false
      ? null
      : await startReportConsumer(nc, broker, {
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
      await rc?.stop();
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

/** A Postgres client on `url`, a freshly migrated schema and the broker's task store in it. */
export async function postgresTaskStore(
  url: string,
): Promise<{ sql: postgres.Sql; schema: string; store: PostgresActivityTaskStore; close(): Promise<void> }> {
  const sql = client(url, 10);
  const { schema, drop } = await migratedSchema(sql);
  return {
    sql,
    schema,
    store: createPostgresActivityTaskStore(sql, { schema }),
    async close() {
      await drop();
      await sql.end({ timeout: 5 });
    },
  };
}

/**
 * An orchestrator whose broker keeps its tasks in a fresh Postgres schema, on a fresh topology;
 * both are closed by `cleanups` (run in reverse order by the test file's `after`).
 */
export async function startOrchestratorOnPostgres(
  urls: { nats: string; postgres: string },
  o: { queue: string; codeVersion: string; leaseMs: number } & Partial<Parameters<typeof startOrchestrator>[0]>,
  cleanups: (() => Promise<void>)[],
): Promise<{ orch: Orchestrator<PostgresActivityTaskStore>; pg: Awaited<ReturnType<typeof postgresTaskStore>>; topology: Topology }> {
  const pg = await postgresTaskStore(urls.postgres);
  cleanups.push(() => pg.close());
  const topology = o.topology ?? freshTopology();
  const orch = await startOrchestrator({ ...o, url: urls.nats, topology, taskStore: pg.store });
  cleanups.push(() => orch.close());
  return { orch, pg, topology };
}

/**
 * An SDK worker on its own NATS connection, not started yet (call `start()`): worker id "w1" and
 * 300 ms long polls unless `o` says otherwise. Its cleanup goes on `cleanups`: stop (draining
 * only with `drainOnStop`), then close the transport and the connection.
 */
export async function natsSdkWorker(
  url: string,
  o: { topology: Topology; queue: string; codeVersion: string; drainOnStop?: boolean; workerId?: string } & Omit<
    ActivityWorkerOptions,
    "transport" | "queue" | "stageCodeVersion" | "workerId"
  >,
  cleanups: (() => Promise<unknown>)[],
): Promise<ActivityWorker> {
  const { topology, queue, codeVersion, drainOnStop, workerId, ...rest } = o;
  const nc = await connect({ servers: url });
  const transport = createNatsWorkerTransport(nc, { topology, queue, codeVersion });
  const w = createActivityWorker({ pollWaitMs: 300, ...rest, workerId: workerId ?? "w1", transport, queue, stageCodeVersion: codeVersion });
  cleanups.push(async () => {
    await w.stop({ drain: drainOnStop ?? false });
    await transport.close?.();
    await nc.close();
  });
  return w;
}
