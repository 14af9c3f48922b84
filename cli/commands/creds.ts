import type { Command } from "commander";
import { chmod, writeFile } from "node:fs/promises";
import { z } from "zod";
import { initNatsAuth, issueWorkerCreds } from "../../adapters/jetstream/auth/nats-auth.js";
import { createTopology } from "../../src/contract/topology.js";
import { parseOptions } from "../shared/parse-options.js";

const Name = z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, _ and - only");

const InitOptions = z.object({
  dir: z.string().min(1),
  force: z.boolean().default(false),
  json: z.boolean().default(false),
});

const IssueOptions = z.object({
  dir: z.string().min(1),
  queue: z.string().min(1),
  codeVersion: z.string().min(1),
  name: Name.optional(),
  out: z.string().min(1).optional(),
  expiresInDays: z.coerce.number().positive().optional(),
  prefix: z.string().default(process.env.JETFLOW_PREFIX ?? "jetflow"),
  streamPrefix: z.string().default(process.env.JETFLOW_STREAM_PREFIX ?? "JETFLOW"),
  json: z.boolean().default(false),
});

/** `jetflow creds init|issue`: decentralized NATS credentials (operator/account/user JWTs). */
export function register(program: Command): void {
  const creds = program
    .command("creds")
    .description("NATS credentials: an operator/account for jetflow and scoped worker users (docs/security.md)");
  creds
    .command("init")
    .description("create an operator, the JETFLOW account and an orchestrator user; writes resolver.conf for nats-server")
    .requiredOption("--dir <dir>", "directory for keys and JWTs (keep it private: it holds the signing seeds)")
    .option("--force", "replace existing keys (every issued credential stops working)")
    .option("--json", "machine-readable output")
    .action(async (raw: Record<string, unknown>) => {
      const o = parseOptions(InitOptions, raw);
      const r = await initNatsAuth(o.dir, { force: o.force });
      if (o.json) return void process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      process.stdout.write(
        `account ${r.accountPublicKey}\n` +
          `server config: add \`include ${r.resolverConf}\` to nats-server.conf (with jetstream enabled)\n` +
          `orchestrator credentials: ${r.orchestratorCreds}\n`,
      );
    });
  creds
    .command("issue")
    .description("issue a worker credential that may only pull, ack and report for one queue at one code version")
    .requiredOption("--dir <dir>", "the directory `creds init` wrote")
    .requiredOption("--queue <queue>", "the task queue")
    .requiredOption("--code-version <version>", "the stage code version the worker runs")
    .option("--name <name>", "user name; also the inbox prefix _INBOX_<name> (default worker-<queue>)")
    .option("--out <file>", "where to write the .creds file (default ./<name>.creds)")
    .option("--expires-in-days <days>", "expiry of the credential")
    .option("--prefix <prefix>", "subject prefix (env JETFLOW_PREFIX)")
    .option("--stream-prefix <prefix>", "stream name prefix (env JETFLOW_STREAM_PREFIX)")
    .option("--json", "machine-readable output")
    .action(async (raw: Record<string, unknown>) => {
      const o = parseOptions(IssueOptions, raw);
      const name = o.name ?? parseOptions(Name, `worker-${o.queue}`.replace(/[^A-Za-z0-9_-]/g, "_"));
      const topology = createTopology({ prefix: o.prefix, streamPrefix: o.streamPrefix });
      const expiresAt = o.expiresInDays ? new Date(Date.now() + o.expiresInDays * 86_400_000) : undefined;
      const issued = await issueWorkerCreds(o.dir, topology, {
        queue: o.queue,
        codeVersion: o.codeVersion,
        name,
        ...(expiresAt ? { expiresAt } : {}),
      });
      const out = o.out ?? `${name}.creds`;
      await writeFile(out, issued.creds, { mode: 0o600 });
      await chmod(out, 0o600);
      const summary = {
        file: out,
        name,
        inboxPrefix: issued.permissions.inboxPrefix,
        publish: issued.permissions.publish,
        subscribe: issued.permissions.subscribe,
        expiresAt: issued.expiresAt,
      };
      if (o.json) return void process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      process.stdout.write(
        `wrote ${out} (user ${name}${expiresAt ? `, expires ${expiresAt.toISOString()}` : ""})\n` +
          `connect with inbox prefix ${summary.inboxPrefix}\n` +
          `may publish: ${summary.publish.join(", ")}\nmay subscribe: ${summary.subscribe.join(", ")}\n`,
      );
    });
}
