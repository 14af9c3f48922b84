/**
 * Wire schemas of the worker service (`jetflow worker-service`): one process on a worker machine
 * that runs a worker per project and is steered over NATS request/reply, seed 003's
 * start/stop/status/list API on NATS instead of HTTP.
 *
 * | subject                                   | request            | reply                 |
 * | ----------------------------------------- | ------------------ | --------------------- |
 * | `<p>.workersvc.<serviceId>.start`         | {@link WsStartRequest}  | {@link WsProjectStatus} |
 * | `<p>.workersvc.<serviceId>.stop`          | {@link WsStopRequest}   | {@link WsProjectStatus} |
 * | `<p>.workersvc.<serviceId>.restart`       | {@link WsRestartRequest} | {@link WsProjectStatus} |
 * | `<p>.workersvc.<serviceId>.status`        | {@link WsStatusRequest} | {@link WsProjectStatus} |
 * | `<p>.workersvc.<serviceId>.list`          | `{}`               | {@link WsListReply}   |
 *
 * Errors reply with the micro-service error headers (`Nats-Service-Error-Code`) and a JSON body
 * `{ error: { code, message } }`, like the submission API.
 */
import { z } from "zod";
import { encodeToken } from "./tokens.js";

const name = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, _ and - (at most 64)");

/** Operations of the worker service. */
export const WS_OPS = ["start", "stop", "restart", "status", "list"] as const;
/** An operation of the worker service. */
export type WsOp = (typeof WS_OPS)[number];

/** `<prefix>.workersvc.<serviceId>.<op>`. */
export function workerServiceSubject(prefix: string, serviceId: string, op: WsOp): string {
  return `${prefix}.workersvc.${encodeToken(serviceId, "serviceId")}.${op}`;
}

/** `start`: run a project's worker in the service. */
export const WsStartRequest = z
  .object({
    /** The project's name: one worker per project in a service. */
    project: name,
    queue: z.string().min(1).max(200),
    /** A path (absolute, or relative to the service's working directory) or a package name. Exactly one of module / fromStore. */
    module: z.string().min(1).optional(),
    /**
     * Load the queue's bundle deployed with `jetflow deploy` (docs/deploy.md) instead of `module`:
     * `codeVersion` when given, else the queue's current version. The service verifies it against
     * its own trusted keys (never the requester's).
     */
    fromStore: z.boolean().optional(),
    /** Defaults to the module's exported `version`; must match it when both are given. */
    codeVersion: z.string().min(1).max(200).optional(),
    concurrency: z.number().int().min(1).max(100_000).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    /** Reload the module when its file changes (paths only). Default true. */
    watch: z.boolean().optional(),
    /**
     * With `fromStore`: follow the queue's current version. When `jetflow deploy` or `deploy rollback`
     * moves it, the service starts the new version's worker and drains the old one (docs/deploy.md).
     */
    follow: z.boolean().optional(),
  })
  .refine((r) => (r.module === undefined) === (r.fromStore === true), {
    message: "give exactly one of module and fromStore: true",
    path: ["module"],
  })
  .refine((r) => !r.follow || (r.fromStore === true && r.codeVersion === undefined), {
    message: "follow needs fromStore: true and no codeVersion (it runs whatever version is current)",
    path: ["follow"],
  });
/** `start`: run a project's worker in the service. */
export type WsStartRequest = z.infer<typeof WsStartRequest>;

/** `stop`: stop a project's worker, optionally draining it. */
export const WsStopRequest = z.object({ project: name, drain: z.boolean().optional() });
/** `stop`: stop a project's worker, optionally draining it. */
export type WsStopRequest = z.infer<typeof WsStopRequest>;

/** `restart`: stop a project's worker (draining by default) and start it again on freshly loaded code. */
export const WsRestartRequest = z.object({ project: name, drain: z.boolean().optional() });
/** `restart`: stop a project's worker (draining by default) and start it again on freshly loaded code. */
export type WsRestartRequest = z.infer<typeof WsRestartRequest>;

/** Why a project's worker crashed last: its module threw while loading, or its worker loop died. */
export const WsProjectError = z.object({
  message: z.string(),
  stack: z.string().nullable(),
  at: z.string(),
});
/** Why a project's worker crashed last. */
export type WsProjectError = z.infer<typeof WsProjectError>;

/** `status`: one project's status. */
export const WsStatusRequest = z.object({ project: name });
/** `status`: one project's status. */
export type WsStatusRequest = z.infer<typeof WsStatusRequest>;

/** The status of one project's worker in a service. */
export const WsProjectStatus = z.object({
  project: name,
  queue: z.string(),
  codeVersion: z.string(),
  module: z.string(),
  workerId: z.string(),
  /** `restarting`: crashed, waiting out its backoff; `failed`: crashed too often (see `lastError`), not restarted again. */
  status: z.enum(["starting", "running", "restarting", "draining", "stopped", "failed"]),
  /** 1 at start, +1 per successful reload. */
  generation: z.number().int().min(1),
  inFlight: z.number().int().min(0),
  capacity: z.number().int().min(1),
  completed: z.number().int().min(0),
  failed: z.number().int().min(0),
  startedAt: z.string(),
  lastReloadAt: z.string().nullable(),
  /** Why the last change of the module file was refused (the previous code keeps running). */
  lastReloadError: z.string().nullable(),
  /** Automatic restarts after crashes since the project was started (or last restarted by request). */
  restarts: z.number().int().min(0).default(0),
  /** The last crash, kept after a successful restart so a flapping project shows why. */
  lastError: WsProjectError.nullable().default(null),
  /** When the next automatic restart is due (status `restarting`). */
  nextRestartAt: z.string().nullable().default(null),
});
/** The status of one project's worker in a service. */
export type WsProjectStatus = z.infer<typeof WsProjectStatus>;

/** `list`: every project of the service. */
export const WsListReply = z.object({ serviceId: z.string(), projects: z.array(WsProjectStatus) });
/** `list`: every project of the service. */
export type WsListReply = z.infer<typeof WsListReply>;

/** The error reply of a worker service request. */
export const WsErrorReply = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
