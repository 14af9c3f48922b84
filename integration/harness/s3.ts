/**
 * `useS3()`: an S3-compatible endpoint with a bucket of its own, for one caller. Order:
 * JETFLOW_TEST_S3_ENDPOINT (a fresh bucket per call) → a `minio/minio` container when a Docker
 * engine answers → an in-process `@20minutes/s3rver` 4 that VERIFIES SigV4 signatures, patched
 * to answer like S3 (./s3-local.ts, ./s3rver-compat.ts) → ServiceUnavailableError saying how
 * to get one. Use {@link s3ClientConfig} for SDK clients against the result.
 */
import { randomBytes } from "node:crypto";
import type { S3ClientConfig } from "@aws-sdk/client-s3";
import { containerRuntime } from "./containers.js";
import { LOCAL_S3_ACCESS_KEY_ID, LOCAL_S3_SECRET_ACCESS_KEY, localS3rver } from "./s3-local.js";
import { ServiceUnavailableError, type S3Service } from "./types.js";

export type { S3Service } from "./types.js";

/** Options for {@link useS3}. */
export interface UseS3Options {
  /** Bucket name to create (or, for `env`, to use when creating one is not allowed). Default: `jetflow-t-<random>`. */
  bucket?: string;
}

export { LOCAL_S3_ACCESS_KEY_ID, LOCAL_S3_SECRET_ACCESS_KEY };
const LOCAL_REGION = "us-east-1";
const MINIO_USER = "jetflowminio";
const MINIO_PASSWORD = "jetflow-minio-secret";
const REMEDY =
  "set JETFLOW_TEST_S3_ENDPOINT (+ JETFLOW_TEST_S3_ACCESS_KEY_ID, JETFLOW_TEST_S3_SECRET_ACCESS_KEY, " +
  "JETFLOW_TEST_S3_REGION, optionally JETFLOW_TEST_S3_BUCKET), or run a Docker engine (minio/minio), " +
  "or install the devDependency @20minutes/s3rver@4 (npm install)";

/** The `s3` block of an orchestrator config (orchestrator.json) pointing at `svc`. */
export function orchestratorS3Config(svc: S3Service): {
  bucket: string;
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: true;
} {
  const { bucket, endpoint, region, accessKeyId, secretAccessKey } = svc;
  return { bucket, endpoint, region, accessKeyId, secretAccessKey, forcePathStyle: true };
}

/**
 * The S3 client settings a test should use against `svc`: path-style addressing (no wildcard
 * DNS for `bucket.127.0.0.1`), and checksums only when an operation requires them — the SDK's
 * default ("WHEN_SUPPORTED") bakes a CRC32 of the empty body into presigned PUT URLs, which any
 * real upload then fails, and s3rver does not send the checksums the SDK would validate.
 */
