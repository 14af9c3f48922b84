/**
 * Config of the S3 adapters, validated with zod, and the S3 client built from it. One config
 * shape serves AWS S3, Cloudflare R2 and MinIO: `endpoint` + `region` + path-style are all
 * settable, and a caller with special needs (custom retry, credential chain) passes `client`.
 */
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { z } from "zod";
import type { Clock } from "../../src/ports/clock.js";
import { issuesFromZod } from "../../src/contract/validation.js";
import { S3ConfigError } from "./errors.js";

/** S3 bucket naming rules (3–63 chars of a-z 0-9 . -, starting and ending alphanumeric). */
const bucketSchema = z
  .string({ error: "is required (a bucket name)" })
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be a valid S3 bucket name (3-63 chars: a-z, 0-9, '.', '-')");

const staticCredentialsSchema = z.object({
  accessKeyId: z.string({ error: "is required" }).min(1, "must not be empty"),
  secretAccessKey: z.string({ error: "is required" }).min(1, "must not be empty"),
  sessionToken: z.string().min(1, "must not be empty").optional(),
});

type Credentials = NonNullable<S3ClientConfig["credentials"]>;

/**
 * Static keys, or a provider function (e.g. from @aws-sdk/credential-providers) for rotating
 * credentials. Static keys are not a strict object: the SDK tags credential objects it has used
 * with fields such as `$source`, and the same object may have been handed to another client.
 * Checked by hand rather than as a zod union so an issue names the exact field.
 */
const credentialsSchema = z.unknown().transform((v, ctx): Credentials => {
  if (typeof v === "function") return v as Credentials;
  const r = staticCredentialsSchema.safeParse(v);
  if (r.success) return r.data;
  for (const i of r.error.issues) {
    ctx.addIssue({
      code: "custom",
      path: i.path,
      message:
        i.path.length === 0 ? "must be { accessKeyId, secretAccessKey, sessionToken? } or a credentials provider function" : i.message,
    });
  }
  return z.NEVER;
});

/** How to reach the store when the adapter builds its own client. */
export const s3ClientOptionsSchema = z.strictObject({
  /** e.g. `https://<account>.r2.cloudflarestorage.com` or `http://minio:9000`; omit for AWS. */
  endpoint: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  /** AWS region; `auto` for R2. */
  region: z.string({ error: "is required (e.g. us-east-1, or auto for R2)" }).min(1, "must not be empty"),
  /** Omit to use the SDK's default credential chain (env, profile, instance role). */
  credentials: credentialsSchema.optional(),
  /** Path-style URLs (`endpoint/bucket/key`); needed by MinIO and most local servers. */
  forcePathStyle: z.boolean().optional(),
  /** Give up connecting after this long (default 10 s): an unreachable store fails fast. */
  connectionTimeoutMs: z.number().int("must be a whole number of ms").min(1, "must be at least 1").default(10_000),
  /**
   * Abort a request whose socket is silent this long (default 120 s). An idle limit, not a
   * total one, so a large transfer that keeps moving is never cut off.
   */
  socketTimeoutMs: z.number().int("must be a whole number of ms").min(1, "must be at least 1").default(120_000),
  /** Attempts per request, including the first; the SDK retries throttling, 5xx and network errors. */
  maxAttempts: z.number().int("must be a whole number").min(1, "must be at least 1").max(10, "must be at most 10").default(3),
});

/** Timeouts and retry attempts of the S3 client; every field is optional and defaulted. */
export type S3ClientOptions = z.input<typeof s3ClientOptionsSchema>;

/** Key prefix every object of this adapter lives under, e.g. `jetflow/`. Empty = bucket root. */
const prefixSchema = z
  .string()
  .refine((p) => !p.startsWith("/"), "must not start with '/' (S3 keys have no leading slash)")
  .refine((p) => Buffer.byteLength(p, "utf8") < 1024, "must be shorter than 1024 bytes (S3's key limit)")
  .default("");

