import type { Command } from "commander";
import { chmod, writeFile } from "node:fs/promises";
import { z } from "zod";
import { initNatsAuth, issueWorkerCreds } from "../../adapters/jetstream/auth/nats-auth.js";
import { readIssued } from "../../adapters/jetstream/auth/auth-dir.js";
import { revokeWorkerCreds } from "../../adapters/jetstream/auth/revoke.js";
import { createTopology } from "../../src/contract/topology.js";
import { parseOptions } from "../shared/parse-options.js";
import { Labels } from "../../worker-sdk/cli/flags.js";

const Name = z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, _ and - only");

/** `30d`, `12h`, `15m`, `90s` → milliseconds. */
const Duration = z
  .string()
  .regex(/^\d+[smhd]$/, "a number followed by s, m, h or d (e.g. 30d)")
  .transform((s) => Number(s.slice(0, -1)) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[s.at(-1) as "s" | "m" | "h" | "d"])
  .refine((ms) => ms > 0, "must be positive");

const Prefixes = {
  prefix: z.string().default(process.env.JETFLOW_PREFIX ?? "jetflow"),
  streamPrefix: z.string().default(process.env.JETFLOW_STREAM_PREFIX ?? "JETFLOW"),
};

const InitOptions = z.object({
  dir: z.string().min(1),
  force: z.boolean().default(false),
  resolverDir: z.string().min(1).optional(),
  json: z.boolean().default(false),
  ...Prefixes,
});

const IssueOptions = z.object({
  dir: z.string().min(1),
  queue: z.string().min(1),
  codeVersion: z.string().min(1),
  workerId: z.string().min(1).max(512),
  labels: Labels.optional(),
  name: Name.optional(),
  out: z.string().min(1).optional(),
  expires: Duration.prefault("30d"),
  /** Before --expires existed; wins when given. */
  expiresInDays: z.coerce.number().positive().optional(),
  json: z.boolean().default(false),
  ...Prefixes,
});

const ListOptions = z.object({ dir: z.string().min(1), json: z.boolean().default(false) });

const RevokeOptions = z.object({
  dir: z.string().min(1),
  servers: z.string().min(1).optional(),
  timeout: z.coerce.number().int().positive().default(5_000),
  json: z.boolean().default(false),
});

const print = (json: boolean, value: unknown, text: string) => process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : text);