export function s3ClientConfig(svc: Pick<S3Service, "endpoint" | "region" | "accessKeyId" | "secretAccessKey">): S3ClientConfig {
  return {
    endpoint: svc.endpoint,
    region: svc.region,
    credentials: { accessKeyId: svc.accessKeyId, secretAccessKey: svc.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  };
}

function freshBucketName(): string {
  return `jetflow-t-${randomBytes(6).toString("hex")}`;
}

/** Resolves an S3 service; see the module comment for the order. */
export async function useS3(opts: UseS3Options = {}): Promise<S3Service> {
  const tried: string[] = [];
  const endpoint = process.env.JETFLOW_TEST_S3_ENDPOINT;
  if (endpoint) return envS3(endpoint, opts);
  tried.push("env: JETFLOW_TEST_S3_ENDPOINT is not set");

  const rt = await containerRuntime();
  if ("tc" in rt) return minioContainer(rt.tc, opts);
  tried.push(`container: ${rt.reason}`);

  const local = await localS3rver(opts.bucket ?? freshBucketName());
  if ("svc" in local) return local.svc;
  tried.push(`local: ${local.reason}`);
  throw new ServiceUnavailableError("s3", tried, REMEDY);
}

// ---------------------------------------------------------------------------------------------
// env

/**
 * A server the developer runs. We create a bucket of our own so files never share objects, and
 * delete it (with its objects) on stop. A server that does not answer is an error, never a
 * silent fallback to another strategy.
 */
async function envS3(endpoint: string, opts: UseS3Options): Promise<S3Service> {
  const env = process.env;
  const base = {
    endpoint,
    region: env.JETFLOW_TEST_S3_REGION ?? LOCAL_REGION,
    accessKeyId: env.JETFLOW_TEST_S3_ACCESS_KEY_ID ?? "",
    secretAccessKey: env.JETFLOW_TEST_S3_SECRET_ACCESS_KEY ?? "",
  };
  if (!base.accessKeyId || !base.secretAccessKey) {
    throw new Error("JETFLOW_TEST_S3_ENDPOINT is set but JETFLOW_TEST_S3_ACCESS_KEY_ID / JETFLOW_TEST_S3_SECRET_ACCESS_KEY are not");
  }
  const sdk = await import("@aws-sdk/client-s3");
  const client = new sdk.S3Client(s3ClientConfig(base));
  const wanted = opts.bucket ?? freshBucketName();
  let bucket = wanted;
  let created = false;
  try {
    await client.send(new sdk.CreateBucketCommand({ Bucket: wanted }));
    created = true;
  } catch (err) {
    // No CreateBucket permission (common on shared servers): use the configured bucket; every
    // call then shares it, so tests must use unique key prefixes.
    const shared = env.JETFLOW_TEST_S3_BUCKET;
    if (!shared) {
      client.destroy();
      const why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      throw new Error(
        `could not create bucket "${wanted}" at JETFLOW_TEST_S3_ENDPOINT=${endpoint} (${why}) and JETFLOW_TEST_S3_BUCKET is not set`,
        {
          cause: err,
        },
      );
    }
    bucket = shared;
    await client.send(new sdk.HeadBucketCommand({ Bucket: bucket }));
  }
  let stopped = false;
  return {
    ...base,
    bucket,
    source: "env",
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        if (created) await emptyAndDeleteBucket(client, sdk, bucket);
      } finally {
        client.destroy();
      }
    },
  };
}

type Sdk = typeof import("@aws-sdk/client-s3");

async function emptyAndDeleteBucket(client: InstanceType<Sdk["S3Client"]>, sdk: Sdk, bucket: string): Promise<void> {
  for (;;) {
    const page = await client.send(new sdk.ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (keys.length === 0) break;
    await client.send(new sdk.DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
  // Uploads a failing test left open would keep storage (and block DeleteBucket on some servers).
  const uploads = await client.send(new sdk.ListMultipartUploadsCommand({ Bucket: bucket })).catch((err: unknown) => {
    // Some S3-compatible servers (s3rver) do not implement the listing: nothing to abort then.
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 501) return { Uploads: [] };
    throw err;
  });
  for (const u of uploads.Uploads ?? []) {
    if (u.Key && u.UploadId) await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  }
  await client.send(new sdk.DeleteBucketCommand({ Bucket: bucket }));
}

// ---------------------------------------------------------------------------------------------
// container

async function minioContainer(tc: typeof import("testcontainers"), opts: UseS3Options): Promise<S3Service> {
  const container = await new tc.GenericContainer("minio/minio")
    .withEnvironment({ MINIO_ROOT_USER: MINIO_USER, MINIO_ROOT_PASSWORD: MINIO_PASSWORD })
    .withCommand(["server", "/data"])
    .withExposedPorts(9000)
    .withWaitStrategy(tc.Wait.forHttp("/minio/health/ready", 9000))
    .withStartupTimeout(60_000)
    .start();
  const base = {
    endpoint: `http://${container.getHost()}:${container.getMappedPort(9000)}`,
    region: LOCAL_REGION,
    accessKeyId: MINIO_USER,
    secretAccessKey: MINIO_PASSWORD,
  };
  const bucket = opts.bucket ?? freshBucketName();
  const sdk = await import("@aws-sdk/client-s3");
  const client = new sdk.S3Client(s3ClientConfig(base));
  try {
    await client.send(new sdk.CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    await container.stop({ timeout: 0 });
    throw err;
  } finally {
    client.destroy();
  }
  let stopped = false;
  return {
    ...base,
    bucket,
    source: "container",
    async stop() {
      if (stopped) return;
      stopped = true;
      await container.stop({ timeout: 0 });
    },
  };
}
