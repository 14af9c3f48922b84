/**
 * Fleet membership over NATS: the worker keeps its {@link WorkerRecord} fresh in the registry KV
 * bucket (a put per heartbeat and per change; the bucket's max_age expires entries of dead
 * workers) and answers `<p>.ctl.<workerId>.status|drain|stop` requests.
 *
 * Needs only: publish `$KV.<bucket>.<queue>.<id>` (PubAck on its inbox), subscribe `<p>.ctl.<id>.*`,
 * and `allow_responses` to answer. The bucket itself is created by the orchestrator
 * (`ensureWorkerRegistry`); a worker never calls `$JS.API`.
 */
import { hostname } from "node:os";
import { Kvm, type KV } from "@nats-io/kv";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  ControlOp,
  DEFAULT_FLEET_HEARTBEAT_MS,
  parseControlRequest,
  WorkerRecord,
  controlFilter,
  workerRegistryBucket,
  workerRegistryKey,
  type ControlReply,
  type FleetWorkerStatus,
} from "../src/contract/fleet.js";
import { createTopology, type Topology } from "../src/contract/topology.js";
import { WorkerConfigError } from "./errors.js";
import type { FleetMember, FleetWorkerView } from "./fleet-member.js";
import { type WorkerLogger, silentWorkerLogger } from "./logger.js";
import { headerSafe, serveRequest } from "../src/contract/guarded-reply.js";
import type { WorkerStatus } from "./worker.js";

export interface NatsFleetMemberOptions {
  /** Supplies the subject prefix (bucket and control subjects). Default `createTopology()`. */
  topology?: Topology;
  /** Registry heartbeat. Default 30 s; readers call a worker unhealthy after 60 s without one. */
  heartbeatIntervalMs?: number;
  /** Reported host name. Default `os.hostname()`. */
  host?: string;
  /** Bound on each registry put. Default 5000 ms. */
  requestTimeoutMs?: number;
  logger?: WorkerLogger;
}

const STATUS: Record<WorkerStatus, FleetWorkerStatus> = {
  idle: "starting",
  running: "running",
  draining: "draining",
  stopped: "stopped",
  failed: "failed",
};

