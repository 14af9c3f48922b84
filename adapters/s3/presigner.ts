/**
 * `createS3Presigner`: the Presigner port on any S3-compatible store. The orchestrator signs;
 * workers, which hold no credentials, PUT/GET with the URLs alone. Multipart uploads are
 * started and finished here (credentialed calls) and only the part uploads are presigned.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { z } from "zod";
import { ValidationError } from "../../src/contract/errors.js";
import { systemClock } from "../../src/ports/clock.js";
import type { MultipartUpload, PresignedPart, PresignedUrl, Presigner } from "../../src/ports/presigner.js";
import { expiresInSecSchema, parseOrThrow, presignerConfigSchema, resolveClient, type S3PresignerConfig } from "./config.js";
import { S3AdapterError, UploadSizeMismatchError, type S3Operation } from "./errors.js";
import { objectKey } from "./keys.js";
import { MAX_PARTS, MAX_PUT_SIZE, partSizeOf, planMultipart, type MultipartPlan } from "./multipart-plan.js";

/** User metadata (x-amz-meta-*) recording a multipart upload's declared size, set by the orchestrator at creation. */
const DECLARED_SIZE_META = "jetflow-declared-size";

/** A Presigner on S3, plus re-signing of parts and shutdown. */
export interface S3Presigner extends Presigner {
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  /** Destroys the client if the presigner created it. */
  close(): void;
}

const contentTypeSchema = z
  .string()
  .min(1, "must not be empty")
  .refine((v) => !/[\r\n]/.test(v), "must not contain line breaks");

const byteSize = z.number().int("must be a whole number of bytes").min(0, "must not be negative");
const getOptsSchema = z.strictObject({ expiresInSec: expiresInSecSchema.optional() });
const putOptsSchema = z.strictObject({
  size: byteSize.max(MAX_PUT_SIZE, `must be at most ${MAX_PUT_SIZE} bytes (5 GiB, S3's single-PUT limit; use multipart)`),
  expiresInSec: expiresInSecSchema.optional(),
  contentType: contentTypeSchema.optional(),
});
const reSignOptsSchema = z.strictObject({ size: z.number(), partSize: z.number().optional(), expiresInSec: expiresInSecSchema.optional() });
const completeOptsSchema = z.strictObject({ maxSize: byteSize.optional() });
const multipartOptsSchema = z.strictObject({
  size: z.number(),
  partSize: z.number().optional(),
  expiresInSec: expiresInSecSchema.optional(),
  contentType: contentTypeSchema.optional(),
  signParts: z.number().int().min(1).optional(),
});
const uploadIdSchema = z.string().min(1, "must not be empty");
const partNumberSchema = z
  .number()
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(MAX_PARTS, `must be at most ${MAX_PARTS}`);
const completedPartsSchema = z
  .array(z.strictObject({ partNumber: partNumberSchema, etag: z.string().min(1, "must not be empty") }))
  .min(1, "must list at least one part")
  .max(MAX_PARTS, `must list at most ${MAX_PARTS} parts`)
  .refine((ps) => new Set(ps.map((p) => p.partNumber)).size === ps.length, "must not repeat a partNumber");

/**
 * Creates a presigner for `bucket` (which must exist). URLs are valid `defaultExpiresInSec`
 * (900) unless a call says otherwise, measured from `clock.now()`. Throws S3ConfigError naming
 * the bad field when the config is invalid.
 */
