import type { Command } from "commander";
import { z } from "zod";
import { listWorkers, sendWorkerControl, type WorkerListing } from "../../adapters/jetstream/fleet/index.js";
import type { ControlOp, ControlReply } from "../../src/contract/fleet.js";
import { summarizeFleet } from "../../src/contract/fleet-summary.js";
import { ConnectionOptions, openConnection, withConnectionFlags } from "../shared/connection.js";
import { parseOptions } from "../shared/parse-options.js";
import { formatTable } from "../shared/table.js";

const ListOptions = z.object({
  json: z.boolean().default(false),
  queue: z.string().min(1).optional(),
  unhealthyAfter: z.coerce.number().int().positive().default(60_000),
});
const ControlOptions = z.object({ json: z.boolean().default(false) });

/** "3s ago", "4m ago", "2h ago". */
function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

/** "850ms", "2.4s"; "-" when the worker did not say. */
function duration(ms: number | undefined): string {
  if (ms === undefined) return "-";
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

/** The first line of an error message, so the table stays one row per worker. */
const firstLine = (m: string) => m.split("\n", 1)[0]!;

/** One line per queue: workers by status, tasks in flight on live workers, capacity of the workers still pulling. */
export function queueSummaryLines(workers: WorkerListing[]): string[] {
  return summarizeFleet(workers).queues.map((q) => {
    const total = Object.values(q.byStatus).reduce((n, c) => n + c, 0);
    const statuses = Object.entries(q.byStatus)
      .map(([status, n]) => `${n} ${status}`)
      .join(", ");
    return `queue ${q.queue}: ${total} worker${total === 1 ? "" : "s"} (${statuses}), in-flight ${q.inFlight}, capacity ${q.capacity}`;
  });
}

/** The `workers list` table: one row per worker, columns padded to their widest cell, then one summary line per queue. */
export function workersTable(workers: WorkerListing[]): string {
  if (workers.length === 0) return "no workers registered";
  const header = ["ID", "QUEUE", "LABELS", "VERSION", "IN-FLIGHT", "STATUS", "RESTARTS", "CODE LOAD", "LAST SEEN", "LAST ERROR"];
  const rows = workers.map((w) => [
    w.id,
    w.queue,
    Object.entries(w.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",") || "-",
    w.stageCodeVersion,
    `${w.inFlight}/${w.maxConcurrentTasks}`,
    w.healthy ? w.status : `${w.status} (unhealthy)`,
    w.restarts === undefined ? "-" : String(w.restarts),
    duration(w.codeLoadMs),
    ago(w.lastSeenMs),
    w.error ? firstLine(w.error.message) : "-",
  ]);
  return `${formatTable(header, rows)}\n\n${queueSummaryLines(workers).join("\n")}`;
}

function describeReply(r: ControlReply): string {
  const w = r.worker;
  if (!r.accepted) return `worker ${w.id}: ${r.op} refused: ${r.reason ?? "no reason given"}`;
  return `worker ${w.id}: ${w.status}, ${w.inFlight}/${w.maxConcurrentTasks} in flight (queue ${w.queue}, version ${w.stageCodeVersion})`;
}

/** `jetflow workers list|status|drain|stop`: see and steer the worker fleet over NATS (docs/fleet.md). */
export function register(program: Command): void {
  const workers = program.command("workers").description("list the registered workers; ask one for its status, drain it or stop it");

  withConnectionFlags(
    workers
      .command("list")
      .description(
        "every registered worker: id, queue, labels, version, in-flight/capacity, status, restarts, code load time, last seen, last error; then one summary line per queue",
      )
      .option("--queue <queue>", "only workers of this queue")
      .option("--unhealthy-after <ms>", "call a worker unhealthy after this long without a heartbeat (default 60000)")
      .option("--json", "machine-readable output"),
  ).action(async (raw: Record<string, unknown>) => {
    const o = parseOptions(ListOptions, raw);
    const conn = parseOptions(ConnectionOptions, raw);
    const nc = await openConnection(conn);
    try {
      const list = await listWorkers(nc, {
        prefix: conn.prefix,
        queue: o.queue,
        unhealthyAfterMs: o.unhealthyAfter,
        timeoutMs: conn.timeout,
        onInvalid: (key, reason) => process.stderr.write(`warning: skipped registry entry ${key}: ${reason}\n`),
      });
      process.stdout.write(o.json ? `${JSON.stringify(list, null, 2)}\n` : `${workersTable(list)}\n`);
    } finally {
      await nc.close();
    }
  });

  const control = (op: ControlOp, description: string) =>
    withConnectionFlags(workers.command(`${op} <workerId>`).description(description).option("--json", "machine-readable output")).action(
      async (workerId: string, raw: Record<string, unknown>) => {
        const o = parseOptions(ControlOptions, raw);
        const conn = parseOptions(ConnectionOptions, raw);
        const nc = await openConnection(conn);
        try {
          const reply = await sendWorkerControl(nc, workerId, op, { prefix: conn.prefix, timeoutMs: conn.timeout });
          process.stdout.write(o.json ? `${JSON.stringify(reply, null, 2)}\n` : `${describeReply(reply)}\n`);
          if (!reply.accepted) process.exitCode = 1;
        } finally {
          await nc.close();
        }
      },
    );
  control("status", "ask one worker for its current state");
  control("drain", "finish the worker's in-flight tasks, pull nothing new, then stop it (a `jetflow worker` process exits 0)");
  control("stop", "stop the worker now: in-flight tasks are aborted and go back to the queue");
}
