import type { Command } from "commander";
import { createOperator } from "@nats-io/nkeys";
import { existsSync } from "node:fs";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { z } from "zod";
import { listBundles, openDeployStore, rollbackTo, type DeployStore } from "../../adapters/jetstream/deploy/bundle-store.js";
import { ValidationError } from "../../src/contract/errors.js";
import { operatorKeyFromSeed } from "../../worker-sdk/bundle-signature.js";
import { deployEntry } from "../deploy/deploy-entry.js";
import { ConnectionOptions, openConnection, withConnectionFlags } from "../shared/connection.js";
import { parseOptions } from "../shared/parse-options.js";
import { formatTable } from "../shared/table.js";

const Token = z.string({ error: "is required" }).min(1).max(256);
const Storage = z.enum(["file", "memory"]).default("file");

const DeployOptions = z.object({
  queue: Token,
  codeVersion: Token,
  /** A file holding the seed: a seed on the command line would show in `ps` and shell history. */
  signingKey: z
    .string()
    .min(1)
    .optional()
    .default(process.env.JETFLOW_DEPLOY_SIGNING_KEY_FILE ?? ""),
  activate: z.boolean().default(true),
  minify: z.boolean().default(false),
  storage: Storage,
  json: z.boolean().default(false),
});
const ListOptions = z.object({ queue: Token.optional(), storage: Storage, json: z.boolean().default(false) });
const RollbackOptions = z.object({ queue: Token, to: Token, storage: Storage, json: z.boolean().default(false) });
const KeygenOptions = z.object({ out: z.string().min(1), json: z.boolean().default(false) });

const print = (json: boolean, value: unknown, text: string) => process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : text);

/** The operator seed from --signing-key <file>, env JETFLOW_DEPLOY_SIGNING_KEY_FILE or env JETFLOW_DEPLOY_SIGNING_KEY. */
async function signingKey(file: string): Promise<ReturnType<typeof operatorKeyFromSeed>> {
  let seed = process.env.JETFLOW_DEPLOY_SIGNING_KEY ?? "";
  if (file) {
    try {
      seed = await readFile(file, "utf8");
    } catch (err) {
      throw new ValidationError("deploy options", [{ path: "signing-key", message: `cannot read ${file}: ${(err as Error).message}` }]);
    }
  }
  if (!seed)
    throw new ValidationError("deploy options", [
      {
        path: "signing-key",
        message: "required: a file holding the operator seed (or env JETFLOW_DEPLOY_SIGNING_KEY_FILE / JETFLOW_DEPLOY_SIGNING_KEY)",
      },
    ]);
  try {
    return operatorKeyFromSeed(seed);
  } catch (err) {
    throw new ValidationError("deploy options", [{ path: "signing-key", message: (err as Error).message }]);
  }
}

async function withStore<T>(raw: Record<string, unknown>, storage: "file" | "memory", fn: (s: DeployStore) => Promise<T>): Promise<T> {
  const conn = parseOptions(ConnectionOptions, raw);
  const nc = await openConnection(conn, "jetflow-deploy");
  try {
    return await fn(await openDeployStore(nc, { prefix: conn.prefix, storage }));
  } finally {
    await nc.close();
  }
}

