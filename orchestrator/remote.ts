/**
 * The orchestrator process's side of remote activities (config section `remote`): one broker
 * per queue on the Postgres activity task store, presigning with the orchestrator's `s3`
 * credentials, the JetStream task dispatcher, one durable task consumer per (queue, version) and
 * one per required label set (created by the dispatcher with the set's first task),
 * the heartbeat/presign responders, one report consumer per queue, and a reaper loop.
 *
 * Built in two steps because workflow modules need the brokers before NATS is connected:
 * `createOrchestratorRemote` (no I/O) gives the `remote` hook handed to the workflow module,
 * `start(nc, topology)` wires the transports, `stop()` undoes it.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type postgres from "postgres";
import { createPostgresActivityTaskStore } from "../adapters/postgres/index.js";
import { sharedSecret } from "../adapters/postgres/shared-secret.js";
import { createS3Presigner } from "../adapters/s3/index.js";
import {
  createJetStreamTaskDispatcher,
  ensureTaskConsumers,
  startBrokerResponders,
  startReportConsumer,
} from "../adapters/jetstream/remote/index.js";
import { createBroker, defineRemoteStage, type Broker, type RemoteStageOptions } from "../src/remote/index.js";
import type { Topology } from "../src/contract/topology.js";
import type { AnyStage } from "../src/contract/stage-types.js";
import type { BlobStore, Logger } from "../src/index.js";
import { systemClock } from "../src/ports/clock.js";
import type { ActivityTaskStore } from "../src/ports/activity-task-store.js";
import type { Presigner } from "../src/ports/presigner.js";
import { JetflowError } from "../src/contract/errors.js";
import type { OrchestratorConfig } from "./config.js";
import type { Kernel } from "../src/kernel/types.js";
import { wakeSuspendedStages } from "../src/remote/wake-on-outcome.js";
import { newSecret } from "../src/remote/task-capability.js";

/**
 * What a workflow module gets to build remote stages bound to this orchestrator's brokers.
 * Only queues and versions listed in `remote.queues` are accepted: a task for anything else
 * would wait forever on a consumer nobody created.
 */
export interface RemoteStages {
  /** False when the config has no `remote` section (then `stage` and `client` throw). */
  readonly enabled: boolean;
  /** `defineRemoteStage(stage, brokerOf(opts.queue), opts)`. */
  stage<S extends AnyStage>(stage: S, opts: RemoteStageOptions): S;
  /** The broker of a configured queue (a RemoteActivityClient, e.g. for `createRemoteExecutor`). */
  client(queue: string): Broker;
}

/**
 * Handed to a workflow module's `createWorkflows` export:
 * `export function createWorkflows({ remote }: WorkflowModuleContext) { return [...] }`.
 */
export interface WorkflowModuleContext {
  remote: RemoteStages;
}

export interface OrchestratorRemote {
  readonly stages: RemoteStages;
  /** The shared task store (null without a `remote` section). */
  readonly store: ActivityTaskStore | null;
  /** Presigns artifact URLs on the orchestrator's `s3` (null without a `remote` section). */
  readonly presigner: Presigner | null;
  /** Ensures the consumers and starts dispatcher, responders, report consumers and the reaper. */
  start(nc: NatsConnection, topology: Topology): Promise<void>;
  /**
   * Cancels the run's unfinished remote tasks (the kernel's `onRunCancelled`): their workers see
   * `cancelled` in the next heartbeat reply and abort `ctx.signal`. The task store is shared by
   * every queue's broker, so the first broker's call cancels them all; the others wake their waiters.
   */
  cancelRun(workflowRunId: string): Promise<void>;
  /** Resumes a remote stage's run as soon as its task's outcome is recorded here (`stage.wake`), not at the stage's next poll. */
  wakeStagesOf(kernel: Pick<Kernel, "dispatch">): void;
  /** Stops everything `start` started (idempotent; safe when `start` never ran or failed halfway). */
  stop(): Promise<void>;
}

export interface OrchestratorRemoteDeps {
  sql: postgres.Sql;
  /** The kernel's object store: reads outputs workers stored by reference, answers `list`. */
  blobStore: BlobStore;
  logger: Logger;
}

const disabled = (): never => {
  throw new JetflowError(
    "VALIDATION",
    'remote stages need a "remote" section in the orchestrator config (remote.queues: [{ queue, codeVersion }]) and an "s3" section',
  );
};

