/**
 * `createS3BlobStore`: the BlobStore port on any S3-compatible store (AWS S3, R2, MinIO).
 * Used by the orchestrator, which holds credentials; workers never see it (they get
 * presigned URLs instead, see ./presigner.ts).
 */
import { createHash } from "node:crypto";
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { BlobStore } from "../../src/ports/blob-store.js";
import { blobStoreConfigSchema, parseOrThrow, resolveClient, type S3BlobStoreConfig } from "./config.js";
import { S3AdapterError, isNotFound, type S3Operation } from "./errors.js";
import { objectKey, stripPrefix } from "./keys.js";

/** A BlobStore on S3, plus what an operator needs to wire and shut it down. */
export interface S3BlobStore extends BlobStore {
  readonly bucket: string;
  /** Prefix every key is stored under (`""` = bucket root). */
  readonly prefix: string;
  readonly client: S3Client;
  /** Destroys the client if the store created it (from `clientConfig`); a passed-in client is left alone. */
  close(): void;
}

/**
 * Creates a BlobStore on `bucket` (which must exist). Throws S3ConfigError naming the bad
 * field when the config is invalid. Keys are stored as `prefix + key`.
 */
export function createS3BlobStore(config: S3BlobStoreConfig): S3BlobStore {
  const cfg = parseOrThrow("invalid S3 blob store config", blobStoreConfigSchema, config);
  const { client, owned } = resolveClient(cfg);
  const { bucket, prefix, pageSize } = cfg;

  const fail = (op: S3Operation, key: string | undefined, err: unknown): never => {
    throw new S3AdapterError(op, bucket, key === undefined ? undefined : prefix + key, err);
  };

  /** Every S3 key under `prefix + sub`, page by page (S3 returns them in UTF-8 byte order). */
  async function* listPages(op: S3Operation, sub: string): AsyncGenerator<string[]> {
    let token: string | undefined;
    do {
      const page = await client
        .send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix + sub, ContinuationToken: token, MaxKeys: pageSize }))
        .catch((err: unknown) => fail(op, sub, err));
      yield (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  let bucketSeen = false;
  /**
   * A HEAD 404 has no body, so "no such key" and "no such bucket" look alike. The first miss
   * asks HeadBucket once; a misconfigured bucket then fails loudly instead of every has()
   * quietly answering false. Later misses cost nothing extra.
   */
  async function assertBucketExists(): Promise<void> {
    if (bucketSeen) return;
    try {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
      bucketSeen = true;
    } catch (err) {
      if (!isNotFound(err)) fail("has", undefined, err);
      fail(
        "has",
        undefined,
        Object.assign(new Error(`bucket "${bucket}" does not exist`), { name: "NoSuchBucket", $metadata: { httpStatusCode: 404 } }),
      );
    }
  }

  return {
    bucket,
    prefix,
    client,

    async put(key, data, opts) {
      const Key = objectKey(prefix, key);
      await client
        .send(new PutObjectCommand({ Bucket: bucket, Key, Body: data, ContentLength: data.byteLength, ContentType: opts?.contentType }))
        .catch((err: unknown) => fail("put", key, err));
    },

    async get(key) {
      const Key = objectKey(prefix, key);
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
        if (!res.Body) return new Uint8Array(0);
        const bytes = await res.Body.transformToByteArray();
        // The SDK may hand back a Buffer; the port promises a plain Uint8Array (deep-equality
        // and structured clone treat the two differently).
        return Object.getPrototypeOf(bytes) === Uint8Array.prototype
          ? bytes
          : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      } catch (err) {
        if (isNotFound(err)) return null;
        return fail("get", key, err);
      }
    },

    async has(key) {
      const Key = objectKey(prefix, key);
      try {
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key }));
        return true;
      } catch (err) {
        if (!isNotFound(err)) return fail("has", key, err);
        await assertBucketExists();
        return false;
      }
    },

    async delete(key) {
      const Key = objectKey(prefix, key);
      // S3 answers 204 whether or not the key existed, which is the port's contract.
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key })).catch((err: unknown) => fail("delete", key, err));
    },

    async list(sub) {
      const keys: string[] = [];
      for await (const page of listPages("list", sub)) for (const k of page) keys.push(stripPrefix(prefix, k));
      // The port promises JS (UTF-16) order, like the in-memory store; S3 sorts by UTF-8 bytes.
      return keys.sort();
    },

    async deletePrefix(sub) {
      let removed = 0;
      // Deleting the page just listed never disturbs the continuation token: S3's token is a
      // position in key order, not a cursor over a snapshot.
      for await (const page of listPages("deletePrefix", sub)) {
        if (page.length === 0) continue;
        const cmd = new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: page.map((Key) => ({ Key })), Quiet: true },
        });
        withContentMd5(cmd);
        const res = await client.send(cmd).catch((err: unknown) => fail("deletePrefix", sub, err));
        const errors = res.Errors ?? [];
        if (errors.length > 0) {
          const first = errors[0]!;
          fail(
            "deletePrefix",
            sub,
            new Error(`${errors.length} of ${page.length} keys not deleted, first: ${first.Key} (${first.Code}: ${first.Message})`),
          );
        }
        removed += page.length;
      }
      return removed;
    },

    close() {
      if (owned) client.destroy();
    },
  };
}

/**
 * Adds Content-MD5 to a DeleteObjects request. AWS accepts the SDK's CRC32 alone, but several
 * S3-compatible stores (older MinIO, Ceph RGW, Backblaze) still require Content-MD5 on
 * DeleteObjects, and sending both is valid everywhere.
 */
function withContentMd5(cmd: DeleteObjectsCommand): void {
  cmd.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as { headers?: Record<string, string>; body?: unknown };
      if (req.headers && (typeof req.body === "string" || req.body instanceof Uint8Array) && !("content-md5" in req.headers)) {
        req.headers["content-md5"] = createHash("md5").update(req.body).digest("base64");
      }
      return next(args);
    },
    { step: "build", name: "jetflowDeleteObjectsContentMd5" },
  );
}
