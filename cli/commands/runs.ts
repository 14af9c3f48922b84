import { InvalidArgumentError, Option, type Command } from "commander";
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { createJetflowClient } from "../../adapters/jetstream/api/client.js";
import type { JetflowClient } from "../../adapters/jetstream/api/client.js";
import type { ApiReply } from "../../src/contract/api-messages.js";
import { ConnectionOptions, openConnection, withConnectionFlags } from "../shared/connection.js";
import { parseOptions, readJsonArgument } from "../shared/parse-options.js";
import { watchRun } from "../../adapters/jetstream/api/watch-run.js";
import { registerRunCosts } from "./costs.js";
import type { RunEventMessage, WatchResult } from "../../adapters/jetstream/api/watch-run.js";

const Output = z.object({ json: z.boolean().default(false) });

/** Runs `fn` with a connected API client and always closes the connection. */
async function withClient<T>(
  raw: Record<string, unknown>,
  fn: (client: JetflowClient, conn: { nc: Awaited<ReturnType<typeof openConnection>>; opts: ConnectionOptions }) => Promise<T>,
): Promise<T> {
  const opts = parseOptions(ConnectionOptions, raw);
  const nc = await openConnection(opts);
  try {
    return await fn(createJetflowClient(nc, { prefix: opts.prefix, timeoutMs: opts.timeout }), { nc, opts });
  } finally {
    await nc.close();
  }
}

/** Exit code for a run outcome: 0 completed, 2 failed, 3 cancelled, 4 timed out. */
function exitCodeFor(status: WatchResult["status"]): number {
  return { COMPLETED: 0, FAILED: 2, CANCELLED: 3, TIMEOUT: 4 }[status];
}

