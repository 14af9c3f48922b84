/**
 * `jetflow-worker` (and `jetflow worker`, which hands its arguments here): the flags of a
 * worker process, validated, then {@link runWorker}. Flags win over env variables.
 */
import { hostname } from "node:os";
import { z } from "zod";
import { DEFAULT_TASK_HEARTBEAT_INTERVAL_MS } from "../../src/contract/defaults.js";
import {
  DEFAULT_CANCEL_GRACE_MS,
  DEFAULT_THREAD_HEAP_MB,
  DEFAULT_THREAD_MAX_ATTEMPTS,
  DEFAULT_THREAD_START_TIMEOUT_MS,
} from "../worker-options.js";
import { type FlagSpec, helpText, parseFlags } from "./flags.js";
import { LabelsFlagOrFile, withConfigFile } from "./worker-config.js";

/** Reconnect attempts after a lost NATS connection before the worker exits 1 (~60 s with the wait below). */
export const DEFAULT_RECONNECT_ATTEMPTS = 30;
/** Wait between two reconnect attempts. */
export const DEFAULT_RECONNECT_WAIT_MS = 2_000;

const token = (what: string) => z.string().min(1, `${what} is required`);
const subjectToken = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be one subject token");

/** The flags of a worker process, in help order. */
export const WORKER_FLAGS: readonly FlagSpec[] = [
  {
    name: "config",
    short: "c",
    type: "string",
    help: "worker.toml or worker.json with any of these settings (docs/remote-workers.md); flags and env win over it",
    env: "JETFLOW_WORKER_CONFIG",
  },
  { name: "queue", short: "q", type: "string", help: "task queue to pull (required)" },
  { name: "code-version", type: "string", help: "stage code version this worker runs; must match the orchestrator's (required)" },
  {
    name: "module",
    short: "m",
    type: "string",
    help: "module exporting `stages` (array or { id: stage }) or a default export of one (required)",
  },
  {
    name: "concurrency",
    type: "string",
    help: "tasks run at once (default 1, at most 100000; all workers of a queue together lease at most the orchestrator's remote.maxAckPending)",
  },
  { name: "labels", type: "string", help: "k=v,... labels that tasks' requiredLabels are matched against" },
  {
    name: "servers",
    short: "s",
    type: "string",
    help: "NATS server URL(s), comma separated (default nats://127.0.0.1:4222)",
    env: "JETFLOW_NATS_URL",
  },
  { name: "user", type: "string", help: "NATS user", env: "JETFLOW_NATS_USER" },
  { name: "password", type: "string", help: "NATS password", env: "JETFLOW_NATS_PASSWORD" },
  { name: "creds", type: "string", help: "NATS credentials file (from `jetflow creds issue`)", env: "JETFLOW_NATS_CREDS" },
  {
    name: "inbox-prefix",
    type: "string",
    help: "reply inbox prefix (default: from the creds file, or _INBOX_<user>)",
    env: "JETFLOW_NATS_INBOX_PREFIX",
  },
  { name: "worker-id", type: "string", help: "id reported with every task (default worker-<host>-<pid>)" },
  { name: "prefix", type: "string", help: "subject prefix (default jetflow)", env: "JETFLOW_PREFIX" },
  { name: "stream-prefix", type: "string", help: "stream name prefix (default JETFLOW)", env: "JETFLOW_STREAM_PREFIX" },
  {
    name: "heartbeat-ms",
    type: "string",
    help: `heartbeat interval; keep it well below the orchestrator's lease (default ${DEFAULT_TASK_HEARTBEAT_INTERVAL_MS})`,
  },
  { name: "poll-ms", type: "string", help: "longest single pull (default 5000)" },
  {
    name: "isolation",
    type: "string",
    help: "where stage code runs: thread (activity threads, reused across attempts; default) or inline (on the worker's event loop)",
  },
  { name: "thread-heap-mb", type: "string", help: `heap limit of an activity thread in MiB (default ${DEFAULT_THREAD_HEAP_MB})` },
  {
    name: "cancel-grace-ms",
    type: "string",
    help: `how long a cancelled activity may ignore its signal before its thread is terminated (default ${DEFAULT_CANCEL_GRACE_MS})`,
  },
  {
    name: "thread-start-timeout-ms",
    type: "string",
    help: `how long an activity thread may take to load its module and start the stage body before the attempt fails retryably (default ${DEFAULT_THREAD_START_TIMEOUT_MS})`,
  },
  {
    name: "thread-max-attempts",
    type: "string",
    help: `attempts an activity thread serves before it is replaced; 1 gives every attempt a fresh thread (default ${DEFAULT_THREAD_MAX_ATTEMPTS})`,
  },
  { name: "log-level", type: "string", help: "debug, info, warn, error or silent (default info)" },
  {
    name: "fleet",
    type: "boolean",
    help: "register in the fleet registry and answer control requests (default on; --no-fleet to disable)",
  },
  { name: "fleet-heartbeat-ms", type: "string", help: "registry heartbeat (default 30000)" },
  { name: "health-port", type: "string", help: "serve GET /healthz (status, in-flight, last successful pull) on this port" },
  { name: "work-dir", type: "string", help: "working directory of the worker (created if missing)" },
  {
    name: "reconnect-attempts",
    type: "string",
    help: `reconnect attempts after the NATS connection is lost, then exit 1; -1 = forever (default ${DEFAULT_RECONNECT_ATTEMPTS})`,
  },
  { name: "reconnect-wait-ms", type: "string", help: `wait between reconnect attempts (default ${DEFAULT_RECONNECT_WAIT_MS})` },
];