/** `jetflow deploy <entry>|list|rollback|keygen`: signed activity bundles in JetStream (docs/deploy.md). */
export function register(program: Command): void {
  const deploy = program
    .command("deploy")
    .description("bundle an activity module, sign it and store it as (queue, code version); list|rollback|keygen (docs/deploy.md)");
  // `jetflow deploy <entry>` runs `push`, the default subcommand: options of a parent command would
  // swallow `--queue` meant for `deploy list`/`rollback`.
  withConnectionFlags(
    deploy
      .command("push <entry>", { isDefault: true })
      .description("bundle <entry> (exports `stages`), sign it, store it as (queue, version) and make it current")
      .option("-q, --queue <queue>", "the task queue the bundle serves (required)")
      .option("--code-version <version>", "the version to store it as; immutable once deployed (required)")
      .option("--signing-key <file>", "file holding the operator nkey seed (env JETFLOW_DEPLOY_SIGNING_KEY_FILE); never printed")
      .option("--no-activate", "store the version without making it the queue's current one")
      .option("--minify", "minify the bundle")
      .option("--storage <kind>", "file or memory: storage of the buckets when they are created (default file)")
      .option("--json", "machine-readable output"),
  ).action(async (entry: string, raw: Record<string, unknown>) => {
    const o = parseOptions(DeployOptions, raw);
    const key = await signingKey(o.signingKey);
    const r = await withStore(raw, o.storage, (store) =>
      deployEntry(store, key, { entry, queue: o.queue, version: o.codeVersion, minify: o.minify, activate: o.activate }),
    );
    for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
    const stages = r.stages;
    print(
      o.json,
      { status: r.status, record: r.record, current: r.current, stages },
      `${r.status === "created" ? "deployed" : "already deployed (same bytes)"} ${o.queue}/${o.codeVersion}: ` +
        `sha256 ${r.record.sha256}, ${r.record.size} bytes, stages ${stages.join(",")}, signer ${r.record.signer}\n` +
        (r.current ? `current version of ${o.queue}: ${r.current.version}\n` : ""),
    );
  });

  withConnectionFlags(
    deploy
      .command("list")
      .description("deployed versions: queue, version, sha256, size, signer, time, which is current")
      .option("-q, --queue <queue>", "only this queue")
      .option("--storage <kind>", "file or memory, when the buckets do not exist yet")
      .option("--json", "machine-readable output"),
  ).action(async (raw: Record<string, unknown>) => {
    const o = parseOptions(ListOptions, raw);
    const list = await withStore(raw, o.storage, (s) => listBundles(s, o.queue));
    const table =
      list.length === 0
        ? "no bundles deployed"
        : formatTable(
            ["QUEUE", "VERSION", "CURRENT", "SHA256", "SIZE", "SIGNER", "SIGNED AT"],
            list.map((b) => [
              b.queue,
              b.version,
              b.current ? "*" : "",
              b.sha256.slice(0, 12),
              String(b.size),
              b.signer.slice(0, 12),
              b.signedAt,
            ]),
          );
    print(o.json, list, `${table}\n`);
  });

  withConnectionFlags(
    deploy
      .command("rollback")
      .description("make an earlier deployed version the queue's current one")
      .requiredOption("-q, --queue <queue>", "the task queue")
      .requiredOption("--to <version>", "the deployed version to make current")
      .option("--storage <kind>", "file or memory, when the buckets do not exist yet")
      .option("--json", "machine-readable output"),
  ).action(async (raw: Record<string, unknown>) => {
    const o = parseOptions(RollbackOptions, raw);
    const c = await withStore(raw, o.storage, (s) => rollbackTo(s, o.queue, o.to));
    print(o.json, c, `current version of ${c.queue}: ${c.version}${c.previous ? ` (was ${c.previous})` : ""}\n`);
  });

  deploy
    .command("keygen")
    .description("create an operator signing key for deploys; prints its public key (give it to workers as --trusted-keys)")
    .requiredOption("--out <file>", "where to write the seed (mode 0600; refuses to overwrite)")
    .option("--json", "machine-readable output")
    .action(async (raw: Record<string, unknown>) => {
      const o = parseOptions(KeygenOptions, raw);
      if (existsSync(o.out))
        throw new ValidationError("keygen options", [{ path: "out", message: `${o.out} exists; not overwriting a key` }]);
      const kp = createOperator();
      await writeFile(o.out, `${new TextDecoder().decode(kp.getSeed())}\n`, { mode: 0o600, flag: "wx" });
      await chmod(o.out, 0o600);
      print(o.json, { file: o.out, publicKey: kp.getPublicKey() }, `wrote ${o.out}\npublic key: ${kp.getPublicKey()}\n`);
    });
}
