import type { Command } from "commander";
import { hostname } from "node:os";
import { z } from "zod";
import { WsListReply, WsProjectStatus, workerServiceSubject, type WsOp } from "../../src/contract/worker-service.js";
import { ConnectionOptions, openConnection, withConnectionFlags } from "../shared/connection.js";
import { parseOptions } from "../shared/parse-options.js";
import { Labels } from "../../worker-sdk/cli/flags.js";
import { registerPassThrough } from "./worker.js";

const ServiceId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, _ and -")
  .default(process.env.JETFLOW_WORKER_SERVICE_ID ?? hostname().replace(/[^A-Za-z0-9_-]/g, "_"));

const ClientOptions = z.object({ serviceId: ServiceId, json: z.boolean().default(false) });

/** Sends one worker-service request; exits 1 with the service's message on an error reply. */
async function request(raw: Record<string, unknown>, op: WsOp, body: unknown): Promise<unknown> {
  const conn = parseOptions(ConnectionOptions, raw);
  const o = parseOptions(ClientOptions, raw);
  const nc = await openConnection(conn);
  try {
    const m = await nc.request(workerServiceSubject(conn.prefix, o.serviceId, op), JSON.stringify(body), { timeout: conn.timeout });
    const parsed = JSON.parse(m.string()) as { error?: { code: string; message: string } };
    if (m.headers?.get("Nats-Service-Error-Code") || parsed.error) {
      process.stderr.write(`error: ${parsed.error?.code ?? "ERROR"}: ${parsed.error?.message ?? m.string()}\n`);
      process.exitCode = 1;
      return null;
    }
    return parsed;
  } finally {
    await nc.close();
  }
}

function printProjects(projects: WsProjectStatus[], json: boolean): void {
  if (json) return void process.stdout.write(`${JSON.stringify(projects, null, 2)}\n`);
  const rows = [["PROJECT", "QUEUE", "VERSION", "GEN", "STATUS", "RESTARTS", "IN-FLIGHT", "DONE", "FAILED", "ERROR"]];
  for (const p of projects)
    rows.push([
      p.project,
      p.queue,
      p.codeVersion,
      String(p.generation),
      p.status,
      String(p.restarts),
      `${p.inFlight}/${p.capacity}`,
      String(p.completed),
      String(p.failed),
      // The last crash (why it restarts or failed) first, else why the last reload was refused.
      p.lastError?.message ?? (p.lastReloadError ? `reload refused: ${p.lastReloadError}` : ""),
    ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd()}\n`,
    );
}

/** `jetflow worker-service`: many per-project workers in one process, steered over NATS. */
export function register(program: Command): void {
  const ws = program
    .command("worker-service")
    .description("run a worker service (per-project workers started by NATS request), or send it requests");
  registerPassThrough(
    ws,
    "serve",
    "run the worker service process until SIGTERM, then drain every project (`serve --help` lists the flags)",
    "worker-service",
  );

  withConnectionFlags(
    ws
      .command("start <project>")
      .description("start a project's worker on a service")
      .requiredOption("--queue <queue>", "task queue")
      .option("--module <module>", "activity module: a path on the service's machine, or a package name")
      .option("--from-store", "load the queue's bundle deployed with `jetflow deploy` instead of --module (docs/deploy.md)")
      .option("--follow", "with --from-store: follow the queue's current version (deploy, rollback): start the new one, drain the old")
      .option("--code-version <version>", "defaults to the module's exported version")
      .option("--concurrency <n>", "max concurrent tasks")
      .option("--labels <k=v,...>", "worker labels")
      .option("--no-watch", "do not reload the module when its file changes")
      .option("--service-id <id>", "target service")
      .option("--json", "machine-readable output"),
  ).action(async (project: string, raw: Record<string, unknown>) => {
    const body = {
      project,
      queue: raw.queue,
      ...(raw.fromStore ? { fromStore: true } : { module: raw.module }),
      ...(raw.follow ? { follow: true } : {}),
      ...(raw.codeVersion ? { codeVersion: raw.codeVersion } : {}),
      ...(raw.concurrency ? { concurrency: Number(raw.concurrency) } : {}),
      ...(raw.labels ? { labels: parseOptions(z.object({ labels: Labels }), raw).labels } : {}),
      watch: raw.watch !== false,
    };
    const r = await request(raw, "start", body);
    if (r) printProjects([WsProjectStatus.parse(r)], raw.json === true);
  });

  const descriptions = {
    stop: "stop a project's worker (drains in-flight tasks)",
    restart: "stop a project's worker (drains in-flight tasks) and start it again on freshly loaded code",
    status: "one project's status (--json includes the last crash's stack)",
  };
  for (const op of ["stop", "restart", "status"] as const) {
    withConnectionFlags(
      ws
        .command(`${op} <project>`)
        .description(descriptions[op])
        .option("--service-id <id>", "target service")
        .option("--json", "machine-readable output"),
    ).action(async (project: string, raw: Record<string, unknown>) => {
      const r = await request(raw, op, { project });
      if (r) printProjects([WsProjectStatus.parse(r)], raw.json === true);
    });
  }

  withConnectionFlags(
    ws
      .command("list")
      .description("every project of a service")
      .option("--service-id <id>", "target service")
      .option("--json", "machine-readable output"),
  ).action(async (raw: Record<string, unknown>) => {
    const r = await request(raw, "list", {});
    if (r) printProjects(WsListReply.parse(r).projects, raw.json === true);
  });
}