/** Validated options of a worker process. */
export const WorkerOptions = z
  .object({
    queue: token("--queue"),
    codeVersion: token("--code-version"),
    module: token("--module (the file exporting the stage definitions)"),
    concurrency: z.coerce.number().int().min(1).max(100_000).default(1),
    /** A record from a config file, or `k=v,...` from the flag. */
    labels: LabelsFlagOrFile,
    servers: z
      .string()
      .min(1)
      .default(process.env.NATS_URL ?? "nats://127.0.0.1:4222"),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    creds: z.string().min(1).optional(),
    /** Defaults to `_INBOX_<user>`, the only inbox a scoped worker user may subscribe to (docs/security.md). */
    inboxPrefix: subjectToken.optional(),
    workerId: z.string().min(1).default(`worker-${hostname()}-${process.pid}`),
    prefix: subjectToken.default("jetflow"),
    streamPrefix: subjectToken.default("JETFLOW"),
    /** Must be well below the orchestrator's lease (remote.leaseMs): a missed beat loses the task. */
    heartbeatMs: z.coerce.number().int().min(10).default(DEFAULT_TASK_HEARTBEAT_INTERVAL_MS),
    pollMs: z.coerce.number().int().min(10).default(5_000),
    isolation: z.enum(["thread", "inline"]).default("thread"),
    threadHeapMb: z.coerce.number().int().min(16).default(DEFAULT_THREAD_HEAP_MB),
    cancelGraceMs: z.coerce.number().int().min(0).default(DEFAULT_CANCEL_GRACE_MS),
    threadStartTimeoutMs: z.coerce.number().int().min(1).default(DEFAULT_THREAD_START_TIMEOUT_MS),
    threadMaxAttempts: z.coerce.number().int().min(1).default(DEFAULT_THREAD_MAX_ATTEMPTS),
    logLevel: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
    fleet: z.boolean().default(true),
    fleetHeartbeatMs: z.coerce.number().int().min(100).optional(),
    healthPort: z.coerce.number().int().min(0).max(65_535).optional(),
    workDir: z.string().min(1).optional(),
    /** With the wait below: how long a worker keeps reconnecting before it exits 1 (~attempts x wait). */
    reconnectAttempts: z.coerce.number().int().min(-1).max(1_000_000).default(DEFAULT_RECONNECT_ATTEMPTS),
    reconnectWaitMs: z.coerce.number().int().min(10).max(600_000).default(DEFAULT_RECONNECT_WAIT_MS),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.creds && o.user) ctx.addIssue({ code: "custom", path: ["creds"], message: "give either --creds or --user/--password, not both" });
    if (o.user && o.password === undefined)
      ctx.addIssue({ code: "custom", path: ["password"], message: "is required with --user (or env JETFLOW_NATS_PASSWORD)" });
  });
export type WorkerOptions = z.output<typeof WorkerOptions>;

export const WORKER_USAGE =
  "jetflow-worker --queue <q> --code-version <v> --module <file> [options]\n       jetflow-worker --config worker.toml [options]";

/** Parses a worker's argv (after the command name). @throws WorkerConfigError naming each bad flag. */
export function parseWorkerArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env) {
  return parseFlags(argv, WORKER_FLAGS, WorkerOptions, env, withConfigFile);
}

export const workerHelp = (): string => helpText(WORKER_USAGE, WORKER_FLAGS);
