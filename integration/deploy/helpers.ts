/** Shared by integration/deploy tests: a signing key on disk and the real `jetflow` CLI as a child process. */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createOperator } from "@nats-io/nkeys";
import type { NatsConnection } from "@nats-io/transport-node";
import { openDeployStore } from "../../adapters/jetstream/deploy/bundle-store.js";
import { operatorKeyFromSeed } from "../../worker-sdk/bundle-signature.js";
import { deployEntry, type DeployEntryResult } from "../../cli/deploy/deploy-entry.js";

const root = resolve(new URL("../..", import.meta.url).pathname);

/** A fixture's absolute path. */
export const fixture = (name: string): string => join(root, "integration/deploy/fixtures", name);

/** A scratch directory with an operator seed file; `close` removes both. */
export async function signingKey(): Promise<{ dir: string; seedFile: string; publicKey: string; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "jetflow-deploy-test-"));
  const kp = createOperator();
  const seedFile = join(dir, "operator.nk");
  await writeFile(seedFile, new TextDecoder().decode(kp.getSeed()), { mode: 0o600 });
  return { dir, seedFile, publicKey: kp.getPublicKey(), close: () => rm(dir, { recursive: true, force: true }) };
}

/** What a finished CLI process said. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `jetflow <args>` from source to completion (bounded: SIGKILL after `timeoutMs`). */
export function jetflow(args: string[], o: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [join(root, "bin/jetflow.js"), ...args], {
    env: { ...process.env, ...o.env, JETFLOW_CLI_FROM_SOURCE: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c));
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 40_000);
  return new Promise((done) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    }),
  );
}

/** `jetflow deploy <entry>` for `queue`/`version` on a topology's prefix (memory buckets); fails the test when `expectCode` differs. */
export async function deploy(
  o: { url: string; prefix: string; seedFile: string },
  entry: string,
  queue: string,
  version: string,
  expectCode = 0,
): Promise<CliResult> {
  const r = await jetflow([
    "deploy",
    fixture(entry),
    "--queue",
    queue,
    "--code-version",
    version,
    "--signing-key",
    o.seedFile,
    "--servers",
    o.url,
    "--prefix",
    o.prefix,
    "--storage",
    "memory",
  ]);
  if (r.code !== expectCode)
    throw new Error(`deploy ${entry} as ${queue}/${version} exited ${r.code}, expected ${expectCode}:\n${r.stdout}${r.stderr}`);
  return r;
}

/** The same deploy as the CLI's, in this process (no CLI start-up): memory buckets on `nc`'s server. */
export async function deployInProcess(
  nc: NatsConnection,
  o: { prefix: string; seedFile: string },
  entry: string,
  queue: string,
  version: string,
): Promise<DeployEntryResult> {
  const store = await openDeployStore(nc, { prefix: o.prefix, storage: "memory" });
  const key = operatorKeyFromSeed(await readFile(o.seedFile, "utf8"));
  return deployEntry(store, key, { entry: fixture(entry), queue, version });
}