export function createS3Presigner(config: S3PresignerConfig): S3Presigner {
  const cfg = parseOrThrow("invalid S3 presigner config", presignerConfigSchema, config);
  const { client, owned } = resolveClient(cfg);
  const { bucket, prefix, defaultExpiresInSec } = cfg;
  const clock = cfg.clock ?? systemClock;

  const fail = (op: S3Operation, key: string, err: unknown): never => {
    throw new S3AdapterError(op, bucket, prefix + key, err);
  };

  /** Signs `command` as of now; the URL and the instant it stops working. */
  async function sign(
    op: S3Operation,
    key: string,
    command: GetObjectCommand | PutObjectCommand | UploadPartCommand,
    expiresInSec: number,
    signingDate: Date,
    signableHeaders?: Set<string>,
  ): Promise<string> {
    const upload = !(command instanceof GetObjectCommand);
    // Content-Length is signed for every upload, so the store refuses a body of any other size
    // (the SDK signs it whenever the command has ContentLength; naming it makes that explicit).
    const signable = upload ? new Set([...(signableHeaders ?? []), "content-length"]) : signableHeaders;
    const args = { expiresIn: expiresInSec, signingDate, signableHeaders: signable };
    // One call per command type: getSignedUrl's generics do not accept a union of commands.
    const signing =
      command instanceof GetObjectCommand
        ? getSignedUrl(client, command, args)
        : command instanceof PutObjectCommand
          ? getSignedUrl(client, command, args)
          : getSignedUrl(client, command, args);
    const url = await signing.catch((err: unknown) => fail(op, key, err));
    // A client left on the SDK's default checksum mode signs the CRC32 of an empty body into
    // the URL; every real upload through it would then fail with a checksum mismatch.
    if (/[?&]x-amz-checksum-/i.test(url)) {
      fail(
        op,
        key,
        new Error('the S3 client signs a body checksum into presigned URLs; create it with requestChecksumCalculation: "WHEN_REQUIRED"'),
      );
    }
    // Never hand out an upload URL that does not bind its size: that would be an unbounded upload.
    if (upload && !(new URL(url).searchParams.get("X-Amz-SignedHeaders") ?? "").split(";").includes("content-length")) {
      fail(op, key, new Error("the presigned upload URL does not sign content-length; refusing an unbounded upload URL"));
    }
    return url;
  }

  const expiry = (signingDate: Date, sec: number): Date => new Date(signingDate.getTime() + sec * 1000);
  // X-Amz-Date has whole seconds; signing at a truncated instant makes expiresAt exactly the
  // moment the store stops accepting the URL, never up to a second after it.
  const signingInstant = (): Date => new Date(Math.floor(clock.now().getTime() / 1000) * 1000);

  async function presignParts(
    key: string,
    Key: string,
    uploadId: string,
    plan: MultipartPlan,
    partNumbers: number[],
    expiresInSec: number,
    signingDate: Date,
  ): Promise<PresignedPart[]> {
    return Promise.all(
      partNumbers.map(async (partNumber) => {
        const size = partSizeOf(plan, partNumber);
        const command = new UploadPartCommand({ Bucket: bucket, Key, UploadId: uploadId, PartNumber: partNumber, ContentLength: size });
        return { partNumber, size, url: await sign("createMultipartUpload", key, command, expiresInSec, signingDate) };
      }),
    );
  }

  return {
    bucket,
    prefix,
    client,

    async presignGet(key, opts = {}): Promise<PresignedUrl> {
      const o = parseOrThrow("invalid presignGet options", getOptsSchema, opts);
      const Key = objectKey(prefix, key);
      const sec = o.expiresInSec ?? defaultExpiresInSec;
      const signingDate = signingInstant();
      const url = await sign("presignGet", key, new GetObjectCommand({ Bucket: bucket, Key }), sec, signingDate);
      return { url, method: "GET", key, expiresAt: expiry(signingDate, sec), headers: {} };
    },

    async presignPut(key, opts): Promise<PresignedUrl> {
      const o = parseOrThrow("invalid presignPut options", putOptsSchema, opts);
      const Key = objectKey(prefix, key);
      const sec = o.expiresInSec ?? defaultExpiresInSec;
      const signingDate = signingInstant();
      // A content type is signed, so the uploader cannot store the object as something else
      // (e.g. text/html served from the bucket's origin).
      const signed = o.contentType === undefined ? undefined : new Set(["content-type"]);
      const url = await sign(
        "presignPut",
        key,
        new PutObjectCommand({ Bucket: bucket, Key, ContentType: o.contentType, ContentLength: o.size }),
        sec,
        signingDate,
        signed,
      );
      const headers: Record<string, string> = o.contentType === undefined ? {} : { "content-type": o.contentType };
      return { url, method: "PUT", key, expiresAt: expiry(signingDate, sec), headers };
    },

    async createMultipartUpload(key, opts): Promise<MultipartUpload> {
      const o = parseOrThrow("invalid createMultipartUpload options", multipartOptsSchema, opts);
      const Key = objectKey(prefix, key);
      // Plan before starting anything on S3: a bad size must not leave an open upload behind.
      const plan = planMultipart(o.size, o.partSize);
      const sec = o.expiresInSec ?? defaultExpiresInSec;
      const created = await client
        .send(
          new CreateMultipartUploadCommand({
            Bucket: bucket,
            Key,
            ContentType: o.contentType,
            // Written with the orchestrator's credentials: completion checks the object against it.
            Metadata: { [DECLARED_SIZE_META]: String(o.size) },
          }),
        )
        .catch((err: unknown) => fail("createMultipartUpload", key, err));
      const uploadId = created.UploadId;
      if (!uploadId) return fail("createMultipartUpload", key, new Error("S3 returned no UploadId"));
      const signingDate = signingInstant();
      const numbers = Array.from({ length: Math.min(plan.partCount, o.signParts ?? plan.partCount) }, (_, i) => i + 1);
      try {
        const parts = await presignParts(key, Key, uploadId, plan, numbers, sec, signingDate);
        return { key, uploadId, partSize: plan.partSize, partCount: plan.partCount, parts, expiresAt: expiry(signingDate, sec) };
      } catch (err) {
        // Nobody else knows this uploadId: abort it so it does not bill storage forever.
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId: uploadId })).catch((abortErr: unknown) => {
          throw new AggregateError(
            [err, abortErr],
            `presigning parts of s3://${bucket}/${Key} failed and aborting upload ${uploadId} failed too`,
          );
        });
        throw err;
      }
    },

    async presignUploadParts(key, uploadId, partNumbers, opts) {
      const o = parseOrThrow("invalid presignUploadParts options", reSignOptsSchema, opts);
      const plan = planMultipart(o.size, o.partSize);
      parseOrThrow(
        "invalid presignUploadParts arguments",
        z.strictObject({ uploadId: uploadIdSchema, partNumbers: z.array(partNumberSchema) }),
        {
          uploadId,
          partNumbers,
        },
      );
      const beyond = partNumbers.find((n) => n > plan.partCount);
      if (beyond !== undefined) {
        throw new ValidationError("invalid presignUploadParts arguments", [
          { path: "partNumbers", message: `part ${beyond} is past the upload's last part (${plan.partCount})` },
        ]);
      }
      const Key = objectKey(prefix, key);
      const sec = o.expiresInSec ?? defaultExpiresInSec;
      const signingDate = signingInstant();
      const parts = await presignParts(key, Key, uploadId, plan, partNumbers, sec, signingDate);
      return { parts, expiresAt: expiry(signingDate, sec) };
    },

    async completeMultipartUpload(key, uploadId, parts, opts = {}) {
      const Key = objectKey(prefix, key);
      const { maxSize } = parseOrThrow("invalid completeMultipartUpload options", completeOptsSchema, opts);
      parseOrThrow("invalid completeMultipartUpload arguments", z.strictObject({ uploadId: uploadIdSchema, parts: completedPartsSchema }), {
        uploadId,
        parts,
      });
      // S3 requires ascending part numbers; workers may report them in completion order.
      const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
      await client
        .send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key,
            UploadId: uploadId,
            MultipartUpload: { Parts: sorted.map((p) => ({ PartNumber: p.partNumber, ETag: quoteEtag(p.etag) })) },
          }),
        )
        .catch((err: unknown) => fail("completeMultipartUpload", key, err));
      // Every part URL was signed for its size, yet a completion may list fewer parts (or a store may
      // not enforce signed lengths): the object itself must be exactly what was declared.
      const head = await client
        .send(new HeadObjectCommand({ Bucket: bucket, Key }))
        .catch((err: unknown) => fail("completeMultipartUpload", key, err));
      const size = head.ContentLength ?? -1;
      const recorded = head.Metadata?.[DECLARED_SIZE_META];
      const declared = recorded === undefined ? undefined : Number(recorded);
      if ((declared !== undefined && size !== declared) || (maxSize !== undefined && size > maxSize) || size < 0) {
        await client
          .send(new DeleteObjectCommand({ Bucket: bucket, Key }))
          .catch((err: unknown) => fail("completeMultipartUpload", key, err));
        throw new UploadSizeMismatchError(bucket, Key, size, declared, maxSize);
      }
      return { size };
    },

    async abortMultipartUpload(key, uploadId) {
      const Key = objectKey(prefix, key);
      parseOrThrow("invalid abortMultipartUpload arguments", z.strictObject({ uploadId: uploadIdSchema }), { uploadId });
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId: uploadId }))
        .catch((err: unknown) => fail("abortMultipartUpload", key, err));
    },

    close() {
      if (owned) client.destroy();
    },
  };
}

/** S3 returns ETags quoted; some HTTP clients hand them back unquoted. Complete wants the quoted form. */
function quoteEtag(etag: string): string {
  return etag.startsWith('"') || etag.startsWith('W/"') ? etag : `"${etag}"`;
}
