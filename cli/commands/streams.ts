import type { Command } from "commander";
import { jetstreamManager } from "@nats-io/jetstream";
import { z } from "zod";
import { ensureTopology } from "../../adapters/jetstream/topology.js";
import { ensureWorkerRegistry } from "../../adapters/jetstream/fleet/index.js";
import { ensureTaskConsumers } from "../../adapters/jetstream/remote/consumers.js";
import { DEFAULT_TASK_LEASE_MS } from "../../src/contract/defaults.js";
import { createTopology } from "../../src/contract/topology.js";
import { ConnectionOptions, openConnection, withConnectionFlags } from "../shared/connection.js";
import { parseOptions } from "../shared/parse-options.js";
import { registerStreamsStatus } from "./streams-status.js";

const StreamsInitOptions = z.object({
  /** Unset: existing assets keep their replicas, new ones get 1 (as the orchestrator's nats.replicas). */
  replicas: z.coerce.number().int().min(1).max(5).optional(),
  streamPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "stream prefix may only hold letters, digits, _ and -")
    .default(process.env.JETFLOW_STREAM_PREFIX ?? "JETFLOW"),
  leaseMs: z.coerce.number().int().positive().default(30_000),
  maxDeliver: z.coerce.number().int().min(1).default(5),
  eventsMaxAgeMs: z.coerce
    .number()
    .int()
    .positive()
    .default(7 * 24 * 3_600_000),
  duplicateWindowMs: z.coerce.number().int().positive().default(120_000),
  storage: z.enum(["file", "memory"]).default("file"),
  registryTtlMs: z.coerce.number().int().min(1_000).default(90_000),
  /** `queue@version,...`: task consumers to create now (the orchestrator re-applies its own remote config at start). */
  taskQueues: z
    .string()
    .optional()
    .transform((v, ctx) =>
      (v ?? "")
        .split(",")
        .filter((p) => p.trim() !== "")
        .flatMap((p) => {
          const m = /^([^@\s]+)@([^@\s]+)$/.exec(p.trim());
          if (m) return [{ queue: m[1]!, codeVersion: m[2]! }];
          ctx.addIssue({ code: "custom", message: `"${p}" is not <queue>@<codeVersion>` });
          return [];
        }),
    ),
  taskLeaseMs: z.coerce.number().int().min(100).default(DEFAULT_TASK_LEASE_MS),
  taskMaxDeliver: z.coerce.number().int().min(1).default(5),
  taskMaxAckPending: z.coerce.number().int().min(1).max(1_000_000).default(1_000),
  json: z.boolean().default(false),
});

/**
 * `jetflow streams init`: creates or updates every JetStream stream and consumer jetflow uses (idempotent);
 * `jetflow streams status`: their replicas, leaders and lag.
 */
export function register(program: Command): void {
  const streams = program.command("streams").description("JetStream streams and consumers used by jetflow");
  registerStreamsStatus(streams);
  withConnectionFlags(
    streams
      .command("init")
      .description("create or update the jetflow streams and consumers (safe to repeat, safe to run concurrently)")
      .option("--replicas <n>", "replicas of every stream, consumer and KV bucket (3 on a cluster; unset keeps existing ones, new get 1)")
      .option("--stream-prefix <prefix>", "stream name prefix (env JETFLOW_STREAM_PREFIX)")
      .option("--lease-ms <ms>", "job lease = AckWait of the jobs consumer")
      .option("--max-deliver <n>", "deliveries of a job before it is dead-lettered")
      .option("--events-max-age-ms <ms>", "how long workflow events are kept")
      .option("--duplicate-window-ms <ms>", "JetStream de-duplication window")
      .option("--storage <kind>", "file or memory")
      .option("--registry-ttl-ms <ms>", "worker registry entry TTL: a worker silent this long disappears (default 90000)")
      .option("--task-queues <list>", "also create the task consumers of these remote queues: <queue>@<codeVersion>,...")
      .option("--task-lease-ms <ms>", `lease = AckWait of those task consumers (default ${DEFAULT_TASK_LEASE_MS}; as remote.leaseMs)`)
      .option("--task-max-deliver <n>", "MaxDeliver of those task consumers (default 5; as remote.queues[].maxDeliver)")
      .option("--task-max-ack-pending <n>", "tasks of one queue leased at once by all workers (default 1000; as remote.maxAckPending)")
      .option("--json", "machine-readable output"),
  ).action(async (raw: Record<string, unknown>) => {
    const opts = parseOptions(StreamsInitOptions, raw);
    const conn = parseOptions(ConnectionOptions, raw);
    const nc = await openConnection(conn);
    try {
      const topology = createTopology({ prefix: conn.prefix, streamPrefix: opts.streamPrefix });
      const report = await ensureTopology(await jetstreamManager(nc), {
        topology,
        ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}),
        jobAckWaitMs: opts.leaseMs,
        jobMaxDeliver: opts.maxDeliver,
        eventsMaxAgeMs: opts.eventsMaxAgeMs,
        duplicateWindowMs: opts.duplicateWindowMs,
        storage: opts.storage,
      });
      // The worker registry (docs/fleet.md); an existing bucket keeps its TTL.
      const workerRegistry = await ensureWorkerRegistry(nc, {
        prefix: conn.prefix,
        ttlMs: opts.registryTtlMs,
        storage: opts.storage,
        ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}),
      });
      for (const q of opts.taskQueues) {
        const bands = await ensureTaskConsumers(await jetstreamManager(nc), {
          topology,
          ...q,
          leaseMs: opts.taskLeaseMs,
          maxDeliver: opts.taskMaxDeliver,
          maxAckPending: opts.taskMaxAckPending,
          ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}),
        });
        for (const c of bands) report[c.action].push(`consumer ${c.stream}/${c.name}`);
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ...report, workerRegistry }, null, 2)}\n`);
        return;
      }
      const line = (label: string, items: string[]): string =>
        items.length ? `${label}:\n${items.map((i) => `  ${i}`).join("\n")}\n` : "";
      process.stdout.write(
        `nats-server ${report.serverVersion}\n${line("created", report.created)}${line("updated", report.updated)}${line("unchanged", report.unchanged)}worker registry: KV bucket ${workerRegistry}\n`,
      );
    } finally {
      await nc.close();
    }
  });
}
