/**
 * Opens a NATS connection the way every jetflow process does: servers as a comma-separated
 * list, a `.creds` file or user/password, and the reply inbox prefix a scoped credential is
 * confined to (read from the creds file when not given: any other prefix would make every
 * request time out, since its replies could never be delivered).
 */
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { readFileSync } from "node:fs";
import { inboxPrefixFromCreds } from "./creds.js";

/** Where and how to connect. Empty strings count as absent (env-filled flags). */
export interface NatsConnectOptions {
  /** Comma-separated server URLs. */
  servers: string;
  /** Connection name shown by the server (monitoring, `$SYS` events). */
  name: string;
  /** Path of a `.creds` file. */
  creds?: string | undefined;
  user?: string | undefined;
  password?: string | undefined;
  inboxPrefix?: string | undefined;
  /** Connect timeout in ms. */
  timeout?: number | undefined;
  /**
   * Reconnect attempts after the connection is lost (per server, nats.js semantics); -1 = forever.
   * Once they are spent the connection closes. Default: the nats.js default (10).
   */
  maxReconnectAttempts?: number | undefined;
  /** Wait between reconnect attempts to the same server, in ms (plus up to 100 ms jitter). Default 2000. */
  reconnectTimeWaitMs?: number | undefined;
}

/** Connects; the caller closes the connection. A failure names the servers it tried. */
export async function connectNats(opts: NatsConnectOptions): Promise<NatsConnection> {
  const creds = opts.creds ? readFileSync(opts.creds) : null;
  const inboxPrefix = opts.inboxPrefix || (creds ? await inboxPrefixFromCreds(creds) : null);
  try {
    return await connect({
      servers: opts.servers.split(",").map((s) => s.trim()),
      name: opts.name,
      ...(opts.timeout ? { timeout: opts.timeout } : {}),
      ...(opts.maxReconnectAttempts !== undefined ? { maxReconnectAttempts: opts.maxReconnectAttempts } : {}),
      ...(opts.reconnectTimeWaitMs !== undefined ? { reconnectTimeWait: opts.reconnectTimeWaitMs } : {}),
      ...(creds ? { authenticator: credsAuthenticator(creds) } : {}),
      ...(opts.user ? { user: opts.user, pass: opts.password ?? "" } : {}),
      ...(inboxPrefix ? { inboxPrefix } : {}),
      // Otherwise every request and flush builds two Errors with stack traces up front, in case it
      // times out (about 3% of a worker's CPU in a profile); jetflow's errors name the subject.
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${opts.servers}: ${(err as Error).message}`, { cause: err });
  }
}
