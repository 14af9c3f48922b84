/**
 * The `jetflow worker` process: loads the stage definitions, connects to NATS with the worker's
 * scoped credentials, and runs the worker SDK until a signal. Uses only what a credential-free
 * worker machine has: the worker SDK, the wire protocol and NATS (never postgres or @aws-sdk).
 */
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { destination, pino } from "pino";
import { traceLogFields } from "../../otel/log-correlation.js";
import { createTopology } from "../../src/protocol/topology.js";
import type { AnyStage } from "../../src/stages/types.js";
import { createActivityWorker, createNatsWorkerTransport, WorkerConfigError } from "../../worker-sdk/index.js";
import type { WorkerOptions } from "../commands/worker.js";

/**
 * Imports `file` and returns its stages by id: `export const stages = [...]` (or `{ id: stage }`),
 * or a default export of either. @throws WorkerConfigError naming what is wrong.
 */
export async function loadStageModule(file: string): Promise<Map<string, AnyStage>> {
  const path = resolve(file);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new WorkerConfigError(`cannot load --module ${path}: ${(err as Error).message}`);
  }
  const exported = mod.stages ?? mod.default;
  const list = Array.isArray(exported) ? exported : exported && typeof exported === "object" ? Object.values(exported) : null;
  if (!list || list.length === 0) throw new WorkerConfigError(`--module ${path} must export "stages": a non-empty array of stage definitions (or { id: stage }), or a default export of one`);
  const byId = new Map<string, AnyStage>();
  for (const s of list as AnyStage[]) {
    if (!s || typeof s.id !== "string" || typeof s.execute !== "function" || !s.schemas) {
      throw new WorkerConfigError(`--module ${path}: every entry of "stages" must be a stage definition (defineStage), got ${JSON.stringify(Object.keys(s ?? {}))}`);
    }
    if (byId.has(s.id)) throw new WorkerConfigError(`--module ${path}: stage id "${s.id}" is exported twice`);
    byId.set(s.id, s);
  }
  return byId;
}

/** Runs until SIGTERM/SIGINT (drain; a second signal aborts) or the connection is lost. Resolves with the exit code. */
export async function runWorker(opts: WorkerOptions): Promise<number> {
  const logger = pino({ level: opts.logLevel, base: { service: "jetflow-worker", workerId: opts.workerId, queue: opts.queue }, mixin: traceLogFields }, destination(2));
  const registry = await loadStageModule(opts.module);
  const nc: NatsConnection = await connect({
    servers: opts.servers.split(",").map((s) => s.trim()),
    name: opts.workerId,
    ...(opts.creds ? { authenticator: credsAuthenticator(readFileSync(opts.creds)) } : {}),
    ...(opts.user ? { user: opts.user, pass: opts.password } : {}),
    ...(opts.inboxPrefix || opts.user ? { inboxPrefix: opts.inboxPrefix ?? `_INBOX_${opts.user}` } : {}),
  });
  const topology = createTopology({ prefix: opts.prefix, streamPrefix: opts.streamPrefix });
  const transport = createNatsWorkerTransport(nc, { topology, queue: opts.queue, codeVersion: opts.codeVersion, logger });
  const worker = createActivityWorker({
    transport,
    queue: opts.queue,
    stageCodeVersion: opts.codeVersion,
    registry,
    workerId: opts.workerId,
    maxConcurrentTasks: opts.concurrency,
    labels: opts.labels,
    heartbeatIntervalMs: opts.heartbeatMs,
    pollWaitMs: opts.pollMs,
    logger,
  });
  worker.start();
  logger.info({ stages: [...registry.keys()], codeVersion: opts.codeVersion, concurrency: opts.concurrency }, "worker started");

  const exitCode = await new Promise<number>((done) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        logger.info({ signal, inFlight: worker.getStats().inFlight }, "draining: in-flight tasks finish, nothing new is pulled");
        worker.stop({ drain: true }).then(
          () => done(0),
          (err: unknown) => {
            logger.error({ err: (err as Error).message }, "drain failed");
            done(1);
          },
        );
      } else {
        logger.warn({ signal }, "second signal: aborting in-flight tasks (they are released for redelivery)");
        void worker.stop({ drain: false });
      }
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    void nc.closed().then((err) => {
      if (signals > 0) return;
      // Without NATS nothing can be pulled or reported; leases expire and tasks go to other workers.
      logger.error({ err: err?.message ?? "closed" }, "NATS connection lost; stopping");
      void worker.stop({ drain: false }).finally(() => done(1));
    });
  });
  await transport.close?.();
  if (!nc.isClosed()) await nc.drain();
  logger.info({ ...worker.getStats(), lastPullAt: undefined }, "worker stopped");
  return exitCode;
}
