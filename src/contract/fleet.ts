/**
 * Worker fleet wire protocol: the registry entry every worker keeps fresh in a JetStream KV bucket
 * and the control requests an operator sends to one worker (see docs/fleet.md).
 *
 * | name                                   | what                                                         |
 * | -------------------------------------- | ------------------------------------------------------------ |
 * | KV bucket `<p>_workers` (dots → `_`)   | one entry per worker, bucket max_age = TTL (dead workers expire) |
 * | key `<queue>.<workerId>` (encoded)     | a {@link WorkerRecord}, rewritten on every heartbeat and change |
 * | `<p>.ctl.<workerId>.status|drain|stop` | request: a {@link ControlRequest}; reply: a {@link ControlReply} |
 *
 * The key starts with the queue so a worker user may be granted `$KV.<bucket>.<queue>.>` only.
 */
import { z } from "zod";
import { type ParseResult } from "./protocol-error.js";
import { parseJsonBody, zodToProtocolError } from "./job-message.js";
import { encodeToken } from "./tokens.js";

/** Registry heartbeat default: every 30 s. */
export const DEFAULT_FLEET_HEARTBEAT_MS = 30_000;
/** A worker whose last heartbeat is older than this is reported unhealthy. */
export const DEFAULT_UNHEALTHY_AFTER_MS = 60_000;
/** Bucket max_age: an entry not rewritten for this long disappears. */
export const DEFAULT_REGISTRY_TTL_MS = 90_000;

const isoDate = z.string().datetime({ offset: true });
const id = z.string().min(1).max(512);

/** Lifecycle status a worker publishes in the registry. */
export const FleetWorkerStatus = z.enum(["starting", "running", "draining", "stopped", "failed"]);
/** Lifecycle status a worker publishes in the registry. */
export type FleetWorkerStatus = z.output<typeof FleetWorkerStatus>;

/** One worker as it describes itself in the registry. */
export const WorkerRecord = z.object({
  v: z.literal(1),
  id,
  host: z.string().max(512),
  pid: z.number().int().optional(),
  queue: id,
  labels: z.record(z.string(), z.string()),
  stageCodeVersion: id,
  maxConcurrentTasks: z.number().int().min(1),
  inFlight: z.number().int().min(0),
  status: FleetWorkerStatus,
  startedAt: isoDate,
  lastHeartbeat: isoDate,
  /** The interval the worker promised; readers judge staleness against it. */
  heartbeatIntervalMs: z.number().int().positive(),
  completed: z.number().int().min(0).optional(),
  failed: z.number().int().min(0).optional(),
  lastPullAt: isoDate.nullable().optional(),
  /** Why the worker's poll loop crashed (status `failed`), so the registry shows more than the status. */
  error: z.object({ message: z.string(), stack: z.string().nullable() }).optional(),
  /** Times the worker service started this worker's project again (crashes and restart requests); absent outside a worker service. */
  restarts: z.number().int().min(0).optional(),
  /** Milliseconds the worker spent loading its stage code (fetching and verifying a bundle from the store included). */
  codeLoadMs: z.number().min(0).optional(),
});
/** A worker's registry entry. */
export type WorkerRecord = z.output<typeof WorkerRecord>;

/** Control operations a worker answers. */
export const ControlOp = z.enum(["status", "drain", "stop"]);
/** Control operations a worker answers. */
export type ControlOp = z.output<typeof ControlOp>;

/**
 * The body of a control request. Strict and tagged: a worker acts only on a body that parses and
 * names its own id and the subject's op, so a message that reaches a control subject some other way
 * (a JetStream delivery or a broker reply whose reply subject a hostile worker pointed there) is ignored.
 */
export const ControlRequest = z
  .object({
    type: z.literal("jetflow.worker.control"),
    v: z.literal(1),
    op: ControlOp,
    workerId: id,
  })
  .strict();
/** The body of a control request. */
export type ControlRequest = z.output<typeof ControlRequest>;

/** What a worker answers to a control request: accepted, and its record at that moment. */
export const ControlReply = z.object({
  op: ControlOp,
  accepted: z.boolean(),
  reason: z.string().optional(),
  worker: WorkerRecord,
});
/** A worker's reply to a control operation. */
export type ControlReply = z.output<typeof ControlReply>;

/** KV bucket name of the registry for a subject prefix (bucket names allow no dots). */
export function workerRegistryBucket(prefix: string): string {
  return `${prefix.replaceAll(".", "_")}_workers`;
}

/** Registry key of one worker: `<queue>.<workerId>`, both encoded as subject tokens. */
export function workerRegistryKey(queue: string, workerId: string): string {
  return `${encodeToken(queue, "queue")}.${encodeToken(workerId, "workerId")}`;
}

/** `<p>.ctl.<workerId>.<op>`. */
export function controlSubject(prefix: string, workerId: string, op: ControlOp): string {
  return `${prefix}.ctl.${encodeToken(workerId, "workerId")}.${op}`;
}

/** Every control subject of one worker (what it subscribes to). */
export function controlFilter(prefix: string, workerId: string): string {
  return `${prefix}.ctl.${encodeToken(workerId, "workerId")}.*`;
}

/**
 * The live workers that could run a task of (queue, codeVersion) requiring `requiredLabels`: healthy,
 * running, same queue and version, labels satisfying the requirement. Empty = nobody can serve it now
 * (the building block for reporting such a task instead of letting it wait silently).
 */
export function workersServing<W extends WorkerRecord & { healthy: boolean }>(
  workers: readonly W[],
  task: { queue: string; codeVersion: string; requiredLabels: Record<string, string> },
): W[] {
  return workers.filter(
    (w) =>
      w.healthy &&
      w.status === "running" &&
      w.queue === task.queue &&
      w.stageCodeVersion === task.codeVersion &&
      Object.entries(task.requiredLabels).every(([k, v]) => w.labels[k] === v),
  );
}

function parseWith<S extends z.ZodType>(schema: S, what: string, body: Uint8Array | string): ParseResult<z.output<S>> {
  const json = parseJsonBody(body, what);
  if (!json.ok) return json;
  const r = schema.safeParse(json.value);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: zodToProtocolError(what, r.error) };
}

/** Parses a worker registry entry; never throws. */
export const parseWorkerRecord = (body: Uint8Array | string): ParseResult<WorkerRecord> => parseWith(WorkerRecord, "worker record", body);
/** Parses a control request body; never throws. */
export const parseControlRequest = (body: Uint8Array | string): ParseResult<ControlRequest> =>
  parseWith(ControlRequest, "control request", body);
/** Parses a control reply; never throws. */
export const parseControlReply = (body: Uint8Array | string): ParseResult<ControlReply> => parseWith(ControlReply, "control reply", body);
