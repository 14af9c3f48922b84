/**
 * The deployment the security suite attacks, configured as docs/security.md says: nats-server in
 * operator mode from `jetflow creds init` (worker credentials from `jetflow creds issue`), or the
 * shipped nats-server.conf (scoped `worker-default` user); a real orchestrator (in process) with
 * Postgres, S3 presigning and the broker; one attacker connection holding ONE worker credential.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { S3Client } from "@aws-sdk/client-s3";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import {
  REPO_NATS_PASSWORDS,
  inCI,
  s3ClientConfig,
  services,
  useNats,
  useRepoNats,
  ServiceUnavailableError,
  type NatsService,
  type Services,
  orchestratorS3Config,
} from "../harness/index.js";
import { createTopology, type Topology } from "../../src/contract/topology.js";
import { OrchestratorConfig } from "../../orchestrator/config.js";
import { startOrchestrator, type Orchestrator } from "../../orchestrator/start.js";
import { inboxPrefixFromCreds } from "../../worker-sdk/creds.js";
import { jetflow } from "../fleet/creds-env.js";

export type DeploymentKind = "creds" | "static";

/** How to connect as one worker identity. */
export interface WorkerIdentity {
  queue: string;
  workerId: string;
  connect(opts?: { reconnect?: boolean }): Promise<NatsConnection>;
}

export interface SecurityEnv {
  kind: DeploymentKind;
  nats: NatsService;
  topology: Topology;
  orchestrator: Orchestrator;
  /** The orchestrator's own connection (full rights): snapshots and setup only. */
  orch: NatsConnection;
  sql: postgres.Sql;
  schema: string;
  s3: S3Client;
  bucket: string;
  /** The attacker's credential: queue `a` (creds) or `default` (static), version v1. */
  attacker: WorkerIdentity;
  /** A legitimate worker of the same queue (its own credential with `creds`, the same user with the static config). */
  peer: WorkerIdentity;
  /** `jetflow creds` directory (creds kind only): issue/revoke for the credential operations. */
  credsDir: string | null;
  /** Credentials issued before the orchestrator started (creds kind only): one expiring in 1 s, one to revoke, a spare to tamper with. */
  issued: Record<"expired" | "revoked" | "spare", { file: string; name: string; publicKey: string }> | null;
  /** `jetflow creds issue` into credsDir (creds kind only); returns the file and its name. */
  issue(o: { queue: string; codeVersion: string; workerId: string; expires?: string }): { file: string; name: string; publicKey: string };
  close(): Promise<void>;
}

const SCHEMA = "jetflow";

