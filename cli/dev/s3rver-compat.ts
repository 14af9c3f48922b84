/**
 * Makes the in-process `@20minutes/s3rver` 4 behave like S3 where jetflow's tests can tell the
 * difference. Each fix names the s3rver behaviour it corrects; none weakens verification.
 * Used by the embedded S3 of `jetflow dev` (./s3.ts) and the test harness (integration/harness/s3-local.ts).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { access, rm } from "node:fs/promises";
import { join } from "node:path";

/** The Koa context fields the fixes read and write. */
export interface KoaContext {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, unknown>;
  status: number;
  type: string;
  body: unknown;
  store: { getResourcePath(bucket: string, key: string | undefined, resource: string): string };
}

type S3ErrorCtor = new (code: string, message: string, detail?: Record<string, unknown>) => Error & { code: string };

/**
 * True while s3rver handles a request whose path is exactly `/<bucket>/`. The SDK sends (and
 * signs) bucket-level operations such as ListObjectsV2 and DeleteObjects on `/<bucket>/`, but
 * s3rver rebuilds the canonical URI from route params as `/<bucket>`, so every such request
 * fails SignatureDoesNotMatch. Real S3 canonicalizes the URI as sent.
 */
const bucketSlash = new AsyncLocalStorage<boolean>();

/**
 * Installs the module-level fixes; must run before s3rver is first required. Returns false
 * (and changes nothing) if s3rver was loaded already.
 */
export function patchS3rverModules(require: NodeJS.Require): boolean {
  if (require.cache[require.resolve("@20minutes/s3rver/lib/middleware/authentication.js")]) return false;
  patchCanonicalUri(require);
  patchDesTokens(require);
  return true;
}

/**
 * s3rver's authentication maps each path segment through `utils.encodeURIComponentRFC3986`
 * (bound when that module loads); the wrapper re-appends the slash after the last segment when
 * {@link bucketSlash} says the request had one.
 */
function patchCanonicalUri(require: NodeJS.Require): void {
  const utils = require("@20minutes/s3rver/lib/utils.js") as { encodeURIComponentRFC3986: (s: string) => string };
  const encode = utils.encodeURIComponentRFC3986;
  utils.encodeURIComponentRFC3986 = ((segment: string, index?: number, all?: string[]) => {
    const out = encode(segment);
    return bucketSlash.getStore() === true && all !== undefined && index === all.length - 1 ? `${out}/` : out;
  }) as (s: string) => string;
}

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 (Node 18+)
 * no longer offers, so every truncated listing answers 500. When (and only when) DES is
 * unavailable, `des` is served by AES-128-CBC with the 8-byte key and IV widened: tokens stay
 * opaque and round-trip; every other algorithm goes to the real functions untouched.
 */
function patchDesTokens(require: NodeJS.Require): void {
  const crypto = require("node:crypto") as typeof import("node:crypto");
  try {
    crypto.createCipheriv("des", Buffer.alloc(8), Buffer.alloc(8));
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ERR_OSSL_EVP_UNSUPPORTED") throw err;
  }
  const widen = (key: Buffer, iv: Buffer): [Buffer, Buffer] => [Buffer.concat([key, Buffer.alloc(8)]), Buffer.concat([iv, iv])];
  const { createCipheriv, createDecipheriv } = crypto;
  const target = crypto as unknown as Record<string, unknown>;
  target.createCipheriv = (alg: string, key: Buffer, iv: Buffer, ...rest: unknown[]) =>
    alg === "des"
      ? createCipheriv("aes-128-cbc", ...widen(key, iv))
      : (createCipheriv as (...a: unknown[]) => unknown)(alg, key, iv, ...rest);
  target.createDecipheriv = (alg: string, key: Buffer, iv: Buffer, ...rest: unknown[]) =>
    alg === "des"
      ? createDecipheriv("aes-128-cbc", ...widen(key, iv))
      : (createDecipheriv as (...a: unknown[]) => unknown)(alg, key, iv, ...rest);
}

const ANONYMOUS_DENIED =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>' +
  "<Message>Anonymous access is forbidden for this bucket (jetflow test harness)</Message></Error>";

/**
 * The per-request fixes, as the outermost Koa middleware:
 * - Anonymous requests (no signature at all) get 403 AccessDenied: stock s3rver serves them as
 *   if signed, while S3 and MinIO refuse them on a private bucket. CORS preflights pass.
 * - Its XML encoder escapes text twice (`&` → `&amp;amp;`), so a listed key containing `&`
 *   comes back as another key; one level is undone on the way out.
 * - Multipart: AbortMultipartUpload (not implemented: 405) removes the upload; UploadPart and
 *   CompleteMultipartUpload on an unknown or aborted upload answer 404 NoSuchUpload (s3rver
 *   would create an orphan part, or fail with 500). These run only after s3rver's own
 *   signature check passed, so a bad signature is still reported first, as on S3.
 */
export function realS3Middleware(S3Error: S3ErrorCtor): (ctx: KoaContext, next: () => Promise<void>) => Promise<void> {
  return async (ctx, next) => {
    const signed = "authorization" in ctx.headers || "X-Amz-Algorithm" in ctx.query || "Signature" in ctx.query;
    if (!signed && ctx.method !== "OPTIONS") {
      ctx.status = 403;
      ctx.type = "application/xml";
      ctx.body = ANONYMOUS_DENIED;
      return;
    }
    const upload = multipartTarget(ctx);
    const existed = upload ? await exists(join(upload, "key")) : true;
    try {
      await bucketSlash.run(/^\/[^/]+\/$/.test(ctx.path), next);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (upload && ctx.method === "DELETE" && code === "MethodNotAllowed") {
        // s3rver has no abort; reaching the 405 means authentication passed.
        if (!existed) throw new S3Error("NoSuchUpload", "The specified upload does not exist.");
        await rm(upload, { recursive: true, force: true });
        ctx.status = 204;
        ctx.body = null;
        return;
      }
      if (upload && ctx.method === "POST" && !existed && code === "ENOENT") {
        throw new S3Error("NoSuchUpload", "The specified upload does not exist.");
      }
      throw err;
    }
    if (upload && ctx.method === "PUT" && !existed) {
      // s3rver stored a part of an upload that does not exist: undo it and refuse, like S3.
      await rm(upload, { recursive: true, force: true });
      throw new S3Error("NoSuchUpload", "The specified upload does not exist.");
    }
    if (typeof ctx.body === "string" && ctx.body.startsWith("<?xml")) {
      ctx.body = ctx.body.replace(/&amp;(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/g, "&$1;");
    }
  };
}

/** The upload directory an object request with `?uploadId=` targets, or undefined. */
function multipartTarget(ctx: KoaContext): string | undefined {
  const uploadId = ctx.query.uploadId;
  if (typeof uploadId !== "string") return undefined;
  const bucket = /^\/([^/]+)\/./.exec(ctx.path)?.[1];
  if (!bucket) return undefined;
  // s3rver's ids are 32 hex chars; anything else must never reach a filesystem path.
  if (!/^[0-9a-f]{32}$/.test(uploadId)) return join(ctx.store.getResourcePath(bucket, undefined, "uploads"), "no-such-upload");
  return join(ctx.store.getResourcePath(bucket, undefined, "uploads"), uploadId);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
