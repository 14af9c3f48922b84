/**
 * Decentralized NATS auth for jetflow (operator → accounts → user JWTs, nkey seeds), kept in one
 * directory that only the operator's machine holds (files: auth-dir.ts). `initNatsAuth` writes:
 *
 * | file                 | what                                                                     |
 * | -------------------- | ------------------------------------------------------------------------ |
 * | `resolver.conf`      | `include` it in nats-server.conf: operator JWT, full resolver, accounts  |
 * | `orchestrator.creds` | a full-permission user of the JETFLOW account for orchestrator processes |
 * | `sys.creds`          | a SYS account user: pushes account updates (`creds revoke --servers`)    |
 *
 * Worker credentials are users of the separate WORKERS account (see worker-permissions.ts for why),
 * issued per (queue, code version, worker id) with {@link issueWorkerCreds}; they carry exactly
 * {@link workerPermissions}, so no server config change is needed per worker.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { createAccount, createOperator, createUser, encodeOperator, encodeUser, fmtCreds, type KeyPair } from "@nats-io/jwt";
import { createTopology, type Topology } from "../../../src/contract/topology.js";
import { encodeAccounts, resolverConf, type AccountKeys } from "./account-claims.js";
import {
  NatsAuthError,
  exists,
  loadKeys,
  readIssued,
  readState,
  saveKeys,
  writeIssued,
  writeSecret,
  writeState,
  type AuthState,
} from "./auth-dir.js";
import { workerPermissions, type WorkerPermissions } from "./worker-permissions.js";

export { NatsAuthError } from "./auth-dir.js";

/** What `initNatsAuth` wrote. */
export interface NatsAuthInit {
  dir: string;
  operatorPublicKey: string;
  /** The JETFLOW account (streams, orchestrator). */
  accountPublicKey: string;
  /** The WORKERS account (worker credentials). */
  workersAccountPublicKey: string;
  resolverConf: string;
  orchestratorCreds: string;
  sysCreds: string;
}

export interface InitNatsAuthOptions {
  force?: boolean;
  /** Subject and stream prefixes the account exports are signed for. Default jetflow / JETFLOW. */
  prefix?: string;
  streamPrefix?: string;
  /** Where nats-server keeps account JWTs (full resolver). Default `<dir>/jwt`. */
  resolverDir?: string;
}

/** Rewrites account.jwt, workers.jwt and resolver.conf from the keys and state; returns the WORKERS JWT. */
export async function writeAccounts(dir: string, keys: AccountKeys, state: AuthState): Promise<{ workersJwt: string }> {
  const topology = createTopology({ prefix: state.prefix, streamPrefix: state.streamPrefix });
  const jwts = await encodeAccounts(keys, topology, state.revocations);
  const operatorJwt = await encodeOperator("jetflow", keys.operator, { system_account: keys.sys.getPublicKey() });
  await writeFile(join(dir, "account.jwt"), jwts.jetflow);
  await writeFile(join(dir, "workers.jwt"), jwts.workers);
  await writeFile(join(dir, "resolver.conf"), resolverConf({ operatorJwt, keys, jwts, resolverDir: state.resolverDir }));
  return { workersJwt: jwts.workers };
}

/**
 * Creates an operator, the JETFLOW, WORKERS and SYS accounts and an orchestrator user in `dir`.
 * Refuses to overwrite an existing directory's keys unless `force`, because every credential
 * issued so far would stop working.
 */