/** Builds the fleet membership to pass as `createActivityWorker({ fleet })`. `nc` stays the caller's. */
export function createNatsFleetMember(nc: NatsConnection, opts: NatsFleetMemberOptions = {}): FleetMember {
  const prefix = (opts.topology ?? createTopology()).prefix;
  const heartbeatMs = opts.heartbeatIntervalMs ?? DEFAULT_FLEET_HEARTBEAT_MS;
  if (!Number.isInteger(heartbeatMs) || heartbeatMs <= 0)
    throw new WorkerConfigError(`heartbeatIntervalMs must be a positive integer, got ${heartbeatMs}`);
  const host = opts.host ?? hostname();
  const timeout = opts.requestTimeoutMs ?? 5_000;
  const logger = opts.logger ?? silentWorkerLogger;

  let view: FleetWorkerView | null = null;
  let kv: KV | null = null;
  let key = "";
  let sub: Subscription | null = null;
  let timer: ReturnType<typeof setInterval> | null = null;
  let joined: Promise<void> | null = null;
  let left = false;
  let dirty = false;
  let flushing: Promise<void> | null = null;

  function record(status?: FleetWorkerStatus): WorkerRecord {
    const w = view!;
    const s = w.getStats();
    return {
      v: 1,
      id: w.workerId,
      host,
      pid: process.pid,
      queue: w.queue,
      labels: { ...w.labels },
      stageCodeVersion: w.stageCodeVersion,
      maxConcurrentTasks: w.maxConcurrentTasks,
      inFlight: s.inFlight,
      status: status ?? STATUS[s.status],
      startedAt: w.startedAt.toISOString(),
      lastHeartbeat: new Date().toISOString(),
      heartbeatIntervalMs: heartbeatMs,
      completed: s.completed,
      failed: s.failed,
      lastPullAt: s.lastPullAt ? s.lastPullAt.toISOString() : null,
      ...(s.crash ? { error: { message: s.crash.message, stack: s.crash.stack ?? null } } : {}),
      ...(w.restarts !== undefined ? { restarts: w.restarts } : {}),
      ...(w.codeLoadMs !== undefined ? { codeLoadMs: Math.round(w.codeLoadMs) } : {}),
    };
  }

  async function put(r: WorkerRecord): Promise<void> {
    if (!kv || nc.isClosed()) return;
    await kv.put(key, JSON.stringify(WorkerRecord.parse(r)), { timeout });
  }

  /** Coalesces bursts of changes into one put at a time, each carrying the latest state. */
  function publishSoon(): void {
    dirty = true;
    flushing ??= (async () => {
      while (dirty && !left) {
        dirty = false;
        await put(record()).catch((err: unknown) =>
          logger.warn({ err: String(err), key }, "registry update failed; the entry expires unless a later one succeeds"),
        );
      }
    })().finally(() => {
      flushing = null;
    });
  }

  /** Answers one control request through the guarded reply path: a throw (closed connection, bad state) is logged, never unhandled. */
  function onControl(m: Msg): void {
    const w = view!;
    // Anything but a well-formed request for this worker and this subject's op is ignored (and never
    // answered: a reply to a JetStream delivery's ack subject would ack it). See ControlRequest.
    const op = ControlOp.safeParse(m.subject.split(".").at(-1));
    const body = parseControlRequest(m.data);
    if (!op.success || !m.reply || !body.ok || body.value.op !== op.data || body.value.workerId !== w.workerId || m.headers?.code) {
      logger.warn(
        { subject: headerSafe(m.subject), reason: body.ok ? "op, worker id or reply does not match" : body.error.message },
        "ignored a message on a control subject that is not a control request for this worker",
      );
      return;
    }
    void serveRequest(m, () => control(op.data), { logger, context: { op: op.data } });
  }

  function control(op: ControlOp): ControlReply {
    const w = view!;
    const status = w.getStats().status;
    let accepted = true;
    let reason: string | undefined;
    if (op !== "status") {
      if (status === "stopped" || status === "failed") {
        accepted = false;
        reason = `worker is already ${status}`;
      } else {
        logger.info({ op, workerId: w.workerId }, "control request: stopping");
        // The synchronous part of stop() already flips the status to draining, so the reply shows it.
        w.stop({ drain: op === "drain" }).catch((err: unknown) => logger.error({ err: String(err) }, "stop requested over NATS failed"));
      }
    }
    return { op, accepted, ...(reason ? { reason } : {}), worker: record() };
  }

  return {
    async join(w) {
      if (view) throw new WorkerConfigError("this fleet member already joined a worker");
      view = w;
      key = workerRegistryKey(w.queue, w.workerId);
      joined = (async () => {
        // Binding makes no API call; control works even when the registry bucket is missing.
        kv = await new Kvm(nc).open(workerRegistryBucket(prefix));
        sub = nc.subscribe(controlFilter(prefix, w.workerId), {
          callback: (err, m) => (err ? logger.error({ err: err.message }, "control subscription failed") : onControl(m)),
        });
        await nc.flush();
        timer = setInterval(publishSoon, heartbeatMs);
        timer.unref?.();
        try {
          await put(record("starting"));
        } catch (err) {
          // Keep heartbeating: the entry appears once the orchestrator creates the bucket.
          logger.error(
            { err: String(err), bucket: workerRegistryBucket(prefix) },
            "registering failed; is the registry bucket created (`jetflow streams init`)?",
          );
        }
        publishSoon();
      })();
      await joined;
    },
    changed() {
      if (view && kv && !left) publishSoon();
    },
    async leave() {
      if (left || !view) return; // never joined (stopped before start): nothing to withdraw
      await joined?.catch(() => undefined); // its failure was logged by the worker
      left = true;
      if (timer) clearInterval(timer);
      await flushing;
      try {
        await put(record());
      } catch (err) {
        logger.warn({ err: String(err), key }, "could not publish the final registry state; the entry expires with the TTL");
      }
      if (sub && !nc.isClosed()) sub.unsubscribe();
    },
  };
}