function print(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

/** The human-readable `runs get` output: run, stages (with why a parked stage waits), error, output, logs. */
export function describeRun(view: ApiReply<"runs.get">): string {
  const { run, stages } = view;
  const lines = [
    `run ${run.id}  ${run.workflowId}  ${run.status}`,
    `  created ${run.createdAt}${run.completedAt ? `  ended ${run.completedAt}` : ""}`,
  ];
  const waits = new Map((view.waiting ?? []).map((w) => [w.stageId, w]));
  for (const s of stages) {
    lines.push(
      `  [${s.groupIndex}] ${s.stageId.padEnd(24)} ${s.status.padEnd(10)} attempt ${s.attempt}/${s.maxAttempts}${s.error ? `  ${s.error}` : ""}`,
    );
    const w = waits.get(s.stageId);
    if (w) lines.push(`      waiting (${w.reason}) since ${w.since}: ${w.detail}`);
  }
  if (run.error) lines.push(`  error: ${run.error}`);
  if (run.output !== null) lines.push(`  output: ${JSON.stringify(run.output)}`);
  for (const l of view.logs ?? []) lines.push(`  ${l.createdAt} ${l.level} ${l.stageId ?? "-"} ${l.message}`);
  return lines.join("\n");
}

function describeEvent(e: RunEventMessage): string {
  const stage = e.stageId ? ` ${e.stageId}` : "";
  const error = typeof e.data.error === "string" ? `  ${e.data.error}` : "";
  return `${e.timestamp}  ${e.type}${stage}${error}`;
}

/** `jetflow runs create|get|list|cancel|rerun|watch` over the NATS API. */
export function register(program: Command): void {
  const runs = program.command("runs").description("submit, inspect, cancel and follow workflow runs");
  registerRunCosts(runs);

  withConnectionFlags(
    runs
      .command("create <workflowId>")
      .description("submit a run; --wait follows it and exits with its outcome (0 completed, 2 failed, 3 cancelled, 4 timeout)")
      .requiredOption("-i, --input <json|@file>", "run input as JSON or @path/to/file.json")
      .option("--stage-config <json|@file>", "per-stage config keyed by stage id")
      // Older spelling, kept working: elsewhere -c/--config names a config file (jetflow orchestrator).
      .addOption(new Option("-c, --config <json|@file>", "deprecated: use --stage-config").hideHelp())
      .option("-k, --idempotency-key <key>", "retries with the same key return the same run (default: a new uuid)")
      .option("--priority <n>", "higher runs are claimed first")
      .option("-w, --wait", "wait for the run to end and print its output")
      .option("--wait-timeout <ms>", "give up waiting after this long", "600000")
      .option("--json", "machine-readable output"),
  ).action(async (workflowId: string, raw: Record<string, unknown>) => {
    const o = parseOptions(
      Output.extend({
        idempotencyKey: z.string().min(1).optional(),
        priority: z.coerce.number().int().optional(),
        wait: z.boolean().default(false),
        waitTimeout: z.coerce.number().int().positive(),
      }),
      raw,
    );
    const input = await readJsonArgument(String(raw.input), "--input");
    if (raw.config !== undefined) {
      if (raw.stageConfig !== undefined)
        throw new InvalidArgumentError("give --stage-config only (-c/--config is its deprecated spelling)");
      process.stderr.write("warning: `runs create -c/--config` is deprecated, use --stage-config (-c is a config file elsewhere)\n");
    }
    const stageConfig = raw.stageConfig ?? raw.config;
    const config = stageConfig
      ? ((await readJsonArgument(String(stageConfig), raw.stageConfig !== undefined ? "--stage-config" : "--config")) as Record<
          string,
          unknown
        >)
      : undefined;
    const code = await withClient(raw, async (client, { nc, opts }) => {
      const created = await client.createRun({
        workflowId,
        input,
        config,
        idempotencyKey: o.idempotencyKey ?? randomUUID(),
        priority: o.priority,
      });
      if (!o.wait) {
        print(o.json, created, () => `${created.created ? "created" : "existing"} run ${created.workflowRunId} (${created.status})`);
        return 0;
      }
      if (!o.json) process.stdout.write(`run ${created.workflowRunId} submitted, waiting...\n`);
      const result = await watchRun(nc, client, created.workflowRunId, {
        prefix: opts.prefix,
        timeoutMs: o.waitTimeout,
        onEvent: o.json ? undefined : (e) => process.stdout.write(`  ${describeEvent(e)}\n`),
      });
      print(o.json, { workflowRunId: created.workflowRunId, ...result }, () =>
        result.status === "COMPLETED" ? JSON.stringify(result.output, null, 2) : `run ${result.status}: ${result.error ?? ""}`,
      );
      return exitCodeFor(result.status);
    });
    process.exitCode = code;
  });

  withConnectionFlags(
    runs
      .command("get <runId>")
      .description("show a run and its stages")
      .option("--logs <n>", "include the last n log lines")
      .option("--json", "machine-readable output"),
  ).action(async (runId: string, raw: Record<string, unknown>) => {
    const o = parseOptions(Output.extend({ logs: z.coerce.number().int().min(0).max(1000).optional() }), raw);
    await withClient(raw, async (client) => {
      const view = await client.getRun({ workflowRunId: runId, logs: o.logs });
      print(o.json, view, () => describeRun(view));
    });
  });

  withConnectionFlags(
    runs
      .command("list")
      .description("list runs, newest first")
      .option("--workflow <id>", "only this workflow")
      .option("--status <statuses>", "comma-separated statuses, e.g. RUNNING,FAILED")
      .option("--limit <n>", "at most n runs", "20")
      .option("--json", "machine-readable output"),
  ).action(async (raw: Record<string, unknown>) => {
    const o = parseOptions(
      Output.extend({
        workflow: z.string().optional(),
        status: z.string().optional(),
        limit: z.coerce.number().int().min(1).max(500),
      }),
      raw,
    );
    await withClient(raw, async (client) => {
      const reply = await client.listRuns({
        workflowId: o.workflow,
        status: o.status ? (o.status.split(",").map((s) => s.trim().toUpperCase()) as never) : undefined,
        limit: o.limit,
      });
      print(o.json, reply, () =>
        reply.runs.length === 0
          ? "no runs"
          : reply.runs.map((r) => `${r.id}  ${r.workflowId.padEnd(20)} ${r.status.padEnd(10)} ${r.createdAt}`).join("\n"),
      );
    });
  });

  withConnectionFlags(
    runs
      .command("cancel <runId>")
      .description("cancel a run (stops in-flight activities)")
      .option("--reason <text>", "why")
      .option("--json", "machine-readable output"),
  ).action(async (runId: string, raw: Record<string, unknown>) => {
    const o = parseOptions(Output.extend({ reason: z.string().optional() }), raw);
    await withClient(raw, async (client) => {
      const reply = await client.cancelRun({ workflowRunId: runId, reason: o.reason });
      print(o.json, reply, () => (reply.cancelled ? `run ${runId} cancelled` : `run ${runId} was already ${reply.status}`));
    });
  });

  withConnectionFlags(
    runs
      .command("rerun <runId>")
      .description("re-run a finished run from a stage")
      .requiredOption("--from <stageId>", "first stage to run again")
      .option("--json", "machine-readable output"),
  ).action(async (runId: string, raw: Record<string, unknown>) => {
    const o = parseOptions(Output.extend({ from: z.string().min(1) }), raw);
    await withClient(raw, async (client) => {
      const reply = await client.rerun({ workflowRunId: runId, fromStageId: o.from });
      print(
        o.json,
        reply,
        () =>
          `run ${runId} re-running from ${o.from}: reset ${reply.resetStageIds.join(", ")}; deleted ${reply.deletedArtifacts} artifact(s)`,
      );
    });
  });

  withConnectionFlags(
    runs
      .command("watch <runId>")
      .description("follow a run stage by stage; exits 0 completed, 2 failed, 3 cancelled, 4 timeout")
      .option("--wait-timeout <ms>", "give up after this long", "3600000")
      .option("--json", "print events as JSON lines"),
  ).action(async (runId: string, raw: Record<string, unknown>) => {
    const o = parseOptions(Output.extend({ waitTimeout: z.coerce.number().int().positive() }), raw);
    const code = await withClient(raw, async (client, { nc, opts }) => {
      const view = await client.getRun({ workflowRunId: runId });
      if (!o.json) process.stdout.write(`${describeRun(view)}\n`);
      const result = await watchRun(nc, client, runId, {
        prefix: opts.prefix,
        timeoutMs: o.waitTimeout,
        onEvent: (e) => process.stdout.write(o.json ? `${JSON.stringify(e)}\n` : `  ${describeEvent(e)}\n`),
      });
      print(o.json, result, () => `run ${result.status}${result.error ? `: ${result.error}` : ""}`);
      return exitCodeFor(result.status);
    });
    process.exitCode = code;
  });
}
