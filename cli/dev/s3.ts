/**
 * The S3 of `jetflow dev`: `@20minutes/s3rver` in this process, verifying SigV4 (a tampered or
 * expired presigned URL gets 403, as on S3), with the fixes of ./s3rver-compat.ts, its objects
 * stored in `<dir>/s3` so artifacts survive a restart.
 */
import { mkdirSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { join } from "node:path";
import { patchS3rverModules, realS3Middleware, type KoaContext } from "./s3rver-compat.js";
import { choosePort } from "./net.js";
import { DevSetupError } from "./errors.js";

/** The local server's key pair. Fixed and public: it guards nothing but a dev machine's loopback port. */
export const DEV_S3_ACCESS_KEY_ID = "JETFLOWDEVKEY";
export const DEV_S3_SECRET_ACCESS_KEY = "jetflow-dev-secret-not-for-production";
export const DEV_S3_REGION = "us-east-1";

/** A running dev S3 endpoint with its bucket. */
export interface DevS3 {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

interface S3rverInstance {
  middleware: ((ctx: KoaContext, next: () => Promise<void>) => Promise<void>)[];
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}

/** Starts the embedded S3 server on `preferredPort` (or a free one) with `bucket` provisioned. */
export async function startDevS3(dir: string, preferredPort: number, bucket: string): Promise<DevS3> {
  const require = createRequire(import.meta.url);
  try {
    require.resolve("@20minutes/s3rver");
  } catch {
    throw new DevSetupError("the embedded S3 server (@20minutes/s3rver) is not installed: run npm install, or pass --s3-endpoint");
  }
  patchS3rverModules(require);
  const accounts = require("@20minutes/s3rver/lib/models/account.js") as {
    DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void; revokeAccessKey(id: string): void };
  };
  // Replace s3rver's well-known S3RVER/S3RVER pair with ours.
  accounts.DUMMY_ACCOUNT.revokeAccessKey("S3RVER");
  accounts.DUMMY_ACCOUNT.createKeyPair(DEV_S3_ACCESS_KEY_ID, DEV_S3_SECRET_ACCESS_KEY);
  const S3rver = require("@20minutes/s3rver") as new (opts: Record<string, unknown>) => S3rverInstance;
  const S3Error = require("@20minutes/s3rver/lib/models/error.js") as Parameters<typeof realS3Middleware>[0];
  const directory = join(dir, "s3");
  mkdirSync(directory, { recursive: true }); // s3rver 4 does not create it
  const { port } = await choosePort(preferredPort);
  const server = new S3rver({
    address: "127.0.0.1",
    port,
    silent: true,
    directory,
    allowMismatchedSignatures: false,
    vhostBuckets: false,
    resetOnClose: false,
    // The SDK's CreateBucket does not work against s3rver 4; the bucket is provisioned here.
    configureBuckets: [{ name: bucket }],
  });
  server.middleware.unshift(realS3Middleware(S3Error));
  const address = await server.run();
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket,
    region: DEV_S3_REGION,
    accessKeyId: DEV_S3_ACCESS_KEY_ID,
    secretAccessKey: DEV_S3_SECRET_ACCESS_KEY,
    stop: () =>
      (stopping ??= (async () => {
        const closing = server.close();
        // close() waits for keep-alive sockets the SDK pools; end them now.
        server.httpServer?.closeAllConnections();
        await closing;
      })()),
  };
}
