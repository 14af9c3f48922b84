/**
 * `jetflow creds revoke`: adds a worker user to the WORKERS account JWT's revocations, rewrites
 * the account files and resolver.conf, and (given a server) pushes the new account JWT live on
 * `$SYS.REQ.CLAIMS.UPDATE` as the SYS user. nats-server then closes the revoked user's
 * connections and refuses its reconnects (integration/fleet/creds.test.ts measures how fast).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { z } from "zod";
import { loadKeys, NatsAuthError, readIssued, readState, writeIssued, writeState, type IssuedCred } from "./auth-dir.js";
import { writeAccounts } from "./nats-auth.js";

/** What a revoke did. */
export interface RevokeResult {
  publicKey: string;
  /** The issued-list entry, when the credential was issued from this directory. */
  cred: IssuedCred | null;
  revokedAt: Date;
  /** Set when the update was pushed: the server's answer. */
  pushed: string | null;
}

const ClaimsUpdateReply = z.object({
  data: z.object({ code: z.number().optional(), message: z.string().optional() }).passthrough().optional(),
  error: z.object({ code: z.number().optional(), description: z.string().optional() }).passthrough().optional(),
});

/** Pushes an account JWT to a running nats-server (full resolver) as the SYS user of `dir`. */
export async function pushAccountJwt(dir: string, servers: string, jwt: string, timeoutMs = 5_000): Promise<string> {
  const nc = await connect({
    servers: servers.split(",").map((s) => s.trim()),
    authenticator: credsAuthenticator(readFileSync(join(dir, "sys.creds"))),
    timeout: timeoutMs,
  }).catch((e: Error) => {
    throw new NatsAuthError(`cannot connect to ${servers} as the SYS user (${join(dir, "sys.creds")}): ${e.message}`);
  });
  try {
    const m = await nc.request("$SYS.REQ.CLAIMS.UPDATE", jwt, { timeout: timeoutMs }).catch((e: Error) => {
      throw new NatsAuthError(
        `the account update was not answered: ${e.message} (is the server's resolver \`full\`, as resolver.conf says?)`,
      );
    });
    const r = ClaimsUpdateReply.safeParse(JSON.parse(m.string() || "{}"));
    if (!r.success) throw new NatsAuthError(`unreadable answer to the account update: ${m.string()}`);
    if (r.data.error)
      throw new NatsAuthError(`the server refused the account update: ${r.data.error.description ?? JSON.stringify(r.data.error)}`);
    return r.data.data?.message ?? "updated";
  } finally {
    await nc.close();
  }
}

/**
 * Revokes the worker credential `who` (its user public key, or its name in the issued list: the
 * most recent unrevoked one of that name). With `servers`, pushes the change so it applies at once.
 */
export async function revokeWorkerCreds(
  dir: string,
  who: string,
  opts: { servers?: string; timeoutMs?: number } = {},
): Promise<RevokeResult> {
  const state = await readState(dir);
  const keys = await loadKeys(dir);
  const issued = await readIssued(dir);
  // The latest unrevoked one of that name, else the latest of that name (revoking again re-pushes).
  const named = issued.filter((c) => c.name === who);
  const byName = named.filter((c) => !c.revokedAt).at(-1) ?? named.at(-1);
  const cred = byName ?? issued.find((c) => c.publicKey === who) ?? null;
  const publicKey = cred?.publicKey ?? who;
  if (!cred && !/^U[A-Z2-7]{55}$/.test(who)) {
    throw new NatsAuthError(`no unrevoked credential named "${who}" in ${join(dir, "issued.json")}, and it is not a user public key (U…)`);
  }
  const revokedAt = new Date();
  // A user JWT issued at or before this second is refused: the credential cannot come back.
  state.revocations[publicKey] = Math.max(state.revocations[publicKey] ?? 0, Math.ceil(revokedAt.getTime() / 1000));
  await writeState(dir, state);
  if (cred && !cred.revokedAt) {
    cred.revokedAt = revokedAt.toISOString();
    await writeIssued(dir, issued);
  }
  const { workersJwt } = await writeAccounts(dir, keys, state);
  const pushed = opts.servers ? await pushAccountJwt(dir, opts.servers, workersJwt, opts.timeoutMs) : null;
  return { publicKey, cred, revokedAt, pushed };
}