/** Builds the brokers (no I/O yet). Without `config.remote` the hook refuses every call. */
export function createOrchestratorRemote(config: OrchestratorConfig, deps: OrchestratorRemoteDeps): OrchestratorRemote {
  const remote = config.remote;
  if (!remote) {
    return {
      stages: { enabled: false, stage: disabled, client: disabled },
      store: null,
      presigner: null,
      start: async () => {},
      cancelRun: async () => {},
      wakeStagesOf: () => {},
      stop: async () => {},
    };
  }
  const s3 = config.s3;
  if (!s3)
    throw new JetflowError(
      "VALIDATION",
      'the "remote" section needs an "s3" section: workers move artifacts by URLs the orchestrator presigns',
    );
  const store = createPostgresActivityTaskStore(deps.sql, { schema: config.database.schema });
  const presigner = createS3Presigner({
    bucket: s3.bucket,
    prefix: s3.prefix,
    defaultExpiresInSec: remote.presignExpiresInSec,
    clientConfig: {
      region: s3.region,
      ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
      ...(s3.accessKeyId && s3.secretAccessKey
        ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } }
        : {}),
      forcePathStyle: s3.forcePathStyle,
    },
  });
  const brokers = new Map<string, Broker>();
  for (const q of remote.queues) {
    if (brokers.has(q.queue)) continue;
    brokers.set(
      q.queue,
      createBroker({
        store,
        presigner,
        blobStore: deps.blobStore,
        clock: systemClock,
        logger: deps.logger,
        leaseMs: q.leaseMs ?? remote.leaseMs,
        defaultMaxAttempts: remote.defaultMaxAttempts,
        presignExpiresInSec: remote.presignExpiresInSec,
        maxUploadBytes: remote.maxUploadBytes,
        ...(remote.uploadTicketSecret ? { uploadTicketSecret: remote.uploadTicketSecret } : {}),
      }),
    );
  }
  const brokerOf = (queue: string): Broker => {
    const b = brokers.get(queue);
    if (!b)
      throw new JetflowError("VALIDATION", `queue "${queue}" is not in remote.queues (configured: ${[...brokers.keys()].join(", ")})`);
    return b;
  };
  const stages: RemoteStages = {
    enabled: true,
    client: brokerOf,
    stage(stage, opts) {
      const broker = brokerOf(opts.queue);
      if (!remote.queues.some((q) => q.queue === opts.queue && q.codeVersion === opts.stageCodeVersion)) {
        throw new JetflowError(
          "VALIDATION",
          `stage "${stage.id}": queue "${opts.queue}" has no code version "${opts.stageCodeVersion}" in remote.queues, so no worker could ever pull its tasks`,
        );
      }
      return defineRemoteStage(stage, broker, opts);
    },
  };

  const stoppers: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = async () => {
    for (const stop of stoppers.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        deps.logger.warn({ err: (err as Error).message }, "error while stopping remote activities");
      }
    }
    presigner.close();
  };

  return {
    stages,
    store,
    presigner,
    async start(nc, topology) {
      // Same replicas as the streams (nats.replicas): an R1 consumer on an R3 stream dies with its node.
      const replicas = config.nats.replicas === undefined ? {} : { replicas: config.nats.replicas };
      const consumerSettings = (queue: string, codeVersion: string) => {
        const q = remote.queues.find((c) => c.queue === queue && c.codeVersion === codeVersion);
        return q
          ? {
              leaseMs: q.leaseMs ?? remote.leaseMs,
              maxDeliver: q.maxDeliver,
              maxAckPending: q.maxAckPending ?? remote.maxAckPending,
              ...replicas,
            }
          : undefined;
      };
      // Each required label set gets its own consumer, created with the first task that needs it.
      if (!remote.uploadTicketSecret) {
        // One ticket key for every orchestrator on this database, so any of them serves a worker's next page of part URLs.
        const secret = await sharedSecret(deps.sql, config.database.schema, "multipart-upload-ticket", newSecret);
        for (const b of brokers.values()) b.useSharedUploadTicketSecret(secret);
      }
      const dispatcher = createJetStreamTaskDispatcher(nc, { topology, labelledConsumers: consumerSettings });
      for (const b of brokers.values()) b.attachDispatcher(dispatcher);
      const jsm = await jetstreamManager(nc);
      for (const q of remote.queues) {
        // Every priority band of the unlabelled set: workers ask them highest first (docs/flow-control.md).
        await ensureTaskConsumers(jsm, {
          topology,
          queue: q.queue,
          codeVersion: q.codeVersion,
          ...consumerSettings(q.queue, q.codeVersion)!,
        });
      }
      for (const [queue, broker] of brokers) {
        const responders = await startBrokerResponders(nc, broker, { topology, queues: [queue], logger: deps.logger });
        stoppers.push(() => responders.stop());
        const reports = await startReportConsumer(nc, broker, {
          topology,
          queue,
          pollMs: remote.reportPollMs,
          logger: deps.logger,
          ...replicas,
        });
        stoppers.push(() => reports.stop());
      }
      const reaper = startReaper(brokers.values().next().value!, remote.reapIntervalMs, remote.republishAfterMs, deps.logger);
      stoppers.push(reaper);
      deps.logger.info({ queues: remote.queues.map((q) => `${q.queue}@${q.codeVersion}`) }, "remote activities started");
    },
    async cancelRun(workflowRunId) {
      for (const b of brokers.values()) {
        const ids = await b.cancelRun(workflowRunId);
        if (ids.length > 0) deps.logger.info({ workflowRunId, taskIds: ids }, "remote tasks cancelled with their run");
      }
    },
    wakeStagesOf(kernel) {
      for (const b of brokers.values()) {
        const unsubscribe = wakeSuspendedStages(b, kernel, deps.logger);
        stoppers.push(async () => unsubscribe());
      }
    },
    stop: () => (stopping ??= stopAll()),
  };
}

/**
 * Fails tasks past their deadline or out of attempts, and re-publishes stranded tasks (never
 * published, or whose message ran out of deliveries or was lost: `Broker.redispatchStranded`).
 * One broker suffices: both operations work on the shared store (fenced, so several
 * orchestrators reaping at once is harmless). Returns the stop function (waits for the tick).
 */
function startReaper(broker: Broker, intervalMs: number, republishAfterMs: number, logger: Logger): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const tick = async () => {
    try {
      const r = await broker.reapExpired();
      for (const f of r.failed) logger.warn({ taskId: f.taskId, error: f.error }, "remote task failed by the reaper");
      const n = await broker.redispatchStranded({ olderThanMs: republishAfterMs });
      if (n > 0) logger.info({ republished: n }, "stranded remote tasks re-published");
    } catch (err) {
      // Next tick retries; the store may be briefly unreachable.
      logger.warn({ err: (err as Error).message }, "remote task reaper tick failed");
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().then(schedule);
    }, intervalMs);
  };
  schedule();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
