/**
 * The `local` S3 strategy: `@20minutes/s3rver` 4 in this process, on a kernel-chosen port,
 * storing into an owned temp dir, verifying SigV4 with a fixed key pair, with the fixes of
 * ./s3rver-compat.ts so it answers like S3. Used by ./s3.ts.
 */
import { mkdirSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { join } from "node:path";
import { makeOwnedTempDir, onProcessExit, sweepStaleTempDirs } from "./lifecycle.js";
import { patchS3rverModules, realS3Middleware, type KoaContext } from "../../cli/dev/s3rver-compat.js";
import type { S3Service } from "./types.js";

/** Credentials of the local server. Fixed so a failing test can be replayed by hand (curl, aws-cli). */
export const LOCAL_S3_ACCESS_KEY_ID = "JETFLOWTESTKEY";
export const LOCAL_S3_SECRET_ACCESS_KEY = "jetflow-test-secret-do-not-use-in-prod";
const REGION = "us-east-1";
const TEMP_PREFIX = "jetflow-s3-";

/** The slice of @20minutes/s3rver 4 we use (it ships no types). */
interface S3rverInstance {
  middleware: ((ctx: KoaContext, next: () => Promise<void>) => Promise<void>)[];
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;
type S3ErrorCtor = Parameters<typeof realS3Middleware>[0];
interface AwsAccountModule {
  DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void; revokeAccessKey(id: string): void };
}
interface Loaded {
  S3rver: S3rverCtor;
  S3Error: S3ErrorCtor;
}

let loaded: Loaded | { reason: string } | undefined;

/** Loads s3rver once per process: patches first, then the server, then our key pair. */
function load(): Loaded | { reason: string } {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  try {
    require.resolve("@20minutes/s3rver");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw err;
    return (loaded = { reason: "@20minutes/s3rver is not installed" });
  }
  if (!patchS3rverModules(require)) {
    process.stderr.write(
      "[jetflow harness] @20minutes/s3rver was loaded before the harness: bucket-level requests will fail signature checks\n",
    );
  }
  const accounts = require("@20minutes/s3rver/lib/models/account.js") as AwsAccountModule;
  // The key registry is per process: drop s3rver's well-known S3RVER/S3RVER pair, add ours.
  accounts.DUMMY_ACCOUNT.revokeAccessKey("S3RVER");
  accounts.DUMMY_ACCOUNT.createKeyPair(LOCAL_S3_ACCESS_KEY_ID, LOCAL_S3_SECRET_ACCESS_KEY);
  loaded = {
    S3rver: require("@20minutes/s3rver") as S3rverCtor,
    S3Error: require("@20minutes/s3rver/lib/models/error.js") as S3ErrorCtor,
  };
  return loaded;
}

/** Starts a server with `bucket` provisioned, or says why this strategy is unavailable. */
export async function localS3rver(bucket: string): Promise<{ svc: S3Service } | { reason: string }> {
  const mod = load();
  if ("reason" in mod) return mod;
  // In-process servers die with their process; only their temp dirs can be left behind.
  sweepStaleTempDirs(TEMP_PREFIX, () => {});
  const dir = makeOwnedTempDir(TEMP_PREFIX);
  const unhook = onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  const directory = join(dir, "data");
  mkdirSync(directory, { recursive: true }); // s3rver 4 does not create it
  const server = new mod.S3rver({
    address: "127.0.0.1",
    port: 0, // the kernel picks a free port at bind time: no probe-then-bind race
    silent: true,
    directory,
    allowMismatchedSignatures: false,
    vhostBuckets: false,
    resetOnClose: false,
    // The SDK's CreateBucket does not work against s3rver 4; buckets are provisioned here.
    configureBuckets: [{ name: bucket }],
  });
  // Koa composes middleware when the server starts listening, so prepending puts the fixes in
  // front of s3rver's authentication, router and XML encoder.
  server.middleware.unshift(realS3Middleware(mod.S3Error));
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    unhook();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    svc: {
      endpoint: `http://127.0.0.1:${address.port}`,
      region: REGION,
      accessKeyId: LOCAL_S3_ACCESS_KEY_ID,
      secretAccessKey: LOCAL_S3_SECRET_ACCESS_KEY,
      bucket,
      source: "local",
      async stop() {
        if (stopped) return;
        stopped = true;
        try {
          const closing = server.close();
          // close() waits for open keep-alive sockets (fetch pools them); end them now.
          server.httpServer?.closeAllConnections();
          await closing;
        } finally {
          unhook();
          rmSync(dir, { recursive: true, force: true });
        }
      },
    },
  };
}