/** `jetflow creds init|issue|list|revoke`: decentralized NATS credentials (operator/account/user JWTs). */
export function register(program: Command): void {
  const creds = program
    .command("creds")
    .description("NATS credentials: an operator, the JETFLOW and WORKERS accounts, and scoped worker users (docs/security.md)");
  creds
    .command("init")
    .description("create an operator, the JETFLOW/WORKERS/SYS accounts and an orchestrator user; writes resolver.conf for nats-server")
    .requiredOption("--dir <dir>", "directory for keys and JWTs (keep it private: it holds the signing seeds)")
    .option("--force", "replace existing keys (every issued credential stops working)")
    .option("--resolver-dir <dir>", "where nats-server stores account JWTs (default <dir>/jwt)")
    .option("--prefix <prefix>", "subject prefix the account exports are signed for (env JETFLOW_PREFIX)")
    .option("--stream-prefix <prefix>", "stream name prefix (env JETFLOW_STREAM_PREFIX)")
    .option("--json", "machine-readable output")
    .action(async (raw: Record<string, unknown>) => {
      const o = parseOptions(InitOptions, raw);
      const r = await initNatsAuth(o.dir, {
        force: o.force,
        prefix: o.prefix,
        streamPrefix: o.streamPrefix,
        ...(o.resolverDir ? { resolverDir: o.resolverDir } : {}),
      });
      print(
        o.json,
        r,
        `accounts JETFLOW ${r.accountPublicKey}, WORKERS ${r.workersAccountPublicKey}\n` +
          `server config: add \`include ${r.resolverConf}\` to nats-server.conf (with jetstream enabled)\n` +
          `orchestrator credentials: ${r.orchestratorCreds}\n`,
      );
    });
  creds
    .command("issue")
    .description(
      "issue a credential for ONE worker: pull, ack and report for one queue at one code version, its own registry entry and control subject",
    )
    .requiredOption("--dir <dir>", "the directory `creds init` wrote")
    .requiredOption("--queue <queue>", "the task queue")
    .requiredOption("--code-version <version>", "the stage code version the worker runs")
    .requiredOption("--worker-id <id>", "the worker's id (its --worker-id): the only registry entry and control subject it may use")
    .option("--labels <k=v,...>", "the worker's labels (its --labels): it may also pull the tasks of every label set they satisfy")
    .option("--name <name>", "user name; also the inbox prefix _INBOX_<name> (default worker-<queue>-<worker id>)")
    .option("--out <file>", "where to write the .creds file (default ./<name>.creds)")
    .option("--expires <duration>", "lifetime: 30d, 12h, 15m, 90s (default 30d)")
    .option("--expires-in-days <days>", "lifetime in days (older form of --expires)")
    .option("--prefix <prefix>", "subject prefix (env JETFLOW_PREFIX); must match creds init")
    .option("--stream-prefix <prefix>", "stream name prefix (env JETFLOW_STREAM_PREFIX); must match creds init")
    .option("--json", "machine-readable output")
    .action(async (raw: Record<string, unknown>) => {
      const o = parseOptions(IssueOptions, raw);
      const name = o.name ?? parseOptions(Name, `worker-${o.queue}-${o.workerId}`.replace(/[^A-Za-z0-9_-]/g, "_"));
      const topology = createTopology({ prefix: o.prefix, streamPrefix: o.streamPrefix });
      const expiresAt = new Date(Date.now() + (o.expiresInDays ? o.expiresInDays * 86_400_000 : o.expires));
      const issued = await issueWorkerCreds(o.dir, topology, {
        queue: o.queue,
        codeVersion: o.codeVersion,
        workerId: o.workerId,
        ...(o.labels ? { labels: o.labels } : {}),
        name,
        expiresAt,
      });
      const out = o.out ?? `${name}.creds`;
      await writeFile(out, issued.creds, { mode: 0o600 });
      await chmod(out, 0o600);
      const summary = {
        file: out,
        name,
        publicKey: issued.publicKey,
        workerId: o.workerId,
        inboxPrefix: issued.permissions.inboxPrefix,
        publish: issued.permissions.publish,
        subscribe: issued.permissions.subscribe,
        expiresAt: issued.expiresAt,
      };
      print(
        o.json,
        summary,
        `wrote ${out} (user ${name} ${issued.publicKey}, worker id ${o.workerId}, expires ${expiresAt.toISOString()})\n` +
          `connect with inbox prefix ${summary.inboxPrefix}\n` +
          `may publish: ${summary.publish.join(", ")}\nmay subscribe: ${summary.subscribe.join(", ")}\n`,
      );
    });
  creds
    .command("list")
    .description("the worker credentials issued from this directory")
    .requiredOption("--dir <dir>", "the directory `creds init` wrote")
    .option("--json", "machine-readable output")
    .action(async (raw: Record<string, unknown>) => {
      const o = parseOptions(ListOptions, raw);
      const list = await readIssued(o.dir);
      const now = Date.now();
      const state = (c: (typeof list)[number]) =>
        c.revokedAt ? `revoked ${c.revokedAt}` : c.expiresAt && Date.parse(c.expiresAt) <= now ? "expired" : "valid";
      print(
        o.json,
        list,
        list
          .map(
            (c) =>
              `${c.name}\t${c.publicKey}\tqueue=${c.queue}\tversion=${c.codeVersion}\tworker=${c.workerId}\t` +
              `issued=${c.issuedAt}\texpires=${c.expiresAt ?? "never"}\t${state(c)}\n`,
          )
          .join(""),
      );
    });
  creds
    .command("revoke <who>")
    .description("revoke a worker credential (its name or user public key); with --servers the running server drops it at once")
    .requiredOption("--dir <dir>", "the directory `creds init` wrote")
    .option("-s, --servers <urls>", "push the updated WORKERS account to this server (as the SYS user of --dir)")
    .option("--timeout <ms>", "bound on connecting and on the server's answer (default 5000)")
    .option("--json", "machine-readable output")
    .action(async (who: string, raw: Record<string, unknown>) => {
      const o = parseOptions(RevokeOptions, raw);
      const r = await revokeWorkerCreds(o.dir, who, { ...(o.servers ? { servers: o.servers } : {}), timeoutMs: o.timeout });
      print(
        o.json,
        r,
        `revoked ${r.cred?.name ?? "user"} ${r.publicKey} at ${r.revokedAt.toISOString()}\n` +
          (r.pushed
            ? `pushed to ${o.servers}: ${r.pushed}\n`
            : `not pushed: a running server still accepts it until you run this again with --servers\n`),
      );
    });
}