/** null = skipped outside CI (a service is missing). */
export async function startSecurityEnv(kind: DeploymentKind, who: string): Promise<SecurityEnv | null> {
  const svc: Services<"postgres" | "s3"> | null = await services(["postgres", "s3"]);
  if (!svc) return null;
  const dir = mkdtempSync(join(tmpdir(), "jetflow-security-"));
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true }), () => svc.stop()];
  const fail = async (err: unknown) => {
    for (const c of cleanups.reverse()) await c();
    if (!(err instanceof ServiceUnavailableError) || inCI()) throw err;
    console.warn(`SKIP ${who}: ${err.message}`);
    return null;
  };
  let nats: NatsService;
  const queue = kind === "creds" ? "a" : "default";
  let issued: SecurityEnv["issued"] = null;
  try {
    if (kind === "creds") {
      jetflow("creds", "init", "--dir", dir);
      nats = await useNats({ config: readFileSync(join(dir, "resolver.conf"), "utf8") });
    } else {
      const n = await useRepoNats(who);
      if (!n) return fail(new ServiceUnavailableError("nats", [], "no nats-server"));
      nats = n;
    }
  } catch (err) {
    return fail(err);
  }
  cleanups.push(() => nats.stop());
  const issue: SecurityEnv["issue"] = (o) => {
    if (kind !== "creds") throw new Error("issue: creds deployments only");
    const file = join(dir, `${o.queue}-${o.codeVersion}-${o.workerId}.creds`);
    const args = ["creds", "issue", "--dir", dir, "--queue", o.queue, "--code-version", o.codeVersion, "--worker-id", o.workerId];
    const printed = JSON.parse(jetflow(...args, "--out", file, "--json", ...(o.expires ? ["--expires", o.expires] : [])));
    return { file, name: printed.name, publicKey: printed.publicKey };
  };
  // Issued now: each `jetflow creds issue` is a blocking CLI run, which would stall a running orchestrator's pulls.
  const pre = kind === "creds" ? (["atk", "peer"] as const).map((workerId) => issue({ queue, codeVersion: "v1", workerId })) : [];
  if (kind === "creds") {
    issued = {
      expired: issue({ queue, codeVersion: "v1", workerId: "short", expires: "1s" }),
      revoked: issue({ queue, codeVersion: "v1", workerId: "gone" }),
      spare: issue({ queue, codeVersion: "v1", workerId: "spare" }),
    };
  }
  process.env.JETFLOW_SECURITY_QUEUE = queue;
  const natsAuth =
    kind === "creds"
      ? { creds: join(dir, "orchestrator.creds") }
      : { user: "orchestrator", password: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD };
  const config = OrchestratorConfig.parse({
    workflows: new URL("./fixtures/workflows.ts", import.meta.url).pathname,
    database: { url: svc.postgres.url, migrate: true, schema: SCHEMA },
    nats: { servers: nats.url, ...natsAuth },
    host: { orchestrationIntervalMs: 100, jobPollIntervalMs: 100 },
    s3: orchestratorS3Config(svc.s3),
    remote: {
      // Long leases: nothing is redelivered while the attacks run, so every change is somebody's act.
      leaseMs: 60_000,
      queues: [
        { queue, codeVersion: "v1" },
        { queue, codeVersion: "v2" },
        { queue: "b", codeVersion: "v1" },
      ],
      reapIntervalMs: 1_000,
      reportPollMs: 100,
    },
    logLevel: "error",
  });
  let orchestrator: Orchestrator;
  try {
    orchestrator = await startOrchestrator(config);
  } catch (err) {
    return fail(err);
  }
  cleanups.push(() => orchestrator.stop());
  const topology = createTopology();
  const sql = postgres(svc.postgres.url, { max: 4, onnotice: () => {} });
  cleanups.push(() => sql.end({ timeout: 5 }));
  const s3 = new S3Client(s3ClientConfig(svc.s3));
  cleanups.push(() => s3.destroy());
  const conns: NatsConnection[] = [];
  cleanups.push(async () => {
    for (const nc of conns) if (!nc.isClosed()) await nc.close();
  });

  const fromCreds =
    (file: string) =>
    async (opts: { reconnect?: boolean } = {}) => {
      const creds = readFileSync(file);
      const nc = await connect({
        servers: nats.url,
        authenticator: credsAuthenticator(creds),
        inboxPrefix: (await inboxPrefixFromCreds(creds))!,
        reconnect: opts.reconnect ?? false,
      });
      conns.push(nc);
      return nc;
    };
  const asStaticWorker = async (opts: { reconnect?: boolean } = {}) => {
    const nc = await connect({
      servers: nats.url,
      user: "worker-default",
      pass: REPO_NATS_PASSWORDS.JETFLOW_WORKER_DEFAULT_PASSWORD,
      inboxPrefix: "_INBOX_worker-default",
      reconnect: opts.reconnect ?? false,
    });
    conns.push(nc);
    return nc;
  };
  // With the static config both are the one `worker-default` user (the peer is another process of it).
  const attacker: WorkerIdentity =
    kind === "creds"
      ? { queue, workerId: "atk", connect: fromCreds(pre[0]!.file) }
      : { queue, workerId: "worker-default", connect: asStaticWorker };
  const peer: WorkerIdentity =
    kind === "creds" ? { queue, workerId: "peer", connect: fromCreds(pre[1]!.file) } : { queue, workerId: "peer", connect: asStaticWorker };
  const orch = await connect({
    servers: nats.url,
    ...(kind === "creds"
      ? { authenticator: credsAuthenticator(readFileSync(join(dir, "orchestrator.creds"))) }
      : { user: "orchestrator", pass: REPO_NATS_PASSWORDS.JETFLOW_ORCHESTRATOR_PASSWORD }),
  });
  conns.push(orch);
  return {
    kind,
    nats,
    topology,
    orchestrator,
    orch,
    sql,
    schema: SCHEMA,
    s3,
    bucket: svc.s3.bucket,
    attacker,
    peer,
    credsDir: kind === "creds" ? dir : null,
    issued,
    issue,
    async close() {
      for (const c of cleanups.reverse()) {
        try {
          await c();
        } catch (err) {
          console.warn(`security env cleanup: ${(err as Error).message}`);
        }
      }
    },
  };
}
