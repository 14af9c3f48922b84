import type { Command } from "commander";
import { jetstreamManager } from "@nats-io/jetstream";
import pRetry from "p-retry";
import { z } from "zod";
import { topologyStatus, type AssetStatus } from "../../adapters/jetstream/topology-status.js";
import { ConnectionOptions, openConnection, withConnectionFlags } from "../shared/connection.js";
import { parseOptions } from "../shared/parse-options.js";
import { formatTable } from "../shared/table.js";

const StatusOptions = z.object({
  streamPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "stream prefix may only hold letters, digits, _ and -")
    .default(process.env.JETFLOW_STREAM_PREFIX ?? "JETFLOW"),
  minReplicas: z.coerce.number().int().min(1).max(5).optional(),
  json: z.boolean().default(false),
});

/** The `streams status` table: one row per asset. */
export function streamsStatusTable(assets: AssetStatus[]): string {
  if (assets.length === 0) return "no jetflow streams (run `jetflow streams init`)";
  const header = ["ASSET", "REPLICAS", "LEADER", "FOLLOWERS", "REPLICA LAG", "BACKLOG", "STATE"];
  const rows = assets.map((a) => [
    `${a.kind} ${a.name}`,
    String(a.replicas),
    a.leader ?? "NONE",
    a.followers.map((f) => `${f.name}${f.offline ? " (offline)" : f.current ? "" : " (behind)"}`).join(",") || "-",
    String(a.replicaLag),
    a.kind === "consumer" ? `${a.pending} pending, ${a.ackPending} unacked` : `${a.messages} msgs`,
    a.healthy ? "ok" : "DEGRADED",
  ]);
  return formatTable(header, rows);
}

/** Assets that fail `--min-replicas`: fewer replicas than asked, or no leader. */
export function belowMinimum(assets: AssetStatus[], minReplicas: number | undefined): AssetStatus[] {
  if (minReplicas === undefined) return [];
  return assets.filter((a) => a.replicas < minReplicas || a.leader === null);
}

/** `jetflow streams status`: replicas, leader, followers and lag of every stream, consumer and KV bucket. */
export function registerStreamsStatus(streams: Command): void {
  withConnectionFlags(
    streams
      .command("status")
      .description("replicas, leader, follower state and lag of every jetflow stream, durable consumer and KV bucket")
      .option("--stream-prefix <prefix>", "stream name prefix (env JETFLOW_STREAM_PREFIX)")
      .option("--min-replicas <n>", "exit 1 when an asset has fewer replicas than this or no leader (e.g. 3 on a cluster)")
      .option("--json", "machine-readable output"),
  ).action(async (raw: Record<string, unknown>) => {
    const opts = parseOptions(StatusOptions, raw);
    const conn = parseOptions(ConnectionOptions, raw);
    const nc = await openConnection(conn);
    try {
      const jsm = await jetstreamManager(nc, { timeout: conn.timeout });
      // Right after a node is lost the cluster elects a new meta leader (~10 s on 2.9) and list
      // requests time out meanwhile: a status tool must still answer then, so it asks again (bounded).
      const assets = await pRetry(() => topologyStatus(jsm, { streamPrefix: opts.streamPrefix, prefix: conn.prefix }), {
        retries: 3,
        minTimeout: 500,
        shouldRetry: ({ error }) => /timeout|no responders|503/i.test(error.message),
        onFailedAttempt: ({ error, attemptNumber }) =>
          void process.stderr.write(
            `JetStream API did not answer (${error.message}; a leader election?), attempt ${attemptNumber}; retrying\n`,
          ),
      });
      const failing = belowMinimum(assets, opts.minReplicas);
      if (opts.json) process.stdout.write(`${JSON.stringify({ assets }, null, 2)}\n`);
      else process.stdout.write(`${streamsStatusTable(assets)}\n`);
      if (failing.length > 0) {
        process.stderr.write(
          `below --min-replicas ${opts.minReplicas} or leaderless: ${failing.map((a) => `${a.kind} ${a.name} (R${a.replicas}, leader ${a.leader ?? "none"})`).join(", ")}\n`,
        );
        process.exitCode = 1;
      }
    } finally {
      await nc.close();
    }
  });
}
