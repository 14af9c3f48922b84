/**
 * The auth directory `jetflow creds` keeps (private to the operator's machine): seeds, the
 * deployment's topology, revocations, and the local list of issued credentials.
 *
 * | file            | what                                                                  |
 * | --------------- | --------------------------------------------------------------------- |
 * | `operator.nk`   | operator seed (signs accounts; keep offline)                          |
 * | `account.nk`    | JETFLOW account seed (orchestrator user)                              |
 * | `workers.nk`    | WORKERS account seed (signs worker credentials)                       |
 * | `sys.nk`        | SYS account seed (`sys.creds` pushes account updates)                 |
 * | `auth.json`     | prefixes the exports were signed for, resolver dir, revocations       |
 * | `issued.json`   | every worker credential issued here (`jetflow creds list`)            |
 */
import { chmod, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fromSeed, type KeyPair } from "@nats-io/jwt";
import { z } from "zod";
import type { AccountKeys } from "./account-claims.js";

/** The auth directory is missing, incomplete, or would be overwritten. */
export class NatsAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NatsAuthError";
  }
}

const SECRET = 0o600;

/** Writes a file only its owner can read (also when it already existed: writeFile's mode is ignored then). */
export async function writeSecret(path: string, data: string | Uint8Array): Promise<void> {
  await writeFile(path, data, { mode: SECRET });
  await chmod(path, SECRET);
}

/** Replaces `path` atomically (write then rename), so a crash never leaves half a JSON file. */
async function writeAtomic(path: string, text: string): Promise<void> {
  await writeSecret(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? false : Promise.reject(e)),
  );
}

/** What `creds init` recorded about the deployment. */
export const AuthState = z
  .object({
    v: z.literal(1),
    prefix: z.string().min(1),
    streamPrefix: z.string().min(1),
    resolverDir: z.string().min(1),
    /** WORKERS account revocations: user public key → unix seconds. */
    revocations: z.record(z.string(), z.number().int()),
  })
  .strict();
export type AuthState = z.output<typeof AuthState>;

/** One credential issued by `creds issue`. */
export const IssuedCred = z
  .object({
    name: z.string(),
    publicKey: z.string(),
    queue: z.string(),
    codeVersion: z.string(),
    workerId: z.string(),
    issuedAt: z.string(),
    expiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .strict();
/** One credential `jetflow creds issue` wrote, as `creds list` shows it. */
export type IssuedCred = z.output<typeof IssuedCred>;

async function readJson<S extends z.ZodType>(path: string, schema: S, missing: () => z.output<S>): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return missing();
    throw new NatsAuthError(`${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new NatsAuthError(`${path} is not JSON: ${(e as Error).message}`);
  }
  const r = schema.safeParse(json);
  if (!r.success)
    throw new NatsAuthError(`${path} is malformed: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

export async function readState(dir: string): Promise<AuthState> {
  return readJson(join(dir, "auth.json"), AuthState, () => {
    throw new NatsAuthError(
      `${join(dir, "auth.json")} not found: run \`jetflow creds init --dir ${dir}\` ` +
        "(a directory from before account isolation needs `creds init --force`: its credentials share one account)",
    );
  });
}

export const writeState = (dir: string, s: AuthState): Promise<void> =>
  writeAtomic(join(dir, "auth.json"), `${JSON.stringify(s, null, 2)}\n`);

export async function readIssued(dir: string): Promise<IssuedCred[]> {
  return readJson(join(dir, "issued.json"), z.array(IssuedCred), () => []);
}

export const writeIssued = (dir: string, list: IssuedCred[]): Promise<void> =>
  writeAtomic(join(dir, "issued.json"), `${JSON.stringify(list, null, 2)}\n`);

async function loadSeed(dir: string, file: string): Promise<KeyPair> {
  const path = join(dir, file);
  const seed = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new NatsAuthError(
      e.code === "ENOENT" ? `${path} not found: run \`jetflow creds init --dir ${dir}\` first` : `${path}: ${e.message}`,
    );
  });
  try {
    return fromSeed(new TextEncoder().encode(seed.trim()));
  } catch (e) {
    throw new NatsAuthError(`${path} is not an nkey seed: ${(e as Error).message}`);
  }
}

/** Every seed of the directory. */
export async function loadKeys(dir: string): Promise<AccountKeys> {
  return {
    operator: await loadSeed(dir, "operator.nk"),
    jetflow: await loadSeed(dir, "account.nk"),
    workers: await loadSeed(dir, "workers.nk"),
    sys: await loadSeed(dir, "sys.nk"),
  };
}

/** Writes the seeds of `keys` (private files). */
export async function saveKeys(dir: string, keys: AccountKeys): Promise<void> {
  const dec = new TextDecoder();
  await writeSecret(join(dir, "operator.nk"), dec.decode(keys.operator.getSeed()));
  await writeSecret(join(dir, "account.nk"), dec.decode(keys.jetflow.getSeed()));
  await writeSecret(join(dir, "workers.nk"), dec.decode(keys.workers.getSeed()));
  await writeSecret(join(dir, "sys.nk"), dec.decode(keys.sys.getSeed()));
}