const clientSchema = z.custom<S3Client>(
  (v) => typeof v === "object" && v !== null && typeof (v as { send?: unknown }).send === "function",
  "must be an S3Client",
);

const clockSchema = z.custom<Clock>(
  (v) => typeof v === "object" && v !== null && typeof (v as { now?: unknown }).now === "function",
  "must have a now(): Date method",
);

/** Longest SigV4 presigned URL lifetime S3 accepts: 7 days. */
export const MAX_PRESIGN_EXPIRES_SEC = 604_800;

export const expiresInSecSchema = z
  .number()
  .int("must be a whole number of seconds")
  .min(1, "must be at least 1 second")
  .max(MAX_PRESIGN_EXPIRES_SEC, `must be at most ${MAX_PRESIGN_EXPIRES_SEC} seconds (7 days, the SigV4 limit)`);

const commonShape = {
  bucket: bucketSchema,
  prefix: prefixSchema,
  /** A ready client; the adapter never destroys it. Exclusive with `clientConfig`. */
  client: clientSchema.optional(),
  clientConfig: s3ClientOptionsSchema.optional(),
};

function exactlyOneClient(v: { client?: unknown; clientConfig?: unknown }, ctx: z.RefinementCtx): void {
  if (v.client !== undefined && v.clientConfig !== undefined) {
    ctx.addIssue({ code: "custom", path: ["client"], message: "give either client or clientConfig, not both" });
  } else if (v.client === undefined && v.clientConfig === undefined) {
    ctx.addIssue({ code: "custom", path: ["clientConfig"], message: "is required (or pass a ready S3Client as client)" });
  }
}

export const blobStoreConfigSchema = z
  .strictObject({
    ...commonShape,
    /** Keys per ListObjectsV2 page and per DeleteObjects batch (S3's maximum, 1000, by default). */
    pageSize: z
      .number()
      .int("must be a whole number")
      .min(1, "must be at least 1")
      .max(1000, "must be at most 1000 (S3's page and batch limit)")
      .default(1000),
  })
  .superRefine(exactlyOneClient);

export const presignerConfigSchema = z
  .strictObject({
    ...commonShape,
    /** Lifetime of URLs when the caller gives none (seconds). */
    defaultExpiresInSec: expiresInSecSchema.default(900),
    /** Signing time source; inject a fake clock to make URLs that are already expired. */
    clock: clockSchema.optional(),
  })
  .superRefine(exactlyOneClient);

/** Config of {@link import("./blob-store.js").createS3BlobStore}. */
export type S3BlobStoreConfig = z.input<typeof blobStoreConfigSchema>;
/** Config of {@link import("./presigner.js").createS3Presigner}. */
export type S3PresignerConfig = z.input<typeof presignerConfigSchema>;

/** Parses `input` with `schema`, or throws S3ConfigError naming every failing field. */
export function parseOrThrow<S extends z.ZodType>(what: string, schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw new S3ConfigError(what, issuesFromZod(r.error));
}

/**
 * The client the adapter uses, and whether the adapter owns it (then `close()` destroys it).
 * Checksums are computed only when an operation requires them: the SDK default bakes a CRC32
 * of the empty body into presigned PUT/UploadPart URLs, so real uploads through them fail, and
 * several S3-compatible stores reject the extra checksum headers.
 */
export function resolveClient(cfg: { client?: S3Client; clientConfig?: z.output<typeof s3ClientOptionsSchema> }): {
  client: S3Client;
  owned: boolean;
} {
  if (cfg.client) return { client: cfg.client, owned: false };
  const o = cfg.clientConfig!;
  const config: S3ClientConfig = {
    region: o.region,
    maxAttempts: o.maxAttempts,
    requestHandler: { connectionTimeout: o.connectionTimeoutMs, socketTimeout: o.socketTimeoutMs },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  };
  if (o.endpoint !== undefined) config.endpoint = o.endpoint;
  if (o.credentials !== undefined) config.credentials = o.credentials;
  if (o.forcePathStyle !== undefined) config.forcePathStyle = o.forcePathStyle;
  return { client: new S3Client(config), owned: true };
}
