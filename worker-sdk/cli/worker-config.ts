/**
 * `jetflow worker --config worker.toml|worker.json`: the worker's settings in a file (seed 004's
 * worker config: server, credentials, labels, max concurrent tasks, work dir), so a worker machine
 * is set up by one file instead of a long command line. Flags, then env variables, then the file,
 * then the defaults: a flag always wins. Keys are snake_case; see docs/remote-workers.md.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, extname, isAbsolute, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import { formatIssues, issuesFromZod, type ValidationIssue } from "../../src/contract/validation.js";
import { WorkerError } from "../errors.js";
import { isPathSpec } from "../stage-module.js";
import { Labels } from "./flags.js";

const text = z.string().min(1);
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
const subjectToken = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be one subject token");

/** The NATS connection of a worker config file (`[nats]`). */
const NatsSection = z
  .object({
    /** One server URL; or `servers`, a list (or comma-separated string) of them. */
    url: text.optional(),
    servers: z.union([text, z.array(text).min(1)]).optional(),
    creds: text.optional(),
    user: text.optional(),
    password: z.string().optional(),
    inbox_prefix: subjectToken.optional(),
  })
  .strict()
  .refine((n) => !(n.url && n.servers), { message: "give either url or servers, not both", path: ["servers"] });

/** A worker config file: every flag of `jetflow worker`, snake_case, plus `[nats]` and `[labels]` tables. */
export const WorkerConfigFile = z
  .object({
    queue: text.optional(),
    code_version: text.optional(),
    module: text.optional(),
    worker_id: text.optional(),
    /** `--concurrency`: tasks run at once. */
    max_concurrent_tasks: int(1, 100_000).optional(),
    labels: z.record(text, z.string()).optional(),
    /** The worker's working directory (created if missing); activities' relative paths resolve there. */
    work_dir: text.optional(),
    health_port: int(0, 65_535).optional(),
    nats: NatsSection.optional(),
    prefix: subjectToken.optional(),
    stream_prefix: subjectToken.optional(),
    heartbeat_ms: int(10).optional(),
    poll_ms: int(10).optional(),
    isolation: z.enum(["thread", "inline"]).optional(),
    thread_heap_mb: int(16).optional(),
    cancel_grace_ms: int(0).optional(),
    thread_max_attempts: int(1).optional(),
    log_level: z.enum(["debug", "info", "warn", "error", "silent"]).optional(),
    fleet: z.boolean().optional(),
    fleet_heartbeat_ms: int(100).optional(),
    reconnect_attempts: int(-1, 1_000_000).optional(),
    reconnect_wait_ms: int(10, 600_000).optional(),
  })
  .strict();
/** A validated worker config file. */
export type WorkerConfigFile = z.output<typeof WorkerConfigFile>;

/**
 * The worker's labels: `k=v,...` from `--labels` (or its env), or a table from a config file.
 * Picks the schema by the value's type, so an error names the flag's own problem.
 */
export const LabelsFlagOrFile = z
  .unknown()
  .default("")
  .transform((v, ctx): Record<string, string> => {
    const r = (v !== null && typeof v === "object" ? z.record(z.string(), z.string()) : Labels).safeParse(v);
    if (r.success) return r.data;
    for (const issue of r.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
    return z.NEVER;
  });

/** Zod's issues with each unknown key named as a field of its own (`colour: unknown key`), not as `(root)`. */
function fileIssues(error: z.ZodError): ValidationIssue[] {
  return error.issues.flatMap((i) =>
    i.code === "unrecognized_keys"
      ? i.keys.map((k) => ({ path: [...i.path.map(String), k].join("."), message: "unknown key" }))
      : issuesFromZod(new z.ZodError([i])),
  );
}

/** Parses TOML or JSON by the file's extension. @throws WorkerError naming the file. */
function parseText(file: string, body: string): unknown {
  const ext = extname(file).toLowerCase();
  if (ext !== ".toml" && ext !== ".json") throw new WorkerError("CONFIG", `config file ${file}: must end in .toml or .json`, false);
  try {
    return ext === ".toml" ? parseToml(body) : JSON.parse(body);
  } catch (err) {
    throw new WorkerError("CONFIG", `config file ${file}: not valid ${ext.slice(1).toUpperCase()}: ${(err as Error).message}`, false);
  }
}

/**
 * Reads and validates a worker config file, and returns its values under the option names of
 * `jetflow worker` (`max_concurrent_tasks` → `concurrency`, `nats.creds` → `creds`, …). Relative
 * paths in the file (module, creds, work_dir) resolve against the file's directory, so the file
 * means the same from any working directory.
 * @throws WorkerError (code CONFIG) naming the file and each bad field.
 */
export function loadWorkerConfigFile(file: string): Record<string, unknown> {
  let body: string;
  try {
    body = readFileSync(file, "utf8");
  } catch (err) {
    throw new WorkerError("CONFIG", `config file ${file}: cannot be read: ${(err as Error).message}`, false);
  }
  const parsed = WorkerConfigFile.safeParse(parseText(file, body));
  if (!parsed.success) throw new WorkerError("CONFIG", formatIssues(`config file ${file}`, fileIssues(parsed.error)), false);
  const c = parsed.data;
  const base = dirname(resolve(file));
  const path = (p: string | undefined) => (p === undefined ? undefined : resolve(base, p));
  const n = c.nats ?? {};
  const servers = n.url ?? (Array.isArray(n.servers) ? n.servers.join(",") : n.servers);
  const out: Record<string, unknown> = {
    queue: c.queue,
    codeVersion: c.code_version,
    // A package name stays a package name; only a path resolves against the file.
    module: c.module !== undefined && isPathSpec(c.module) ? path(c.module) : c.module,
    workerId: c.worker_id,
    concurrency: c.max_concurrent_tasks,
    labels: c.labels,
    workDir: path(c.work_dir),
    healthPort: c.health_port,
    servers,
    creds: path(n.creds),
    user: n.user,
    password: n.password,
    inboxPrefix: n.inbox_prefix,
    prefix: c.prefix,
    streamPrefix: c.stream_prefix,
    heartbeatMs: c.heartbeat_ms,
    pollMs: c.poll_ms,
    isolation: c.isolation,
    threadHeapMb: c.thread_heap_mb,
    cancelGraceMs: c.cancel_grace_ms,
    threadMaxAttempts: c.thread_max_attempts,
    logLevel: c.log_level,
    fleet: c.fleet,
    fleetHeartbeatMs: c.fleet_heartbeat_ms,
    reconnectAttempts: c.reconnect_attempts,
    reconnectWaitMs: c.reconnect_wait_ms,
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

/**
 * The values `parseFlags` validates for `jetflow worker`: the flags and env values it read (`raw`),
 * over the values of the `--config` file when one is named. Flags and env win over the file.
 */
export function withConfigFile(raw: Record<string, unknown>): Record<string, unknown> {
  const { config, ...flags } = raw;
  if (typeof config !== "string") return flags;
  return { ...loadWorkerConfigFile(config), ...flags };
}

/**
 * Makes `dir` the worker's working directory (created if missing). Called once the module is
 * loaded and NATS is connected, so relative `--module`/`--creds` flags keep meaning the directory
 * the worker was started from.
 */
export function enterWorkDir(dir: string): void {
  const abs = isAbsolute(dir) ? dir : resolve(dir);
  try {
    mkdirSync(abs, { recursive: true });
    process.chdir(abs);
  } catch (err) {
    throw new WorkerError("CONFIG", `work dir ${abs}: ${(err as Error).message}`, false);
  }
}
