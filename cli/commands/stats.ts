import type { Command } from "commander";
import { z } from "zod";
import { createJetflowClient } from "../../adapters/jetstream/api/client.js";
import { ConnectionOptions, openConnection, withConnectionFlags } from "../shared/connection.js";
import { parseOptions } from "../shared/parse-options.js";

/** `jetflow stats`: run counts by status, queued jobs and remote tasks nobody can serve, from any orchestrator. */
export function register(program: Command): void {
  withConnectionFlags(
    program.command("stats").description("run counts by status and queued jobs").option("--json", "machine-readable output"),
  ).action(async (raw: Record<string, unknown>) => {
    const { json } = parseOptions(z.object({ json: z.boolean().default(false) }), raw);
    const opts = parseOptions(ConnectionOptions, raw);
    const nc = await openConnection(opts);
    try {
      const stats = await createJetflowClient(nc, { prefix: opts.prefix, timeoutMs: opts.timeout }).stats();
      if (json) {
        process.stdout.write(`${JSON.stringify(stats, null, 2)}\n`);
        return;
      }
      const lines = Object.entries(stats.runs).map(([status, n]) => `  ${status.padEnd(10)} ${n}`);
      const unserved = stats.unservedTasks ?? [];
      const waiting = unserved.map(
        (t) => `  ${t.taskId} (run ${t.workflowRunId}, stage ${t.stageId}, ${Math.round(t.waitingMs / 1000)} s): ${t.reason}`,
      );
      process.stdout.write(
        `runs\n${lines.join("\n")}\njobs queued: ${stats.jobsQueued ?? "n/a"}\n` +
          (unserved.length > 0 ? `remote tasks no live worker can serve: ${unserved.length}\n${waiting.join("\n")}\n` : "") +
          `answered by ${stats.service.name} ${stats.service.version} (${stats.service.instanceId})\n`,
      );
    } finally {
      await nc.close();
    }
  });
}
