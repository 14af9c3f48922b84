/**
 * `jetflow projects set|remove|list`: the desired state that worker services started with
 * `serve --placement` share out among themselves (docs/worker-service.md, "Placement").
 */
import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import {
  listPlacement,
  parseProjectPlacement,
  removeProjectPlacement,
  setProjectPlacement,
} from "../../adapters/jetstream/placement/desired-state.js";
import { Labels } from "../../worker-sdk/cli/flags.js";
import { ConnectionOptions, openConnection, withConnectionFlags } from "../shared/connection.js";
import { parseOptions } from "../shared/parse-options.js";
import { formatTable } from "../shared/table.js";

const SetOptions = z.object({
  queue: z.string({ error: "is required" }).min(1),
  module: z.string().min(1).optional(),
  fromStore: z.boolean().optional(),
  codeVersion: z.string().min(1).optional(),
  concurrency: z.coerce.number().int().min(1).optional(),
  replicas: z.coerce.number().int().min(0).max(64).default(1),
  requires: Labels.optional(),
  labels: Labels.optional(),
  watch: z.boolean().default(true),
  json: z.boolean().default(false),
});

const print = (json: boolean, value: unknown, text: string) => process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : text);

async function withNats<T>(raw: Record<string, unknown>, fn: (nc: NatsConnection, prefix: string) => Promise<T>): Promise<T> {
  const conn = parseOptions(ConnectionOptions, raw);
  const nc = await openConnection(conn, "jetflow-projects");
  try {
    return await fn(nc, conn.prefix);
  } finally {
    await nc.close();
  }
}

/** `jetflow projects`: the desired state of placed projects, and where their replicas run. */
export function register(program: Command): void {
  const projects = program
    .command("projects")
    .description("desired state of projects placed across worker services (`worker-service serve --placement`): set|remove|list");

  withConnectionFlags(
    projects
      .command("set <project>")
      .description("create or replace a project's desired state; placing services start, move or restart its replicas")
      .option("--queue <queue>", "task queue (required)")
      .option("--module <module>", "activity module: a path on the services' machines, or a package name")
      .option("--from-store", "load the queue's bundle deployed with `jetflow deploy` instead of --module")
      .option("--code-version <version>", "defaults to the module's exported version (or the queue's current bundle)")
      .option("--concurrency <n>", "max concurrent tasks per replica")
      .option("--replicas <n>", "how many services run it, at most one replica each (default 1)")
      .option("--requires <k=v,...>", "labels a service must have to run it (`serve --labels`)")
      .option("--labels <k=v,...>", "worker labels of its workers (label routing of tasks)")
      .option("--no-watch", "do not reload the module when its file changes")
      .option("--json", "machine-readable output"),
  ).action(async (project: string, raw: Record<string, unknown>) => {
    const o = parseOptions(SetOptions, raw);
    // Checked before connecting: a bad record is refused even when NATS is unreachable.
    const record = parseProjectPlacement({
      project,
      queue: o.queue,
      ...(o.fromStore ? { fromStore: true } : { module: o.module }),
      ...(o.codeVersion ? { codeVersion: o.codeVersion } : {}),
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      ...(o.labels ? { labels: o.labels } : {}),
      watch: o.watch,
      replicas: o.replicas,
      requires: o.requires ?? {},
    });
    const spec = await withNats(raw, (nc, prefix) => setProjectPlacement(nc, prefix, record));
    print(o.json, spec, `project ${spec.project}: ${spec.replicas} replica(s) of queue ${spec.queue}\n`);
  });

  withConnectionFlags(
    projects
      .command("remove <project>")
      .description("remove a project's desired state; its services stop it and release their claims")
      .option("--json", "machine-readable output"),
  ).action(async (project: string, raw: Record<string, unknown>) => {
    await withNats(raw, (nc, prefix) => removeProjectPlacement(nc, prefix, project));
    print(raw.json === true, { project, removed: true }, `project ${project} removed\n`);
  });

  withConnectionFlags(
    projects
      .command("list")
      .description("desired replicas against running ones, and which service holds each replica")
      .option("--json", "machine-readable output"),
  ).action(async (raw: Record<string, unknown>) => {
    const listing = await withNats(raw, (nc, prefix) => listPlacement(nc, prefix));
    const rows = listing.projects.map((p) => [
      p.spec.project,
      p.spec.queue,
      p.spec.fromStore ? `store:${p.spec.codeVersion ?? "current"}` : (p.spec.codeVersion ?? ""),
      `${p.running}/${p.spec.replicas}`,
      Object.entries(p.spec.requires)
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
      p.replicas.map((r) => `${r.replica}:${r.serviceId}(${r.lapsed ? "lapsed" : r.status})`).join(" ") +
        (p.replicas.find((r) => r.error) ? `  ${p.replicas.find((r) => r.error)!.error}` : ""),
    ]);
    const text =
      listing.projects.length === 0
        ? "no projects in the desired state"
        : formatTable(["PROJECT", "QUEUE", "VERSION", "RUNNING", "REQUIRES", "REPLICAS"], rows);
    print(raw.json === true, listing, `${text}\n`);
  });
}
