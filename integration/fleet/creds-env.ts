/**
 * A nats-server in operator mode with the config `jetflow creds init` generated (inlined; the harness
 * owns listen/jetstream), the real CLI to issue/revoke, and an orchestrator connection with the
 * topology, registry and task consumers in place. Used by the creds-*.test.ts files.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { useNats, type NatsService } from "../harness/index.js";
import { ServiceUnavailableError } from "../harness/types.js";
import { inCI } from "../harness/lifecycle.js";
import { createTopology, type Topology } from "../../src/contract/topology.js";
import { ensureTopology } from "../../adapters/jetstream/topology.js";
import { ensureTaskConsumer } from "../../adapters/jetstream/remote/index.js";
import { ensureWorkerRegistry } from "../../adapters/jetstream/fleet/index.js";
import { inboxPrefixFromCreds } from "../../worker-sdk/creds.js";

const root = new URL("../..", import.meta.url).pathname;

/** Runs the real CLI as a user would. */
export function jetflowCli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["bin/jetflow.js", ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, JETFLOW_CLI_FROM_SOURCE: "1" },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the real CLI; fails the test on a non-zero exit. */
export function jetflow(...args: string[]): string {
  const r = jetflowCli(...args);
  assert.is(r.status, 0, `jetflow ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export interface CredsEnv {
  dir: string;
  nats: NatsService;
  orch: NatsConnection;
  topology: Topology;
  /** `creds issue` for one worker; returns the creds file path and its summary. */
  issue(o: { queue: string; codeVersion: string; workerId: string; expires?: string }): { file: string; publicKey: string; name: string };
  /** Connects with a creds file (its own inbox prefix). */
  connectWith(file: string, opts?: { reconnect?: boolean }): Promise<NatsConnection>;
  close(): Promise<void>;
}

/** null = skipped outside CI (no nats-server). `consumers` are (queue, codeVersion) task consumers to create. */
export async function startCredsEnv(who: string, consumers: [string, string][]): Promise<CredsEnv | null> {
  const dir = mkdtempSync(join(tmpdir(), "jetflow-creds-"));
  jetflow("creds", "init", "--dir", dir);
  let nats: NatsService;
  try {
    nats = await useNats({ config: readFileSync(join(dir, "resolver.conf"), "utf8") });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    if (!(err instanceof ServiceUnavailableError) || inCI()) throw err;
    console.warn(`SKIP ${who}: ${err.message}`);
    return null;
  }
  const topology = createTopology();
  const orch = await connect({ servers: nats.url, authenticator: credsAuthenticator(readFileSync(join(dir, "orchestrator.creds"))) });
  const jsm = await jetstreamManager(orch);
  await ensureTopology(jsm, { topology, storage: "memory" });
  await ensureWorkerRegistry(orch, { prefix: topology.prefix, storage: "memory" });
  for (const [queue, codeVersion] of consumers)
    await ensureTaskConsumer(jsm, { topology, queue, codeVersion, leaseMs: 60_000, maxDeliver: 3 });
  const conns: NatsConnection[] = [orch];
  return {
    dir,
    nats,
    orch,
    topology,
    issue(o) {
      const file = join(dir, `${o.queue}-${o.codeVersion}-${o.workerId}.creds`);
      const args = ["creds", "issue", "--dir", dir, "--queue", o.queue, "--code-version", o.codeVersion, "--worker-id", o.workerId];
      const printed = JSON.parse(jetflow(...args, "--out", file, "--json", ...(o.expires ? ["--expires", o.expires] : [])));
      return { file, publicKey: printed.publicKey, name: printed.name };
    },
    async connectWith(file, opts = {}) {
      const creds = readFileSync(file);
      const nc = await connect({
        servers: nats.url,
        authenticator: credsAuthenticator(creds),
        inboxPrefix: (await inboxPrefixFromCreds(creds))!,
        reconnect: opts.reconnect ?? true,
        reconnectTimeWait: 100,
      });
      conns.push(nc);
      return nc;
    },
    async close() {
      for (const nc of conns.reverse()) if (!nc.isClosed()) await nc.close();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