export async function initNatsAuth(dir: string, opts: InitNatsAuthOptions = {}): Promise<NatsAuthInit> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!opts.force && (await exists(join(dir, "account.nk")))) {
    throw new NatsAuthError(`${dir} already holds an account key; pass --force to replace it (every issued credential stops working)`);
  }
  const topology = createTopology({ prefix: opts.prefix, streamPrefix: opts.streamPrefix });
  const keys: AccountKeys = { operator: createOperator(), jetflow: createAccount(), workers: createAccount(), sys: createAccount() };
  const resolverDir = opts.resolverDir ?? join(dir, "jwt");
  const state: AuthState = {
    v: 1,
    prefix: topology.prefix,
    streamPrefix: topology.streamPrefix,
    resolverDir: isAbsolute(resolverDir) ? resolverDir : resolve(resolverDir),
    revocations: {},
  };
  await saveKeys(dir, keys);
  await writeState(dir, state);
  await writeIssued(dir, []);
  await writeAccounts(dir, keys, state);
  const all = { pub: { allow: [">"] }, sub: { allow: [">"] } };
  await writeSecret(join(dir, "orchestrator.creds"), (await userCreds(keys.jetflow, "orchestrator", all)).creds);
  await writeSecret(join(dir, "sys.creds"), (await userCreds(keys.sys, "sys", all)).creds);
  return {
    dir,
    operatorPublicKey: keys.operator.getPublicKey(),
    accountPublicKey: keys.jetflow.getPublicKey(),
    workersAccountPublicKey: keys.workers.getPublicKey(),
    resolverConf: join(dir, "resolver.conf"),
    orchestratorCreds: join(dir, "orchestrator.creds"),
    sysCreds: join(dir, "sys.creds"),
  };
}

async function userCreds(
  account: KeyPair,
  name: string,
  perms: { pub: { allow: string[] }; sub: { allow: string[] }; resp?: { max: number; ttl: number } },
  expiresAt?: Date,
): Promise<{ creds: string; publicKey: string }> {
  const user = createUser();
  const jwt = await encodeUser(name, user, account, { ...perms }, expiresAt ? { exp: Math.floor(expiresAt.getTime() / 1000) } : {});
  return { creds: new TextDecoder().decode(fmtCreds(jwt, user)), publicKey: user.getPublicKey() };
}

/** An issued worker credential. */
export interface IssuedWorkerCreds {
  /** The `.creds` file content (user JWT + nkey seed): secret. */
  creds: string;
  /** The user's public key (what `creds revoke` takes). */
  publicKey: string;
  permissions: WorkerPermissions;
  expiresAt: Date | null;
}

/** The topology `dir` was initialised for; `topology`, when given, must agree (the account exports name its subjects). */
export async function authTopology(dir: string, topology?: Topology): Promise<Topology> {
  const state = await readState(dir);
  if (topology && (topology.prefix !== state.prefix || topology.streamPrefix !== state.streamPrefix)) {
    throw new NatsAuthError(
      `${dir} was initialised for prefix "${state.prefix}" / stream prefix "${state.streamPrefix}", not "${topology.prefix}" / "${topology.streamPrefix}"`,
    );
  }
  return createTopology({ prefix: state.prefix, streamPrefix: state.streamPrefix });
}

/**
 * Signs a WORKERS account user for worker `workerId` of (queue, codeVersion) with `labels` (it may
 * pull the tasks of every label set they satisfy) and records it in the
 * directory's issued list. The worker must connect with `inboxPrefix` (its only reply subscription).
 */
export async function issueWorkerCreds(
  dir: string,
  topology: Topology | undefined,
  o: { queue: string; codeVersion: string; workerId: string; name: string; labels?: Record<string, string>; expiresAt?: Date },
): Promise<IssuedWorkerCreds> {
  const t = await authTopology(dir, topology);
  const keys = await loadKeys(dir);
  const permissions = workerPermissions(t, o);
  const issued = await readIssued(dir);
  // resp = allow_responses: one reply per received request, within the server's default window.
  const { creds, publicKey } = await userCreds(
    keys.workers,
    o.name,
    {
      pub: { allow: permissions.publish },
      sub: { allow: permissions.subscribe },
      ...(permissions.allowResponses ? { resp: { max: 1, ttl: 0 } } : {}),
    },
    o.expiresAt,
  );
  issued.push({
    name: o.name,
    publicKey,
    queue: o.queue,
    codeVersion: o.codeVersion,
    workerId: o.workerId,
    issuedAt: new Date().toISOString(),
    expiresAt: o.expiresAt?.toISOString() ?? null,
    revokedAt: null,
  });
  await writeIssued(dir, issued);
  return { creds, publicKey, permissions, expiresAt: o.expiresAt ?? null };
}
